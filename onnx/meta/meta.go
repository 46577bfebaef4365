// Package meta holds the metadata mhcc writes into the ONNX models it
// emits (metadata_props): the mhcc.* keys and the mhcc.sublayers record of
// each sublayer (docs/spec.md §6). It is part of the ONNX layer, so that
// readers of ONNX files (onnx/diff, mhcc verify, inspect, graph) can use it
// without importing the compiler; lower computes the record from the IR and
// the exporter writes it.
package meta

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// ONNX metadata keys. The exporter writes Producer, Target,
// Lowering and (for the f64 reference) Precision; lowering adds the
// model's settings (* below them) through ir.Graph.data.
const (
	Prefix = "mhcc."

	Producer  = "mhcc.producer"
	Target    = "mhcc.target"
	Lowering  = "mhcc.lowering"
	Precision = "mhcc.precision"

	Model        = "mhcc.model"
	Architecture = "mhcc.architecture"
	Layers       = "mhcc.layers"
	HCKind       = "mhcc.hc.kind"
	HCStreams    = "mhcc.hc.streams"
	HCDynamic    = "mhcc.hc.dynamic"
	HCIterations = "mhcc.hc.sinkhorn_iterations"
	HCEps        = "mhcc.hc.eps"
	HCRMSEps     = "mhcc.hc.rms_eps"
	HCCollapse   = "mhcc.hc.collapse"
	Weights      = "mhcc.weights"
)

// SublayersKey is the metadata_props key under which the exporter records
// the model's sublayers (docs/spec.md §6) as the JSON array
// Encode writes. Readers (mhcc verify, diff, inspect, graph) use it
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

// Encode returns the metadata value of s: compact JSON, fields in
// the order of Sublayer, so the same graph always gives the same bytes.
func Encode(s []Sublayer) string {
	if s == nil {
		s = []Sublayer{}
	}
	b, err := json.Marshal(s)
	if err != nil { // plain strings and ints: cannot fail
		panic(err)
	}
	return string(b)
}

// Decode parses a metadata value written by Encode. It
// rejects unknown fields and entries without a name, kind or output, so a
// reader that falls back to names on an error never acts on half a record.
func Decode(v string) ([]Sublayer, error) {
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
