package ortops_test

import (
	"fmt"
	"strings"
	"testing"

	ort "github.com/yalue/onnxruntime_go"
	"google.golang.org/protobuf/proto"

	"github.com/mhcc-dev/mhcc/internal/fusedcase"
	"github.com/mhcc-dev/mhcc/ir"

	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
)

// The merged per-sublayer op ai.mhcc.HCCoeffsBoundary against the pair it
// replaces (HCPostCoeffsSinkhorn, then HCBoundary on its pre and comb), in
// hand-built ONNX models: ai.mhcc nodes with no function, so onnxruntime
// runs the library's kernels or fails.

// Its attributes, and the pair's: the coefficient op's eps, rms_eps, iters
// and the boundary's eps (the model's norm_eps).
const (
	cbEps     = 1e-6
	cbRMSEps  = 1e-6
	cbNormEps = 1e-5
)

// The outputs of a cbGraph: the pair's (p…) then the merged op's with its
// state (c…) and without it (d…: state left out, "").
var (
	cbPairOuts  = []string{"p.pre", "p.post", "p.comb", "p.normed", "p.mixed", "p.state"}
	cbMergeOuts = []string{"c.pre", "c.post", "c.comb", "c.normed", "c.mixed", "c.state"}
	cbNoState   = []string{"d.pre", "d.post", "d.comb", "d.normed", "d.mixed"}
)

func vInfo(name string, et onnxpb.TensorProto_DataType, shape []int64) *onnxpb.ValueInfoProto {
	e := int32(et)
	sh := &onnxpb.TensorShapeProto{}
	for _, d := range shape {
		sh.Dim = append(sh.Dim, &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: d}})
	}
	return &onnxpb.ValueInfoProto{Name: proto.String(name), Type: &onnxpb.TypeProto{
		Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{ElemType: &e, Shape: sh}},
	}}
}

func fAttr(name string, v float32) *onnxpb.AttributeProto {
	t := onnxpb.AttributeProto_FLOAT
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: &t, F: proto.Float32(v)}
}

func iAttr(name string, v int64) *onnxpb.AttributeProto {
	t := onnxpb.AttributeProto_INT
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: &t, I: proto.Int64(v)}
}

func mhccNode(name, op string, in, out []string, attrs ...*onnxpb.AttributeProto) *onnxpb.NodeProto {
	return &onnxpb.NodeProto{Name: proto.String(name), OpType: proto.String(op), Domain: proto.String("ai.mhcc"), Input: in, Output: out, Attribute: attrs}
}

func cbAttrs(iters int64) []*onnxpb.AttributeProto {
	return []*onnxpb.AttributeProto{fAttr("eps", cbEps), fAttr("rms_eps", cbRMSEps), iAttr("iters", iters), fAttr("norm_eps", cbNormEps)}
}

// cbModel is a model of the given nodes (domain ai.mhcc, version 1, no
// function) on the inputs x, fn, base, w, y, post of state type et, n
// streams of width c and leading dims lead; fn (of values fnValues) is an
// initializer if fnValues is not nil, else a graph input.
func cbModel(t testing.TB, et onnxpb.TensorProto_DataType, lead []int64, n, c int64, fnValues []float64, nodes []*onnxpb.NodeProto) []byte {
	t.Helper()
	with := func(s ...int64) []int64 { return append(append([]int64(nil), lead...), s...) }
	m := n*n + 2*n
	f32 := onnxpb.TensorProto_FLOAT
	g := &onnxpb.GraphProto{Name: proto.String("cb"), Node: nodes}
	g.Input = append(g.Input, vInfo("x", et, with(n, c)))
	if fnValues == nil {
		g.Input = append(g.Input, vInfo("fn", f32, []int64{m, n * c}))
	} else {
		v := make([]float32, len(fnValues))
		for i, x := range fnValues {
			v[i] = float32(x)
		}
		g.Initializer = append(g.Initializer, &onnxpb.TensorProto{Name: proto.String("fn"), Dims: []int64{m, n * c}, DataType: proto.Int32(int32(f32)), FloatData: v})
	}
	g.Input = append(g.Input, vInfo("base", f32, []int64{m}), vInfo("w", et, []int64{c}), vInfo("y", et, with(c)), vInfo("post", f32, with(n)))
	shapes := []struct {
		et    onnxpb.TensorProto_DataType
		shape []int64
	}{{f32, with(n)}, {f32, with(n)}, {f32, with(n, n)}, {et, with(c)}, {et, with(n, c)}, {et, with(n, c)}}
	for _, nd := range nodes {
		first := 0 // the node's first output among pre, post, comb, normed, mixed, state
		if nd.GetOpType() == "HCBoundary" {
			first = 3
		}
		for i, o := range nd.Output {
			if o != "" {
				g.Output = append(g.Output, vInfo(o, shapes[first+i].et, shapes[first+i].shape))
			}
		}
	}
	return modelData(t, g)
}

