package passes

import (
	"fmt"
	"strings"

	"github.com/mhcc-dev/mhcc/ir"
)

// EliminateCommonSubexpressions merges nodes that apply the same op with the
// same attributes and lowering to the same inputs, and constants with the
// same type and data, keeping the first. Later passes then see one value
// where the lowering produced copies (e.g. equal folded coefficients).
var EliminateCommonSubexpressions = &Pass{
	Name: "cse",
	Doc:  "merge identical constants and identical nodes on the same inputs",
	Run: func(g *ir.Graph, cx *Context) (bool, error) {
		changed := false
		consts := map[string]*ir.Value{}
		for _, c := range g.Consts {
			if g.IsOutput(c) {
				continue
			}
			key := constKey(c)
			if first, ok := consts[key]; ok {
				g.ReplaceUses(c, first)
				cx.Fire("const")
				changed = true
				continue
			}
			consts[key] = c
		}
		seen := map[string]*ir.Node{}
		for _, n := range g.Nodes {
			key := nodeKey(n)
			first, ok := seen[key]
			if !ok {
				seen[key] = n
				continue
			}
			replaced := false
			for i, v := range n.Outputs {
				if g.IsOutput(v) {
					continue
				}
				if v.Uses > 0 {
					g.ReplaceUses(v, first.Outputs[i])
					replaced = true
				}
			}
			if replaced {
				cx.Fire(n.Op.String())
				changed = true
			}
		}
		return changed, nil
	},
}

func nodeKey(n *ir.Node) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d@%s(", n.Op, n.Lowering)
	for _, v := range n.Inputs {
		if v == nil {
			b.WriteString("_,")
		} else {
			fmt.Fprintf(&b, "%d,", v.ID)
		}
	}
	b.WriteString(")")
	b.WriteString(ir.FormatAttrs(n.Attrs))
	return b.String()
}

// constKey identifies a constant by type and data. Small constants are keyed
// by their values; weights (big) are never equal to one another in practice,
// and comparing them would cost a pass over every byte, so they get their
// own key.
func constKey(c *ir.Value) string {
	if c.Type.Shape.NumElements() > 4096 {
		return fmt.Sprintf("big:%d", c.ID)
	}
	return fmt.Sprintf("%v:%v:%v:%v", c.Type, c.Const.F32, c.Const.F64, c.Const.I64)
}
