package export

import "github.com/mhcc-dev/mhcc/ir"

// HCExpand: repeat x [..., C] into n streams [..., n, C].
func expandHCExpand(e *emitter, n *ir.Node, in, out []string) {
	s := n.Attrs.Int("streams")
	rank := int64(n.Outputs[0].Type.Shape.Rank())
	shape := make([]int64, rank)
	for i := range shape {
		shape[i] = 1
	}
	shape[rank-2] = s
	u := e.op("Unsqueeze", "", ins(in[0], e.i64s(-2)))
	e.op("Expand", out[0], ins(u, e.i64s(shape...)))
}

// HCExpand: x [B, C] concatenated n times (x and n-1 Identity copies) to
// [B, n·C], viewed as [B, n, C].
func minimalHCExpand(e *emitter, n *ir.Node, in, out []string) {
	needRank(n, 0, 2)
	s, c := n.Attrs.Int("streams"), lastSize(n, 0)
	copies := []string{in[0]}
	for i := int64(1); i < s; i++ {
		copies = append(copies, e.op("Identity", "", ins(in[0])))
	}
	cat := e.op("Concat", "", copies, aInt("axis", 1))
	e.op("Reshape", out[0], ins(cat, e.i64s(0, s, c)))
}