// modelData is graph g as a model (IR version 8, opsets 17 and ai.mhcc 1,
// no functions: the library's kernels or nothing), marshalled.
func modelData(t testing.TB, g *onnxpb.GraphProto) []byte {
	t.Helper()
	dom, ver, onnxVer := "ai.mhcc", int64(1), int64(17)
	mp := &onnxpb.ModelProto{
		IrVersion:   proto.Int64(8),
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: &onnxVer}, {Domain: &dom, Version: &ver}},
		Graph:       g,
	}
	b, err := proto.Marshal(mp)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// cbGraph is the pair and two merged nodes (one without its state output)
// on the same inputs.
func cbGraph(iters int64) []*onnxpb.NodeProto {
	coeffAttrs := []*onnxpb.AttributeProto{fAttr("eps", cbEps), fAttr("rms_eps", cbRMSEps), iAttr("iters", iters)}
	return []*onnxpb.NodeProto{
		mhccNode("cb", "HCCoeffsBoundary", []string{"x", "fn", "base", "w", "y", "post"}, cbMergeOuts, cbAttrs(iters)...),
		mhccNode("cbd", "HCCoeffsBoundary", []string{"x", "fn", "base", "w", "y", "post"}, append(append([]string(nil), cbNoState...), ""), cbAttrs(iters)...),
		mhccNode("pc", "HCPostCoeffsSinkhorn", []string{"x", "fn", "base", "y", "post"}, cbPairOuts[:3], coeffAttrs...),
		mhccNode("pb", "HCBoundary", []string{"x", "p.pre", "p.comb", "w", "y", "post"}, cbPairOuts[3:], fAttr("eps", cbNormEps)),
	}
}

// cbRun runs data in onnxruntime with the library on fc's inputs (fn fed
// only if fnFed) and returns the outputs by name, widened to float64.
func cbRun(t *testing.T, fc *fusedcase.Case, data []byte, fnFed bool, threads int) map[string][]float64 {
	t.Helper()
	names := []string{"x", "fn", "base", "w", "y", "post"}
	if !fnFed {
		names = []string{"x", "base", "w", "y", "post"}
	}
	var outs []string
	outs = append(append(append(outs, cbMergeOuts...), cbNoState...), cbPairOuts...)
	shapeOf := map[string][]int64{}
	for _, v := range outs {
		shapeOf[v] = fc.Shapes["x"] // mixed, state
	}
	for _, group := range [][]string{cbMergeOuts, cbNoState, cbPairOuts} {
		shapeOf[group[0]], shapeOf[group[1]] = fc.Shapes["post"], fc.Shapes["post"]
		shapeOf[group[2]] = append(append([]int64(nil), fc.Shapes["post"]...), fc.N)
		shapeOf[group[3]] = fc.Shapes["y"]
	}
	f16 := fc.DT == ir.Float16
	p := prepare(t, lib, data, names, func(name string) (ort.Value, error) { return inputTensor(fc, name, f16) }, outs,
		func(i int) []int64 { return shapeOf[outs[i]] }, func(i int) bool { return f16 && strings.Contains("normed mixed state", outs[i][2:]) }, threads)
	defer p.close()
	return p.results(t)
}

// cbCheck runs fc's inputs through cbGraph and holds the merged op's
// outputs (with and without the state) to the pair's within 1e-5
// relative (closeTo), checking from the counters that each kernel ran.
func cbCheck(t *testing.T, fc *fusedcase.Case, fnConst bool, threads int) {
	l := lib
	var fnValues []float64
	if fnConst {
		fnValues = fc.Inputs["fn"]
	}
	et := onnxpb.TensorProto_FLOAT
	if fc.DT == ir.Float16 {
		et = onnxpb.TensorProto_FLOAT16
	}
	data := cbModel(t, et, fc.Lead, fc.N, fc.C, fnValues, cbGraph(fusedcase.Iters))
	before := l.Calls()
	got := cbRun(t, fc, data, !fnConst, threads)
	after := l.Calls()
	for op, want := range map[string]int64{"HCCoeffsBoundary": 2, "HCPostCoeffsSinkhorn": 1, "HCBoundary": 1} {
		if d := after[op] - before[op]; d != want {
			t.Errorf("library kernel %s ran %d times in one run, want %d", op, d, want)
		}
	}
	exact := 0
	total := 0
	for i, p := range cbPairOuts {
		isT := i >= 3
		for _, merged := range [][]string{cbMergeOuts, cbNoState} {
			if i >= len(merged) {
				continue
			}
			o := merged[i]
			g, w := got[o], got[p]
			if len(g) != len(w) || len(w) == 0 {
				t.Fatalf("%s has %d values, %s %d", o, len(g), p, len(w))
			}
			bad := 0
			for k := range w {
				if g[k] == w[k] {
					exact++
				}
				total++
				if !closeTo(g[k], w[k], fc.DT == ir.Float16 && isT) {
					if bad < 3 {
						t.Errorf("%s[%d] = %.9g, the pair's %s %.9g", o, k, g[k], p, w[k])
					}
					bad++
				}
			}
			if bad > 0 {
				t.Errorf("%s: %d of %d values off the pair's", o, bad, len(w))
			}
		}
	}
	if exact != total {
		t.Logf("%d of %d values differ from the pair's (within tolerance)", total-exact, total)
	}
}

