package passes

import "github.com/mhcc-dev/mhcc/ir"

// FoldStaticHC computes the coefficients of static mHC sublayers
// (`dynamic: false`: pre, post and the Sinkhorn-projected mixing matrix
// depend on the learnt base only) at compile time. The HCCoeffs node and the
// Sinkhorn reading its logits run together in float64, and each result is
// rounded to float32 once, so the constants are more accurate than what the
// float32 graph would compute at run time.
var FoldStaticHC = &Pass{
	Name: "fold_static_hc",
	Doc:  "compute static mHC pre/post/mixing matrices at compile time, in float64",
	Run: func(g *ir.Graph, cx *Context) (bool, error) {
		changed := false
		for _, n := range g.Nodes {
			if n.Op != ir.OpHCCoeffs || len(n.Inputs) != 1 || !foldable(g, n) {
				continue
			}
			group := []*ir.Node{n}
			outs := []*ir.Value{n.Outputs[0], n.Outputs[1]}
			logits := n.Outputs[2]
			var sinks []*ir.Node
			for _, m := range g.Nodes {
				if m.Op == ir.OpSinkhorn && m.Inputs[0] == logits && !g.IsOutput(m.Outputs[0]) {
					sinks = append(sinks, m)
				}
			}
			for _, s := range sinks {
				group = append(group, s)
				outs = append(outs, s.Outputs[0])
			}
			if logits.Uses > len(sinks) {
				outs = append(outs, logits) // read by something else too
			}
			ts, err := evaluate(cx.Eval, group, outs, true)
			if err != nil {
				return changed, nodeError(n, "%v", err)
			}
			foldInto(g, outs, ts)
			cx.Fire("static_coeffs")
			changed = true
		}
		return changed, nil
	},
}
