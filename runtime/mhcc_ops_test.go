package runtime

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
	"github.com/mhcc-dev/mhcc/runtime/internal/core"
	"github.com/mhcc-dev/mhcc/runtime/internal/ref"

	"google.golang.org/protobuf/proto"

	"github.com/mhcc-dev/mhcc/export"
	"github.com/mhcc-dev/mhcc/ir"
)

// sinkhornRef is docs/spec.md §2's Sinkhorn as a plain float64 loop over one n×n
// matrix (no max subtraction: the test logits are small).
func sinkhornRef(x []float64, n, iters int, eps float64) []float64 {
	c := make([]float64, n*n)
	for j := 0; j < n; j++ {
		var s float64
		for k := 0; k < n; k++ {
			s += math.Exp(x[j*n+k])
		}
		for k := 0; k < n; k++ {
			c[j*n+k] = math.Exp(x[j*n+k])/s + eps
		}
	}
	colNorm := func() {
		for k := 0; k < n; k++ {
			var s float64
			for j := 0; j < n; j++ {
				s += c[j*n+k]
			}
			for j := 0; j < n; j++ {
				c[j*n+k] /= s + eps
			}
		}
	}
	colNorm()
	for it := 1; it < iters; it++ {
		for j := 0; j < n; j++ {
			var s float64
			for k := 0; k < n; k++ {
				s += c[j*n+k]
			}
			for k := 0; k < n; k++ {
				c[j*n+k] /= s + eps
			}
		}
		colNorm()
	}
	return c
}

func sinkhornAttrs(iters int64, eps float32) []*onnxpb.AttributeProto {
	return []*onnxpb.AttributeProto{aInt("iters", iters), aFloat("eps", eps)}
}

// runSinkhorn runs the native ai.mhcc::Sinkhorn kernel on x.
func runSinkhorn(t *testing.T, x *core.Tensor, iters int64, eps float32) (*core.Tensor, error) {
	t.Helper()
	g := &onnxpb.GraphProto{
		Name:   strp("main"),
		Input:  []*onnxpb.ValueInfoProto{tensorInfo("logits", x.DType, x.Shape)},
		Node:   []*onnxpb.NodeProto{dnode(ref.MhccDomain, "s", "Sinkhorn", []string{"logits"}, []string{"comb"}, sinkhornAttrs(iters, eps)...)},
		Output: []*onnxpb.ValueInfoProto{typedInfo("comb", x.DType)},
	}
	mp := modelProto(17, g)
	mp.OpsetImport = append(mp.OpsetImport, opsetID(ref.MhccDomain, 1))
	m, err := Decode(encode(t, mp))
	if err != nil {
		return nil, err
	}
	out, err := m.Run(map[string]*core.Tensor{"logits": x})
	if err != nil {
		return nil, err
	}
	return out["comb"], nil
}

// expansionModel is export's ONNX expansion of an IR Sinkhorn node (the
// reference lowering) for logits of the given shape.
func expansionModel(t *testing.T, shape []int64, iters int64, eps float64, f64 bool) *onnxpb.ModelProto {
	t.Helper()
	g := ir.NewGraph("sinkhorn")
	dims := make([]ir.Dim, len(shape))
	for i, d := range shape {
		dims[i] = ir.D(d)
	}
	x := g.AddInput("logits", ir.T(ir.Float32, dims...))
	n, err := g.NewNode(ir.OpSinkhorn, "s", ir.Pos{}, ir.Attrs{"iters": iters, "eps": eps}, []*ir.Value{x}, "comb")
	if err != nil {
		t.Fatal(err)
	}
	g.AddOutput(n.Outputs[0])
	mp, err := export.Encode(g, export.Options{Float64: f64})
	if err != nil {
		t.Fatal(err)
	}
	return mp
}

func randomLogits(r *rand.Rand, shape []int64) []float32 {
	size := 1
	for _, d := range shape {
		size *= int(d)
	}
	v := make([]float32, size)
	for i := range v {
		v[i] = float32(r.Float64()*6 - 3)
	}
	return v
}

