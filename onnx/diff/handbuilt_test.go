package graphdiff

import (
	"encoding/binary"
	"math"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/mhcc-dev/mhcc/internal/onnxbuild"
	"github.com/mhcc-dev/mhcc/onnx/pb"
)

// ---- builders ----

func vi(name string, dt onnxpb.TensorProto_DataType, dims ...any) *onnxpb.ValueInfoProto {
	return onnxbuild.Info(name, dt, dims...)
}

func nd(op, name string, ins, outs []string, attrs ...*onnxpb.AttributeProto) *onnxpb.NodeProto {
	return &onnxpb.NodeProto{OpType: proto.String(op), Name: proto.String(name), Input: ins, Output: outs, Attribute: attrs}
}

func attrInt(name string, v int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(v)}
}

func attrGraph(name string, g *onnxpb.GraphProto) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_GRAPH.Enum(), G: g}
}

// rawF32 is a float32 initializer in raw_data.
func rawF32(name string, dims []int64, vals []float32) *onnxpb.TensorProto {
	raw := make([]byte, 4*len(vals))
	for i, v := range vals {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	return &onnxpb.TensorProto{Name: proto.String(name), Dims: dims, DataType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)), RawData: raw}
}

func seq(n int, scale float32) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = scale * float32(i%7-3) / 3
	}
	return v
}

// small is X[N,4] → MatMul W → Add B → {Softmax(axis -1), Relu} → Add → Y,
// and S = Shape(softmax, start 1).
func small() *onnxpb.ModelProto {
	g := &onnxpb.GraphProto{
		Name:   proto.String("small"),
		Input:  []*onnxpb.ValueInfoProto{vi("X", onnxpb.TensorProto_FLOAT, "N", 4)},
		Output: []*onnxpb.ValueInfoProto{vi("Y", onnxpb.TensorProto_FLOAT, "N", 4), vi("S", onnxpb.TensorProto_INT64, 1)},
		Initializer: []*onnxpb.TensorProto{
			rawF32("W", []int64{4, 4}, seq(16, 0.5)),
			rawF32("B", []int64{4}, seq(4, 0.1)),
		},
		Node: []*onnxpb.NodeProto{
			nd("MatMul", "mm", []string{"X", "W"}, []string{"mm_out"}),
			nd("Add", "bias", []string{"mm_out", "B"}, []string{"biased"}),
			nd("Softmax", "sm", []string{"biased"}, []string{"probs"}, attrInt("axis", -1)),
			nd("Relu", "relu", []string{"biased"}, []string{"act"}),
			nd("Add", "sum", []string{"probs", "act"}, []string{"Y"}),
			nd("Shape", "shape", []string{"probs"}, []string{"S"}, attrInt("start", 1)),
		},
	}
	return &onnxpb.ModelProto{
		IrVersion:   proto.Int64(8),
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(17)}},
		Graph:       g,
	}
}

func clone(m *onnxpb.ModelProto) *onnxpb.ModelProto { return proto.Clone(m).(*onnxpb.ModelProto) }

func findNode(t *testing.T, g *onnxpb.GraphProto, name string) *onnxpb.NodeProto {
	t.Helper()
	for _, n := range g.GetNode() {
		if n.GetName() == name {
			return n
		}
	}
	t.Fatalf("no node %s", name)
	return nil
}

func findInit(t *testing.T, g *onnxpb.GraphProto, name string) *onnxpb.TensorProto {
	t.Helper()
	for _, x := range g.GetInitializer() {
		if x.GetName() == name {
			return x
		}
	}
	t.Fatalf("no initializer %s", name)
	return nil
}

