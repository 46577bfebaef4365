package export

import "github.com/mhcc-dev/mhcc/ir"

// Add: a + b.
func expandAdd(e *emitter, n *ir.Node, in, out []string) { e.op("Add", out[0], ins(in[0], in[1])) }

// Add: a + b, both [B, C].
func minimalAdd(e *emitter, n *ir.Node, in, out []string) {
	needRank(n, 0, 2)
	e.op("Add", out[0], ins(in[0], in[1]))
}
