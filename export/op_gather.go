package export

import "github.com/mhcc-dev/mhcc/ir"

// Gather: table[ids] along axis 0.
func expandGather(e *emitter, n *ir.Node, in, out []string) {
	e.op("Gather", out[0], ins(in[0], in[1]), aInt("axis", 0))
}
