package onnxtext

import (
	"encoding/binary"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mhcc-dev/mhcc/compile"
	"github.com/mhcc-dev/mhcc/internal/onnxbuild"
	"github.com/mhcc-dev/mhcc/internal/testmodels"
	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
	"github.com/mhcc-dev/mhcc/onnx/tensor"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

const header = `<
  ir_version: 8,
  opset_import: ["" : 17],
  producer_name: "test"
>
`

// attrsModel has a node with an attribute of every kind.
func attrsModel() *onnxpb.ModelProto {
	sparse := &onnxpb.AttributeProto{
		Name: proto.String("sp"), Type: atype(onnxpb.AttributeProto_SPARSE_TENSOR),
		SparseTensor: &onnxpb.SparseTensorProto{
			Dims:    []int64{4, 4},
			Values:  typedFloats("", []int64{2}, 1, 2),
			Indices: typedInt64s("", []int64{2}, 0, 5),
		},
	}
	n := node("Foo", strs("x"), strs("y"),
		aString("s", `a"b\c`),
		aFloat("f", 1),
		aFloat("alpha", 1e-6),
		aFloat("big", 123456789),
		aFloat("nan", float32(math.NaN())),
		aFloat("ninf", float32(math.Inf(-1))),
		aInt("i", -3),
		aInts("ints", 1, -2),
		aFloats("floats", 0.5, 2),
		aStrings("strings", "a", "b c"),
		aInts("empty"),
		aTensor("t", rawFloats("", []int64{2}, 1, 2.5)),
		aTensor("tnamed", typedInt64s("k", nil, 7)),
		aTensor("tbig", rawFloats("", []int64{17}, make([]float32, 17)...)),
		&onnxpb.AttributeProto{Name: proto.String("tensors"), Type: atype(onnxpb.AttributeProto_TENSORS),
			Tensors: []*onnxpb.TensorProto{{DataType: proto.Int32(tensor.Int32), Dims: []int64{1}, Int32Data: []int32{1}}}},
		&onnxpb.AttributeProto{Name: proto.String("tp"), Type: atype(onnxpb.AttributeProto_TYPE_PROTO), Tp: onnxbuild.Type(tensor.Float, "N")},
		&onnxpb.AttributeProto{Name: proto.String("tps"), Type: atype(onnxpb.AttributeProto_TYPE_PROTOS),
			TypeProtos: []*onnxpb.TypeProto{onnxbuild.Type(tensor.Int64), {Value: &onnxpb.TypeProto_SequenceType{SequenceType: &onnxpb.TypeProto_Sequence{ElemType: unknownRank(tensor.Float)}}}}},
		sparse,
		&onnxpb.AttributeProto{Name: proto.String("legacy"), I: proto.Int64(5)}, // IR v1: no type field
	)
	n.Domain = proto.String("test")
	return model(&onnxpb.GraphProto{
		Name:   proto.String("attrs"),
		Input:  []*onnxpb.ValueInfoProto{vi("x", onnxbuild.Type(tensor.Float, 2))},
		Output: []*onnxpb.ValueInfoProto{vi("y", onnxbuild.Type(tensor.Float, 2))},
		Node:   []*onnxpb.NodeProto{n},
	})
}

// ifModel has an If node whose branches are subgraphs, one with an
// initializer.
func ifModel() *onnxpb.ModelProto {
	thenG := &onnxpb.GraphProto{
		Name:        proto.String("then_g"),
		Output:      []*onnxpb.ValueInfoProto{vi("t", onnxbuild.Type(tensor.Float, 2))},
		Initializer: []*onnxpb.TensorProto{rawFloats("one", nil, 1)},
		Node:        []*onnxpb.NodeProto{node("Add", strs("x", "one"), strs("t"))},
	}
	elseG := &onnxpb.GraphProto{
		Name:   proto.String("else_g"),
		Output: []*onnxpb.ValueInfoProto{vi("e", onnxbuild.Type(tensor.Float, 2))},
		Node:   []*onnxpb.NodeProto{node("Neg", strs("x"), strs("e"))},
	}
	ifNode := node("If", strs("c"), strs("y"), aGraph("then_branch", thenG), aGraph("else_branch", elseG))
	ifNode.Name = proto.String("if0")
	return model(&onnxpb.GraphProto{
		Name:   proto.String("main"),
		Input:  []*onnxpb.ValueInfoProto{vi("c", onnxbuild.Type(tensor.Bool)), vi("x", onnxbuild.Type(tensor.Float, 2))},
		Output: []*onnxpb.ValueInfoProto{vi("y", onnxbuild.Type(tensor.Float, 2))},
		Node:   []*onnxpb.NodeProto{ifNode},
	})
}

// funcModel calls a model-local function that has an attribute, an
// attribute with a default and an attribute reference.
func funcModel(withDefault bool) *onnxpb.ModelProto {
	call := node("Scale", strs("x"), strs("y"), aFloat("factor", 2))
	call.Domain = proto.String("test.fn")
	fn := &onnxpb.FunctionProto{
		Name:        proto.String("Scale"),
		Domain:      proto.String("test.fn"),
		Attribute:   []string{"factor"},
		Input:       []string{"x"},
		Output:      []string{"y"},
		OpsetImport: []*onnxpb.OperatorSetIdProto{opset("", 17)},
		Node: []*onnxpb.NodeProto{
			node("Constant", nil, strs("c"), aRef("value_float", onnxpb.AttributeProto_FLOAT, "factor")),
			node("Mul", strs("x", "c"), strs("y")),
		},
	}
	if withDefault {
		fn.AttributeProto = []*onnxpb.AttributeProto{aFloat("bias", 0.5)}
	}
	m := model(&onnxpb.GraphProto{
		Name:   proto.String("g"),
		Input:  []*onnxpb.ValueInfoProto{vi("x", onnxbuild.Type(tensor.Float, 2))},
		Output: []*onnxpb.ValueInfoProto{vi("y", onnxbuild.Type(tensor.Float, 2))},
		Node:   []*onnxpb.NodeProto{call},
	}, fn)
	m.OpsetImport = []*onnxpb.OperatorSetIdProto{opset("test.fn", 1), opset("", 17)}
	return m
}

// typesModel has inputs of every kind of type and dim, and names that need
// quotes.
func typesModel() *onnxpb.ModelProto {
	seqOf := func(t *onnxpb.TypeProto) *onnxpb.TypeProto {
		return &onnxpb.TypeProto{Value: &onnxpb.TypeProto_SequenceType{SequenceType: &onnxpb.TypeProto_Sequence{ElemType: t}}}
	}
	return model(&onnxpb.GraphProto{
		Name: proto.String("types"),
		Input: []*onnxpb.ValueInfoProto{
			vi("a", onnxbuild.Type(tensor.Float, "batch", nil, 3)),
			vi("b", unknownRank(tensor.Float)),
			vi("c", onnxbuild.Type(tensor.Double)),
			vi("d", seqOf(onnxbuild.Type(tensor.Float, "n"))),
			vi("e", &onnxpb.TypeProto{Value: &onnxpb.TypeProto_MapType{MapType: &onnxpb.TypeProto_Map{KeyType: proto.Int32(tensor.Int64), ValueType: onnxbuild.Type(tensor.Float)}}}),
			vi("f", &onnxpb.TypeProto{Value: &onnxpb.TypeProto_OptionalType{OptionalType: &onnxpb.TypeProto_Optional{ElemType: seqOf(unknownRank(tensor.Int64))}}}),
			vi("g", &onnxpb.TypeProto{Value: &onnxpb.TypeProto_SparseTensorType{SparseTensorType: &onnxpb.TypeProto_SparseTensor{ElemType: proto.Int32(tensor.Float), Shape: onnxbuild.Type(tensor.Float, 4, 4).GetTensorType().Shape}}}),
			{Name: proto.String("h")},
			vi("float", onnxbuild.Type(tensor.Int64)),
			vi("in.9", onnxbuild.Type(tensor.Float, "seq len")),
		},
		Output: []*onnxpb.ValueInfoProto{vi("out.0", onnxbuild.Type(tensor.Float, "batch"))},
		Node:   []*onnxpb.NodeProto{node("Foo", strs("a", "", "float"), strs("out.0"))},
	})
}

// initsModel has initializers stored every way (raw, typed, external, and
// one whose data does not match its shape), value_info, a full header with
// metadata out of order, and fields mhcc's schema does not know.
func initsModel(withBad bool) *onnxpb.ModelProto {
	ext := &onnxpb.TensorProto{
		Name: proto.String("ext"), DataType: proto.Int32(tensor.Float), Dims: []int64{1024},
		DataLocation: onnxpb.TensorProto_EXTERNAL.Enum(),
		ExternalData: []*onnxpb.StringStringEntryProto{
			{Key: proto.String("location"), Value: proto.String("w.bin")},
			{Key: proto.String("offset"), Value: proto.String("0")},
			{Key: proto.String("length"), Value: proto.String("4096")},
		},
	}
	inits := []*onnxpb.TensorProto{
		rawFloats("w", []int64{2}, 1, -0.5),
		typedInt64s("k.0", []int64{3}, 1, 2, 3),
		ext,
	}
	if withBad {
		inits = append(inits, rawTensor("bad", tensor.Float, []int64{3}, make([]byte, 8)))
	}
	mul := node("Mul", strs("x", "w"), strs("h"))
	mul.ProtoReflect().SetUnknown(protowire.AppendString(protowire.AppendTag(nil, 8, protowire.BytesType), "overload"))
	m := model(&onnxpb.GraphProto{
		Name:        proto.String("inits"),
		Input:       []*onnxpb.ValueInfoProto{vi("x", onnxbuild.Type(tensor.Float, 2))},
		Output:      []*onnxpb.ValueInfoProto{vi("y", onnxbuild.Type(tensor.Float, 2))},
		Initializer: inits,
		ValueInfo:   []*onnxpb.ValueInfoProto{vi("h", onnxbuild.Type(tensor.Float, 2))},
		Node:        []*onnxpb.NodeProto{mul, node("Add", strs("h", "k.0"), strs("y"))},
	})
	m.OpsetImport = append(m.OpsetImport, opset("com.example", 2))
	m.ProducerVersion = proto.String("1.0")
	m.Domain = proto.String("org.example")
	m.ModelVersion = proto.Int64(3)
	m.DocString = proto.String("a model")
	m.MetadataProps = []*onnxpb.StringStringEntryProto{
		{Key: proto.String("b"), Value: proto.String(`x"y`)},
		{Key: proto.String("a"), Value: proto.String("1")},
	}
	m.ProtoReflect().SetUnknown(protowire.AppendBytes(protowire.AppendTag(nil, 20, protowire.BytesType), nil))
	return m
}

// dtypesModel has an initializer of every dtype, stored raw or typed.
func dtypesModel() *onnxpb.ModelProto {
	le := binary.LittleEndian
	typed := func(name string, dt int32, dims []int64, t *onnxpb.TensorProto) *onnxpb.TensorProto {
		t.Name, t.DataType, t.Dims = proto.String(name), proto.Int32(dt), dims
		return t
	}
	long := make([]float32, 40)
	for i := range long {
		long[i] = float32(i) * 0.25
	}
	return model(&onnxpb.GraphProto{
		Name:   proto.String("dtypes"),
		Input:  []*onnxpb.ValueInfoProto{vi("x", onnxbuild.Type(tensor.Float, 2))},
		Output: []*onnxpb.ValueInfoProto{vi("y", onnxbuild.Type(tensor.Float, 2))},
		Initializer: []*onnxpb.TensorProto{
			typedFloats("f32", []int64{2}, 1, 0.1),
			rawTensor("f64", tensor.Double, []int64{2}, le.AppendUint64(le.AppendUint64(nil, math.Float64bits(0.1)), math.Float64bits(-2))),
			typed("i8", tensor.Int8, []int64{2}, &onnxpb.TensorProto{Int32Data: []int32{-1, 127}}),
			rawTensor("u8", tensor.Uint8, []int64{2}, []byte{0, 255}),
			rawTensor("i16", tensor.Int16, []int64{1}, le.AppendUint16(nil, uint16(0xffff-299))),
			typed("u16", tensor.Uint16, []int64{1}, &onnxpb.TensorProto{Int32Data: []int32{65535}}),
			rawTensor("i32", tensor.Int32, []int64{2}, le.AppendUint32(le.AppendUint32(nil, uint32(0xffffffff-6)), 8)),
			typed("u32", tensor.Uint32, []int64{1}, &onnxpb.TensorProto{Uint64Data: []uint64{4294967295}}),
			rawTensor("i64", tensor.Int64, []int64{1}, le64(-9000000000)),
			rawTensor("u64", tensor.Uint64, []int64{1}, le64(-1)),
			typed("b", tensor.Bool, []int64{3}, &onnxpb.TensorProto{Int32Data: []int32{1, 0, 1}}),
			rawTensor("h16", tensor.Float16, []int64{2}, []byte{0x00, 0x3c, 0x00, 0xc0}),
			typed("bf", tensor.BFloat16, []int64{1}, &onnxpb.TensorProto{Int32Data: []int32{0x3f80}}),
			typed("s", tensor.String, []int64{2}, &onnxpb.TensorProto{StringData: [][]byte{[]byte("a"), []byte(`b"c`)}}),
			typed("c64", tensor.Complex64, []int64{1}, &onnxpb.TensorProto{FloatData: []float32{1, -1}}),
			rawFloats("special", []int64{3}, float32(math.NaN()), float32(math.Inf(1)), float32(math.Copysign(0, -1))),
			rawFloats("empty", []int64{0}),
			rawFloats("long", []int64{2, 20}, long...),
			{Name: proto.String("ext"), DataType: proto.Int32(tensor.Float), Dims: []int64{4}, DataLocation: onnxpb.TensorProto_EXTERNAL.Enum(),
				ExternalData: []*onnxpb.StringStringEntryProto{{Key: proto.String("location"), Value: proto.String("w.bin")}}},
		},
		Node: []*onnxpb.NodeProto{node("Identity", strs("x"), strs("y"))},
	})
}

func TestFormatExact(t *testing.T) {
	// The hashes Format prints are tensor.Hash's (tested against an
	// independent digest in onnx/tensor).
	tbig := mustHash(rawTensor("", tensor.Float, []int64{17}, make([]byte, 68)))
	one := mustHash(rawFloats("", nil, 1))
	hw := mustHash(rawFloats("", []int64{2}, 1, -0.5))
	hk := mustHash(rawTensor("", tensor.Int64, []int64{3}, le64(1, 2, 3)))
	tests := []struct {
		name string
		m    *onnxpb.ModelProto
		opts Options
		want string
	}{
		{"attributes", attrsModel(), Options{}, header + `attrs (float[2] x) => (float[2] y)
{
  y = test.Foo <alpha = 1e-06, big = 1.2345679e+08, empty: ints = [], f = 1.0, floats = [0.5, 2.0], i = -3, ints = [1, -2], legacy = 5, nan = nan, ninf = -inf, s = "a\"b\\c", sp: sparse_tensor = sparse(float[4,4], float[2] {1.0, 2.0}, int64[2] {0, 5}), strings = ["a", "b c"], t = float[2] {1.0, 2.5}, tbig = float[17] ` + tbig + `, tensors: tensors = [int32[1] {1}], tnamed = int64 k {7}, tp: type_proto = float[N], tps: type_protos = [int64, seq(float[])]> (x)
}
`},
		{"subgraph", ifModel(), Options{}, header + `main (bool c, float[2] x) => (float[2] y)
{
  [if0] y = If (c) <
    else_branch = else_g () => (float[2] e)
    {
      e = Neg (x)
    },
    then_branch = then_g () => (float[2] t)
    <
      # initializer values elided: type, name and sha256 of the data
      # float one = ` + one + `
    >
    {
      t = Add (x, one)
    }
  >
}
`},
		{"subgraph values", ifModel(), Options{Initializers: true}, header + `main (bool c, float[2] x) => (float[2] y)
{
  [if0] y = If (c) <
    else_branch = else_g () => (float[2] e)
    {
      e = Neg (x)
    },
    then_branch = then_g () => (float[2] t)
    <
      float one = {1.0}
    >
    {
      t = Add (x, one)
    }
  >
}
`},
		{"function", funcModel(true), Options{}, `<
  ir_version: 8,
  opset_import: ["" : 17, "test.fn" : 1],
  producer_name: "test"
>
g (float[2] x) => (float[2] y)
{
  y = test.fn.Scale <factor = 2.0> (x)
}

<
  domain: "test.fn",
  opset_import: ["" : 17]
>
Scale <factor, bias = 0.5> (x) => (y)
{
  c = Constant <value_float: float = @factor> ()
  y = Mul (x, c)
}
`},
		{"types and dynamic dims", typesModel(), Options{}, header + `types (
  float[batch,?,3] a,
  float[] b,
  double c,
  seq(float[n]) d,
  map(int64, float) e,
  optional(seq(int64[])) f,
  sparse_tensor(float[4,4]) g,
  h,
  int64 "float",
  float["seq len"] "in.9"
) => (float[batch] "out.0")
{
  "out.0" = Foo (a, "", "float")
}
`},
		{"initializer summary", initsModel(true), Options{}, `# not shown: fields unknown to mhcc's ONNX schema: ModelProto.20, NodeProto.8
<
  ir_version: 8,
  opset_import: ["" : 17, "com.example" : 2],
  producer_name: "test",
  producer_version: "1.0",
  domain: "org.example",
  model_version: 3,
  doc_string: "a model",
  metadata_props: [
    "a": "1",
    "b": "x\"y"
  ]
>
inits (float[2] x) => (float[2] y)
<
  # initializer values elided: type, name and sha256 of the data
  # float[2] w = ` + hw + `
  # int64[3] "k.0" = ` + hk + `
  # float[1024] ext = ["location": "w.bin", "offset": "0", "length": "4096"]
  # float[3] bad = invalid: raw_data has 8 bytes, want 12 for float[3]
  float[2] h
>
{
  h = Mul (x, w)
  y = Add (h, "k.0")
}
`},
		{"initializer values", dtypesModel(), Options{Initializers: true}, header + `dtypes (float[2] x) => (float[2] y)
<
  float[2] f32 = {1.0, 0.1},
  double[2] f64 = {0.1, -2.0},
  int8[2] i8 = {-1, 127},
  uint8[2] u8 = {0, 255},
  int16[1] i16 = {-300},
  uint16[1] u16 = {65535},
  int32[2] i32 = {-7, 8},
  uint32[1] u32 = {4294967295},
  int64[1] i64 = {-9000000000},
  uint64[1] u64 = {18446744073709551615},
  bool[3] b = {1, 0, 1},
  float16[2] h16 = {15360, 49152},
  bfloat16[1] bf = {16256},
  string[2] s = {"a", "b\"c"},
  complex64[1] c64 = {1.0, -1.0},
  float[3] special = {nan, inf, -0.0},
  float[0] empty = {},
  float[2,20] long = {
    0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.25, 2.5, 2.75, 3.0, 3.25, 3.5, 3.75,
    4.0, 4.25, 4.5, 4.75,
    5.0, 5.25, 5.5, 5.75, 6.0, 6.25, 6.5, 6.75, 7.0, 7.25, 7.5, 7.75, 8.0, 8.25, 8.5, 8.75,
    9.0, 9.25, 9.5, 9.75
  },
  float[4] ext = ["location": "w.bin"]
>
{
  y = Identity (x)
}
`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Format(tc.m, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("got:\n%s\nwant:\n%s\nfirst difference: %s", got, tc.want, firstDiff(string(got), tc.want))
			}
		})
	}
}

