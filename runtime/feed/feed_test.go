package feed

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/mhcc-dev/mhcc/onnx/pb"
	mhrt "github.com/mhcc-dev/mhcc/runtime"
)

// TestRandReference checks Rand against testdata/rand_ref.py, an
// independent Python implementation of PCG-DXSM, Box-Muller and Lemire's
// bounded draw: the generated inputs must not change with Go releases.
func TestRandReference(t *testing.T) {
	r := NewRand(1, 2)
	for i, want := range []float64{-0.5388312851462042, -0.4837550093248378, 0.20111822690236403, -0.6671974468063915, 1.6468950929336574, 0.4361708210026554} {
		// Go's math and Python's libm may differ in the last bit.
		if got := r.Normal(); math.Abs(got-want) > 1e-15*math.Max(1, math.Abs(want)) {
			t.Errorf("normal %d: got %v, want %v", i, got, want)
		}
	}
	r = NewRand(7, 0xfeed)
	for i, want := range []uint64{61, 21, 73, 65, 31, 12, 88, 74} {
		if got := r.IntN(97); got != want {
			t.Errorf("IntN(97) %d: got %d, want %d", i, got, want)
		}
	}
	r = NewRand(3, 4)
	for i, want := range []uint64{4291866325743338982, 5636841291086485373, 8624628397687094494, 176690307602820677} {
		if got := r.IntN(1<<63 + 5); got != want {
			t.Errorf("IntN(2^63+5) %d: got %d, want %d", i, got, want)
		}
	}
}

func dim(v any) *onnxpb.TensorShapeProto_Dimension {
	switch v := v.(type) {
	case int:
		return &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: int64(v)}}
	case string:
		return &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: v}}
	}
	return &onnxpb.TensorShapeProto_Dimension{}
}

func input(name string, et onnxpb.TensorProto_DataType, dims ...any) *onnxpb.ValueInfoProto {
	var ds []*onnxpb.TensorShapeProto_Dimension
	for _, d := range dims {
		ds = append(ds, dim(d))
	}
	return &onnxpb.ValueInfoProto{Name: proto.String(name), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
		TensorType: &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(int32(et)), Shape: &onnxpb.TensorShapeProto{Dim: ds}}}}}
}

func info(vi *onnxpb.ValueInfoProto) mhrt.ValueInfo {
	v := mhrt.ValueInfo{Name: vi.GetName(), Ranked: true}
	switch onnxpb.TensorProto_DataType(vi.GetType().GetTensorType().GetElemType()) {
	case onnxpb.TensorProto_FLOAT:
		v.DType = mhrt.Float32
	case onnxpb.TensorProto_INT64:
		v.DType = mhrt.Int64
	case onnxpb.TensorProto_INT32:
		v.DType = mhrt.Int32
	case onnxpb.TensorProto_BOOL:
		v.DType = mhrt.Bool
	case onnxpb.TensorProto_BFLOAT16:
		v.DType = mhrt.BFloat16
	}
	for _, d := range vi.GetType().GetTensorType().GetShape().GetDim() {
		if _, ok := d.GetValue().(*onnxpb.TensorShapeProto_Dimension_DimValue); ok {
			v.Shape = append(v.Shape, d.GetDimValue())
		} else {
			v.Shape = append(v.Shape, -1)
		}
	}
	return v
}

// decoderGraph has input_ids [batch sequence] gathering from a 97×8
// embedding through an Identity, an attention_mask, and features x [batch ? 4].
func decoderGraph() *onnxpb.GraphProto {
	return &onnxpb.GraphProto{
		Input: []*onnxpb.ValueInfoProto{
			input("input_ids", onnxpb.TensorProto_INT64, "batch", "sequence"),
			input("attention_mask", onnxpb.TensorProto_INT64, "batch", "sequence"),
			input("x", onnxpb.TensorProto_FLOAT, "batch", nil, 4),
			input("flags", onnxpb.TensorProto_BOOL, 64),
			input("small", onnxpb.TensorProto_INT32, 16),
		},
		Initializer: []*onnxpb.TensorProto{{Name: proto.String("embed.weight"), Dims: []int64{97, 8}}},
		Node: []*onnxpb.NodeProto{
			{OpType: proto.String("Identity"), Input: []string{"embed.weight"}, Output: []string{"table"}},
			{OpType: proto.String("Gather"), Input: []string{"table", "input_ids"}, Output: []string{"h"}},
		},
	}
}

