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
		case n.Op == ir.OpHCCoeffsSinkhorn || n.Op == ir.OpHCCoeffsBoundary || n.Op == ir.OpHCEntry:
			s = fusedSublayer(g, n, lowering)
		case n.Op == ir.OpHCBoundary && (n.Inputs[1].Def == nil || n.Inputs[1].Def.Op != ir.OpHCCoeffsSinkhorn):
			s = staticFusedSublayer(g, n) // static mHC: constant coefficients
		case n.Op == ir.OpHCMix && n.Inputs[0].Def != nil && (n.Inputs[0].Def.Op == ir.OpHCBoundary || n.Inputs[0].Def.Op == ir.OpHCCoeffsBoundary):
			continue // the last sublayer of a fused graph: its HCCoeffsSinkhorn or HCCoeffsBoundary has the record
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

// fusedSublayer describes the sublayer whose coefficients the fused op cs
// (HCCoeffsSinkhorn, HCCoeffsBoundary or HCEntry, docs/fused-ops.md) computes: pre,
// post and comb are its outputs 0…2, the iterations its attribute, and the
// state after the sublayer the output of whatever applies its post-mix
// (the next sublayer's HCBoundary or HCCoeffsBoundary, or the last HCMix or
// HCHead).
func fusedSublayer(g *ir.Graph, cs *ir.Node, lowering func(*ir.Node) string) meta.Sublayer {
	name := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(cs.Name, ".fused"), ".merged"), ".entry"), ".hc")
	s := meta.Sublayer{Name: name, Streams: int(cs.Attrs.Int("streams")), Iterations: int(cs.Attrs.Int("iters")),
		Pre: cs.Outputs[0].Name, Post: cs.Outputs[1].Name, Comb: cs.Outputs[2].Name, Lowering: "reference"}
	if lowering != nil {
		s.Lowering = lowering(cs)
	}
	post := cs.Outputs[1]
	for _, n := range g.Nodes {
		for i, v := range n.Inputs {
			if v != nil && v.Def != nil && v.Def.Op == ir.OpCast && v.Def.Inputs[0] == post {
				v = post // a half-precision HCMix reads post through a Cast
			}
			switch {
			case v != post:
			case n.Op == ir.OpHCBoundary && i == 5:
				s.Output = n.Outputs[2].Name
			case n.Op == ir.OpHCCoeffsBoundary && i == 5:
				s.Output = n.Outputs[5].Name
			case n.Op == ir.OpHCMix && i == 2:
				s.Output = n.Outputs[0].Name
			case n.Op == ir.OpHCHead && i == 6:
				s.Output = n.Outputs[1].Name
			}
		}
	}
	return s
}

// staticFusedSublayer describes a static mHC sublayer of a fused graph by
// its HCBoundary b, which reads the folded pre and comb; post and the state
// after the sublayer come from whatever reads b's mixed streams (the next
// HCBoundary's post-mix, or the last HCMix or HCHead).
func staticFusedSublayer(g *ir.Graph, b *ir.Node) meta.Sublayer {
	s := meta.Sublayer{Name: strings.TrimSuffix(b.Name, ".h.premix.boundary"), Pre: b.Inputs[1].Name, Comb: b.Inputs[2].Name}
	if r := b.Inputs[0].Type.Shape.Rank(); r >= 2 {
		s.Streams = int(b.Inputs[0].Type.Shape[r-2].Size)
	}
	for _, e := range g.Metadata {
		if e.Key == meta.HCIterations {
			if it, err := strconv.Atoi(e.Value); err == nil {
				s.Iterations, s.Lowering = it, "folded"
			}
		}
	}
	for _, n := range g.Nodes {
		if len(n.Inputs) == 0 || n.Inputs[0] != b.Outputs[1] {
			continue
		}
		switch {
		case n.Op == ir.OpHCBoundary && len(n.Inputs) == 6:
			s.Post, s.Output = n.Inputs[5].Name, n.Outputs[2].Name
		case n.Op == ir.OpHCMix:
			s.Post, s.Output = n.Inputs[2].Name, n.Outputs[0].Name
		case n.Op == ir.OpHCHead:
			s.Post, s.Output = n.Inputs[6].Name, n.Outputs[1].Name
		}
	}
	return s
}