// firstDiff describes the first line where got and want differ.
func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return "line " + itoa(int64(i+1)) + ":\n got  " + gl + "\n want " + wl
		}
	}
	return "none"
}

func TestFormatErrors(t *testing.T) {
	if _, err := Format(nil, Options{}); err == nil {
		t.Error("Format(nil) succeeded")
	}
	// With Initializers the values are promised, so bad data is an error.
	_, err := Format(initsModel(true), Options{Initializers: true})
	if err == nil || !strings.Contains(err.Error(), `initializer "bad": raw_data has 8 bytes, want 12 for float[3]`) {
		t.Errorf("err = %v, want the bad initializer named", err)
	}
	// A model without a graph still prints (an empty graph).
	out, err := Format(&onnxpb.ModelProto{}, Options{})
	if err != nil || !strings.Contains(string(out), "\"\" () => ()\n{\n}\n") {
		t.Errorf("empty model: %q, %v", out, err)
	}
}

func TestNames(t *testing.T) {
	for name, want := range map[string]string{
		"x":                   "x",
		"_a1":                 "_a1",
		"layers.0.attn.comb":  `"layers.0.attn.comb"`,
		"in_proj/MatMul":      `"in_proj/MatMul"`,
		"":                    `""`,
		"0x":                  `"0x"`,
		"float":               `"float"`,
		"seq":                 `"seq"`,
		"NaN":                 `"NaN"`,
		"Infinity":            `"Infinity"`,
		"floaty":              "floaty",
		`a"b\c`:               `"a\"b\\c"`,
		"résumé":              `"résumé"`,
		"with space and\nnl":  "\"with space and\nnl\"",
		"sparse_tensor":       `"sparse_tensor"`,
		"float8e4m3fn":        `"float8e4m3fn"`,
		"ordinary_identifier": "ordinary_identifier",
	} {
		if got := id(name); got != want {
			t.Errorf("id(%q) = %s, want %s", name, got, want)
		}
	}
	for v, want := range map[float64]string{
		0: "0.0", 1: "1.0", -2: "-2.0", 0.1: "0.1", 1e-7: "1e-07", 1e21: "1e+21", 100000: "100000.0", 1e6: "1e+06",
	} {
		if got := floatLit(float64(float32(v)), 32); got != want {
			t.Errorf("floatLit(%v) = %s, want %s", v, got, want)
		}
	}
	if got := floatLit(0.1, 64); got != "0.1" {
		t.Errorf("floatLit(0.1, 64) = %s", got)
	}
	if got := floatLit(float64(float32(0.1)), 64); got != "0.10000000149011612" {
		t.Errorf("float32 0.1 at 64 bits = %s", got)
	}
}

