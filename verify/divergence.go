package verify

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/mhcc-dev/mhcc/ir"
	"github.com/mhcc-dev/mhcc/lower"
	"github.com/mhcc-dev/mhcc/onnx/meta"
	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
	mhrt "github.com/mhcc-dev/mhcc/runtime"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// Where the outputs start to differ. "Output differs by 0.07" says nothing
// about why; for a graph made elsewhere the useful answer is the first
// sublayer whose output state already differs from the reference: that is
// where the export (or its weights) and the model file disagree. The
// reference's state after each sublayer is a named value of its graph
// (layers.1.attn.x); the graph checked is searched for a value that equals
// it, first by the same name (mhcc's own graphs), else among the values of
// the nodes in that layer's name scope (torch.onnx names nodes after the
// module path, /layers.1/hc_attn/Add_3), else among all its values. A
// state is matched when a value of the same shape is within the run's
// tolerance; the first state that nothing matches is the divergence. A
// graph with mhcc.sublayers metadata names its state values there, which
// comes before any search.

// A Divergence is the first sublayer whose output state differs.
type Divergence struct {
	Shape    []int64 `json:"shape"`    // input shape of the run examined (the smallest that failed)
	Sublayer string  `json:"sublayer"` // "layers.1.attn"; "head" when every sublayer matched
	Layer    int     `json:"layer"`    // -1 for head
	Kind     string  `json:"kind"`     // attn, ffn, mlp or head
	// Closest is the value of the graph checked nearest to the reference
	// state (same shape), with its max |difference|; empty if none had the shape.
	Closest string  `json:"closest,omitempty"`
	MaxAbs  float64 `json:"max_abs"`
	// Matched lists the sublayers before it whose states the graph reproduces,
	// and how they were found: by metadata (mhcc.sublayers), by name, by
	// scope or by value.
	Matched   []string `json:"matched"`
	MatchedBy string   `json:"matched_by"`
	// Unmatched lists earlier sublayers no value of the graph had the shape of.
	Unmatched []string `json:"unmatched,omitempty"`
	Problem   string   `json:"problem,omitempty"` // why the search could not run
}

// A state is the reference value after one sublayer.
type state struct {
	name, value, kind string
	layer             int
}

// sublayerStates lists the sublayer output states of the reference graph in
// depth order: the HCMix of an mHC sublayer, the Add of a residual one
// (lower.Sublayers).
func sublayerStates(g *ir.Graph) []state {
	var out []state
	for _, s := range lower.Sublayers(g, nil) {
		out = append(out, state{name: s.Name, value: s.Output, layer: s.Layer, kind: s.Name[strings.LastIndex(s.Name, ".")+1:]})
	}
	return out
}

// targetOutputs maps each sublayer's name to the value holding its output
// state in the graph checked, from the mhcc.sublayers entry of its
// metadata_props; nil for a graph without it (or with one that does not
// decode), whose states are then searched by name, scope and value.
func targetOutputs(props []*onnxpb.StringStringEntryProto) map[string]string {
	for _, p := range props {
		if p.GetKey() != meta.SublayersKey {
			continue
		}
		subs, err := meta.Decode(p.GetValue())
		if err != nil {
			return nil
		}
		out := map[string]string{}
		for _, s := range subs {
			out[s.Name] = s.Output
		}
		return out
	}
	return nil
}

// metadataProps reads the metadata_props (field 14) of a serialised
// ModelProto without decoding the rest (the weights stay where they are).
func metadataProps(data []byte) []*onnxpb.StringStringEntryProto {
	var out []*onnxpb.StringStringEntryProto
	for len(data) > 0 {
		num, typ, n := protowire.ConsumeTag(data)
		if n < 0 {
			return out
		}
		data = data[n:]
		if num == 14 && typ == protowire.BytesType {
			v, m := protowire.ConsumeBytes(data)
			if m < 0 {
				return out
			}
			e := &onnxpb.StringStringEntryProto{}
			if proto.Unmarshal(v, e) == nil {
				out = append(out, e)
			}
			data = data[m:]
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, data)
		if m < 0 {
			return out
		}
		data = data[m:]
	}
	return out
}

// layerScope finds the layer a node belongs to by its name: torch.onnx's
// "/layers.3/attn/MatMul" or mhcc's "layers.3.attn.wq".
var layerScope = regexp.MustCompile(`(?:^|/)layers\.(\d+)[./]`)