func TestSinkhorn(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := int64(1); n <= 5; n++ {
		for _, lead := range [][]int64{{}, {3}, {2, 1}} {
			shape := append(append([]int64{}, lead...), n, n)
			for _, iters := range []int64{1, 3, 20} {
				for _, eps := range []float32{1e-6, 0.05, 0} {
					name := fmt.Sprintf("%v/iters=%d/eps=%g", shape, iters, eps)
					xs := randomLogits(r, shape)
					x := f32(shape, xs...)
					got, err := runSinkhorn(t, x, iters, eps)
					if err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					// Against a plain float64 loop.
					var want []float64
					xd := x.Float64s()
					for off := 0; off < len(xd); off += int(n * n) {
						want = append(want, sinkhornRef(xd[off:off+int(n*n)], int(n), int(iters), float64(eps))...)
					}
					if err := compareTensors(got, core.FromFloat64s(core.Float32, shape, want), 1e-5, 1e-7); err != nil {
						t.Errorf("%s: against float64 loop: %v", name, err)
					}
					// Against the reference lowering's ONNX expansion.
					em, err := Decode(encode(t, expansionModel(t, shape, iters, float64(eps), false)))
					if err != nil {
						t.Fatal(err)
					}
					exp, err := em.Run(map[string]*core.Tensor{"logits": x})
					if err != nil {
						t.Fatal(err)
					}
					if err := compareTensors(got, exp["comb"], 1e-5, 1e-7); err != nil {
						t.Errorf("%s: against the expansion: %v", name, err)
					}
					// Double: computed in float64, against both.
					x64 := core.NewFloat64(shape, xd)
					got64, err := runSinkhorn(t, x64, iters, eps)
					if err != nil {
						t.Fatal(err)
					}
					if err := compareTensors(got64, core.NewFloat64(shape, want), 1e-12, 1e-15); err != nil {
						t.Errorf("%s: float64 against float64 loop: %v", name, err)
					}
					em64, err := Decode(encode(t, expansionModel(t, shape, iters, float64(eps), true)))
					if err != nil {
						t.Fatal(err)
					}
					exp64, err := em64.Run(map[string]*core.Tensor{"logits": x64})
					if err != nil {
						t.Fatal(err)
					}
					if err := compareTensors(got64, exp64["comb"], 1e-12, 1e-15); err != nil {
						t.Errorf("%s: float64 against the expansion: %v", name, err)
					}
					// Float16 computes in float32 and rounds once.
					x16 := core.NewFloat16(shape, xs)
					got16, err := runSinkhorn(t, x16, iters, eps)
					if err != nil {
						t.Fatal(err)
					}
					ref16, err := runSinkhorn(t, core.Widen(x16), iters, eps)
					if err != nil {
						t.Fatal(err)
					}
					if err := compareTensors(got16, core.NarrowFloat32(ref16, core.Float16), 0, 0); err != nil {
						t.Errorf("%s: float16: %v", name, err)
					}
				}
			}
		}
	}
}

// sinkhornFunctionModel calls ai.mhcc::Sinkhorn on logits; with body, the
// model carries the reference expansion as the op's function body.
func sinkhornFunctionModel(t *testing.T, shape []int64, iters int64, eps float32, body bool) *onnxpb.ModelProto {
	exp := expansionModel(t, shape, iters, float64(eps), false)
	mp := proto.CloneOf(exp)
	mp.Graph.Node = []*onnxpb.NodeProto{dnode(ref.MhccDomain, "s", "Sinkhorn", []string{"logits"}, []string{"comb"}, sinkhornAttrs(iters, eps)...)}
	mp.Graph.Initializer = nil
	mp.OpsetImport = append(mp.OpsetImport, opsetID(ref.MhccDomain, 1))
	if !body {
		return mp
	}
	f := &onnxpb.FunctionProto{
		Domain: proto.String(ref.MhccDomain), Name: proto.String("Sinkhorn"),
		Input: []string{"logits"}, Output: []string{"comb"}, Attribute: []string{"iters", "eps"},
		OpsetImport: exp.OpsetImport,
	}
	for _, init := range exp.Graph.Initializer {
		val := "value"
		typ := onnxpb.AttributeProto_TENSOR
		f.Node = append(f.Node, node("const_"+init.GetName(), "Constant", nil, []string{init.GetName()},
			&onnxpb.AttributeProto{Name: &val, Type: &typ, T: init}))
	}
	f.Node = append(f.Node, exp.Graph.Node...)
	mp.Functions = []*onnxpb.FunctionProto{f}
	return mp
}