// renameInternal renames every node, every value that is not a graph input
// or output, and every initializer.
func renameInternal(g *onnxpb.GraphProto) {
	keep := map[string]bool{}
	for _, v := range g.GetInput() {
		keep[v.GetName()] = true
	}
	for _, v := range g.GetOutput() {
		keep[v.GetName()] = true
	}
	names := map[string]string{}
	rn := func(s string) string {
		if s == "" || keep[s] {
			return s
		}
		if n, ok := names[s]; ok {
			return n
		}
		n := "v" + strings.Repeat("x", len(names)%3) + string(rune('a'+len(names)%26)) + string(rune('0'+len(names)/26%10)) + string(rune('0'+len(names)/260))
		names[s] = n
		return n
	}
	for _, t := range g.GetInitializer() {
		t.Name = proto.String(rn(t.GetName()))
	}
	for i, n := range g.GetNode() {
		n.Name = proto.String("node" + string(rune('A'+i%26)) + string(rune('0'+i/26%10)) + string(rune('0'+i/260%10)))
		for k := range n.Input {
			n.Input[k] = rn(n.Input[k])
		}
		for k := range n.Output {
			n.Output[k] = rn(n.Output[k])
		}
	}
}

func changesOf(r *Report, level string) []Change { return r.byLevel(level) }

func wantOne(t *testing.T, r *Report, kind string) Change {
	t.Helper()
	if len(r.Changes) != 1 {
		t.Fatalf("want exactly one %s change, got %d:\n%s", kind, len(r.Changes), dump(r))
	}
	if c := r.Changes[0]; c.Kind != kind {
		t.Fatalf("want kind %s, got:\n%s", kind, dump(r))
	}
	return r.Changes[0]
}

func dump(r *Report) string {
	var sb strings.Builder
	r.WriteText(&sb, false)
	return sb.String()
}

func checkStats(t *testing.T, r *Report) {
	t.Helper()
	s := r.Stats
	if s.NodesA != s.Matched+s.Deleted || s.NodesB != s.Matched+s.Inserted || s.Changed > s.Matched {
		t.Errorf("inconsistent stats %+v", s)
	}
}

// ---- tests ----

func TestIdentical(t *testing.T) {
	a := small()
	r := mustCompare(t, a, clone(a), Options{})
	if !r.Equal() {
		t.Fatalf("identical models differ:\n%s", dump(r))
	}
	if _, ok := r.Max(); ok {
		t.Error("Max of an equal report should be false")
	}
	if r.Stats.Matched != 6 || r.Schema != Schema {
		t.Errorf("stats %+v schema %q", r.Stats, r.Schema)
	}
}

func TestRenamedOnly(t *testing.T) {
	a := small()
	b := clone(a)
	renameInternal(b.Graph)
	if findNodeOK(b.Graph, "mm") || b.Graph.Initializer[0].GetName() == "W" {
		t.Fatal("rename did nothing")
	}
	r := mustCompare(t, a, b, Options{})
	if !r.Equal() {
		t.Fatalf("renaming changed something:\n%s", dump(r))
	}
	checkStats(t, r)
}

func findNodeOK(g *onnxpb.GraphProto, name string) bool {
	for _, n := range g.GetNode() {
		if n.GetName() == name {
			return true
		}
	}
	return false
}

func TestReorderedIndependentNodes(t *testing.T) {
	a := small()
	b := clone(a)
	n := b.Graph.Node
	n[2], n[3] = n[3], n[2] // Softmax and Relu are independent
	n[4], n[5] = n[5], n[4] // so are the final Add and Shape
	// and reversing the whole list is not a topological order, but still the same graph
	c := clone(a)
	for i, j := 0, len(c.Graph.Node)-1; i < j; i, j = i+1, j-1 {
		c.Graph.Node[i], c.Graph.Node[j] = c.Graph.Node[j], c.Graph.Node[i]
	}
	for _, m := range []*onnxpb.ModelProto{b, c} {
		if r := mustCompare(t, a, m, Options{}); !r.Equal() {
			t.Fatalf("reordering changed something:\n%s", dump(r))
		}
	}
}