func TestGenerate(t *testing.T) {
	g := decoderGraph()
	f := New(g, 5)
	if got := f.DimNames(); !slices.Equal(got, []string{"batch", "sequence"}) {
		t.Fatalf("DimNames %v", got)
	}
	if ok, err := f.Bind("sequence", 6, "--dim"); !ok || err != nil {
		t.Fatalf("Bind: %v %v", ok, err)
	}
	if ok, err := f.Bind("nope", 2, "--dim"); ok || err != nil {
		t.Errorf("Bind of an unknown dim: %v %v, want false, nil", ok, err)
	}
	if _, err := f.Bind("sequence", 7, "--dim"); err == nil {
		t.Errorf("rebinding sequence to another value did not fail")
	}
	ids, err := f.Generate(info(g.Input[0]))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids.Shape, []int64{1, 6}) {
		t.Errorf("input_ids shape %v, want [1 6]", ids.Shape)
	}
	for _, id := range ids.Int64s() {
		if id < 0 || id >= 97 {
			t.Errorf("id %d outside the 97 embedding rows", id)
		}
	}
	if src := f.Sources["input_ids"]; src != "random ids in [0, 97) (rows of table), seed 5" {
		t.Errorf("source %q", src)
	}
	if len(f.Notes) != 1 || f.Notes[0] != (Note{Kind: DefaultDim, Input: "input_ids", Dim: "batch"}) || f.Notes[0].String() != "batch not given: using batch=1" {
		t.Errorf("notes %+v", f.Notes)
	}
	if b := f.Dim("batch"); b == nil || *b != (Binding{1, "default"}) {
		t.Errorf("batch bound to %+v", b)
	}
	mask, err := f.Generate(info(g.Input[1]))
	if err != nil {
		t.Fatal(err)
	}
	if v := mask.Int64s(); len(v) != 6 || slices.ContainsFunc(v, func(x int64) bool { return x != 1 }) {
		t.Errorf("mask %v, want six ones", v)
	}
	x, err := f.Generate(info(g.Input[2]))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(x.Shape, []int64{1, 1, 4}) || x.DType != mhrt.Float32 {
		t.Errorf("x: %v %v", x.DType, x.Shape)
	}
	if n := f.Notes[len(f.Notes)-1]; n != (Note{Kind: UnnamedDim, Input: "x", Index: 1}) {
		t.Errorf("last note %+v, want the unnamed dim of x", n)
	}
	want := NewRand(5, streamOf("x"))
	for i, v := range x.Float32s() {
		if w := float32(want.Normal()); v != w {
			t.Errorf("x[%d] = %v, want %v", i, v, w)
		}
	}
	flags, err := f.Generate(info(g.Input[3]))
	if err != nil {
		t.Fatal(err)
	}
	trues := 0
	for _, b := range flags.Int64s() {
		trues += int(b)
	}
	if trues == 0 || trues == 64 {
		t.Errorf("%d of 64 random bools true", trues)
	}
	small, err := f.Generate(info(g.Input[4]))
	if err != nil {
		t.Fatal(err)
	}
	if small.DType != mhrt.Int32 || slices.Max(small.Int64s()) >= 100 || slices.Min(small.Int64s()) < 0 {
		t.Errorf("small: %v %v, want int32 in [0, 100)", small.DType, small.Int64s())
	}
}

