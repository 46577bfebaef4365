package ortrun_test

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/mhcc-dev/mhcc/internal/onnxbuild"
	"github.com/mhcc-dev/mhcc/internal/ortrun"
	"github.com/mhcc-dev/mhcc/internal/testenv"
	"github.com/mhcc-dev/mhcc/onnx/pb"
	"github.com/mhcc-dev/mhcc/onnx/tensor"
	"github.com/mhcc-dev/mhcc/onnx/tensor/half"
)

func node(op string, inputs, outputs []string, attrs ...*onnxpb.AttributeProto) *onnxpb.NodeProto {
	return &onnxpb.NodeProto{
		Name:      proto.String(outputs[0]),
		OpType:    proto.String(op),
		Input:     inputs,
		Output:    outputs,
		Attribute: attrs,
	}
}

func intAttr(name string, v int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(v)}
}

func f32Bytes(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	return b
}

// writeModel saves g as an IR 8, opset 17 model (what Debian's onnx 1.12
// checks) in dir.
func writeModel(t *testing.T, dir, name string, g *onnxpb.GraphProto) string {
	t.Helper()
	m := &onnxpb.ModelProto{
		IrVersion:    proto.Int64(8),
		ProducerName: proto.String("mhcc-ortrun-test"),
		OpsetImport:  []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(17)}},
		Graph:        g,
	}
	data, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

var weights = []float32{10, 20, 30}

// addModel writes Y = Add(X, W) with X: float[batch,3] and W an initializer
// in raw_data.
func addModel(t *testing.T, dir string) string {
	return writeModel(t, dir, "add.onnx", &onnxpb.GraphProto{
		Name:   proto.String("add"),
		Node:   []*onnxpb.NodeProto{node("Add", []string{"X", "W"}, []string{"Y"})},
		Input:  []*onnxpb.ValueInfoProto{onnxbuild.Info("X", tensor.Float, "batch", 3)},
		Output: []*onnxpb.ValueInfoProto{onnxbuild.Info("Y", tensor.Float, "batch", 3)},
		Initializer: []*onnxpb.TensorProto{{
			Name:     proto.String("W"),
			DataType: proto.Int32(tensor.Float),
			Dims:     []int64{3},
			RawData:  f32Bytes(weights),
		}},
	})
}

func setup(t *testing.T) {
	t.Helper()
	lib := testenv.NeedORT(t)
	if err := ortrun.Init(lib); err != nil {
		t.Fatal(err)
	}
	if err := ortrun.Init(lib); err != nil {
		t.Fatalf("second Init: %v", err)
	}
}

func TestVersion(t *testing.T) {
	setup(t)
	if v := ortrun.Version(); v != testenv.ORTVersion {
		t.Errorf("onnxruntime version %q, want %q", v, testenv.ORTVersion)
	}
}

