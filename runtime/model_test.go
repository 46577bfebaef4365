package runtime

import (
	"strings"
	"testing"

	"github.com/mhcc-dev/mhcc/runtime/internal/core"

	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
)

func graph(nodes []*onnxpb.NodeProto, in, out []*onnxpb.ValueInfoProto, inits ...*onnxpb.TensorProto) *onnxpb.GraphProto {
	return &onnxpb.GraphProto{Node: nodes, Input: in, Output: out, Initializer: inits}
}

var (
	xf = tensorInfo("x", core.Float32, sh(2))
	yf = tensorInfo("y", core.Float32, sh(2))
)

// TestDecodeErrors checks that Decode rejects bad graphs with an error that
// names the node, before anything runs.
func TestDecodeErrors(t *testing.T) {
	huge := &onnxpb.TensorProto{Name: ptr("w"), Dims: sh(1<<40, 1<<20), DataType: ptr(int32(core.Float32)), RawData: make([]byte, 4)}
	short := &onnxpb.TensorProto{Name: ptr("w"), Dims: sh(3), DataType: ptr(int32(core.Float32)), FloatData: []float32{1, 2}}
	tests := []struct {
		name  string
		opset int64
		g     *onnxpb.GraphProto
		err   string
	}{
		{"unknown op", 17, graph([]*onnxpb.NodeProto{node("Foo_1", "Foo", []string{"x"}, []string{"y"})}, ins(xf), ins(yf)),
			`runtime: node "Foo_1" (Foo): unknown op Foo`},
		{"opset too new", core.MaxOpset + 1, graph([]*onnxpb.NodeProto{node("s", "Relu", []string{"x"}, []string{"y"})}, ins(xf), ins(yf)),
			`runtime: node "s" (Relu): op Relu is implemented for opsets 1-21, the model imports 22`},
		{"input count", 17, graph([]*onnxpb.NodeProto{node("Mul_3", "Mul", []string{"x"}, []string{"y"})}, ins(xf), ins(yf)),
			`runtime: node "Mul_3" (Mul): got 1 inputs, want 2`},
		{"required input omitted", 17, graph([]*onnxpb.NodeProto{node("g", "Gemm", []string{"", "x"}, []string{"y"})}, ins(xf), ins(yf)),
			`runtime: node "g" (Gemm): input 0 is required`},
		{"undefined input", 17, graph([]*onnxpb.NodeProto{node("Mul_3", "Mul", []string{"x", "z"}, []string{"y"})}, ins(xf), ins(yf)),
			`runtime: node "Mul_3" (Mul): input 1 "z" is not defined`},
		{"duplicate output", 17, graph([]*onnxpb.NodeProto{
			node("a", "Relu", []string{"x"}, []string{"y"}),
			node("b", "Neg", []string{"x"}, []string{"y"}),
		}, ins(xf), ins(yf)), `runtime: node "b" (Neg): output "y" is already defined by node "a" (Relu)`},
		{"output shadows input", 17, graph([]*onnxpb.NodeProto{node("a", "Relu", []string{"x"}, []string{"x"})}, ins(xf), ins(xf)),
			`runtime: node "a" (Relu): output "x" is already a graph input or initializer`},
		{"cycle", 17, graph([]*onnxpb.NodeProto{
			node("a", "Add", []string{"x", "c"}, []string{"b"}),
			node("m", "Mul", []string{"b", "x"}, []string{"c"}),
			node("out", "Relu", []string{"c"}, []string{"y"}),
		}, ins(xf), ins(yf)), `runtime: cycle: node "a" (Add) → node "m" (Mul) → node "a" (Add)`},
		{"self loop", 17, graph([]*onnxpb.NodeProto{node("a", "Add", []string{"x", "y"}, []string{"y"})}, ins(xf), ins(yf)),
			`runtime: cycle: node "a" (Add) → node "a" (Add)`},
		{"type mismatch", 17, graph([]*onnxpb.NodeProto{node("Mul_3", "Mul", []string{"x", "i"}, []string{"y"})},
			ins(xf, tensorInfo("i", core.Int64, sh(2))), ins(yf)),
			`runtime: node "Mul_3" (Mul): input 1 has type int64, want float32 (the type of input 0)`},
		{"type mismatch through nodes", 17, graph([]*onnxpb.NodeProto{
			node("s", "Shape", []string{"x"}, []string{"n"}),
			node("Add_7", "Add", []string{"x", "n"}, []string{"y"}),
		}, ins(xf), ins(yf)), `runtime: node "Add_7" (Add): input 1 has type int64, want float32`},
		{"wrong class", 17, graph([]*onnxpb.NodeProto{node("r", "Sqrt", []string{"i"}, []string{"y"})},
			ins(tensorInfo("i", core.Int64, sh(2))), ins(yf)), `runtime: node "r" (Sqrt): input 0 has type int64, which the op does not accept`},
		{"declared output type", 17, graph([]*onnxpb.NodeProto{node("s", "Shape", []string{"x"}, []string{"y"})}, ins(xf), ins(yf)),
			`runtime: graph output "y": declared float32, computed int64`},
		{"huge initializer", 17, graph([]*onnxpb.NodeProto{node("a", "Add", []string{"x", "w"}, []string{"y"})}, ins(xf), ins(yf), huge),
			`runtime: initializer: tensor "w": shape [1099511627776 1048576] has more than`},
		{"short initializer", 17, graph([]*onnxpb.NodeProto{node("a", "Add", []string{"x", "w"}, []string{"y"})}, ins(xf), ins(yf), short),
			`runtime: initializer: tensor "w": holds 2 elements, shape [3] needs 3`},
		{"domain not imported", 17, graph([]*onnxpb.NodeProto{{Name: ptr("h"), OpType: ptr("HCMix"), Domain: ptr("ai.mhcc"), Input: []string{"x"}, Output: []string{"y"}}}, ins(xf), ins(yf)),
			`runtime: node "h" (ai.mhcc.HCMix): domain "ai.mhcc" is not imported by the model`},
		{"sequence of strings", 17, graph([]*onnxpb.NodeProto{node("a", "Identity", []string{"x"}, []string{"y"})},
			ins(&onnxpb.ValueInfoProto{Name: ptr("x"), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_SequenceType{SequenceType: &onnxpb.TypeProto_Sequence{
				ElemType: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{ElemType: ptr(int32(8))}}}}}}}), ins(yf)),
			`runtime: graph input "x": unsupported element type string`},
		{"sequence into a tensor op", 17, graph([]*onnxpb.NodeProto{
			node("e", "SequenceEmpty", nil, []string{"s"}),
			node("Add_1", "Add", []string{"s", "x"}, []string{"y"}),
		}, ins(xf), ins(yf)), `runtime: node "Add_1" (Add): input 0 has type sequence(float32), which the op does not accept`},
		{"bad cast target", 17, graph([]*onnxpb.NodeProto{node("c", "Cast", []string{"x"}, []string{"y"}, aInt("to", 8))}, ins(xf), ins(yf)),
			`runtime: node "c" (Cast): cannot cast to string`},
		{"unnamed node", 17, graph([]*onnxpb.NodeProto{node("", "Foo", []string{"x"}, []string{"y"})}, ins(xf), ins(yf)),
			`runtime: node #0 (Foo → "y"): unknown op Foo`},
		{"undefined output", 17, graph(nil, ins(xf), ins(yf)), `runtime: graph output "y" is not defined`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(encode(t, modelProto(tc.opset, tc.g)))
			if err == nil || !strings.HasPrefix(err.Error(), tc.err) {
				t.Errorf("got  %v\nwant %s…", err, tc.err)
			}
		})
	}
	if _, err := Decode([]byte("not a model")); err == nil || !strings.HasPrefix(err.Error(), "runtime: decode model: ") {
		t.Errorf("garbage: got %v", err)
	}
	if _, err := Decode(nil); err == nil || err.Error() != "runtime: model has no graph" {
		t.Errorf("empty: got %v", err)
	}
}