// TestSinkhornORT: onnxruntime runs the reference expansion as the model
// function of ai.mhcc::Sinkhorn; the interpreter runs its native kernel on
// the same model without the function, and, with it, the function (which
// takes precedence over the kernel).
func TestSinkhornORT(t *testing.T) {
	needORT(t)
	r := rand.New(rand.NewPCG(3, 4))
	for _, tc := range []struct {
		shape []int64
		iters int64
		eps   float32
	}{
		{[]int64{2, 3, 4, 4}, 20, 1e-6},
		{[]int64{5, 5}, 3, 0.01},
		{[]int64{3, 1, 1}, 1, 1e-6},
		{[]int64{2, 3, 3}, 20, 0},
	} {
		x := f32(tc.shape, randomLogits(r, tc.shape)...)
		feeds := map[string]*core.Tensor{"logits": x}
		want, err := runORT(t, sinkhornFunctionModel(t, tc.shape, tc.iters, tc.eps, true), feeds)
		if err != nil {
			t.Fatal(err)
		}
		m, err := Decode(encode(t, sinkhornFunctionModel(t, tc.shape, tc.iters, tc.eps, false)))
		if err != nil {
			t.Fatal(err)
		}
		if m.Nodes()[0].Fn != nil {
			t.Fatal("the model without a function body calls a function")
		}
		got, err := m.Run(feeds)
		if err != nil {
			t.Fatal(err)
		}
		if err := compareORT(got["comb"], want["comb"], 1e-5, 1e-7); err != nil {
			t.Errorf("%v iters=%d eps=%g: native kernel: %v", tc.shape, tc.iters, tc.eps, err)
		}
		withFn := sinkhornFunctionModel(t, tc.shape, tc.iters, tc.eps, true)
		if fm, err := Decode(encode(t, withFn)); err != nil || fm.Nodes()[0].Fn == nil {
			t.Fatalf("the model function is not used: %v", err)
		}
		diffORT(t, withFn, feeds, 1e-5, 1e-7)
	}
}

