package export

import (
	"fmt"

	"github.com/mhcc-dev/mhcc/ir"
	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
	"google.golang.org/protobuf/proto"
)

// MoE: the mixture-of-experts FFN (ir/moe.go, docs/spec.md §3.1). Three
// lowerings of the same math: the same routing weights and expert outputs,
// summed in different orders (so equal up to float rounding); they differ
// in which products they compute:
//
//   - reference: the router's top-k weights scattered into a dense
//     [tokens, experts] matrix (TopK, ScatterElements), every expert run on
//     every token, each output scaled by its column and summed. E/k times the
//     expert work a token needs, in few, large MatMuls.
//   - gather: per expert, the tokens routed to it (NonZero of its column of
//     the top-k indices), its MLP on those rows only (Gather), and the
//     weighted rows put back into place with one ScatterND, then summed
//     over each token's k slots. The expert work a token needs, in E small
//     MatMuls.
//   - webgpu: the reference without TopK and ScatterElements, which the
//     WebGPU execution provider lacks: expert e is selected when fewer than
//     k experts rank above it, the rank counted from pairwise comparisons
//     ([tokens, E, E]; a larger score first, an equal one first when its
//     index is lower, TopK's order).
//
// Tokens are flattened to rows: x [..., C] is read as [T, C] and the result
// reshaped back.

// The router computes in the gate's type: float32 in a float16 or bfloat16
// model (apply_precision keeps the gate float32, as it keeps mHC's
// coefficient path), because a half-precision score can swap two experts
// whose float32 scores differ, and a swap changes the output wholesale. The
// expansions switch e.ft to it for the router's constants (routerType) and
// cast the routing weights to the model's type (moeNarrow).

// routerType sets the emitter's float type to the router's and returns the
// node's own, to restore.
func (e *emitter) routerType(n *ir.Node) (restore ir.DType) {
	restore = e.ft
	if dt := n.Inputs[1].Type.DType; !e.f64 && dt.IsFloat() {
		e.ft = dt
	}
	return restore
}

// moeNarrow casts routing weights w to the node's float type where the
// router's differs.
func (e *emitter) moeNarrow(n *ir.Node, w string) string {
	xt, rt := n.Inputs[0].Type.DType, n.Inputs[1].Type.DType
	if e.f64 || xt == rt {
		return w
	}
	et, err := elemType(xt)
	if err != nil {
		panic(err)
	}
	return e.op("Cast", "", ins(w), aInt("to", int64(et)))
}

// moeRouter returns x flattened to [T, C] and the scores [T, E], in the
// router's type.
func (e *emitter) moeRouter(n *ir.Node, in []string) (x2, scores string) {
	c := n.Inputs[0].Type.Shape[n.Inputs[0].Type.Shape.Rank()-1]
	x2 = e.op("Reshape", "", ins(in[0], e.i64s(-1, c.Size)))
	xr := x2
	if xt, rt := n.Inputs[0].Type.DType, n.Inputs[1].Type.DType; !e.f64 && xt != rt {
		et, err := elemType(rt)
		if err != nil {
			panic(err)
		}
		xr = e.op("Cast", "", ins(x2), aInt("to", int64(et)))
	}
	logits := e.linear(xr, in[1], "")
	if n.Attrs.String("router") == ir.MoERouterSigmoid {
		return x2, e.op("Sigmoid", "", ins(logits))
	}
	return x2, e.op("Softmax", "", ins(logits), aInt("axis", -1))
}

// moeWeights turns the selected scores into routing weights: divided by
// their sum over axis (normalize), times the scaling factor.
func (e *emitter) moeWeights(n *ir.Node, w string, axis int64) string {
	if n.Attrs.Int("normalize") == 1 {
		w = e.op("Div", "", ins(w, e.op("ReduceSum", "", ins(w, e.i64s(axis)), aInt("keepdims", 1))))
	}
	if s := n.Attrs.Float("scaling"); s != 1 {
		w = e.op("Mul", "", ins(w, e.f32(s)))
	}
	return w
}

// moeTopK returns the top-k routing weights and their expert indices, [T, k].
func (e *emitter) moeTopK(n *ir.Node, scores string) (vals, idx string) {
	vals, idx = e.fresh(e.node.Name+"/TopK"), e.fresh(e.node.Name+"/TopK_indices")
	e.add("", "TopK", ins(scores, e.i64s(n.Attrs.Int("top_k"))), []string{vals, idx},
		aInt("axis", -1), aInt("largest", 1), aInt("sorted", 1))
	return e.moeWeights(n, vals, -1), idx
}

// expertMLP emits expert j's MLP (j = experts: the shared one) on rows x,
// the MLP op's lowering (op_mlp.go) with the node's activation and biases;
// webgpu as for expandMLPWebGPU. swiglu without biases is
// (silu(x·w1ᵀ) ⊙ (x·w3ᵀ))·w2ᵀ.
func (e *emitter) expertMLP(n *ir.Node, in []string, j int, x, out string, webgpu bool) string {
	act, bias := ir.MoEActivation(n), ir.MoEBias(n)
	k, ok := ir.MoEArity(act, bias)
	if !ok {
		panic(fmt.Sprintf("export: MoE activation %q has no lowering", act))
	}
	mlp := ir.MoEMLPInputs(act, bias, in[2+j*k:2+(j+1)*k])
	mlp[0] = x
	return e.mlp(act, mlp[:], out, webgpu)
}