// locate runs the graph checked once more on the run shape, with its
// intermediate values, and finds the first sublayer whose state (in
// refVals, from the reference's run) the graph does not reproduce.
func locate(states []state, refVals map[string]*mhrt.Tensor, target *mhrt.Model, tgtOut map[string]string, tgtArgs map[string]*mhrt.Tensor, shape []int64, tol Tolerance) *Divergence {
	if len(states) == 0 {
		return nil
	}
	d := &Divergence{Shape: shape, Layer: -1, Matched: []string{}}
	// Candidates per layer (-1: every value) and by name.
	byName := map[string]bool{}
	perLayer := map[int][]string{}
	scoped := false
	var all []string
	for _, n := range target.Nodes() {
		layer := -1
		if m := layerScope.FindStringSubmatch(n.Name); m != nil {
			layer, _ = strconv.Atoi(m[1])
			scoped = true
		}
		for _, o := range n.Outputs {
			if o == "" {
				continue
			}
			byName[o] = true
			all = append(all, o)
			perLayer[layer] = append(perLayer[layer], o)
		}
	}
	// The candidates of each state, and so the values the run must keep:
	// only those (the run frees every other intermediate after its last
	// reader), not every value of the graph.
	candsOf := func(s state) ([]string, string) {
		switch {
		case byName[tgtOut[s.name]]:
			return []string{tgtOut[s.name]}, "metadata"
		case byName[s.value]:
			return []string{s.value}, "name"
		case scoped && s.layer >= 0:
			return perLayer[s.layer], "scope"
		}
		return all, "value"
	}
	var keep []string
	kept := map[string]bool{}
	for _, s := range states {
		cands, _ := candsOf(s)
		for _, c := range cands {
			if !kept[c] {
				kept[c] = true
				keep = append(keep, c)
			}
		}
	}
	tgtVals, err := target.RunWith(tgtArgs, mhrt.RunOptions{Outputs: keep})
	if err != nil {
		d.Problem = fmt.Sprintf("intermediate values of the graph checked: %v", err)
		return d
	}
	for _, s := range states {
		r := refVals[s.value]
		cands, by := candsOf(s)
		best, bestAbs, ok := "", math.Inf(1), false
		for _, c := range cands {
			v := tgtVals[c]
			if v == nil || !v.DType.IsFloat() || !slices.Equal(v.Shape, r.Shape) {
				continue
			}
			rr := compare(v, r, tol)
			if rr.OK {
				ok, best, bestAbs = true, c, rr.MaxAbs
				break
			}
			if rr.MaxAbs < bestAbs {
				best, bestAbs = c, rr.MaxAbs
			}
		}
		switch {
		case ok:
			d.Matched = append(d.Matched, s.name)
			d.MatchedBy = by
		case best == "":
			d.Unmatched = append(d.Unmatched, s.name)
		default:
			d.Sublayer, d.Layer, d.Kind, d.Closest, d.MaxAbs = s.name, s.layer, s.kind, best, bestAbs
			if d.MatchedBy == "" {
				d.MatchedBy = by
			}
			return d
		}
	}
	// Every state matched (or none could be): the difference comes after
	// the last sublayer, in the collapse, final norm or head.
	d.Sublayer, d.Layer, d.Kind = "head", -1, "head"
	return d
}

// text describes d in one line.
func (d *Divergence) text() string {
	if d.Problem != "" {
		return fmt.Sprintf("input %v: could not find where the outputs start to differ: %s", d.Shape, d.Problem)
	}
	if d.Sublayer == "head" {
		if len(d.Matched) == 0 {
			return fmt.Sprintf("input %v: no sublayer state of the reference could be found in the graph checked, so where the outputs start to differ is unknown", d.Shape)
		}
		return fmt.Sprintf("input %v: every sublayer's output state matches the reference (%d, by %s); the outputs start to differ after the last sublayer (collapse, final norm or head)", d.Shape, len(d.Matched), d.MatchedBy)
	}
	s := fmt.Sprintf("input %v: the outputs start to differ at %s (layer %d %s): ", d.Shape, d.Sublayer, d.Layer, d.Kind)
	if len(d.Matched) > 0 {
		s += fmt.Sprintf("the states after %s match the reference (found by %s), ", strings.Join(d.Matched, ", "), d.MatchedBy)
	}
	s += fmt.Sprintf("no value of the graph checked matches the state after %s (closest: %q, max |diff| %.3g)", d.Sublayer, d.Closest, d.MaxAbs)
	if len(d.Unmatched) > 0 {
		s += fmt.Sprintf("; %s could not be looked for (no value of that shape)", strings.Join(d.Unmatched, ", "))
	}
	return s
}
