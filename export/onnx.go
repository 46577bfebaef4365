package export

import (
	"fmt"
	"sort"
	"strings"

	"github.com/mhcc-dev/mhcc/ir"
	"github.com/mhcc-dev/mhcc/lower"
	"github.com/mhcc-dev/mhcc/onnx/meta"
	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
	"github.com/mhcc-dev/mhcc/target"
	"google.golang.org/protobuf/proto"
)

// Format versions of the default target (docs/spec.md §6): they load in onnx 1.12's
// checker and in onnxruntime 1.30.
const (
	IRVersion = 8
	Opset     = 17
)

// Producer names mhcc in the models it writes.
const (
	ProducerName    = "mhcc"
	ProducerVersion = "0.1.0"
)

// Options controls Encode.
type Options struct {
	// Profile is the target: IR version, opsets, allowed operators. Nil
	// means the reference: IR 8, opset 17, standard operators, and every
	// node in its reference lowering whatever its Lowering field says.
	Profile *target.Profile
	// Float64 makes every float tensor of the graph float64: inputs,
	// weights, constants and outputs. mhcc verify runs this form of the
	// reference lowering as the numerical truth.
	Float64 bool
	// External, if set, puts initializers of at least External.Threshold
	// bytes in a data file (external.go); write it with Layout.WriteData.
	External *External
	// ReleaseWeights lets Encode drop each float weight's values from g
	// once its initializer is made (the constant keeps its type and
	// shape), so the weights are not held twice while the model is built.
	// For a caller that never reads g's weights again: verify builds its
	// float64 reference this way, where the float32 weights and their
	// float64 copy would otherwise both stay live until Encode returns.
	ReleaseWeights bool

	layout *Layout // where External placed each initializer
}

// releaseMin is the size, in elements, from which ReleaseWeights drops a
// weight: the lowerings read small constants' values (scalars, shapes),
// never a weight matrix's.
const releaseMin = 1 << 16

// Encode converts g to an ONNX model: IR version 8, opset 17, every IR node
// expanded through opmap, weights as raw-data initializers, dynamic dims as
// dim_param, and metadata_props recording the producer and the mHC settings.
// The result depends only on g and opts, so its bytes are reproducible.
func Encode(g *ir.Graph, opts Options) (m *onnxpb.ModelProto, err error) {
	if err := CheckLegal(g, opts.Profile); err != nil {
		return nil, err
	}
	defer func() {
		if r := recover(); r != nil {
			if te, ok := r.(*TargetError); ok {
				m, err = nil, te
				return
			}
			err = fmt.Errorf("export: %v", r)
		}
	}()
	irVersion, opsets := int64(IRVersion), map[string]int64{"": Opset}
	if p := opts.Profile; p != nil {
		irVersion, opsets = p.IRVersion, p.Opsets
	}
	seen := map[string]bool{"": true} // domains used
	e := newEmitter(opts.Float64)
	graph := &onnxpb.GraphProto{Name: proto.String(g.Name)}
	for _, v := range g.Inputs {
		e.reserve(v.Name)
		vi, err := valueInfo(v, opts.Float64)
		if err != nil {
			return nil, err
		}
		graph.Input = append(graph.Input, vi)
	}
	if opts.External != nil && opts.layout == nil {
		if opts.layout, err = planExternal(g, opts.External, opts.Float64); err != nil {
			return nil, err
		}
	}
	var weights []*onnxpb.TensorProto
	for _, v := range g.Consts {
		e.reserve(v.Name)
		t, err := constInitializer(v, opts, opts.layout)
		if err != nil {
			return nil, err
		}
		weights = append(weights, t)
		if opts.ReleaseWeights && len(v.Const.F32) >= releaseMin {
			c := *v.Const
			c.F32 = nil
			v.Const = &c
		}
	}
	for _, n := range g.Nodes {
		for _, v := range n.Outputs {
			e.reserve(v.Name)
		}
	}
	for _, n := range g.Nodes {
		in := make([]string, len(n.Inputs))
		for i, v := range n.Inputs {
			if v != nil {
				in[i] = v.Name
			}
		}
		out := make([]string, len(n.Outputs))
		for i, v := range n.Outputs {
			out[i] = v.Name
		}
		e.node, e.step, e.ft = n, 0, nodeFloatType(n)
		name := loweringName(n, opts.Profile)
		expand, _ := lowering(n.Op, name)
		first := len(e.nodes)
		expand(e, n, in, out)
		// Checked per IR node, so the error names the first node the
		// target cannot take (a decoder for a target without Gather fails
		// at its embedding) before a later lowering trips on it.
		if err := checkOps(e, opts.Profile, opsets, "", e.nodes[first:], seen); err != nil {
			return nil, &TargetError{fmt.Sprintf("export: node %s (%v at %v), lowering %s: %v", n.Name, n.Op, n.Pos, name, err)}
		}
	}
	for _, v := range g.Outputs {
		vi, err := valueInfo(v, opts.Float64)
		if err != nil {
			return nil, err
		}
		graph.Output = append(graph.Output, vi)
	}
	graph.Node = e.nodes
	graph.Initializer = append(weights, e.inits...)

	used, err := checkEmitted(e, opts.Profile, opsets, seen)
	if err != nil {
		return nil, err
	}
	m = &onnxpb.ModelProto{
		IrVersion:       proto.Int64(irVersion),
		ProducerName:    proto.String(ProducerName),
		ProducerVersion: proto.String(ProducerVersion),
		Graph:           graph,
		MetadataProps:   metadata(g, opts),
		Functions:       e.funcs,
	}
	for _, d := range used {
		m.OpsetImport = append(m.OpsetImport, &onnxpb.OperatorSetIdProto{Domain: proto.String(d), Version: proto.Int64(opsets[d])})
	}
	if err := checkEPRules(m); err != nil { // epcheck.go
		return nil, err
	}
	return m, nil
}