// moeDense sums weight[:, j]·expert_j(x2) over every expert j, plus the
// shared MLP, and reshapes to x's shape.
func (e *emitter) moeDense(n *ir.Node, in, out []string, x2, dense string, webgpu bool) {
	experts := int(n.Attrs.Int("experts"))
	var sum string
	if n.Attrs.Int("shared") == 1 {
		sum = e.expertMLP(n, in, experts, x2, "", webgpu)
	}
	for j := 0; j < experts; j++ {
		col := e.op("Slice", "", ins(dense, e.i64s(int64(j)), e.i64s(int64(j)+1), e.i64s(1))) // [T, 1]
		y := e.op("Mul", "", ins(e.expertMLP(n, in, j, x2, "", webgpu), col))
		if sum == "" {
			sum = y
		} else {
			sum = e.op("Add", "", ins(sum, y))
		}
	}
	e.op("Reshape", out[0], ins(sum, e.op("Shape", "", ins(in[0]))))
}

// expandMoE is the reference lowering: dense routing weights, every expert.
func expandMoE(e *emitter, n *ir.Node, in, out []string) {
	ft := e.routerType(n)
	x2, scores := e.moeRouter(n, in)
	vals, idx := e.moeTopK(n, scores)
	zeros := e.op("Mul", "", ins(scores, e.f32(0)))
	dense := e.moeNarrow(n, e.op("ScatterElements", "", ins(zeros, idx, vals), aInt("axis", 1)))
	e.ft = ft
	e.moeDense(n, in, out, x2, dense, false)
}

// expandMoEGather computes each expert on its own tokens only. A token's
// k contributions go to rows token·k + slot of a [T·k, C] buffer, one row
// each (ScatterND without a reduction: onnxruntime has no float16 kernel
// for its reduction add), summed over the slots in their top-k order.
func expandMoEGather(e *emitter, n *ir.Node, in, out []string) {
	ft := e.routerType(n)
	x2, scores := e.moeRouter(n, in)
	vals, idx := e.moeTopK(n, scores)
	vals = e.moeNarrow(n, vals)
	e.ft = ft
	experts, k := int(n.Attrs.Int("experts")), n.Attrs.Int("top_k")
	flatVals := e.op("Reshape", "", ins(vals, e.i64s(-1))) // [T·k]
	var rows, parts []string
	for j := 0; j < experts; j++ {
		hit := e.op("Equal", "", ins(idx, e.i64(int64(j))))                                  // [T, k]
		at := e.op("Transpose", "", ins(e.op("NonZero", "", ins(hit))), aInts("perm", 1, 0)) // [N, 2]: (token, slot)
		tok := e.op("Slice", "", ins(at, e.i64s(0), e.i64s(1), e.i64s(1)))                   // [N, 1]
		slot := e.op("Slice", "", ins(at, e.i64s(1), e.i64s(2), e.i64s(1)))
		row := e.op("Add", "", ins(e.op("Mul", "", ins(tok, e.i64(k))), slot)) // [N, 1]: token·k + slot
		y := e.expertMLP(n, in, j, e.op("Gather", "", ins(x2, e.op("Squeeze", "", ins(tok, e.i64s(1)))), aInt("axis", 0)), "", false)
		w := e.op("Gather", "", ins(flatVals, row), aInt("axis", 0)) // [N, 1]
		rows, parts = append(rows, row), append(parts, e.op("Mul", "", ins(y, w)))
	}
	zeros := e.op("Tile", "", ins(e.op("Mul", "", ins(x2, e.f32(0))), e.i64s(k, 1))) // [T·k, C]
	slots := e.op("ScatterND", "", ins(zeros, e.op("Concat", "", rows, aInt("axis", 0)), e.op("Concat", "", parts, aInt("axis", 0))))
	c := n.Inputs[0].Type.Shape[n.Inputs[0].Type.Shape.Rank()-1].Size
	sum := e.op("ReduceSum", "", ins(e.op("Reshape", "", ins(slots, e.i64s(-1, k, c))), e.i64s(1)), aInt("keepdims", 0))
	if n.Attrs.Int("shared") == 1 {
		sum = e.op("Add", "", ins(sum, e.expertMLP(n, in, experts, x2, "", false)))
	}
	e.op("Reshape", out[0], ins(sum, e.op("Shape", "", ins(in[0]))))
}

// expandMoEWebGPU is the reference with the top-k found by ranking.
func expandMoEWebGPU(e *emitter, n *ir.Node, in, out []string) {
	ft := e.routerType(n)
	x2, scores := e.moeRouter(n, in)
	experts := n.Attrs.Int("experts")
	se := e.op("Unsqueeze", "", ins(scores, e.i64s(2))) // [T, E, 1]: s_e
	sj := e.op("Unsqueeze", "", ins(scores, e.i64s(1))) // [T, 1, E]: s_j
	// jFirst[e, j]: j < e, TopK's order between equal scores.
	col, row := make([]float64, experts), make([]float64, experts)
	for i := range col {
		col[i], row[i] = float64(i), float64(i)
	}
	jFirst := e.op("Greater", "", ins(e.floats("moe.index.col", []int64{experts, 1}, col), e.floats("moe.index.row", []int64{1, experts}, row)))
	one, zero := e.f32(1), e.f32(0)
	tie := e.op("Where", "", ins(jFirst, one, zero))
	above := e.op("Where", "", ins(e.op("Greater", "", ins(sj, se)), one,
		e.op("Where", "", ins(e.op("Greater", "", ins(se, sj)), zero, tie)))) // [T, E, E]
	rank := e.op("ReduceSum", "", ins(above, e.i64s(2)), aInt("keepdims", 0)) // [T, E]
	chosen := e.op("Greater", "", ins(e.f32(float64(n.Attrs.Int("top_k"))-0.5), rank))
	dense := e.moeNarrow(n, e.moeWeights(n, e.op("Where", "", ins(chosen, scores, zero)), -1))
	e.ft = ft
	e.moeDense(n, in, out, x2, dense, true)
}

func aStr(name, v string) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_STRING.Enum(), S: []byte(v)}
}
