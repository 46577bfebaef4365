package passes

import "github.com/mhcc-dev/mhcc/ir"

// SelectLowerings records on each node the lowering its target profile picks
// for its op (Node.Lowering, printed "@name"). The exporter expands each node
// with that lowering; the choice sits in the IR so --print-ir-after-all shows
// it and a later pass may refine it per node.
var SelectLowerings = &Pass{
	Name:     "select_lowerings",
	Doc:      "record on each node the lowering its target profile picks for its op",
	Required: true, // export reads the choice; without it every node would be "reference"
	Run: func(g *ir.Graph, cx *Context) (bool, error) {
		changed := false
		for _, n := range g.Nodes {
			if n.Lowering != "" || dead(n) {
				continue // a pass chose for this node already, or dce will remove it
			}
			if l := cx.Target.LoweringOf(n.Op.String()); l != "reference" {
				n.Lowering = l
				cx.Fire(n.Op.String() + "@" + l)
				changed = true
			}
		}
		return changed, nil
	},
}

// dead reports whether nothing reads n's outputs.
func dead(n *ir.Node) bool {
	for _, v := range n.Outputs {
		if v.Uses > 0 {
			return false
		}
	}
	return true
}