// Each input has its own stream, and the seed decides the values.
func TestGenerateStreams(t *testing.T) {
	g := decoderGraph()
	a := New(g, 1)
	xa, _ := a.Generate(info(g.Input[2]))
	b := New(g, 1)
	b.Generate(info(g.Input[0]))
	xb, _ := b.Generate(info(g.Input[2]))
	if !slices.Equal(xa.Float32s(), xb.Float32s()) {
		t.Errorf("generating input_ids first changed x")
	}
	c := New(g, 2)
	xc, _ := c.Generate(info(g.Input[2]))
	if slices.Equal(xa.Float32s(), xc.Float32s()) {
		t.Errorf("seeds 1 and 2 gave the same x")
	}
}

func TestSet(t *testing.T) {
	g := decoderGraph()
	f := New(g, 1)
	ids := info(g.Input[0])
	if err := f.Set(ids, mhrt.NewInt64([]int64{2, 3}, make([]int64, 6)), "ids.npy"); err != nil {
		t.Fatal(err)
	}
	if b := f.Dim("sequence"); b == nil || *b != (Binding{3, "from ids.npy"}) {
		t.Errorf("sequence bound to %+v", b)
	}
	if f.Sources["input_ids"] != "from ids.npy" || f.Inputs["input_ids"] == nil {
		t.Errorf("Set did not record the input")
	}
	mask := info(g.Input[1])
	for _, c := range []struct {
		shape []int64
		want  string
	}{
		{[]int64{2}, "shape [2] has rank 1, the model wants rank 2: [batch sequence]"},
		{[]int64{2, 4}, "shape [2 4] does not fit [batch sequence]: sequence is 4 here but 3 (from ids.npy)"},
	} {
		n := int64(1)
		for _, d := range c.shape {
			n *= d
		}
		err := f.Set(mask, mhrt.NewInt64(c.shape, make([]int64, n)), "m.npy")
		if err == nil || err.Error() != c.want {
			t.Errorf("shape %v: got %v, want %q", c.shape, err, c.want)
		}
	}
	b63, err := mhrt.New(mhrt.Bool, []int64{63}, make([]bool, 63))
	if err != nil {
		t.Fatal(err)
	}
	err = f.Set(info(g.Input[3]), b63, "b.npy")
	if err == nil || !strings.Contains(err.Error(), "dim 0 is 63, want 64") {
		t.Errorf("fixed dim: got %v", err)
	}
}

func TestGenerateErrors(t *testing.T) {
	g := decoderGraph()
	for _, c := range []struct {
		v      mhrt.ValueInfo
		dims   map[string]int64
		reason GenerateReason
		want   string
	}{
		{mhrt.ValueInfo{Name: "x", DType: mhrt.Float32}, nil, NoShape, `input "x" has no declared shape, so it cannot be generated`},
		{mhrt.ValueInfo{Name: "x", Ranked: true, Shape: []int64{-1, -1, 4}}, nil, NoDType, `input "x" has no declared element type, so it cannot be generated`},
		{mhrt.ValueInfo{Name: "x", Ranked: true, DType: mhrt.DType(8) /* string */, Shape: []int64{-1, -1, 4}}, nil, BadDType, `input "x": cannot generate string values`},
		{info(g.Input[0]), map[string]int64{"batch": 1 << 16, "sequence": 1 << 15}, TooLarge, `input "input_ids": shape [65536 32768] has more than 1073741824 elements`},
	} {
		f := New(g, 1)
		for d, n := range c.dims {
			f.Bind(d, n, "test")
		}
		_, err := f.Generate(c.v)
		var ge *GenerateError
		if !errors.As(err, &ge) || ge.Reason != c.reason || err.Error() != c.want {
			t.Errorf("got %v, want reason %d: %s", err, c.reason, c.want)
		}
	}
}

