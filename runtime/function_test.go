package runtime

import (
	"strconv"
	"strings"
	"testing"

	"github.com/mhcc-dev/mhcc/runtime/internal/core"

	"google.golang.org/protobuf/proto"

	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
)

func opsetID(domain string, v int64) *onnxpb.OperatorSetIdProto {
	return &onnxpb.OperatorSetIdProto{Domain: proto.String(domain), Version: proto.Int64(v)}
}

// aRef is an attribute that takes the calling node's attribute ref.
func aRef(name, ref string, typ onnxpb.AttributeProto_AttributeType) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: &name, RefAttrName: &ref, Type: &typ}
}

// function builds a FunctionProto importing opset 17 and domain c.
func function(domain, name string, in, out, attrs []string, nodes ...*onnxpb.NodeProto) *onnxpb.FunctionProto {
	return &onnxpb.FunctionProto{
		Domain: proto.String(domain), Name: proto.String(name),
		Input: in, Output: out, Attribute: attrs, Node: nodes,
		OpsetImport: []*onnxpb.OperatorSetIdProto{opsetID("", 17), opsetID("c", 1)},
	}
}

func dnode(domain, name, op string, in, out []string, attrs ...*onnxpb.AttributeProto) *onnxpb.NodeProto {
	n := node(name, op, in, out, attrs...)
	n.Domain = proto.String(domain)
	return n
}

// scaleAdd is c.ScaleAdd(a, b) → (s, p): s = a + b, p = LeakyRelu(alpha·s)
// with LeakyRelu's alpha the caller's beta; alpha defaults to 2, beta to
// LeakyRelu's own default (0.01) when the caller has none.
func scaleAdd() *onnxpb.FunctionProto {
	f := function("c", "ScaleAdd", []string{"a", "b"}, []string{"s", "p"}, []string{"beta"},
		node("add", "Add", []string{"a", "b"}, []string{"s"}),
		node("k", "Constant", nil, []string{"k"}, aRef("value_float", "alpha", onnxpb.AttributeProto_FLOAT)),
		node("mul", "Mul", []string{"s", "k"}, []string{"p0"}),
		node("lrelu", "LeakyRelu", []string{"p0"}, []string{"p"}, aRef("alpha", "beta", onnxpb.AttributeProto_FLOAT)),
	)
	f.AttributeProto = []*onnxpb.AttributeProto{aFloat("alpha", 2)}
	return f
}

// twice is c.Twice(x) → y: y is ScaleAdd(x, x)'s p with alpha = the caller's
// gain and beta = 0.5.
func twice() *onnxpb.FunctionProto {
	return function("c", "Twice", []string{"x"}, []string{"y"}, []string{"gain"},
		dnode("c", "inner", "ScaleAdd", []string{"x", "x"}, []string{"", "y"},
			aRef("alpha", "gain", onnxpb.AttributeProto_FLOAT), aFloat("beta", 0.5)),
	)
}

func functionModel() *onnxpb.ModelProto {
	g := &onnxpb.GraphProto{
		Name:  strp("main"),
		Input: []*onnxpb.ValueInfoProto{tensorInfo("x", core.Float32, []int64{4}), tensorInfo("y", core.Float32, []int64{4})},
		Node: []*onnxpb.NodeProto{
			dnode("c", "given", "ScaleAdd", []string{"x", "y"}, []string{"s1", "p1"}, aFloat("alpha", 3), aFloat("beta", 0.25)),
			dnode("c", "defaulted", "ScaleAdd", []string{"x", "y"}, []string{"s2", "p2"}),
			dnode("c", "nested", "Twice", []string{"x"}, []string{"t"}, aFloat("gain", -1)),
		},
		Output: []*onnxpb.ValueInfoProto{typedInfo("s1", core.Float32), typedInfo("p1", core.Float32), typedInfo("p2", core.Float32), typedInfo("t", core.Float32)},
	}
	mp := modelProto(17, g)
	mp.OpsetImport = append(mp.OpsetImport, opsetID("c", 1))
	mp.Functions = []*onnxpb.FunctionProto{scaleAdd(), twice()}
	return mp
}