func TestAttributeChange(t *testing.T) {
	a := small()
	b := clone(a)
	findNode(t, b.Graph, "sm").Attribute[0].I = proto.Int64(1)
	r := mustCompare(t, a, b, Options{})
	c := wantOne(t, r, "attribute")
	if c.Severity != Attribute || c.Before != "-1" || c.After != "1" || c.Path != "graph/sm" || !strings.Contains(c.Message, "Softmax axis -1 → 1") {
		t.Errorf("got %+v", c)
	}
	if m, _ := r.Max(); m != Attribute {
		t.Errorf("Max = %v", m)
	}
	checkStats(t, r)
	if r.Stats.Changed != 1 {
		t.Errorf("changed = %d, want 1", r.Stats.Changed)
	}

	b = clone(a)
	findNode(t, b.Graph, "shape").Attribute[0].I = proto.Int64(0)
	c = wantOne(t, mustCompare(t, a, b, Options{}), "attribute")
	if c.Before != "1" || c.After != "0" || !strings.Contains(c.Message, "Shape start") {
		t.Errorf("got %+v", c)
	}

	b = clone(a) // attribute added
	findNode(t, b.Graph, "relu").Attribute = []*onnxpb.AttributeProto{attrInt("extra", 3)}
	c = wantOne(t, mustCompare(t, a, b, Options{}), "attribute")
	if c.Before != "(absent)" || c.After != "3" {
		t.Errorf("got %+v", c)
	}
}

func TestInitializerTolerance(t *testing.T) {
	a := small()
	near, far := clone(a), clone(a)
	w := seq(16, 0.5)
	for i := range w {
		w[i] += 1e-6
	}
	nearW := rawF32("W", []int64{4, 4}, w)
	near.Graph.Initializer[0] = nearW
	w = seq(16, 0.5)
	w[5] += 0.25
	far.Graph.Initializer[0] = rawF32("W", []int64{4, 4}, w)

	opts := Options{RTol: 1e-5, ATol: 1e-5}
	if r := mustCompare(t, a, near, opts); !r.Equal() {
		t.Fatalf("within tolerance should be equal:\n%s", dump(r))
	}
	// Exact comparison sees it.
	c := wantOne(t, mustCompare(t, a, near, Options{}), "initializer_value")
	if c.Severity != Attribute || c.Path != "initializer W" {
		t.Errorf("got %+v", c)
	}
	r := mustCompare(t, a, far, opts)
	c = wantOne(t, r, "initializer_value")
	if !strings.Contains(c.Message, "1 of 16 values differ, max |Δ| 0.25") {
		t.Errorf("message %q", c.Message)
	}
	if r.Stats.Changed != 1 {
		t.Errorf("changed %d, want 1 (the MatMul)", r.Stats.Changed)
	}
	// Only RTol: |a-b| ≤ RTol·|b|.
	if r := mustCompare(t, a, near, Options{RTol: 1e-2}); r.Equal() {
		t.Error("RTol 1e-2 should not absorb 1e-6 on the zero elements")
	}

	// Shape change: Structure.
	sh := clone(a)
	sh.Graph.Initializer[1] = rawF32("B", []int64{1, 4}, seq(4, 0.1))
	c = wantOne(t, mustCompare(t, a, sh, Options{}), "initializer_shape")
	if c.Severity != Structure || c.Before != "[4]" || c.After != "[1, 4]" {
		t.Errorf("got %+v", c)
	}
}

