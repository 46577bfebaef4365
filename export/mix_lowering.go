package export

import "github.com/mhcc-dev/mhcc/ir"

// mixLowerings holds alternative lowerings of the stream collapse and mix.
var mixLowerings = map[ir.Op]map[string]expansion{
	ir.OpHCPremix:   {"two_matmul": expandHCPremixTwoMatMul},
	ir.OpHCMix:      {"concat_matmul": expandHCMixConcatMatMul},
	ir.OpHCCollapse: {"matmul": expandHCCollapseMatMul},
}

// HCMix, lowering "concat_matmul": x' = [combᵀ | post] · [x; y], one
// batched MatMul over the state with y appended as an extra stream, instead
// of combᵀ·x, post ⊗ y and their sum as three full-size tensors. (With the
// mix already done by HCPremix, only post ⊗ y + x is left: the reference.)
func expandHCMixConcatMatMul(e *emitter, n *ir.Node, in, out []string) {
	if len(in) < 4 || in[3] == "" {
		expandHCMix(e, n, in, out)
		return
	}
	combT := e.transposeLast(in[3], n.Inputs[3].Type.Shape.Rank())
	post := e.op("Unsqueeze", "", ins(in[2], e.i64s(-1))) // [..., n, 1]
	w := e.op("Concat", "", ins(combT, post), aInt("axis", -1))
	y := e.op("Unsqueeze", "", ins(in[1], e.i64s(-2))) // [..., 1, C]
	state := e.op("Concat", "", ins(in[0], y), aInt("axis", -2))
	e.op("MatMul", out[0], ins(w, state))
}

// HCCollapse, lowering "matmul": the weighted collapse as preᵀ·x, one
// batched MatMul, instead of a full-size product and a ReduceSum over the
// stream axis. The sum and mean modes keep the reference.
func expandHCCollapseMatMul(e *emitter, n *ir.Node, in, out []string) {
	if n.Attrs.String("mode") != "weighted" {
		expandHCCollapse(e, n, in, out)
		return
	}
	pre := e.op("Unsqueeze", "", ins(in[1], e.i64s(-2))) // [..., 1, n]
	e.op("Squeeze", out[0], ins(e.op("MatMul", "", ins(pre, in[0])), e.i64s(-2)))
}

// HCPremix, lowering "two_matmul": h = preᵀ·x and mixed = combᵀ·x as two
// batched MatMuls reading x each, instead of one MatMul over the stacked
// [preᵀ; combᵀ] whose result must then be sliced apart (two copies). It
// reads the state twice but writes each result once.
func expandHCPremixTwoMatMul(e *emitter, n *ir.Node, in, out []string) {
	pre := e.op("Unsqueeze", "", ins(in[1], e.i64s(-2))) // [..., 1, n]
	h := e.op("MatMul", "", ins(pre, in[0]))             // [..., 1, C]
	e.op("Squeeze", out[0], ins(h, e.i64s(-2)))
	combT := e.transposeLast(in[2], n.Inputs[2].Type.Shape.Rank())
	e.op("MatMul", out[1], ins(combT, in[0]))
}
