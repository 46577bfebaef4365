package export

import (
	"fmt"
	"strconv"

	"github.com/mhcc-dev/mhcc/export/onnxpb"
	"github.com/mhcc-dev/mhcc/ir"
	"google.golang.org/protobuf/proto"
)

// Format versions of the default target (SPEC §6): they load in onnx 1.12's
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
	Target   string // recorded in the metadata; "onnx" if empty
	Lowering string // recorded in the metadata; "reference" if empty
	// Float64 makes every float tensor of the graph float64: inputs,
	// weights, constants and outputs. mhcc verify runs this form of the
	// reference lowering as the numerical truth.
	Float64 bool
	// External, if set, puts initializers of at least External.Threshold
	// bytes in a data file (external.go); write it with Layout.WriteData.
	External *External

	layout *Layout // where External placed each initializer
}

// Encode converts g to an ONNX model: IR version 8, opset 17, every IR node
// expanded through opmap, weights as raw-data initializers, dynamic dims as
// dim_param, and metadata_props recording the producer and the mHC settings.
// The result depends only on g and opts, so its bytes are reproducible.
func Encode(g *ir.Graph, opts Options) (m *onnxpb.ModelProto, err error) {
	if err := CheckLegal(g); err != nil {
		return nil, err
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("export: %v", r)
		}
	}()
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
		e.node, e.step = n, 0
		opmap[n.Op](e, n, in, out)
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

	m = &onnxpb.ModelProto{
		IrVersion:       proto.Int64(IRVersion),
		OpsetImport:     []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(Opset)}},
		ProducerName:    proto.String(ProducerName),
		ProducerVersion: proto.String(ProducerVersion),
		Graph:           graph,
		MetadataProps:   metadata(g, opts),
	}
	return m, nil
}

// Marshal encodes g and serialises it deterministically.
func Marshal(g *ir.Graph, opts Options) ([]byte, error) {
	m, err := Encode(g, opts)
	if err != nil {
		return nil, err
	}
	return proto.MarshalOptions{Deterministic: true}.Marshal(m)
}

// CheckLegal reports IR ops that have no ONNX form (no opmap row).
func CheckLegal(g *ir.Graph) error {
	for _, n := range g.Nodes {
		if _, ok := opmap[n.Op]; !ok {
			return fmt.Errorf("export: node %s (%v at %v): op has no ONNX lowering", n.Name, n.Op, n.Pos)
		}
	}
	return nil
}

// metadata records what produced the model and the hyper-connection settings,
// in a fixed order; keys are prefixed "mhcc.".
func metadata(g *ir.Graph, opts Options) []*onnxpb.StringStringEntryProto {
	target, lowering := opts.Target, opts.Lowering
	if target == "" {
		target = "onnx"
	}
	if lowering == "" {
		lowering = "reference"
	}
	kv := [][2]string{
		{"mhcc.producer", ProducerName + " " + ProducerVersion},
		{"mhcc.target", target},
		{"mhcc.lowering", lowering},
	}
	if opts.Float64 {
		kv = append(kv, [2]string{"mhcc.precision", "f64"})
	}
	if m := g.Model; m != nil {
		hc := m.HC
		kv = append(kv,
			[2]string{"mhcc.model", m.Name},
			[2]string{"mhcc.architecture", m.Arch.Kind},
			[2]string{"mhcc.layers", strconv.Itoa(m.Arch.Layers)},
			[2]string{"mhcc.hc.kind", hc.Kind},
			[2]string{"mhcc.hc.streams", strconv.Itoa(hc.Streams)},
		)
		if hc.Kind == ir.HCMHC {
			kv = append(kv,
				[2]string{"mhcc.hc.dynamic", strconv.FormatBool(hc.Dynamic)},
				[2]string{"mhcc.hc.sinkhorn_iterations", strconv.Itoa(hc.Iterations)},
				[2]string{"mhcc.hc.eps", strconv.FormatFloat(hc.Eps, 'g', -1, 64)},
				[2]string{"mhcc.hc.rms_eps", strconv.FormatFloat(hc.RMSEps, 'g', -1, 64)},
				[2]string{"mhcc.hc.collapse", hc.Collapse},
			)
		}
		kv = append(kv, [2]string{"mhcc.weights", m.Weights.Source})
	}
	out := make([]*onnxpb.StringStringEntryProto, len(kv))
	for i, p := range kv {
		out[i] = &onnxpb.StringStringEntryProto{Key: proto.String(p[0]), Value: proto.String(p[1])}
	}
	return out
}