// compiled compiles a testdata model file and decodes it.
func compiled(t *testing.T, path string) *onnxpb.ModelProto {
	t.Helper()
	return testmodels.Compile(t, path, compile.Options{})
}

func testdataModels(t *testing.T) []string { return testmodels.Paths(t) }

// toTyped moves every float, int64 and int32 tensor's raw_data into its
// typed field, as other producers store data.
func toTyped(m *onnxpb.ModelProto) {
	var conv func(t *onnxpb.TensorProto)
	conv = func(t *onnxpb.TensorProto) {
		if t.RawData == nil {
			return
		}
		le := binary.LittleEndian
		switch t.GetDataType() {
		case tensor.Float:
			for i := 0; i+4 <= len(t.RawData); i += 4 {
				t.FloatData = append(t.FloatData, math.Float32frombits(le.Uint32(t.RawData[i:])))
			}
		case tensor.Int64:
			for i := 0; i+8 <= len(t.RawData); i += 8 {
				t.Int64Data = append(t.Int64Data, int64(le.Uint64(t.RawData[i:])))
			}
		case tensor.Int32:
			for i := 0; i+4 <= len(t.RawData); i += 4 {
				t.Int32Data = append(t.Int32Data, int32(le.Uint32(t.RawData[i:])))
			}
		default:
			return
		}
		t.RawData = nil
	}
	walkTensors(m.Graph, conv)
}

