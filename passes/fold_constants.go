package passes

import "github.com/mhcc-dev/mhcc/ir"

// foldLimit caps the elements a folded value may have: folding trades
// compile time and file size for run time, and a big folded tensor (an
// embedding times a matrix) would bloat the model for little gain.
const foldLimit = 1 << 20

// FoldConstants evaluates, at the graph's own precision, every node whose
// inputs are all constants, and replaces its outputs with constants. It
// runs the node through the Context's Evaluator; the compile driver's runs
// the Go runtime, so a folded value is exactly what executing the node would
// give.
var FoldConstants = &Pass{
	Name: "fold_constants",
	Doc:  "evaluate nodes whose inputs are all constants (with the runtime's kernels)",
	Run: func(g *ir.Graph, cx *Context) (bool, error) {
		changed := false
		for _, n := range g.Nodes {
			if !foldable(g, n) {
				continue
			}
			ts, err := evaluate(cx.Eval, []*ir.Node{n}, n.Outputs, false)
			if err != nil {
				return changed, nodeError(n, "%v", err)
			}
			foldInto(g, n.Outputs, ts)
			cx.Fire(n.Op.String())
			changed = true
		}
		return changed, nil
	},
}

// foldable reports whether n reads only constants, defines no graph output
// and produces small, fully known values.
func foldable(g *ir.Graph, n *ir.Node) bool {
	for _, v := range n.Inputs {
		if v != nil && v.Const == nil {
			return false
		}
	}
	for _, v := range n.Outputs {
		if g.IsOutput(v) || v.Uses == 0 {
			return false
		}
		if _, ok := v.Type.Shape.Sizes(); !ok || v.Type.Shape.NumElements() > foldLimit {
			return false
		}
	}
	return true
}
