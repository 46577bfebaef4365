package export

import "github.com/mhcc-dev/mhcc/ir"

// SwiGLU: (silu(x·w1ᵀ) * (x·w3ᵀ)) · w2ᵀ.
func expandSwiGLU(e *emitter, n *ir.Node, in, out []string) {
	a := e.silu(e.linear(in[0], in[1], ""))
	b := e.linear(in[0], in[2], "")
	e.linear(e.op("Mul", "", ins(a, b)), in[3], out[0])
}

// silu(x) = x · sigmoid(x) (opset 17 has no Silu).
func (e *emitter) silu(x string) string {
	return e.op("Mul", "", ins(x, e.op("Sigmoid", "", ins(x))))
}