func TestEmbeddingRows(t *testing.T) {
	g := decoderGraph()
	if rows, table, ok := EmbeddingRows(g, "input_ids"); !ok || rows != 97 || table != "table" {
		t.Errorf("input_ids: %d %q %v, want 97 rows of table", rows, table, ok)
	}
	if _, _, ok := EmbeddingRows(g, "attention_mask"); ok {
		t.Errorf("attention_mask indexes no table")
	}
	// A Constant table, gathered along axis -1 through a Cast.
	g.Node = append(g.Node,
		&onnxpb.NodeProto{OpType: proto.String("Constant"), Output: []string{"c"}, Attribute: []*onnxpb.AttributeProto{
			{Name: proto.String("value"), T: &onnxpb.TensorProto{Dims: []int64{3, 11}}}}},
		&onnxpb.NodeProto{OpType: proto.String("Cast"), Input: []string{"c"}, Output: []string{"c2"}},
		&onnxpb.NodeProto{OpType: proto.String("Gather"), Input: []string{"c2", "small"}, Output: []string{"s"},
			Attribute: []*onnxpb.AttributeProto{{Name: proto.String("axis"), I: proto.Int64(-1)}}})
	if rows, table, ok := EmbeddingRows(g, "small"); !ok || rows != 11 || table != "c2" {
		t.Errorf("small: %d %q %v, want 11 rows of c2", rows, table, ok)
	}
	// A Gather on a computed table does not count.
	g.Node = append(g.Node, &onnxpb.NodeProto{OpType: proto.String("Gather"), Input: []string{"h", "attention_mask"}, Output: []string{"z"}})
	if _, _, ok := EmbeddingRows(g, "attention_mask"); ok {
		t.Errorf("a Gather on a computed value gave a row count")
	}
}

// TestEmbeddingNode: a graph without the nodes EmbeddingNode refuses (what
// mhcc run keeps) gives EmbeddingRows the same answers as the whole graph,
// tables found or not.
func TestEmbeddingNode(t *testing.T) {
	op := func(typ string, in, out []string) *onnxpb.NodeProto {
		return &onnxpb.NodeProto{OpType: proto.String(typ), Input: in, Output: out}
	}
	g := decoderGraph()
	g.Node = append(g.Node,
		op("MatMul", []string{"x", "embed.weight"}, []string{"m"}),
		op("Gather", []string{"m", "small"}, []string{"g1"}),        // a computed table: no answer
		op("Reshape", []string{"embed.weight", "s"}, []string{"r"}), // not followed back
		op("Gather", []string{"r", "flags"}, []string{"g2"}),
		op("Relu", []string{"h"}, []string{"h2"}),
		op("Cast", []string{"embed.weight"}, []string{"w16"}),
		op("Gather", []string{"w16", "attention_mask"}, []string{"g3"}), // through a Cast: 97 rows
	)
	kept := &onnxpb.GraphProto{Input: g.Input, Initializer: g.Initializer}
	for _, n := range g.Node {
		if EmbeddingNode(n) {
			kept.Node = append(kept.Node, n)
		}
	}
	if len(kept.Node) != len(g.Node)-3 {
		t.Fatalf("kept %d of %d nodes, want all but MatMul, Reshape and Relu", len(kept.Node), len(g.Node))
	}
	for _, in := range []string{"input_ids", "attention_mask", "small", "flags", "x"} {
		r1, t1, ok1 := EmbeddingRows(g, in)
		r2, t2, ok2 := EmbeddingRows(kept, in)
		if r1 != r2 || t1 != t2 || ok1 != ok2 {
			t.Errorf("%s: whole graph %d %q %v, kept nodes %d %q %v", in, r1, t1, ok1, r2, t2, ok2)
		}
	}
	if rows, table, ok := EmbeddingRows(kept, "attention_mask"); !ok || rows != 97 || table != "w16" {
		t.Errorf("attention_mask: %d %q %v, want 97 rows of w16", rows, table, ok)
	}
}