// walkTensors calls f on every initializer and tensor attribute of g and its
// subgraphs.
func walkTensors(g *onnxpb.GraphProto, f func(*onnxpb.TensorProto)) {
	if g == nil {
		return
	}
	for _, t := range g.Initializer {
		f(t)
	}
	for _, n := range g.Node {
		for _, a := range n.Attribute {
			if a.T != nil {
				f(a.T)
			}
			for _, t := range a.Tensors {
				f(t)
			}
			walkTensors(a.G, f)
			for _, sg := range a.Graphs {
				walkTensors(sg, f)
			}
		}
	}
}

// reorder reverses everything whose order Format does not keep: attributes,
// metadata_props, opset_import.
func reorder(m *onnxpb.ModelProto) {
	rev := func(n int, swap func(i, j int)) {
		for i, j := 0, n-1; i < j; i, j = i+1, j-1 {
			swap(i, j)
		}
	}
	rev(len(m.MetadataProps), func(i, j int) { m.MetadataProps[i], m.MetadataProps[j] = m.MetadataProps[j], m.MetadataProps[i] })
	rev(len(m.OpsetImport), func(i, j int) { m.OpsetImport[i], m.OpsetImport[j] = m.OpsetImport[j], m.OpsetImport[i] })
	for _, n := range m.GetGraph().GetNode() {
		rev(len(n.Attribute), func(i, j int) { n.Attribute[i], n.Attribute[j] = n.Attribute[j], n.Attribute[i] })
	}
}