func TestSinkhornErrors(t *testing.T) {
	x := f32(sh(2, 2), 1, 2, 3, 4)
	for _, tc := range []struct {
		name  string
		attrs []*onnxpb.AttributeProto
		in    *core.Tensor
		opset int64
		want  string
	}{
		{"no iters", []*onnxpb.AttributeProto{aFloat("eps", 0)}, x, 1, `attribute "iters" is required`},
		{"no eps", []*onnxpb.AttributeProto{aInt("iters", 2)}, x, 1, `attribute "eps" is required`},
		{"iters 0", sinkhornAttrs(0, 0), x, 1, `attribute "iters": got 0, want ≥ 1`},
		{"eps < 0", sinkhornAttrs(3, -1e-6), x, 1, `attribute "eps": got -1e-06, want a finite value ≥ 0`},
		{"eps NaN", sinkhornAttrs(3, float32(math.NaN())), x, 1, `want a finite value ≥ 0`},
		{"iters float", []*onnxpb.AttributeProto{aFloat("iters", 2), aFloat("eps", 0)}, x, 1, `attribute "iters": got FLOAT, want INT`},
		{"extra", append(sinkhornAttrs(3, 0), aInt("axis", 1)), x, 1, `unknown attribute "axis"`},
		{"int", sinkhornAttrs(3, 0), i64(sh(2, 2), 1, 2, 3, 4), 1, `input 0 has type int64, which the op does not accept`},
		{"bfloat16", sinkhornAttrs(3, 0), core.NewBFloat16(sh(1, 1), []float32{1}), 1, `input 0 has type bfloat16`},
		{"opset 2", sinkhornAttrs(3, 0), x, 2, `op Sinkhorn is implemented for opsets 1-1, the model imports 2`},
		{"not square", sinkhornAttrs(3, 0), f32(sh(2, 3), 1, 2, 3, 4, 5, 6), 1, `node "s" (ai.mhcc.Sinkhorn): logits must have shape [..., n, n], got [2 3]`},
		{"rank 1", sinkhornAttrs(3, 0), f32(sh(1), 1), 1, `logits must have shape [..., n, n], got [1]`},
	} {
		g := &onnxpb.GraphProto{
			Name:   strp("main"),
			Input:  []*onnxpb.ValueInfoProto{tensorInfo("logits", tc.in.DType, tc.in.Shape)},
			Node:   []*onnxpb.NodeProto{dnode(ref.MhccDomain, "s", "Sinkhorn", []string{"logits"}, []string{"comb"}, tc.attrs...)},
			Output: []*onnxpb.ValueInfoProto{untypedInfo("comb")},
		}
		mp := modelProto(17, g)
		mp.OpsetImport = append(mp.OpsetImport, opsetID(ref.MhccDomain, tc.opset))
		m, err := Decode(encode(t, mp))
		if err == nil {
			_, err = m.Run(map[string]*core.Tensor{"logits": tc.in})
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
	if !ref.Implements("ai.mhcc", "Sinkhorn", 1) || ref.Implements("ai.mhcc", "Sinkhorn", 2) || ref.Implements("", "Sinkhorn", 17) {
		t.Error("Implements: want ai.mhcc.Sinkhorn at version 1 only")
	}
}

// sinkhornLoopModel computes docs/spec.md §2's Sinkhorn with a Loop of iters−1
// row-and-column rounds, as a target may emit it; eps and the axes are
// main-graph initializers that the body reads from the outer scope.
func sinkhornLoopModel(shape []int64, iters int64, eps float32) *onnxpb.ModelProto {
	norm := func(prefix, in, axes, out string) []*onnxpb.NodeProto {
		return []*onnxpb.NodeProto{
			node(prefix+"sum", "ReduceSum", []string{in, axes}, []string{prefix + "s"}, aInt("keepdims", 1)),
			node(prefix+"add", "Add", []string{prefix + "s", "eps"}, []string{prefix + "d"}),
			node(prefix+"div", "Div", []string{in, prefix + "d"}, []string{out}),
		}
	}
	body := &onnxpb.GraphProto{
		Name:   strp("round"),
		Input:  []*onnxpb.ValueInfoProto{tensorInfo("i", core.Int64, nil), tensorInfo("cin", core.Bool, nil), typedInfo("c", core.Float32)},
		Node:   append(append(norm("r_", "c", "last", "rows"), norm("c_", "rows", "second_last", "c2")...), node("keep", "Identity", []string{"cin"}, []string{"cout"})),
		Output: []*onnxpb.ValueInfoProto{tensorInfo("cout", core.Bool, nil), typedInfo("c2", core.Float32)},
	}
	nodes := []*onnxpb.NodeProto{
		node("softmax", "Softmax", []string{"logits"}, []string{"p"}, aInt("axis", -1)),
		node("plus", "Add", []string{"p", "eps"}, []string{"c0"}),
	}
	nodes = append(nodes, norm("first_", "c0", "second_last", "c1")...)
	nodes = append(nodes, node("rounds", "Loop", []string{"M", "", "c1"}, []string{"comb"}, aGraph("body", body)))
	g := &onnxpb.GraphProto{
		Name:  strp("sinkhorn_loop"),
		Input: []*onnxpb.ValueInfoProto{tensorInfo("logits", core.Float32, shape)},
		Initializer: []*onnxpb.TensorProto{
			f32Scalar(eps).Proto("eps"), i64(sh(1), -1).Proto("last"), i64(sh(1), -2).Proto("second_last"),
			i64Scalar(iters - 1).Proto("M"),
		},
		Node:   nodes,
		Output: []*onnxpb.ValueInfoProto{typedInfo("comb", core.Float32)},
	}
	return modelProto(17, g)
}

func TestSinkhornLoop(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	for _, tc := range []struct {
		shape []int64
		iters int64
	}{{[]int64{2, 4, 4}, 20}, {[]int64{3, 3}, 1}, {[]int64{1, 2, 5, 5}, 3}} {
		x := f32(tc.shape, randomLogits(r, tc.shape)...)
		m, err := Decode(encode(t, sinkhornLoopModel(tc.shape, tc.iters, 1e-6)))
		if err != nil {
			t.Fatal(err)
		}
		got, err := m.Run(map[string]*core.Tensor{"logits": x})
		if err != nil {
			t.Fatal(err)
		}
		want, err := runSinkhorn(t, x, tc.iters, 1e-6)
		if err != nil {
			t.Fatal(err)
		}
		if err := compareTensors(got["comb"], want, 1e-5, 1e-7); err != nil {
			t.Errorf("%v iters=%d: %v", tc.shape, tc.iters, err)
		}
	}
}

func TestSinkhornLoopORT(t *testing.T) {
	needORT(t)
	r := rand.New(rand.NewPCG(23, 24))
	shape := []int64{2, 3, 4, 4}
	diffORT(t, sinkhornLoopModel(shape, 20, 1e-6), map[string]*core.Tensor{"logits": f32(shape, randomLogits(r, shape)...)}, 1e-5, 1e-7)
}
