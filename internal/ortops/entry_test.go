package ortops_test

import (
	"fmt"
	"math"
	"testing"

	ort "github.com/yalue/onnxruntime_go"
	"google.golang.org/protobuf/proto"

	"github.com/mhcc-dev/mhcc/internal/fusedcase"
	"github.com/mhcc-dev/mhcc/ir"

	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
)

// The entry op ai.mhcc.HCEntry in hand-built ONNX models (an ai.mhcc node
// with no function, so onnxruntime runs the library's kernel or fails), as
// in a compiled model: fn an initializer, so the kernel sums and packs it
// when the session creates it.

var entryOuts = []string{"pe", "qe", "ce", "ne", "me"}

// entryModel is a model of one HCEntry node "entry" on fc's inputs e, fn,
// base, w (fn an initializer if fnConst, else a graph input), of state
// type et. Inputs named in unshaped are declared without a shape.
func entryModel(t testing.TB, fc *fusedcase.Case, et onnxpb.TensorProto_DataType, fnConst bool, unshaped ...string) []byte {
	t.Helper()
	n, c := fc.N, fc.C
	m := n*n + 2*n
	with := func(s ...int64) []int64 { return append(append([]int64(nil), fc.Lead...), s...) }
	f32 := onnxpb.TensorProto_FLOAT
	node := mhccNode("entry", "HCEntry", []string{"e", "fn", "base", "w"}, entryOuts,
		iAttr("streams", n), fAttr("eps", 1e-6), fAttr("rms_eps", 1e-6), iAttr("iters", fusedcase.Iters), fAttr("norm_eps", 0.01))
	g := &onnxpb.GraphProto{Name: proto.String("entry"), Node: []*onnxpb.NodeProto{node}}
	g.Input = append(g.Input, vInfo("e", et, with(c)))
	if fnConst {
		v := make([]float32, len(fc.Inputs["fn"]))
		for i, x := range fc.Inputs["fn"] {
			v[i] = float32(x)
		}
		g.Initializer = append(g.Initializer, &onnxpb.TensorProto{Name: proto.String("fn"), Dims: []int64{m, n * c}, DataType: proto.Int32(int32(f32)), FloatData: v})
	} else {
		g.Input = append(g.Input, vInfo("fn", f32, []int64{m, n * c}))
	}
	g.Input = append(g.Input, vInfo("base", f32, []int64{m}), vInfo("w", et, []int64{c}))
	g.Output = append(g.Output, vInfo("pe", f32, with(n)), vInfo("qe", f32, with(n)), vInfo("ce", f32, with(n, n)),
		vInfo("ne", et, with(c)), vInfo("me", et, with(n, c)))
	return marshalModel(t, g, unshaped...)
}

// marshalModel is the model of graph g (opsets: ONNX 17, ai.mhcc 1) with
// the graph inputs named in unshaped declared without a shape.
func marshalModel(t testing.TB, g *onnxpb.GraphProto, unshaped ...string) []byte {
	t.Helper()
	for _, v := range g.Input {
		for _, u := range unshaped {
			if v.GetName() == u {
				v.GetType().GetTensorType().Shape = nil
			}
		}
	}
	return modelData(t, g)
}

// unshape is the model data with the graph inputs named declared without
// a shape.
func unshape(t testing.TB, data []byte, names ...string) []byte {
	t.Helper()
	var m onnxpb.ModelProto
	if err := proto.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return marshalModel(t, m.GetGraph(), names...)
}

// entrySession opens data (entryModel's) with the library, with fc's
// inputs (fn fed unless fnConst) and outputs pe … me.
func entrySession(t testing.TB, fc *fusedcase.Case, data []byte, fnConst bool, threads int) *prepared {
	t.Helper()
	names := []string{"e", "fn", "base", "w"}
	if fnConst {
		names = []string{"e", "base", "w"}
	}
	f16 := fc.DT == ir.Float16
	lead, n, c := fc.Lead, fc.N, fc.C
	with := func(s ...int64) []int64 { return append(append([]int64(nil), lead...), s...) }
	shapes := [][]int64{with(n), with(n), with(n, n), with(c), with(n, c)}
	return prepare(t, lib, data, names, func(name string) (ort.Value, error) { return inputTensor(fc, name, f16) },
		entryOuts, func(i int) []int64 { return shapes[i] }, func(i int) bool { return f16 && i >= 3 }, threads)
}

