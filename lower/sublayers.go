package lower

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/mhcc-dev/mhcc/ir"
)

// SublayersKey is the metadata_props key under which the exporter records
// the model's sublayers (docs/spec.md §6) as the JSON array
// EncodeSublayers writes. Readers (mhcc verify, diff, inspect, graph) use it
// in place of parsing value names; a graph without it (one not made by
// mhcc) falls back to names.
const SublayersKey = "mhcc.sublayers"

// A Sublayer is one block wrapped in a hyper-connection (mHC) or in a plain
// residual connection: an attention or a feed-forward block of a decoder
// layer, or the MLP block of an mlp layer. The value names are those of the
// exported ONNX graph (IR names are kept by the exporter).
type Sublayer struct {
	Name    string `json:"name"`    // "layers.0.attn"
	Kind    string `json:"kind"`    // "attention", "ffn" or "mlp"
	Layer   int    `json:"layer"`   // 0-based layer index
	Streams int    `json:"streams"` // n; 1 for a residual connection
	// Iterations is the Sinkhorn iteration count of the mixing matrix
	// (0 for a residual connection).
	Iterations int `json:"sinkhorn_iterations"`
	// Lowering is the Sinkhorn's ONNX lowering ("reference", "gemm", "log",
	// "loop", "function", "custom", "minimal"), or "folded" when the
	// matrix was computed at compile time (static mHC); empty for a
	// residual connection.
	Lowering string `json:"lowering,omitempty"`
	// Pre, Post and Comb name the values holding the sublayer's mHC
	// coefficients (an initializer when folded); empty for a residual
	// connection.
	Pre  string `json:"pre,omitempty"`
	Post string `json:"post,omitempty"`
	Comb string `json:"comb,omitempty"`
	// Output names the state after the sublayer: the mixed streams
	// [..., n, C] for mHC, the residual sum [..., C] otherwise.
	Output string `json:"output"`
}

// kinds maps the last part of a sublayer's name to its Kind.
var kinds = map[string]string{"attn": "attention", "ffn": "ffn", "mlp": "mlp"}

// EncodeSublayers returns the metadata value of s: compact JSON, fields in
// the order of Sublayer, so the same graph always gives the same bytes.
func EncodeSublayers(s []Sublayer) string {
	if s == nil {
		s = []Sublayer{}
	}
	b, err := json.Marshal(s)
	if err != nil { // plain strings and ints: cannot fail
		panic(err)
	}
	return string(b)
}

// DecodeSublayers parses a metadata value written by EncodeSublayers. It
// rejects unknown fields and entries without a name, kind or output, so a
// reader that falls back to names on an error never acts on half a record.
func DecodeSublayers(v string) ([]Sublayer, error) {
	dec := json.NewDecoder(bytes.NewReader([]byte(v)))
	dec.DisallowUnknownFields()
	var s []Sublayer
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("%s: %w", SublayersKey, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%s: data after the JSON array", SublayersKey)
	}
	for i, x := range s {
		if x.Name == "" || x.Kind == "" || x.Output == "" || x.Layer < 0 || x.Streams < 1 || x.Iterations < 0 {
			return nil, fmt.Errorf("%s: entry %d (%q) lacks a name, kind, output, layer, streams or iterations", SublayersKey, i, x.Name)
		}
	}
	return s, nil
}

// Sublayers finds the sublayers of a lowered graph (before or after the
// passes) in execution order: the HCMix node of each mHC sublayer, with its
// coefficients traced back through HCPremix or HCCollapse and the Sinkhorn
// node; the Add (or, fused with the next norm, AddRMSNorm) of each
// residual one. lowering names a Sinkhorn node's lowering (nil:
// "reference").
func Sublayers(g *ir.Graph, lowering func(*ir.Node) string) []Sublayer {
	var out []Sublayer
	for _, n := range g.Nodes {
		var s Sublayer
		switch {
		case n.Op == ir.OpHCMix:
			s = mhcSublayer(g, n, lowering)
		case n.Op == ir.OpAdd && strings.HasSuffix(n.Name, ".residual"):
			s = Sublayer{Name: strings.TrimSuffix(n.Name, ".residual"), Streams: 1, Output: n.Outputs[0].Name}
		case n.Op == ir.OpAddRMSNorm && len(n.Outputs) > 1 && strings.HasSuffix(n.Outputs[1].Name, ".residual.fused"):
			s = Sublayer{Name: strings.TrimSuffix(n.Outputs[1].Name, ".residual.fused"), Streams: 1, Output: n.Outputs[1].Name}
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
func mhcSublayer(g *ir.Graph, mix *ir.Node, lowering func(*ir.Node) string) Sublayer {
	x := mix.Inputs[0]
	s := Sublayer{Name: strings.TrimSuffix(mix.Name, ".x"), Output: mix.Outputs[0].Name, Post: mix.Inputs[2].Name}
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
			if e.Key == MetaHCIterations {
				if it, err := strconv.Atoi(e.Value); err == nil {
					s.Iterations, s.Lowering = it, "folded"
				}
			}
		}
	}
	return s
}
