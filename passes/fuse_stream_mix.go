package passes

import "github.com/mhcc-dev/mhcc/ir"

// FuseStreamMix pairs each sublayer's collapse h = Σ_i pre[i]·x[i] with its
// mixing combᵀ·x, which read the same state x: both become one HCPremix
// node computing [preᵀ; combᵀ]·x in a single pass over x, before the
// sublayer runs. What is left of HCMix after the sublayer is the outer
// product post ⊗ y added to the already mixed streams.
var FuseStreamMix = &Pass{
	Name: "fuse_stream_mix",
	Doc:  "compute the stream collapse and the mixing combᵀ·x in one pass over the state (HCPremix)",
	Run: func(g *ir.Graph, cx *Context) (bool, error) {
		changed := false
		for _, m := range g.Nodes {
			if m.Op != ir.OpHCMix || len(m.Inputs) != 4 || m.Inputs[3] == nil {
				continue
			}
			x, comb := m.Inputs[0], m.Inputs[3]
			var c *ir.Node
			for _, u := range g.Nodes {
				if u.Op == ir.OpHCCollapse && u.Attrs.String("mode") == "weighted" && u.Inputs[0] == x &&
					u.Inputs[1].Type.Shape.Rank() == comb.Type.Shape.Rank()-1 && !g.IsOutput(u.Outputs[0]) {
					c = u
					break
				}
			}
			if c == nil {
				continue
			}
			name := c.Outputs[0].Name
			p, err := g.NewNode(ir.OpHCPremix, c.Name+".premix", c.Pos, nil, []*ir.Value{x, c.Inputs[1], comb}, name+".premix", m.Outputs[0].Name+".mixed")
			if err != nil {
				return changed, nodeError(m, "%v", err)
			}
			g.ReplaceUses(c.Outputs[0], p.Outputs[0])
			x.Uses--
			comb.Uses--
			p.Outputs[1].Uses++
			m.Inputs = []*ir.Value{p.Outputs[1], m.Inputs[1], m.Inputs[2]}
			cx.Fire("premix")
			changed = true
		}
		if changed && !g.Toposort() {
			return changed, errCycle
		}
		return changed, nil
	},
}