func TestAdd(t *testing.T) {
	setup(t)
	path := addModel(t, t.TempDir())
	testenv.CheckONNX(t, path)

	ins, outs, err := ortrun.IOInfo(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(ins) != 1 || ins[0].Name != "X" || ins[0].DType != "float32" || !slices.Equal(ins[0].Shape, []int64{-1, 3}) {
		t.Errorf("inputs %+v, want X float32 [-1 3]", ins)
	}
	if len(outs) != 1 || outs[0].Name != "Y" || outs[0].DType != "float32" || !slices.Equal(outs[0].Shape, []int64{-1, 3}) {
		t.Errorf("outputs %+v, want Y float32 [-1 3]", outs)
	}

	for _, batch := range []int64{1, 2, 5, 0} {
		x := make([]float32, batch*3)
		want := make([]float32, batch*3)
		for i := range x {
			x[i] = float32(i) * 0.5
			want[i] = x[i] + weights[i%3]
		}
		got, err := ortrun.Run(path, []ortrun.Tensor{{Name: "X", DType: "float32", Shape: []int64{batch, 3}, F32: x}}, 1)
		if err != nil {
			t.Fatalf("batch %d: %v", batch, err)
		}
		if len(got) != 1 || got[0].Name != "Y" || got[0].DType != "float32" || !slices.Equal(got[0].Shape, []int64{batch, 3}) {
			t.Fatalf("batch %d: got %+v", batch, got)
		}
		if !slices.Equal(got[0].F32, want) {
			t.Errorf("batch %d: Y = %v, want %v", batch, got[0].F32, want)
		}
	}

	// Unnamed inputs are taken in graph order; threads 0 lets onnxruntime choose.
	got, err := ortrun.Run(path, []ortrun.Tensor{{DType: "float32", Shape: []int64{1, 3}, F32: []float32{1, 2, 3}}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got[0].F32, []float32{11, 22, 33}) {
		t.Errorf("unnamed: Y = %v", got[0].F32)
	}
}

func TestRunErrors(t *testing.T) {
	setup(t)
	path := addModel(t, t.TempDir())
	for _, tc := range []struct {
		name   string
		inputs []ortrun.Tensor
		want   string
	}{
		{"missing", []ortrun.Tensor{{Name: "Z", DType: "float32", Shape: []int64{1, 3}, F32: make([]float32, 3)}}, `missing input "X"`},
		{"extra", []ortrun.Tensor{
			{Name: "X", DType: "float32", Shape: []int64{1, 3}, F32: make([]float32, 3)},
			{Name: "Z", DType: "float32", Shape: []int64{1, 3}, F32: make([]float32, 3)},
		}, `no input "Z"`},
		{"count", []ortrun.Tensor{{DType: "float32", Shape: []int64{1, 3}, F32: make([]float32, 2)}}, "needs 3 elements"},
		{"shape", []ortrun.Tensor{{DType: "float32", Shape: []int64{1, 4}, F32: make([]float32, 4)}}, "dimension"},
		{"dtype", []ortrun.Tensor{{DType: "int64", Shape: []int64{1, 3}, I64: make([]int64, 3)}}, "type"},
	} {
		_, err := ortrun.Run(path, tc.inputs, 1)
		t.Logf("%s: %v", tc.name, err)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
	if _, err := ortrun.Run(filepath.Join(t.TempDir(), "none.onnx"), nil, 1); err == nil {
		t.Error("Run on a missing file succeeded")
	}
}

// TestFloat16AndScalarOutputs covers the outputs onnxruntime_go cannot take
// over by itself (float16 of dynamic shape, rank 0) and weights in an external
// data file, which must still be found when Run loads a changed model from
// memory.
func TestFloat16AndScalarOutputs(t *testing.T) {
	setup(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "w.bin"), f32Bytes(weights), 0o644); err != nil {
		t.Fatal(err)
	}
	path := writeModel(t, dir, "f16.onnx", &onnxpb.GraphProto{
		Name: proto.String("f16"),
		Node: []*onnxpb.NodeProto{
			node("Add", []string{"X", "W"}, []string{"S"}),
			node("Cast", []string{"S"}, []string{"H"}, intAttr("to", int64(tensor.Float16))),
			node("ReduceSum", []string{"S"}, []string{"Total"}, intAttr("keepdims", 0)),
			node("Shape", []string{"X"}, []string{"Dims"}),
			node("Greater", []string{"S", "W"}, []string{"Big"}),
		},
		Input: []*onnxpb.ValueInfoProto{onnxbuild.Info("X", tensor.Float, "batch", 3)},
		Output: []*onnxpb.ValueInfoProto{
			onnxbuild.Info("H", tensor.Float16, "batch", 3),
			onnxbuild.Info("Total", tensor.Float),
			onnxbuild.Info("Dims", tensor.Int64, 2),
			onnxbuild.Info("Big", tensor.Bool, "batch", 3),
		},
		Initializer: []*onnxpb.TensorProto{{
			Name:         proto.String("W"),
			DataType:     proto.Int32(tensor.Float),
			Dims:         []int64{3},
			DataLocation: onnxpb.TensorProto_EXTERNAL.Enum(),
			ExternalData: []*onnxpb.StringStringEntryProto{
				{Key: proto.String("location"), Value: proto.String("w.bin")},
				{Key: proto.String("offset"), Value: proto.String("0")},
				{Key: proto.String("length"), Value: proto.String("12")},
			},
		}},
	})
	testenv.CheckONNX(t, path)

	x := []float32{0.1, -40, 1e-3, 1, 2, 3}
	got, err := ortrun.Run(path, []ortrun.Tensor{{Name: "X", DType: "float32", Shape: []int64{2, 3}, F32: x}}, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 {
		t.Fatalf("got %d outputs, want 4", len(got))
	}
	var wantH []float32
	var total float32
	var big []int64
	for i, v := range x {
		s := v + weights[i%3]
		total += s
		wantH = append(wantH, half.Float16ToFloat32(half.Float32ToFloat16(s)))
		if s > weights[i%3] {
			big = append(big, 1)
		} else {
			big = append(big, 0)
		}
	}
	h, tot, dims, b := got[0], got[1], got[2], got[3]
	if h.Name != "H" || h.DType != "float16" || !slices.Equal(h.Shape, []int64{2, 3}) || !slices.Equal(h.F32, wantH) {
		t.Errorf("H = %+v, want float16 [2 3] %v", h, wantH)
	}
	if tot.Name != "Total" || tot.DType != "float32" || len(tot.Shape) != 0 || len(tot.F32) != 1 || math.Abs(float64(tot.F32[0]-total)) > 1e-4 {
		t.Errorf("Total = %+v, want float32 scalar %v", tot, total)
	}
	if dims.Name != "Dims" || dims.DType != "int64" || !slices.Equal(dims.I64, []int64{2, 3}) {
		t.Errorf("Dims = %+v, want int64 [2 3]", dims)
	}
	if b.Name != "Big" || b.DType != "bool" || !slices.Equal(b.I64, big) {
		t.Errorf("Big = %+v, want bool %v", b, big)
	}

	_, outs, err := ortrun.IOInfo(path)
	if err != nil {
		t.Fatal(err)
	}
	var desc []string
	for _, o := range outs {
		desc = append(desc, o.Name+":"+o.DType)
	}
	if want := []string{"H:float16", "Total:float32", "Dims:int64", "Big:bool"}; !slices.Equal(desc, want) {
		t.Errorf("IOInfo outputs %v, want %v", desc, want)
	}
	if len(outs) == 4 && (len(outs[1].Shape) != 0 || !slices.Equal(outs[0].Shape, []int64{-1, 3})) {
		t.Errorf("IOInfo shapes: H %v, Total %v", outs[0].Shape, outs[1].Shape)
	}
}

// TestFloat16AndBoolInputs checks how inputs of other element types are built.
func TestFloat16AndBoolInputs(t *testing.T) {
	setup(t)
	path := writeModel(t, t.TempDir(), "in.onnx", &onnxpb.GraphProto{
		Name: proto.String("in"),
		Node: []*onnxpb.NodeProto{
			node("Cast", []string{"X"}, []string{"F"}, intAttr("to", int64(tensor.Float))),
			node("Not", []string{"B"}, []string{"NB"}),
		},
		Input: []*onnxpb.ValueInfoProto{
			onnxbuild.Info("X", tensor.Float16, "n"),
			onnxbuild.Info("B", tensor.Bool, "n"),
		},
		Output: []*onnxpb.ValueInfoProto{
			onnxbuild.Info("F", tensor.Float, "n"),
			onnxbuild.Info("NB", tensor.Bool, "n"),
		},
	})
	testenv.CheckONNX(t, path)
	x := []float32{1.0009765625, 0.1, -65504, float32(math.Inf(1))}
	got, err := ortrun.Run(path, []ortrun.Tensor{
		{Name: "B", DType: "bool", Shape: []int64{4}, I64: []int64{1, 0, 0, 1}},
		{Name: "X", DType: "float16", Shape: []int64{4}, F32: x},
	}, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := make([]float32, len(x))
	for i, v := range x {
		want[i] = half.Float16ToFloat32(half.Float32ToFloat16(v))
	}
	if !slices.Equal(got[0].F32, want) {
		t.Errorf("F = %v, want %v", got[0].F32, want)
	}
	if !slices.Equal(got[1].I64, []int64{0, 1, 1, 0}) {
		t.Errorf("NB = %v, want [0 1 1 0]", got[1].I64)
	}
}

func TestCheckONNXRejects(t *testing.T) {
	testenv.NeedPython(t, "onnx")
	dir := t.TempDir()
	// The declared output size contradicts what Add infers.
	path := writeModel(t, dir, "bad.onnx", &onnxpb.GraphProto{
		Name:   proto.String("bad"),
		Node:   []*onnxpb.NodeProto{node("Add", []string{"X", "X"}, []string{"Y"})},
		Input:  []*onnxpb.ValueInfoProto{onnxbuild.Info("X", tensor.Float, 2, 3)},
		Output: []*onnxpb.ValueInfoProto{onnxbuild.Info("Y", tensor.Float, 2, 4)},
	})
	err := testenv.CheckONNXFile(path)
	if err == nil || !strings.Contains(err.Error(), "differ") {
		t.Errorf("CheckONNXFile on a contradicting model: %v", err)
	}
	// A declared symbolic size that inference fixes.
	path = writeModel(t, dir, "sym.onnx", &onnxpb.GraphProto{
		Name:   proto.String("sym"),
		Node:   []*onnxpb.NodeProto{node("Add", []string{"X", "X"}, []string{"Y"})},
		Input:  []*onnxpb.ValueInfoProto{onnxbuild.Info("X", tensor.Float, 2, 3)},
		Output: []*onnxpb.ValueInfoProto{onnxbuild.Info("Y", tensor.Float, "batch", 3)},
	})
	err = testenv.CheckONNXFile(path)
	if err == nil || !strings.Contains(err.Error(), "declared symbolic") {
		t.Errorf("CheckONNXFile on a symbolic output that is fixed: %v", err)
	}
}