// A TargetError says that a model cannot be compiled for its target: an IR
// node whose lowering emits an operator the target does not allow (a decoder's
// Gather for the minimal target), or a tensor the target's lowerings cannot
// handle. It is a problem of the input, not of mhcc.
type TargetError struct{ Msg string }

func (e *TargetError) Error() string { return e.Msg }

// loweringName is the lowering a node gets: its own choice when a profile
// is given, else the reference.
func loweringName(n *ir.Node, p *target.Profile) string {
	if p == nil || n.Lowering == "" {
		return "reference"
	}
	return n.Lowering
}

// checkEmitted checks the nodes of the model-local functions against the
// profile's allowed operators (Encode checks the graph's nodes as it emits
// them) and returns the domains used, "" first.
func checkEmitted(e *emitter, p *target.Profile, opsets map[string]int64, seen map[string]bool) ([]string, error) {
	for _, f := range e.funcs {
		if err := checkOps(e, p, opsets, "function "+qualified(f.GetDomain(), f.GetName())+": ", f.Node, seen); err != nil {
			return nil, fmt.Errorf("export: %w", err)
		}
	}
	var used []string
	for d := range seen {
		used = append(used, d)
	}
	sort.Strings(used) // "" sorts first
	return used, nil
}

// checkOps checks emitted nodes against the profile's allowed operators and
// records the domains they use in seen. A lowering that emits an operator
// its target forbids is a bug in the lowering or in the profile (or, for an
// op the target has no lowering of, a model the target cannot run), so the
// error names the node, the operator and the target.
func checkOps(e *emitter, p *target.Profile, opsets map[string]int64, where string, nodes []*onnxpb.NodeProto, seen map[string]bool) error {
	for _, n := range nodes {
		d, op := n.GetDomain(), n.GetOpType()
		if d == target.DomainMHCC && e.funcSet[d+"/"+op] {
			seen[d] = true
			continue
		}
		ok := d == "" // the reference allows the standard domain only
		if p != nil {
			ok = p.Allows(d, op)
		}
		if !ok {
			name := "reference"
			if p != nil {
				name = p.Name
			}
			return fmt.Errorf("%sONNX node %s emits %s, which target %s does not allow", where, n.GetName(), qualified(d, op), name)
		}
		if _, ok := opsets[d]; !ok {
			return fmt.Errorf("%sONNX node %s uses domain %q, which has no opset import", where, n.GetName(), d)
		}
		seen[d] = true
	}
	return nil
}

func qualified(domain, op string) string {
	if domain == "" {
		return op
	}
	return domain + "." + op
}

// Marshal encodes g and serialises it deterministically.
func Marshal(g *ir.Graph, opts Options) ([]byte, error) {
	m, err := Encode(g, opts)
	if err != nil {
		return nil, err
	}
	return proto.MarshalOptions{Deterministic: true}.Marshal(m)
}

// CheckLegal reports IR nodes that have no ONNX form: an op without an opmap
// row, or a Lowering the exporter does not know.
func CheckLegal(g *ir.Graph, p *target.Profile) error {
	for _, n := range g.Nodes {
		name := loweringName(n, p)
		if _, ok := lowering(n.Op, name); !ok {
			return fmt.Errorf("export: node %s (%v at %v): no lowering %q; known: %s", n.Name, n.Op, n.Pos, name, strings.Join(Lowerings(n.Op), ", "))
		}
	}
	return nil
}

// metadata records what produced the model and the hyper-connection settings,
// in a fixed order; keys are prefixed "mhcc.".
func metadata(g *ir.Graph, opts Options) []*onnxpb.StringStringEntryProto {
	targetName := "reference"
	if opts.Profile != nil {
		targetName = opts.Profile.Name
	}
	kv := [][2]string{
		{meta.Producer, ProducerName + " " + ProducerVersion},
		{meta.Target, targetName},
		{meta.Lowering, loweringSummary(g, opts.Profile)},
	}
	if opts.Float64 {
		kv = append(kv, [2]string{meta.Precision, "f64"})
	}
	for _, e := range g.Metadata {
		kv = append(kv, [2]string{e.Key, e.Value})
	}
	if subs := lower.Sublayers(g, func(n *ir.Node) string { return loweringName(n, opts.Profile) }); len(subs) > 0 {
		kv = append(kv, [2]string{meta.SublayersKey, meta.Encode(subs)})
	}
	out := make([]*onnxpb.StringStringEntryProto, len(kv))
	for i, p := range kv {
		out[i] = &onnxpb.StringStringEntryProto{Key: proto.String(p[0]), Value: proto.String(p[1])}
	}
	return out
}