// TestEntryConstantFn: HCEntry with fn an initializer (summed and packed
// when the session creates the kernel, as in a compiled model) against
// the float64 reference lowering of fusedcase's graph, and to the bit
// against the same node with fn fed (summed, and packed at prefill, per
// call): float32 and float16, n = 2, 3, 4, 8, C = 40, 37, 200 and 1024,
// 1 to 256 tokens (decode's per-token projection, blocks of 4, the tiled
// GEMM with blocks cut short), 1 and 2 threads, 16- and 8-lane forms.
func TestEntryConstantFn(t *testing.T) {
	needLib(t)
	type shape struct {
		lead    []int64
		c       int64
		threads int
	}
	for _, noWide := range []string{"", "1"} {
		for _, dt := range []ir.DType{ir.Float32, ir.Float16} {
			for _, n := range []int64{2, 3, 4, 8} {
				shapes := []shape{{[]int64{1}, 40, 1}, {[]int64{5}, 37, 1}, {[]int64{2, 9}, 200, 2}, {[]int64{37}, 40, 2}}
				if n == 4 {
					shapes = append(shapes, shape{[]int64{4}, 1024, 1}, shape{[]int64{1, 256}, 1024, 2})
				}
				for _, s := range shapes {
					fc := fusedcase.New(t, dt, s.lead, n, s.c, false, uint64(n), fusedcase.Entry)
					t.Run(fmt.Sprintf("%s/threads%d/no_avx512=%q", fc, s.threads, noWide), func(t *testing.T) {
						t.Setenv("MHCC_ORTOPS_NO_AVX512", noWide)
						et := onnxpb.TensorProto_FLOAT
						if dt == ir.Float16 {
							et = onnxpb.TensorProto_FLOAT16
						}
						want := (&fusedCase{fc}).reference(t)
						before := lib.Calls()["HCEntry"]
						var got [2]map[string][]float64
						for i, fnConst := range []bool{true, false} {
							r := entrySession(t, fc, entryModel(t, fc, et, fnConst), fnConst, s.threads)
							got[i] = r.results(t)
							r.close()
						}
						if d := lib.Calls()["HCEntry"] - before; d != 2 {
							t.Errorf("library kernel HCEntry ran %d times in two runs", d)
						}
						for _, o := range entryOuts {
							g, w := got[0][o], want[o]
							if len(g) != len(w) {
								t.Fatalf("%s has %d values, want %d", o, len(g), len(w))
							}
							bad := 0
							for i := range w {
								if !closeTo(g[i], w[i], dt == ir.Float16 && fc.OutIsT(o)) {
									if bad < 3 {
										t.Errorf("%s[%d] = %.9g, want %.9g", o, i, g[i], w[i])
									}
									bad++
								}
								if math.Float64bits(g[i]) != math.Float64bits(got[1][o][i]) {
									t.Fatalf("%s[%d] is %.9g with fn constant, %.9g with fn fed", o, i, g[i], got[1][o][i])
								}
							}
							if bad > 0 {
								t.Errorf("%s: %d of %d values off the float64 reference", o, bad, len(w))
							}
						}
					})
				}
			}
		}
	}
}

// TestUnknownShapesRun: a fused op whose state input has no shape when the
// session creates its kernel (here a graph input declared without one; in
// a model, the output of a function body onnxruntime inlined, such as
// HCEntry's for a library without that kernel) is not refused: the kernel
// checks the shape at run time, and gives the same bits as with the shape
// declared. HCCoeffsBoundary, HCPostCoeffsSinkhorn and HCBoundary (x and y
// unshaped), HCEntry (e), HCHead (x); float32 and float16.
func TestUnknownShapesRun(t *testing.T) {
	needLib(t)
	same := func(t *testing.T, what string, a, b map[string][]float64) {
		t.Helper()
		for o, v := range a {
			if len(b[o]) != len(v) {
				t.Fatalf("%s: %s has %d values, %d with the shape declared", what, o, len(b[o]), len(v))
			}
			for i := range v {
				if math.Float64bits(v[i]) != math.Float64bits(b[o][i]) {
					t.Fatalf("%s: %s[%d] is %.9g with the shape declared, %.9g without", what, o, i, v[i], b[o][i])
				}
			}
		}
	}
	for _, dt := range []ir.DType{ir.Float32, ir.Float16} {
		et := onnxpb.TensorProto_FLOAT
		if dt == ir.Float16 {
			et = onnxpb.TensorProto_FLOAT16
		}
		fc := fusedcase.New(t, dt, []int64{2, 9}, 4, 40, false, 1, fusedcase.Entry)
		t.Run(fc.String(), func(t *testing.T) {
			data := cbModel(t, et, fc.Lead, fc.N, fc.C, fc.Inputs["fn"], cbGraph(fusedcase.Iters))
			before := lib.Calls()
			shaped := cbRun(t, fc, data, false, 2)
			unshaped := cbRun(t, fc, unshape(t, data, "x", "y"), false, 2)
			after := lib.Calls()
			for op, want := range map[string]int64{"HCCoeffsBoundary": 4, "HCPostCoeffsSinkhorn": 2, "HCBoundary": 2} {
				if d := after[op] - before[op]; d != want {
					t.Errorf("library kernel %s ran %d times in two runs, want %d", op, d, want)
				}
			}
			same(t, "HCCoeffsBoundary and the pair", shaped, unshaped)

			r := entrySession(t, fc, entryModel(t, fc, et, true), true, 2)
			shaped = r.results(t)
			r.close()
			r = entrySession(t, fc, entryModel(t, fc, et, true, "e"), true, 2)
			unshaped = r.results(t)
			r.close()
			same(t, "HCEntry", shaped, unshaped)

			hc := newHeadCase(t, dt, fc.Lead, fc.N, fc.C, false, 1)
			head := headModel(t, hc, et, fc.N, []*onnxpb.NodeProto{headNode("head", []string{"h.normed", "h.state"}, fc.N)})
			outs := []string{"h.normed", "h.state"}
			same(t, "HCHead", headRun(t, hc, head, outs, 2), headRun(t, hc, unshape(t, head, "x"), outs, 2))
		})
	}
}
