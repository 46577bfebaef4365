package lower

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/mhcc-dev/mhcc/ir"
	"github.com/mhcc-dev/mhcc/onnx/meta"
)

// kinds maps the last part of a sublayer's name to its Kind.
var kinds = map[string]string{"attn": "attention", "ffn": "ffn", "mlp": "mlp"}

// Sublayers finds the sublayers of a lowered graph (before or after the
// passes) in execution order: the HCMix node of each mHC sublayer, with its
// coefficients traced back through HCPremix or HCCollapse and the Sinkhorn
// node; the Add (or, fused with the next norm, AddRMSNorm) of each
// residual one. lowering names a Sinkhorn node's lowering (nil:
// "reference").
func Sublayers(g *ir.Graph, lowering func(*ir.Node) string) []meta.Sublayer {
	var out []meta.Sublayer
	for _, n := range g.Nodes {
		var s meta.Sublayer
		switch {
		case n.Op == ir.OpHCMix:
			s = mhcSublayer(g, n, lowering)
		case n.Op == ir.OpAdd && strings.HasSuffix(n.Name, ".residual"):
			s = meta.Sublayer{Name: strings.TrimSuffix(n.Name, ".residual"), Streams: 1, Output: n.Outputs[0].Name}
		case n.Op == ir.OpAddRMSNorm && len(n.Outputs) > 1 && strings.HasSuffix(n.Outputs[1].Name, ".residual.fused"):
			s = meta.Sublayer{Name: strings.TrimSuffix(n.Outputs[1].Name, ".residual.fused"), Streams: 1, Output: n.Outputs[1].Name}
		default:
			continue
		}
		if _, err := fmt.Sscanf(s.Name, "layers.%d.", &s.Layer); err != nil {
			continue // not a layer's sublayer
		}
		s.Kind = kinds[s.Name[strings.LastIndex(s.Name, ".")+1:]]
		if s.Kind == "" {
			continue
		}
		out = append(out, s)
	}
	return out
}

// mhcSublayer describes the sublayer whose HCMix is mix.
func mhcSublayer(g *ir.Graph, mix *ir.Node, lowering func(*ir.Node) string) meta.Sublayer {
	x := mix.Inputs[0]
	s := meta.Sublayer{Name: strings.TrimSuffix(mix.Name, ".x"), Output: mix.Outputs[0].Name, Post: mix.Inputs[2].Name}
	if r := x.Type.Shape.Rank(); r >= 2 {
		s.Streams = int(x.Type.Shape[r-2].Size)
	}
	var comb, pre *ir.Value
	if len(mix.Inputs) > 3 && mix.Inputs[3] != nil {
		comb = mix.Inputs[3]
		for _, n := range g.Nodes {
			if n.Op == ir.OpHCCollapse && n.Inputs[0] == x && len(n.Inputs) > 1 {
				pre = n.Inputs[1]
			}
		}
	} else if p := x.Def; p != nil && p.Op == ir.OpHCPremix { // fuse_stream_mix
		pre, comb = p.Inputs[1], p.Inputs[2]
		if r := p.Inputs[0].Type.Shape.Rank(); r >= 2 {
			s.Streams = int(p.Inputs[0].Type.Shape[r-2].Size)
		}
	}
	if pre != nil {
		s.Pre = pre.Name
	}
	if comb == nil {
		return s
	}
	s.Comb = comb.Name
	if d := comb.Def; d != nil && d.Op == ir.OpSinkhorn {
		s.Iterations = int(d.Attrs.Int("iters"))
		s.Lowering = "reference"
		if lowering != nil {
			s.Lowering = lowering(d)
		}
	} else { // static mHC: computed by fold_static_hc
		for _, e := range g.Metadata {
			if e.Key == meta.HCIterations {
				if it, err := strconv.Atoi(e.Value); err == nil {
					s.Iterations, s.Lowering = it, "folded"
				}
			}
		}
	}
	return s
}
