package export

import "github.com/mhcc-dev/mhcc/ir"

// mixLowerings holds alternative lowerings of the stream collapse and mix.
var mixLowerings = map[ir.Op]map[string]expansion{
	ir.OpHCPremix: {"two_matmul": expandHCPremixTwoMatMul},
}

// HCPremix, lowering "two_matmul": h = preᵀ·x and mixed = combᵀ·x as two
// batched MatMuls reading x each, instead of one MatMul over the stacked
// [preᵀ; combᵀ] whose result must then be sliced apart (two copies). It
// reads the state twice but writes each result once.
func expandHCPremixTwoMatMul(e *emitter, n *ir.Node, in, out []string) {
	r := n.Inputs[2].Type.Shape.Rank()
	perm := make([]int64, r)
	for i := range perm {
		perm[i] = int64(i)
	}
	perm[r-2], perm[r-1] = perm[r-1], perm[r-2]
	pre := e.op("Unsqueeze", "", ins(in[1], e.i64s(-2))) // [..., 1, n]
	h := e.op("MatMul", "", ins(pre, in[0]))             // [..., 1, C]
	e.op("Squeeze", out[0], ins(h, e.i64s(-2)))
	combT := e.op("Transpose", "", ins(in[2]), aInts("perm", perm...))
	e.op("MatMul", out[1], ins(combT, in[0]))
}