func TestTensorHashLayoutIndependent(t *testing.T) {
	vals := seq(6, 1)
	raw := rawF32("a", []int64{2, 3}, vals)
	typed := &onnxpb.TensorProto{Name: proto.String("b"), Dims: []int64{2, 3}, DataType: proto.Int32(1), FloatData: vals}
	if tensorHash(raw) != tensorHash(typed) {
		t.Error("raw_data and float_data of the same values hash differently")
	}
	reshaped := rawF32("a", []int64{3, 2}, vals)
	if tensorHash(raw) == tensorHash(reshaped) {
		t.Error("dims are not hashed")
	}
	ext := &onnxpb.TensorProto{Dims: []int64{2}, DataType: proto.Int32(1), DataLocation: onnxpb.TensorProto_EXTERNAL.Enum(),
		ExternalData: []*onnxpb.StringStringEntryProto{{Key: proto.String("location"), Value: proto.String("w.bin")}}}
	ext2 := proto.Clone(ext).(*onnxpb.TensorProto)
	ext2.ExternalData[0].Value = proto.String("v.bin")
	if h := tensorHash(ext); !strings.HasPrefix(h, "proto:") || h == tensorHash(ext2) {
		t.Errorf("unresolved external tensor hash %q: want an encoding hash that tells locations apart", h)
	}
	i16 := &onnxpb.TensorProto{Dims: []int64{2}, DataType: proto.Int32(int32(onnxpb.TensorProto_INT16)), Int32Data: []int32{-1, 2}}
	i16raw := &onnxpb.TensorProto{Dims: []int64{2}, DataType: proto.Int32(int32(onnxpb.TensorProto_INT16)), RawData: []byte{0xff, 0xff, 2, 0}}
	if tensorHash(i16) != tensorHash(i16raw) {
		t.Error("int16 typed and raw hash differently")
	}
	// A model storing W in float_data equals one storing it in raw_data.
	a := small()
	b := clone(a)
	b.Graph.Initializer[0] = &onnxpb.TensorProto{Name: proto.String("W"), Dims: []int64{4, 4}, DataType: proto.Int32(1), FloatData: seq(16, 0.5)}
	if r := mustCompare(t, a, b, Options{}); !r.Equal() {
		t.Fatalf("storage layout matters:\n%s", dump(r))
	}
}

func TestOpChanged(t *testing.T) {
	a := small()
	b := clone(a)
	findNode(t, b.Graph, "relu").OpType = proto.String("Sigmoid")
	r := mustCompare(t, a, b, Options{})
	c := wantOne(t, r, "op_changed")
	if c.Severity != Structure || c.Before != "Relu" || c.After != "Sigmoid" {
		t.Errorf("got %+v", c)
	}
	checkStats(t, r)
}

func TestNodeInserted(t *testing.T) {
	a := small()
	b := clone(a)
	// biased → Tanh → relu
	findNode(t, b.Graph, "relu").Input[0] = "squashed"
	b.Graph.Node = append(b.Graph.Node, nd("Tanh", "tanh", []string{"biased"}, []string{"squashed"}))
	r := mustCompare(t, a, b, Options{})
	c := wantOne(t, r, "node_inserted")
	if c.Count != 1 || len(c.Consumers) != 1 || c.Consumers[0] != "relu" || !strings.Contains(c.Message, "inserted Tanh tanh after biased") {
		t.Errorf("got %+v", c)
	}
	if r.Stats.Inserted != 1 || r.Stats.Deleted != 0 {
		t.Errorf("stats %+v", r.Stats)
	}
	checkStats(t, r)

	// The reverse is one deletion.
	r = mustCompare(t, b, a, Options{})
	c = wantOne(t, r, "node_deleted")
	if c.Count != 1 || c.Nodes[0] != "tanh" {
		t.Errorf("got %+v", c)
	}
}

func TestInputRewired(t *testing.T) {
	a := small()
	b := clone(a)
	findNode(t, b.Graph, "shape").Input[0] = "act" // Shape of relu instead of softmax
	c := wantOne(t, mustCompare(t, a, b, Options{}), "input_changed")
	if c.Severity != Structure || c.Path != "graph/shape" || !strings.Contains(c.After, "Relu") {
		t.Errorf("got %+v", c)
	}
}

