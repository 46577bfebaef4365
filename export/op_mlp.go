package export

import (
	"math"

	"github.com/mhcc-dev/mhcc/ir"
)

// MLP: act(x·w1ᵀ + b1) [⊙ (x·w3ᵀ + b3)] · w2ᵀ + b2 (docs/spec.md §3.1);
// inputs x, w1, w2, w3 (gated only), b1, b2, b3, each bias optional.
func expandMLP(e *emitter, n *ir.Node, in, out []string) {
	expandMLPWith(e, n, in, out, false)
}

// MLP, lowering "webgpu": the reference without Tanh and Relu, which the
// webgpu profile does not list: gelu_tanh as x·sigmoid(2z) (the identity
// 0.5·(1 + tanh(z)) = sigmoid(2z)) and relu2 with Max(x, 0). The erf GELUs
// (gelu, geglu) keep Erf, which the profile lists (the WebGPU provider has
// a kernel for it).
func expandMLPWebGPU(e *emitter, n *ir.Node, in, out []string) {
	expandMLPWith(e, n, in, out, true)
}

func expandMLPWith(e *emitter, n *ir.Node, in, out []string, webgpu bool) {
	e.mlp(n.Attrs.String("activation"), in, out[0], webgpu)
}

// mlp emits the MLP op's math with activation act on inputs in (x, w1, w2,
// w3, b1, b2, b3; "" or missing where absent) into out ("" for a fresh
// name), which it returns; webgpu as for expandMLPWebGPU. The MoE experts
// (op_moe.go) use it too.
func (e *emitter) mlp(act string, in []string, out string, webgpu bool) string {
	a := e.linearBias(in[0], in[1], optIn(in, 4), "")
	switch act {
	case "swiglu":
		a = e.silu(a)
	case "geglu", "gelu":
		a = e.geluErf(a)
	case "gelu_tanh":
		a = e.geluTanh(a, webgpu)
	case "relu2":
		if webgpu {
			a = e.op("Max", "", ins(a, e.f32(0)))
		} else {
			a = e.op("Relu", "", ins(a))
		}
		a = e.op("Mul", "", ins(a, a))
	}
	if w3 := optIn(in, 3); w3 != "" {
		a = e.op("Mul", "", ins(a, e.linearBias(in[0], w3, optIn(in, 6), "")))
	}
	return e.linearBias(a, in[2], optIn(in, 5), out)
}

// linearBias emits x · wᵀ + b, or linear's x · wᵀ without a bias.
func (e *emitter) linearBias(x, w, b, out string) string {
	if b == "" {
		return e.linear(x, w, out)
	}
	return e.op("Add", out, ins(e.linear(x, w, ""), b))
}

// geluErf is GELU as torch computes it by default: 0.5·x·(1 + erf(x/√2)).
func (e *emitter) geluErf(x string) string {
	erf := e.op("Erf", "", ins(e.op("Mul", "", ins(x, e.f32(1/math.Sqrt2)))))
	half := e.op("Mul", "", ins(x, e.f32(0.5)))
	return e.op("Mul", "", ins(half, e.op("Add", "", ins(erf, e.f32(1)))))
}

// geluTanh is GELU's tanh approximation (GPT-2's gelu_new, torch's
// approximate='tanh'): 0.5·x·(1 + tanh(z)), z = √(2/π)·(x + 0.044715·x³);
// with sigmoid, x·sigmoid(2z), the same function.
func (e *emitter) geluTanh(x string, sigmoid bool) string {
	x3 := e.op("Mul", "", ins(e.op("Mul", "", ins(x, x)), x))
	inner := e.op("Add", "", ins(x, e.op("Mul", "", ins(x3, e.f32(0.044715)))))
	k := math.Sqrt(2 / math.Pi)
	if sigmoid {
		s := e.op("Sigmoid", "", ins(e.op("Mul", "", ins(inner, e.f32(2*k)))))
		return e.op("Mul", "", ins(x, s))
	}
	t := e.op("Tanh", "", ins(e.op("Mul", "", ins(inner, e.f32(k)))))
	half := e.op("Mul", "", ins(x, e.f32(0.5)))
	return e.op("Mul", "", ins(half, e.op("Add", "", ins(t, e.f32(1)))))
}
