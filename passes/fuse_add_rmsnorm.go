package passes

import "github.com/mhcc-dev/mhcc/ir"

// FuseAddRMSNorm pairs a residual Add with the RMSNorm that reads its sum
// (the next sublayer's pre-norm) into one AddRMSNorm node, which runtimes
// with a fused kernel run in one pass (onnxruntime's
// SkipSimplifiedLayerNormalization, the ort target's "skip" lowering). The
// reference lowering writes the Add and the norm as before.
var FuseAddRMSNorm = &Pass{
	Name: "fuse_add_rmsnorm",
	Doc:  "pair a residual Add with the RMSNorm of its sum (AddRMSNorm)",
	Run: func(g *ir.Graph, cx *Context) (bool, error) {
		changed := false
		for _, n := range append([]*ir.Node(nil), g.Nodes...) {
			if n.Op != ir.OpRMSNorm {
				continue
			}
			a := n.Inputs[0].Def
			if a == nil || a.Op != ir.OpAdd || g.IsOutput(n.Outputs[0]) {
				continue
			}
			f, err := g.NewNode(ir.OpAddRMSNorm, n.Name+".add", n.Pos, ir.Attrs{"eps": n.Attrs.Float("eps")},
				[]*ir.Value{a.Inputs[0], a.Inputs[1], n.Inputs[1]}, n.Outputs[0].Name+".fused", a.Outputs[0].Name+".fused")
			if err != nil {
				return changed, nodeError(n, "%v", err)
			}
			g.ReplaceUses(n.Outputs[0], f.Outputs[0])
			if !g.IsOutput(a.Outputs[0]) {
				g.ReplaceUses(a.Outputs[0], f.Outputs[1])
			}
			cx.Fire("add_rmsnorm")
			changed = true
		}
		if changed && !g.Toposort() {
			return changed, errCycle
		}
		return changed, nil
	},
}