func TestConversions(t *testing.T) {
	v := []float64{1, 1 + 1.0/(1<<10), -2.5, 1e6}
	for _, dt := range []mhrt.DType{mhrt.Float32, mhrt.Float64, mhrt.Float16, mhrt.BFloat16} {
		tn, err := FromFloat64s(dt, []int64{4}, v)
		if err != nil || tn.DType != dt {
			t.Fatalf("%v: %v %v", dt, tn, err)
		}
		got := tn.Float64s()
		// float16 keeps 10 fraction bits (1e6 overflows to +Inf: max 65504),
		// bfloat16 7 (1 + 2^-10 rounds to 1; 1e6 to 999424).
		want := map[mhrt.DType][]float64{
			mhrt.Float32:  v,
			mhrt.Float64:  v,
			mhrt.Float16:  {1, 1 + 1.0/(1<<10), -2.5, math.Inf(1)},
			mhrt.BFloat16: {1, 1, -2.5, 999424},
		}[dt]
		if !slices.Equal(got, want) {
			t.Errorf("%v: got %v, want %v", dt, got, want)
		}
	}
	for _, dt := range []mhrt.DType{mhrt.Int8, mhrt.Uint8, mhrt.Int16, mhrt.Uint16, mhrt.Int32, mhrt.Uint32, mhrt.Int64, mhrt.Uint64, mhrt.Float32} {
		tn, err := FromInt64s(dt, []int64{3}, []int64{0, 7, 100})
		if err != nil || tn.DType != dt || !slices.Equal(tn.Float64s(), []float64{0, 7, 100}) {
			t.Errorf("%v: %v %v", dt, tn, err)
		}
	}
	if _, err := FromInt64s(mhrt.Bool, []int64{1}, []int64{1}); err == nil {
		t.Errorf("FromInt64s made bools")
	}
}

// GenerateAll makes the inputs the runtime would ask for, from the graph
// alone, and keeps those already Set.
func TestGenerateAll(t *testing.T) {
	g := decoderGraph()
	// An IR-3 style graph lists its initializers among the inputs.
	g.Input = append(g.Input, input("embed.weight", onnxpb.TensorProto_FLOAT, 97, 8))
	f := New(g, 3)
	ids := mhrt.NewInt64([]int64{2, 5}, make([]int64, 10))
	if err := f.Set(info(g.Input[0]), ids, "test"); err != nil {
		t.Fatal(err)
	}
	in, err := f.GenerateAll()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, v := range f.Declarations() {
		names = append(names, v.Name)
		if want := info(g.Input[slices.IndexFunc(g.Input, func(vi *onnxpb.ValueInfoProto) bool { return vi.GetName() == v.Name })]); v.DType != want.DType || !slices.Equal(v.Shape, want.Shape) || !v.Ranked {
			t.Errorf("declaration %+v, want %+v", v, want)
		}
	}
	if want := []string{"input_ids", "attention_mask", "x", "flags", "small"}; !slices.Equal(names, want) {
		t.Errorf("declarations %v, want %v", names, want)
	}
	if len(in) != 5 || in["input_ids"] != ids || !slices.Equal(in["attention_mask"].Shape, []int64{2, 5}) || !slices.Equal(in["x"].Shape, []int64{2, 1, 4}) {
		t.Errorf("inputs %v", in)
	}
}

func TestCheckOutput(t *testing.T) {
	g := decoderGraph()
	g.Output = []*onnxpb.ValueInfoProto{input("logits", onnxpb.TensorProto_FLOAT, "batch", "sequence", 97)}
	f := New(g, 1)
	f.Bind("sequence", 4, "--dim")
	for _, c := range []struct {
		name  string
		shape []int64
		want  string
	}{
		{"logits", []int64{1, 4, 97}, ""},
		{"logits", []int64{3, 4, 97}, ""}, // batch is not bound
		{"logits", []int64{1, 4}, "output logits has shape [1 4], the model declares rank 3"},
		{"logits", []int64{1, 4, 96}, "output logits has shape [1 4 96], the model declares dim 2 = 97"},
		{"logits", []int64{1, 5, 97}, "output logits has shape [1 5 97], the model declares dim 1 = sequence = 4"},
		{"h", []int64{1}, ""},
	} {
		if got := f.CheckOutput(c.name, c.shape); got != c.want {
			t.Errorf("%s %v: got %q, want %q", c.name, c.shape, got, c.want)
		}
	}
}
