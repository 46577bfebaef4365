package passes

import "github.com/mhcc-dev/mhcc/ir"

// EliminateDead removes nodes none of whose outputs is read, and then the
// constants nothing reads. It walks the nodes backwards, so a chain of dead
// nodes goes in one run.
var EliminateDead = &Pass{
	Name: "dce",
	Doc:  "remove nodes whose results are never used, and unused constants",
	Run: func(g *ir.Graph, _ *Context) (bool, error) {
		dead := deadNodes(g)
		removed := g.RemoveNodes(func(n *ir.Node) bool { return dead[n] })
		removed += g.RemoveUnusedConsts()
		return removed > 0, nil
	},
}

// deadNodes returns the nodes of g (in topological order) none of whose
// outputs is read by a live node or is a graph output, leaving g as it is.
func deadNodes(g *ir.Graph) map[*ir.Node]bool {
	dead := map[*ir.Node]bool{}
	for i := len(g.Nodes) - 1; i >= 0; i-- {
		n := g.Nodes[i]
		used := false
		for _, v := range n.Outputs {
			if v.Uses > 0 {
				used = true
			}
		}
		if !used {
			dead[n] = true
			for _, v := range n.Inputs {
				if v != nil {
					v.Uses-- // lets the producers of v be found dead too
				}
			}
		}
	}
	for _, n := range g.Nodes {
		if dead[n] {
			for _, v := range n.Inputs {
				if v != nil {
					v.Uses++ // restored: the caller decides what to remove
				}
			}
		}
	}
	return dead
}