func TestInterfaceChanges(t *testing.T) {
	a := small()

	b := clone(a) // an extra output
	b.Graph.Output = append(b.Graph.Output, vi("P", onnxpb.TensorProto_FLOAT, "N", 4))
	findNode(t, b.Graph, "sm").Output[0] = "P"
	findNode(t, b.Graph, "sum").Input[0] = "P"
	findNode(t, b.Graph, "shape").Input[0] = "P"
	r := mustCompare(t, a, b, Options{})
	if m, _ := r.Max(); m != Interface {
		t.Fatalf("Max = %v:\n%s", m, dump(r))
	}
	c := wantOne(t, r, "output_added")
	if c.Level != LevelInterface || c.Path != "output P" {
		t.Errorf("got %+v", c)
	}

	b = clone(a) // fixed batch
	for _, v := range append(b.Graph.Input, b.Graph.Output[0]) {
		v.Type.GetTensorType().Shape.Dim[0].Value = &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: 1}
	}
	r = mustCompare(t, a, b, Options{})
	if len(r.Changes) != 2 {
		t.Fatalf("want 2 dim changes:\n%s", dump(r))
	}
	for _, c := range r.Changes {
		if c.Kind != "dim" || c.Before != "N" || c.After != "1" || c.Severity != Interface {
			t.Errorf("got %+v", c)
		}
	}

	b = clone(a) // renamed input: callers must feed another name
	b.Graph.Input[0].Name = proto.String("input")
	findNode(t, b.Graph, "mm").Input[0] = "input"
	c = wantOne(t, mustCompare(t, a, b, Options{}), "input_renamed")
	if c.Before != "X" || c.After != "input" {
		t.Errorf("got %+v", c)
	}

	b = clone(a) // dtype, IR version, opset
	b.Graph.Output[1].Type.GetTensorType().ElemType = proto.Int32(int32(onnxpb.TensorProto_INT32))
	b.IrVersion = proto.Int64(9)
	b.OpsetImport[0].Version = proto.Int64(18)
	r = mustCompare(t, a, b, Options{})
	kinds := map[string]bool{}
	for _, c := range r.Changes {
		kinds[c.Kind] = true
	}
	if len(r.Changes) != 3 || !kinds["dtype"] || !kinds["ir_version"] || !kinds["opset"] {
		t.Errorf("got:\n%s", dump(r))
	}
}

func TestMetadataOnly(t *testing.T) {
	a := small()
	a.MetadataProps = []*onnxpb.StringStringEntryProto{{Key: proto.String("mhcc.hc.streams"), Value: proto.String("4")}}
	b := clone(a)
	b.MetadataProps[0].Value = proto.String("2")
	b.MetadataProps = append(b.MetadataProps, &onnxpb.StringStringEntryProto{Key: proto.String("mhcc.precision"), Value: proto.String("f64")})
	r := mustCompare(t, a, b, Options{})
	if m, _ := r.Max(); m != Metadata || len(r.Changes) != 2 {
		t.Fatalf("got:\n%s", dump(r))
	}
	if c := r.Changes[0]; c.Kind != "precision" || c.Message != "precision f32 → f64" {
		t.Errorf("got %+v", c)
	}
	if c := r.Changes[1]; c.Kind != "streams" || c.Message != "streams 4 → 2" || c.Path != "metadata mhcc.hc.streams" {
		t.Errorf("got %+v", c)
	}
}

// ifModel has an If whose branches compute Relu or Neg of X.
func ifModel() *onnxpb.ModelProto {
	branch := func(name, op string) *onnxpb.GraphProto {
		return &onnxpb.GraphProto{
			Name:   proto.String(name),
			Output: []*onnxpb.ValueInfoProto{vi(name+"_out", onnxpb.TensorProto_FLOAT, "N")},
			Node: []*onnxpb.NodeProto{
				nd(op, name+"_op", []string{"x2"}, []string{name + "_t"}),
				nd("Softmax", name+"_sm", []string{name + "_t"}, []string{name + "_out"}, attrInt("axis", 0)),
			},
		}
	}
	g := &onnxpb.GraphProto{
		Input:  []*onnxpb.ValueInfoProto{vi("X", onnxpb.TensorProto_FLOAT, "N"), vi("C", onnxpb.TensorProto_BOOL)},
		Output: []*onnxpb.ValueInfoProto{vi("Y", onnxpb.TensorProto_FLOAT, "N")},
		Node: []*onnxpb.NodeProto{
			nd("Mul", "sq", []string{"X", "X"}, []string{"x2"}),
			nd("If", "if", []string{"C"}, []string{"Y"}, attrGraph("then_branch", branch("then", "Relu")), attrGraph("else_branch", branch("else", "Neg"))),
		},
	}
	return &onnxpb.ModelProto{IrVersion: proto.Int64(8), OpsetImport: []*onnxpb.OperatorSetIdProto{{Version: proto.Int64(17)}}, Graph: g}
}

