package export

import "github.com/mhcc-dev/mhcc/ir"

// HCPremix: W = [preᵀ; combᵀ] ([..., n+1, n]) times x ([..., n, C]) in one
// MatMul, which reads x once for both the collapse h (row 0) and the mixed
// streams combᵀ·x (rows 1..n).
func expandHCPremix(e *emitter, n *ir.Node, in, out []string) {
	pre := e.op("Unsqueeze", "", ins(in[1], e.i64s(-2))) // [..., 1, n]
	combT := e.transposeLast(in[2], n.Inputs[2].Type.Shape.Rank())
	w := e.op("Concat", "", ins(pre, combT), aInt("axis", -2))
	both := e.op("MatMul", "", ins(w, in[0])) // [..., n+1, C]
	s := n.Inputs[0].Type.Shape[n.Inputs[0].Type.Shape.Rank()-2].Size
	h := e.fresh(n.Name + "/h")
	e.add("", "Split", ins(both, e.i64s(1, s)), []string{h, out[1]}, aInt("axis", -2))
	e.op("Squeeze", out[0], ins(h, e.i64s(-2)))
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