// The compiled models print the same every time, whatever encoding details
// (raw or typed data, order of attributes and metadata) differ, and every
// node and initializer is in the text.
func TestFormatCompiledModelsStable(t *testing.T) {
	for _, path := range testdataModels(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			m := compiled(t, path)
			for _, opts := range []Options{{}, {Initializers: true}} {
				first, err := Format(m, opts)
				if err != nil {
					t.Fatal(err)
				}
				again, err := Format(m, opts)
				if err != nil || string(again) != string(first) {
					t.Fatalf("%+v: second Format differs (%v): %s", opts, err, firstDiff(string(again), string(first)))
				}
				// A decode/encode round trip and a model that differs only in
				// encoding print the same.
				data, err := proto.Marshal(m)
				if err != nil {
					t.Fatal(err)
				}
				other := &onnxpb.ModelProto{}
				if err := proto.Unmarshal(data, other); err != nil {
					t.Fatal(err)
				}
				toTyped(other)
				reorder(other)
				if proto.Equal(other, m) {
					t.Fatal("toTyped/reorder changed nothing; the test proves nothing")
				}
				got, err := Format(other, opts)
				if err != nil || string(got) != string(first) {
					t.Fatalf("%+v: typed/reordered model prints differently (%v): %s", opts, err, firstDiff(string(got), string(first)))
				}
			}

			text, _ := Format(m, Options{})
			s := string(text)
			if !strings.HasPrefix(s, "<\n  ir_version: 8,\n  opset_import: [\"\" : 17],\n  producer_name: \"mhcc\",\n") {
				t.Errorf("header:\n%s", s[:min(len(s), 300)])
			}
			nodeLines := 0
			for _, line := range strings.Split(s, "\n") {
				if strings.HasPrefix(line, "  [") {
					nodeLines++
				}
			}
			if nodeLines != len(m.Graph.Node) {
				t.Errorf("%d node lines, want %d", nodeLines, len(m.Graph.Node))
			}
			for _, init := range m.Graph.Initializer {
				h, err := tensor.Hash(init)
				if err != nil {
					t.Fatal(err)
				}
				line := "  # " + dimsType(init.GetDataType(), init.Dims) + " " + id(init.GetName()) + " = " + h + "\n"
				if !strings.Contains(s, line) {
					t.Errorf("no summary line %q", line)
				}
			}
		})
	}
}

func mustHash(t *onnxpb.TensorProto) string {
	h, err := tensor.Hash(t)
	if err != nil {
		panic(err)
	}
	return h
}