func TestFunction(t *testing.T) {
	m, err := Decode(encode(t, functionModel()))
	if err != nil {
		t.Fatal(err)
	}
	x := []float32{1, -2, 3, -0.5}
	y := []float32{0.5, 1, -4, 0}
	got, err := m.Run(map[string]*core.Tensor{"x": f32(sh(4), x...), "y": f32(sh(4), y...)})
	if err != nil {
		t.Fatal(err)
	}
	lrelu := func(v, a float32) float32 {
		if v < 0 {
			return a * v
		}
		return v
	}
	var s1, p1, p2, tw []float32
	for i := range x {
		s := x[i] + y[i]
		s1 = append(s1, s)
		p1 = append(p1, lrelu(3*s, 0.25))
		p2 = append(p2, lrelu(2*s, 0.01))
		tw = append(tw, lrelu(-1*(x[i]+x[i]), 0.5))
	}
	for name, want := range map[string][]float32{"s1": s1, "p1": p1, "p2": p2, "t": tw} {
		if err := compareTensors(got[name], f32(sh(4), want...), 1e-7, 0); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestFunctionORT(t *testing.T) {
	needORT(t)
	feeds := map[string]*core.Tensor{"x": f32(sh(4), 1, -2, 3, -0.5), "y": f32(sh(4), 0.5, 1, -4, 0)}
	diffORT(t, functionModel(), feeds, 1e-6, 0)
	diffORT(t, loopFunctionModel(), map[string]*core.Tensor{"x": f32(sh(3), 1, 2, -3), "n": i64Scalar(4)}, 1e-6, 0)
}

// loopFunctionModel calls c.Repeat(x, n) → y: a Loop in the function body
// adds the function's input x to a carried value n times (the body reads x
// from the function's scope).
func loopFunctionModel() *onnxpb.ModelProto {
	body := &onnxpb.GraphProto{
		Name:  strp("body"),
		Input: []*onnxpb.ValueInfoProto{tensorInfo("i", core.Int64, nil), tensorInfo("ci", core.Bool, nil), typedInfo("v", core.Float32)},
		Node: []*onnxpb.NodeProto{
			node("add", "Add", []string{"v", "x"}, []string{"v2"}),
			node("c", "Identity", []string{"ci"}, []string{"co"}),
		},
		Output: []*onnxpb.ValueInfoProto{tensorInfo("co", core.Bool, nil), typedInfo("v2", core.Float32)},
	}
	f := function("c", "Repeat", []string{"x", "n"}, []string{"y"}, nil,
		node("zero", "Sub", []string{"x", "x"}, []string{"z"}),
		node("loop", "Loop", []string{"n", "", "z"}, []string{"y"}, aGraph("body", body)),
	)
	g := &onnxpb.GraphProto{
		Name:   strp("main"),
		Input:  []*onnxpb.ValueInfoProto{tensorInfo("x", core.Float32, []int64{3}), tensorInfo("n", core.Int64, nil)},
		Node:   []*onnxpb.NodeProto{dnode("c", "call", "Repeat", []string{"x", "n"}, []string{"out"})},
		Output: []*onnxpb.ValueInfoProto{typedInfo("out", core.Float32)},
	}
	mp := modelProto(17, g)
	mp.OpsetImport = append(mp.OpsetImport, opsetID("c", 1))
	mp.Functions = []*onnxpb.FunctionProto{f}
	return mp
}

func TestFunctionLoop(t *testing.T) {
	m, err := Decode(encode(t, loopFunctionModel()))
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.Run(map[string]*core.Tensor{"x": f32(sh(3), 1, 2, -3), "n": i64Scalar(4)})
	if err != nil {
		t.Fatal(err)
	}
	if err := compareTensors(got["out"], f32(sh(3), 4, 8, -12), 0, 0); err != nil {
		t.Error(err)
	}
}

// TestFunctionScope: a function's opset imports govern its body; omitted
// optional inputs stay omitted inside; a function overrides a kernel of the
// same name.
func TestFunctionScope(t *testing.T) {
	// Squeeze with an axes attribute exists only up to opset 12; the model
	// imports 17 and the function 11.
	sq := function("c", "Sq", []string{"x"}, []string{"y"}, nil,
		node("sq", "Squeeze", []string{"x"}, []string{"y"}, aInts("axes", 0)))
	sq.OpsetImport = []*onnxpb.OperatorSetIdProto{opsetID("", 11)}
	// Clip's min and max are optional inputs.
	clip := function("c", "Floor0", []string{"x", "lo"}, []string{"y"}, nil,
		node("clip", "Clip", []string{"x", "lo"}, []string{"y"}))
	// A model function named like a kernel wins.
	relu := function("", "Relu", []string{"x"}, []string{"y"}, nil, node("neg", "Neg", []string{"x"}, []string{"y"}))
	g := &onnxpb.GraphProto{
		Name:  strp("main"),
		Input: []*onnxpb.ValueInfoProto{tensorInfo("x", core.Float32, []int64{1, 3}), tensorInfo("lo", core.Float32, nil)},
		Node: []*onnxpb.NodeProto{
			dnode("c", "sq", "Sq", []string{"x"}, []string{"a"}),
			dnode("c", "clip1", "Floor0", []string{"a", "lo"}, []string{"b"}),
			dnode("c", "clip2", "Floor0", []string{"a"}, []string{"c"}),
			node("relu", "Relu", []string{"a"}, []string{"d"}),
		},
		Output: []*onnxpb.ValueInfoProto{typedInfo("b", core.Float32), typedInfo("c", core.Float32), typedInfo("d", core.Float32)},
	}
	mp := modelProto(17, g)
	mp.OpsetImport = append(mp.OpsetImport, opsetID("c", 1))
	mp.Functions = []*onnxpb.FunctionProto{sq, clip, relu}
	m, err := Decode(encode(t, mp))
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.Run(map[string]*core.Tensor{"x": f32(sh(1, 3), -1, 0.5, 2), "lo": f32Scalar(0)})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]*core.Tensor{
		"b": f32(sh(3), 0, 0.5, 2),
		"c": f32(sh(3), -1, 0.5, 2),
		"d": f32(sh(3), 1, -0.5, -2),
	} {
		if err := compareTensors(got[name], want, 0, 0); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestFunctionErrors(t *testing.T) {
	build := func(edit func(mp *onnxpb.ModelProto)) *onnxpb.ModelProto {
		mp := functionModel()
		edit(mp)
		return mp
	}
	for _, tc := range []struct {
		name string
		mp   *onnxpb.ModelProto
		want string
	}{
		{"recursion", build(func(mp *onnxpb.ModelProto) {
			// ScaleAdd calls Twice, which calls ScaleAdd.
			f := mp.Functions[0]
			f.Node = append(f.Node, dnode("c", "back", "Twice", []string{"a"}, []string{"back"}))
		}), `node "given" (c.ScaleAdd): function c.ScaleAdd: node "back" (c.Twice): function c.Twice: node "inner" (c.ScaleAdd): recursive function call: c.ScaleAdd → c.Twice → c.ScaleAdd`},
		{"self", build(func(mp *onnxpb.ModelProto) {
			f := mp.Functions[1]
			f.Node = append(f.Node, dnode("c", "self", "Twice", []string{"x"}, []string{"again"}))
		}), `recursive function call: c.Twice → c.Twice`},
		{"unknown attribute", build(func(mp *onnxpb.ModelProto) {
			mp.Graph.Node[0].Attribute = append(mp.Graph.Node[0].Attribute, aInt("gamma", 1))
		}), `node "given" (c.ScaleAdd): function c.ScaleAdd has no attribute "gamma"`},
		{"too many inputs", build(func(mp *onnxpb.ModelProto) {
			mp.Graph.Node[2].Input = []string{"x", "y"}
		}), `node "nested" (c.Twice): got 2 inputs, function c.Twice has 1`},
		{"undefined in body", build(func(mp *onnxpb.ModelProto) {
			mp.Functions[0].Node[0].Input[1] = "x" // the caller's x is not in scope
		}), `node "given" (c.ScaleAdd): function c.ScaleAdd: node "add" (Add): input 1 "x" is not defined`},
		{"attribute type", build(func(mp *onnxpb.ModelProto) {
			mp.Graph.Node[0].Attribute[0] = aInt("alpha", 3)
		}), `attribute "value_float" refers to "alpha", which is INT, not FLOAT`},
		{"type at call site", build(func(mp *onnxpb.ModelProto) {
			mp.Graph.Input[1] = tensorInfo("y", core.Float64, []int64{4})
		}), `node "given" (c.ScaleAdd): function c.ScaleAdd: node "add" (Add): input 1 has type float64, want float32`},
		{"function domain not imported", build(func(mp *onnxpb.ModelProto) {
			mp.Functions[1].OpsetImport = mp.Functions[1].OpsetImport[:1] // onnxruntime requires it too
		}), `node "nested" (c.Twice): function c.Twice: node "inner" (c.ScaleAdd): domain "c" is not imported by the function`},
		{"body domain not imported", build(func(mp *onnxpb.ModelProto) {
			mp.Functions[0].OpsetImport = mp.Functions[0].OpsetImport[1:]
		}), `function c.ScaleAdd: node "add" (Add): domain "" is not imported by the function`},
		{"duplicate", build(func(mp *onnxpb.ModelProto) {
			mp.Functions = append(mp.Functions, twice())
		}), `function c.Twice is defined twice`},
	} {
		_, err := Decode(encode(t, tc.mp))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v\nwant an error containing %q", tc.name, err, tc.want)
		}
	}
}

// TestFunctionExpansionBudget: calls that double at each level cannot make
// Decode expand an exponential number of nodes.
func TestFunctionExpansionBudget(t *testing.T) {
	mp := modelProto(17, &onnxpb.GraphProto{
		Name:   strp("main"),
		Input:  []*onnxpb.ValueInfoProto{tensorInfo("x", core.Float32, []int64{1})},
		Node:   []*onnxpb.NodeProto{dnode("c", "top", "F0", []string{"x"}, []string{"y"})},
		Output: []*onnxpb.ValueInfoProto{typedInfo("y", core.Float32)},
	})
	mp.OpsetImport = append(mp.OpsetImport, opsetID("c", 1))
	const levels = 30 // 2^30 nodes if expanded
	for i := 0; i < levels; i++ {
		callee := "F" + strconv.Itoa(i+1)
		nodes := []*onnxpb.NodeProto{
			dnode("c", "a", callee, []string{"x"}, []string{"a"}),
			dnode("c", "b", callee, []string{"a"}, []string{"y"}),
		}
		if i == levels-1 {
			nodes = []*onnxpb.NodeProto{node("id", "Identity", []string{"x"}, []string{"y"})}
		}
		mp.Functions = append(mp.Functions, function("c", "F"+strconv.Itoa(i), []string{"x"}, []string{"y"}, nil, nodes...))
	}
	_, err := Decode(encode(t, mp))
	if want := "more than 1048576 nodes"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("got %v, want an error containing %q", err, want)
	}
}