func ins(v ...*onnxpb.ValueInfoProto) []*onnxpb.ValueInfoProto { return v }

func ptr[T any](v T) *T { return &v }

// TestRun covers the interpreter around the kernels: topological order from a
// shuffled file, values read by several nodes, a graph output that is also
// read later, initializers, intermediates on request, and input checking.
func TestRun(t *testing.T) {
	w := f32(sh(2), 10, 20)
	g := graph([]*onnxpb.NodeProto{
		node("out", "Mul", []string{"s", "a"}, []string{"y"}), // listed before its producers
		node("add", "Add", []string{"x", "w"}, []string{"a"}),
		node("sq", "Mul", []string{"a", "a"}, []string{"s"}),
	}, ins(xf), ins(yf, tensorInfo("a", core.Float32, sh(2))), w.Proto("w"))
	m, err := Decode(encode(t, modelProto(17, g)))
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Nodes()[0].Name; got != "add" {
		t.Errorf("first node is %q, want add", got)
	}
	x := f32(sh(2), 1, 2)
	out, err := m.Run(map[string]*core.Tensor{"x": x})
	if err != nil {
		t.Fatal(err)
	}
	if err := compareTensors(out["y"], f32(sh(2), 1331, 10648), 0, 0); err != nil {
		t.Error("y:", err)
	}
	if err := compareTensors(out["a"], f32(sh(2), 11, 22), 0, 0); err != nil {
		t.Error("a:", err)
	}
	// Run twice: initializers must survive the first run's releases.
	out2, err := m.RunWith(map[string]*core.Tensor{"x": x}, core.RunOptions{Outputs: []string{"s"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := compareTensors(out2["s"], f32(sh(2), 121, 484), 0, 0); err != nil {
		t.Error("s:", err)
	}

	for _, tc := range []struct {
		in  map[string]*core.Tensor
		err string
	}{
		{map[string]*core.Tensor{}, `runtime: missing graph input "x"`},
		{map[string]*core.Tensor{"x": i64(sh(2), 1, 2)}, `runtime: graph input "x": got int64, want float32`},
		{map[string]*core.Tensor{"x": f32(sh(3), 1, 2, 3)}, `runtime: graph input "x": got shape [3], want [2]`},
		{map[string]*core.Tensor{"x": x, "q": x}, `runtime: "q" is not a graph input`},
		{map[string]*core.Tensor{"x": {DType: core.Float32, Shape: sh(5), Elems: []float32{1}}}, `runtime: graph input "x": shape [5] does not match its 1 elements`},
	} {
		if _, err := m.Run(tc.in); err == nil || err.Error() != tc.err {
			t.Errorf("got %v, want %s", err, tc.err)
		}
	}
	if _, err := m.RunWith(map[string]*core.Tensor{"x": x}, core.RunOptions{Outputs: []string{"nope"}}); err == nil {
		t.Error("unknown output: no error")
	}
}

// TestRunKernelPanic checks that a kernel's precondition failure is an error
// naming the node, not a panic.
func TestRunKernelPanic(t *testing.T) {
	g := graph([]*onnxpb.NodeProto{
		node("Reshape_4", "Reshape", []string{"x", "shape"}, []string{"y"}),
	}, ins(xf, tensorInfo("shape", core.Int64, sh(1))), ins(untypedInfo("y")))
	m, err := Decode(encode(t, modelProto(17, g)))
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.Run(map[string]*core.Tensor{"x": f32(sh(2), 1, 2), "shape": i64(sh(1), 3)})
	want := `runtime: node "Reshape_4" (Reshape): cannot reshape [2] (2 elements) to [3]`
	if err == nil || err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
	}
}

// TestTensorProtoRoundTrip encodes and decodes every stored type.
func TestTensorProtoRoundTrip(t *testing.T) {
	for _, x := range []*core.Tensor{
		f32(sh(2), 1.5, -2), core.NewFloat64(sh(1), []float64{3.25}), i64(sh(2, 1), -1, 1<<40),
		core.NewInt32(sh(1), []int32{-7}), core.NewBool(sh(3), []bool{true, false, true}),
		core.NewFloat16(sh(2), []float32{0.5, -65504}), core.NewBFloat16(sh(1), []float32{1e30}),
		core.Must(core.New(core.Uint8, sh(2), []uint8{0, 255})), core.Must(core.New(core.Int8, sh(1), []int8{-128})),
		core.Must(core.New(core.Uint64, sh(1), []uint64{1 << 63})), f32(sh(0, 4)),
	} {
		y, err := core.FromProto(x.Proto("t"))
		if err != nil {
			t.Fatalf("%v: %v", x, err)
		}
		if err := compareTensors(y, x, 0, 0); err != nil {
			t.Errorf("%v: %v", x, err)
		}
	}
	if _, err := core.New(core.Float32, sh(2), []float64{1, 2}); err == nil {
		t.Error("New accepted float64 storage for float32")
	}
	if _, err := core.New(core.Float32, sh(3), []float32{1, 2}); err == nil {
		t.Error("New accepted 2 elements for shape [3]")
	}
}

// TestDecodeProto: a model decoded from its message runs as the same model
// decoded from bytes, and DecodeProto empties each initializer message it
// has decoded (so the weights are not held twice), without touching the
// rest of the graph.
func TestDecodeProto(t *testing.T) {
	w, b := randTensor(1, 6, 5), randTensor(2, 5)
	g := &onnxpb.GraphProto{
		Input:       []*onnxpb.ValueInfoProto{tensorInfo("x", core.Float32, sh(3, 6))},
		Initializer: []*onnxpb.TensorProto{w.Proto("w"), b.Proto("b")},
		Output:      []*onnxpb.ValueInfoProto{untypedInfo("y")},
		Node: []*onnxpb.NodeProto{
			node("mm", "MatMul", []string{"x", "w"}, []string{"xw"}),
			node("add", "Add", []string{"xw", "b"}, []string{"y"}),
		},
	}
	mp := modelProto(17, g)
	data := encode(t, mp)
	fromBytes, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	fromMsg, err := DecodeProto(mp)
	if err != nil {
		t.Fatal(err)
	}
	for _, init := range mp.GetGraph().GetInitializer() {
		if init.RawData != nil || len(init.FloatData) > 0 || len(init.Dims) > 0 {
			t.Errorf("initializer %q not emptied: %v", init.GetName(), init)
		}
	}
	if len(mp.GetGraph().GetNode()) != 2 {
		t.Error("DecodeProto changed the nodes")
	}
	in := map[string]*core.Tensor{"x": randTensor(3, 3, 6)}
	want, err := fromBytes.Run(in)
	if err != nil {
		t.Fatal(err)
	}
	got, err := fromMsg.Run(in)
	if err != nil {
		t.Fatal(err)
	}
	if err := compareTensors(got["y"], want["y"], 0, 0); err != nil {
		t.Error(err)
	}
}