func TestSubgraph(t *testing.T) {
	a := ifModel()
	b := clone(a)
	renameInternal(b.Graph) // renames the outer value x2 the branches use …
	for _, at := range findNodeByOp(b.Graph, "If").Attribute {
		for _, n := range at.G.Node {
			if n.Input[0] == "x2" { // … so follow it inside the branches
				n.Input[0] = findNodeByOp(b.Graph, "Mul").Output[0]
			}
		}
	}
	if r := mustCompare(t, a, b, Options{}); !r.Equal() {
		t.Fatalf("renaming changed something:\n%s", dump(r))
	}

	b = clone(a)
	findNodeByOp(b.Graph, "If").Attribute[0].G.Node[1].Attribute[0].I = proto.Int64(-1)
	c := wantOne(t, mustCompare(t, a, b, Options{}), "attribute")
	if c.Path != "graph/if/then_branch/then_sm" || c.Before != "0" || c.After != "-1" {
		t.Errorf("got %+v", c)
	}

	b = clone(a) // the branch now reads X instead of x2: rewired to an outer value
	findNodeByOp(b.Graph, "If").Attribute[1].G.Node[0].Input[0] = "X"
	c = wantOne(t, mustCompare(t, a, b, Options{}), "input_changed")
	if !strings.HasPrefix(c.Path, "graph/if/else_branch/") {
		t.Errorf("got %+v", c)
	}
}

func findNodeByOp(g *onnxpb.GraphProto, op string) *onnxpb.NodeProto {
	for _, n := range g.GetNode() {
		if n.GetOpType() == op {
			return n
		}
	}
	return nil
}

// fnModel calls a model-local function ai.mhcc.Sinkhorn with two iterations.
func fnModel() *onnxpb.ModelProto {
	fn := &onnxpb.FunctionProto{
		Name: proto.String("Sinkhorn"), Domain: proto.String("ai.mhcc"),
		Input: []string{"m"}, Output: []string{"out"},
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Version: proto.Int64(17)}},
		Node: []*onnxpb.NodeProto{
			nd("Softmax", "sm", []string{"m"}, []string{"p"}, attrInt("axis", -1)),
			nd("ReduceSum", "rs", []string{"p"}, []string{"s"}, attrInt("keepdims", 1)),
			nd("Div", "div", []string{"p", "s"}, []string{"out"}),
		},
	}
	g := &onnxpb.GraphProto{
		Input:  []*onnxpb.ValueInfoProto{vi("X", onnxpb.TensorProto_FLOAT, 4, 4)},
		Output: []*onnxpb.ValueInfoProto{vi("Y", onnxpb.TensorProto_FLOAT, 4, 4)},
		Node: []*onnxpb.NodeProto{
			{OpType: proto.String("Sinkhorn"), Domain: proto.String("ai.mhcc"), Name: proto.String("call"), Input: []string{"X"}, Output: []string{"Y"}},
		},
	}
	return &onnxpb.ModelProto{IrVersion: proto.Int64(8), Graph: g, Functions: []*onnxpb.FunctionProto{fn},
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Version: proto.Int64(17)}, {Domain: proto.String("ai.mhcc"), Version: proto.Int64(1)}}}
}