// TestCoeffsBoundaryMatchesPair: the merged op's six outputs (and its five
// when the state is left out) equal those of HCPostCoeffsSinkhorn followed
// by HCBoundary on the same inputs within 1e-5 relative, for float32 and
// float16 states, n = 2..8, 1 to 4096 tokens (decode's per-token
// projection below 16 tokens, the tiled GEMM from 16, tiles cut short at
// the end of a task), fn a constant (packed at session creation) or a
// graph input (packed per call), 1 and 2 threads, and both GEMM kernels
// (MHCC_ORTOPS_NO_AVX512=1 for the 8-lane one).
func TestCoeffsBoundaryMatchesPair(t *testing.T) {
	needLib(t)
	type shape struct {
		tokens  int64
		c       int64
		threads int
	}
	for _, dt := range []ir.DType{ir.Float32, ir.Float16} {
		for n := int64(2); n <= 8; n++ {
			shapes := []shape{{1, 40, 1}, {7, 40, 1}, {8, 40, 2}, {33, 40, 2}, {256, 40, 1}, {4096, 16, 2}}
			if n == 4 {
				shapes = append(shapes, shape{40, 1024, 1}, shape{256, 1024, 2}) // the bench size: tiles of 16 tokens
			}
			if n == 8 {
				shapes = append(shapes, shape{20, 600, 1}) // n·C = 4800: tiles of one GEMM block
			}
			for _, s := range shapes {
				fc := fusedcase.New(t, dt, []int64{s.tokens}, n, s.c, false, uint64(n))
				fnConst := (n+s.tokens)%2 == 0
				t.Run(fmt.Sprintf("%s/fn_const=%v/threads%d", fc, fnConst, s.threads), func(t *testing.T) {
					cbCheck(t, fc, fnConst, s.threads)
				})
			}
		}
	}
	for _, n := range []int64{3, 4, 8} {
		fc := fusedcase.New(t, ir.Float32, []int64{2, 37}, n, 200, false, uint64(n))
		t.Run(fmt.Sprintf("%s/no_avx512", fc), func(t *testing.T) {
			t.Setenv("MHCC_ORTOPS_NO_AVX512", "1")
			cbCheck(t, fc, n != 3, 2)
		})
	}
}

// TestCoeffsBoundaryUnsupportedFailsAtSessionCreation: the library refuses
// a merged node with 9 streams or a bfloat16 state when the session
// creates its kernel, naming the node.
func TestCoeffsBoundaryUnsupportedFailsAtSessionCreation(t *testing.T) {
	needLib(t)
	for _, tc := range []struct {
		et   onnxpb.TensorProto_DataType
		n    int64
		want string
	}{
		{onnxpb.TensorProto_FLOAT, 9, "x has 9 streams; the kernels support n = 2 to 8"},
		{onnxpb.TensorProto_BFLOAT16, 4, "input x has element type 16; the kernels take float32 (1) or float16 (10)"},
	} {
		t.Run(fmt.Sprintf("%v_n%d", tc.et, tc.n), func(t *testing.T) {
			node := mhccNode("layers.3.ffn.cb", "HCCoeffsBoundary", []string{"x", "fn", "base", "w", "y", "post"}, cbMergeOuts, cbAttrs(3)...)
			data := cbModel(t, tc.et, []int64{3}, tc.n, 8, nil, []*onnxpb.NodeProto{node})
			s, err := session(t, data, []string{"x", "fn", "base", "w", "y", "post"}, cbMergeOuts, true, 1)
			if err == nil {
				s.Destroy()
				t.Fatal("session opened; want an error naming the node")
			}
			prefix := `mhcc ortops: node "layers.3.ffn.cb" (ai.mhcc.HCCoeffsBoundary): `
			if msg := err.Error(); !strings.Contains(msg, prefix+tc.want) {
				t.Errorf("error %q does not contain %q", msg, prefix+tc.want)
			}
		})
	}
}
