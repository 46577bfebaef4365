package export

import (
	"fmt"

	"github.com/mhcc-dev/mhcc/ir"
	"google.golang.org/protobuf/proto"
)

// AddPositions: x + table[positions] (learned positions, docs/spec.md
// §3.1). Without position_ids the rows are 0 … S−1, a Slice of the table;
// with them (a KV-cache step) a Gather, named for the limit like the RoPE
// rows' (positionRope), so a position past the table fails saying so.
func expandAddPositions(e *emitter, n *ir.Node, in, out []string) {
	var rows string
	if p := optIn(in, 2); p != "" {
		rows = e.fresh(n.Name + "/rows")
		g := e.add("", "Gather", ins(in[1], p), []string{rows}, aInt("axis", 0))
		g.Name = proto.String(fmt.Sprintf("%s: position_ids must be in [0, %d) (inputs.max_sequence)", in[1], n.Inputs[1].Type.Shape[0].Size))
	} else {
		seq := e.seqLen(in[0], n.Inputs[0].Type.Shape[1])
		rows = e.slice2(in[1], e.i64s(0), seq)
	}
	e.op("Add", out[0], ins(in[0], rows))
}