func TestFunctions(t *testing.T) {
	a := fnModel()
	b := clone(a)
	b.Functions[0].Node[1].Attribute[0].I = proto.Int64(0)
	c := wantOne(t, mustCompare(t, a, b, Options{}), "attribute")
	if c.Path != "function ai.mhcc.Sinkhorn/rs" || c.Level != LevelGraph {
		t.Errorf("got %+v", c)
	}

	b = clone(a) // renamed function-internal values and nodes: equal
	for _, n := range b.Functions[0].Node {
		n.Name = proto.String(n.GetName() + "_renamed")
		for k, s := range n.Input {
			if s != "m" {
				n.Input[k] = s + "2"
			}
		}
		for k, s := range n.Output {
			if s != "out" {
				n.Output[k] = s + "2"
			}
		}
	}
	if r := mustCompare(t, a, b, Options{}); !r.Equal() {
		t.Fatalf("renaming inside a function changed something:\n%s", dump(r))
	}

	b = clone(a)
	b.Functions = append(b.Functions, &onnxpb.FunctionProto{Name: proto.String("Extra"), Domain: proto.String("ai.mhcc")})
	c = wantOne(t, mustCompare(t, a, b, Options{}), "function")
	if c.Path != "function ai.mhcc.Extra" || c.Severity != Structure {
		t.Errorf("got %+v", c)
	}
}

func TestCompareErrors(t *testing.T) {
	if _, err := Compare(nil, small(), Options{}); err == nil {
		t.Error("nil model accepted")
	}
	if _, err := Compare(small(), small(), Options{RTol: -1}); err == nil {
		t.Error("negative tolerance accepted")
	}
	// A model without a graph compares as an empty graph.
	r := mustCompare(t, &onnxpb.ModelProto{}, small(), Options{})
	if r.Stats.Inserted != 6 {
		t.Errorf("stats %+v", r.Stats)
	}
}

func TestSeverity(t *testing.T) {
	if !(Metadata < Attribute && Attribute < Structure && Structure < Interface) {
		t.Fatal("severity order")
	}
	for _, s := range []Severity{Metadata, Attribute, Structure, Interface} {
		p, err := ParseSeverity(" " + strings.ToUpper(s.String()) + " ")
		if err != nil || p != s {
			t.Errorf("ParseSeverity(%v) = %v, %v", s, p, err)
		}
	}
	if _, err := ParseSeverity("fatal"); err == nil {
		t.Error("unknown severity accepted")
	}
	if Severity(9).String() != "severity(9)" {
		t.Error(Severity(9).String())
	}
}

func TestConstantTolerance(t *testing.T) {
	withConst := func(v float32) *onnxpb.ModelProto {
		m := small()
		m.Graph.Node = append(m.Graph.Node, &onnxpb.NodeProto{OpType: proto.String("Constant"), Name: proto.String("c"), Output: []string{"cval"},
			Attribute: []*onnxpb.AttributeProto{{Name: proto.String("value"), Type: onnxpb.AttributeProto_TENSOR.Enum(), T: rawF32("", []int64{1}, []float32{v})}}})
		findNode(t, m.Graph, "sum").Input[1] = "scaled"
		m.Graph.Node = append(m.Graph.Node, nd("Mul", "scale", []string{"act", "cval"}, []string{"scaled"}))
		return m
	}
	a := withConst(0.5)
	if r := mustCompare(t, a, withConst(0.5000001), Options{RTol: 1e-5}); !r.Equal() {
		t.Fatalf("within tolerance:\n%s", dump(r))
	}
	c := wantOne(t, mustCompare(t, a, withConst(0.75), Options{RTol: 1e-5}), "attribute")
	if c.Path != "graph/c" || c.Before != "float32[1]{0.5}" || c.After != "float32[1]{0.75}" || c.Message != "c: Constant value 0.5 → 0.75" {
		t.Errorf("got %+v", c)
	}
}
