package ortops_test

import (
	"fmt"
	"math"
	"strings"
	"testing"

	ort "github.com/yalue/onnxruntime_go"
	"google.golang.org/protobuf/proto"

	"github.com/mhcc-dev/mhcc/internal/fusedcase"
	"github.com/mhcc-dev/mhcc/ir"

	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
)

// The head op ai.mhcc.HCHead in hand-built ONNX models (an ai.mhcc node
// with no function, so onnxruntime runs the library's kernel or fails),
// held to a float64 reference of its contract written out here: the
// kernel's own edge cases (C not a multiple of the vector width, the
// state output left out or not, post per token or shared).

// HCHead's attributes in these models.
const (
	headEps     = 1e-6
	headRMSEps  = 1e-6
	headNormEps = 1e-2
	headScale   = 0.75
)

// A headCase is the inputs of one HCHead node: x, y, post and w from
// fusedcase's draws, fn the first n rows of its fn (so [n, n·C]), base
// the first n of its base; post is [n] if shared.
type headCase struct {
	fc     *fusedcase.Case
	shared bool
	in     map[string][]float64
	shapes map[string][]int64
}

func newHeadCase(t testing.TB, dt ir.DType, lead []int64, n, c int64, shared bool, seed uint64) *headCase {
	fc := fusedcase.New(t, dt, lead, n, c, false, seed)
	hc := &headCase{fc: fc, shared: shared, in: map[string][]float64{}, shapes: map[string][]int64{}}
	for _, name := range []string{"x", "y", "w", "post"} {
		hc.in[name], hc.shapes[name] = fc.Inputs[name], fc.Shapes[name]
	}
	if shared {
		hc.in["post"], hc.shapes["post"] = fc.Inputs["post"][:n], []int64{n}
	}
	hc.in["fn"], hc.shapes["fn"] = fc.Inputs["fn"][:n*n*c], []int64{n, n * c}
	hc.in["base"], hc.shapes["base"] = fc.Inputs["base"][:n], []int64{n}
	hc.in["scale"], hc.shapes["scale"] = []float64{headScale}, []int64{1}
	return hc
}

func (hc *headCase) String() string {
	s := hc.fc.String()
	if hc.shared {
		s += "_sharedpost"
	}
	return s
}

func (hc *headCase) tokens() int {
	t := 1
	for _, d := range hc.fc.Lead {
		t *= int(d)
	}
	return t
}

// reference is docs/fused-ops.md's HCHead in float64: normed and state.
func (hc *headCase) reference() (normed, state []float64) {
	n, c := int(hc.fc.N), int(hc.fc.C)
	x, y, post, fn, base, w := hc.in["x"], hc.in["y"], hc.in["post"], hc.in["fn"], hc.in["base"], hc.in["w"]
	for t := range hc.tokens() {
		s := make([]float64, n*c)
		p := post[t*n : t*n+n]
		if hc.shared {
			p = post
		}
		ss := 0.0
		for q := range n {
			for i := range c {
				v := x[t*n*c+q*c+i] + p[q]*y[t*c+i]
				s[q*c+i] = v
				ss += v * v
			}
		}
		r := 1 / math.Sqrt(ss/float64(n*c)+headRMSEps)
		pre := make([]float64, n)
		for k := range n {
			d := 0.0
			for i := range n * c {
				d += s[i] * fn[k*n*c+i]
			}
			z := headScale*(d*r) + base[k]
			pre[k] = 1/(1+math.Exp(-z)) + headEps
		}
		h := make([]float64, c)
		hh := 0.0
		for i := range c {
			for q := range n {
				h[i] += pre[q] * s[q*c+i]
			}
			hh += h[i] * h[i]
		}
		inv := 1 / math.Sqrt(hh/float64(c)+headNormEps)
		for i := range c {
			normed = append(normed, h[i]*inv*w[i])
		}
		state = append(state, s...)
	}
	return normed, state
}

// headNode is an HCHead node on the model's inputs with the given outputs
// (normed, state; state "" to leave it out).
func headNode(name string, outs []string, n int64) *onnxpb.NodeProto {
	return mhccNode(name, "HCHead", []string{"x", "fn", "base", "scale", "w", "y", "post"}, outs,
		fAttr("eps", headEps), fAttr("rms_eps", headRMSEps), fAttr("norm_eps", headNormEps), iAttr("streams", n))
}

// headModel is a model of the given HCHead nodes (domain ai.mhcc, no
// function) on hc's inputs, of state type et (the case's, or another to
// test refusals) with n streams.
func headModel(t testing.TB, hc *headCase, et onnxpb.TensorProto_DataType, n int64, nodes []*onnxpb.NodeProto) []byte {
	t.Helper()
	lead, c := hc.fc.Lead, hc.fc.C
	with := func(s ...int64) []int64 { return append(append([]int64(nil), lead...), s...) }
	f32 := onnxpb.TensorProto_FLOAT
	g := &onnxpb.GraphProto{Name: proto.String("head"), Node: nodes}
	post := with(n)
	if hc.shared {
		post = []int64{n}
	}
	g.Input = append(g.Input, vInfo("x", et, with(n, c)), vInfo("fn", f32, []int64{n, n * c}), vInfo("base", f32, []int64{n}),
		vInfo("scale", f32, []int64{1}), vInfo("w", et, []int64{c}), vInfo("y", et, with(c)), vInfo("post", f32, post))
	for _, nd := range nodes {
		g.Output = append(g.Output, vInfo(nd.Output[0], et, with(c)))
		if len(nd.Output) > 1 && nd.Output[1] != "" {
			g.Output = append(g.Output, vInfo(nd.Output[1], et, with(n, c)))
		}
	}
	return modelData(t, g)
}

var headInputs = []string{"x", "fn", "base", "scale", "w", "y", "post"}

// headTensor is hc's input name as an onnxruntime tensor (float16 for x, y
// and w when f16).
func headTensor(hc *headCase, name string, f16 bool) (ort.Value, error) {
	v, shape := hc.in[name], ort.Shape(hc.shapes[name])
	if f16 && (name == "x" || name == "y" || name == "w") {
		return ort.NewCustomDataTensor(shape, f16Bytes(v), ort.TensorElementDataTypeFloat16)
	}
	f := make([]float32, len(v))
	for i := range v {
		f[i] = float32(v[i])
	}
	return ort.NewTensor(shape, f)
}

// headRun runs data (whose outputs are outs, shaped like y or x) in
// onnxruntime with the library and returns them widened to float64.
func headRun(t testing.TB, hc *headCase, data []byte, outs []string, threads int) map[string][]float64 {
	t.Helper()
	f16 := hc.fc.DT == ir.Float16
	p := prepare(t, lib, data, headInputs, func(name string) (ort.Value, error) { return headTensor(hc, name, f16) }, outs,
		func(i int) []int64 {
			if strings.HasSuffix(outs[i], "state") {
				return hc.shapes["x"]
			}
			return hc.shapes["y"]
		}, func(int) bool { return f16 }, threads)
	defer p.close()
	return p.results(t)
}

// headCheck runs two HCHead nodes on hc's inputs, one with its state
// output and one without, and holds them to the float64 reference within
// 1e-5 relative (closeTo), and the two nodes' normed to each other
// exactly, checking from the counters that the kernel ran twice.
func headCheck(t *testing.T, hc *headCase, threads int) {
	et := onnxpb.TensorProto_FLOAT
	if hc.fc.DT == ir.Float16 {
		et = onnxpb.TensorProto_FLOAT16
	}
	n := hc.fc.N
	data := headModel(t, hc, et, n, []*onnxpb.NodeProto{
		headNode("head", []string{"h.normed", "h.state"}, n),
		headNode("headg", []string{"g.normed", ""}, n),
	})
	before := lib.Calls()
	got := headRun(t, hc, data, []string{"h.normed", "h.state", "g.normed"}, threads)
	if d := lib.Calls()["HCHead"] - before["HCHead"]; d != 2 {
		t.Errorf("library kernel HCHead ran %d times in one run of a graph with 2 such nodes", d)
	}
	normed, state := hc.reference()
	f16 := hc.fc.DT == ir.Float16
	for _, c := range []struct {
		name string
		want []float64
	}{{"h.normed", normed}, {"h.state", state}, {"g.normed", normed}} {
		g := got[c.name]
		if len(g) != len(c.want) {
			t.Fatalf("%s has %d values, want %d", c.name, len(g), len(c.want))
		}
		bad := 0
		for i, w := range c.want {
			if !closeTo(g[i], w, f16) {
				if bad < 3 {
					t.Errorf("%s[%d] = %.9g, want %.9g", c.name, i, g[i], w)
				}
				bad++
			}
		}
		if bad > 0 {
			t.Errorf("%s: %d of %d values off the float64 reference", c.name, bad, len(c.want))
		}
	}
	for i := range got["h.normed"] {
		if got["h.normed"][i] != got["g.normed"][i] {
			t.Fatalf("normed[%d] is %.9g with the state output, %.9g without", i, got["h.normed"][i], got["g.normed"][i])
		}
	}
}

// TestHeadMatchesReference: the HCHead kernel against the float64
// reference, float32 and float16, n = 2..8, widths that are and are not
// multiples of the vector widths (C = 40, 200, 37), post per token and
// shared, 1 to 4096 tokens, 1 and 2 threads, the 16-lane (AVX-512, where
// the CPU has it) and 8-lane (MHCC_ORTOPS_NO_AVX512=1) forms.
func TestHeadMatchesReference(t *testing.T) {
	needLib(t)
	type shape struct {
		lead    []int64
		c       int64
		threads int
	}
	for _, noWide := range []string{"", "1"} {
		for _, dt := range []ir.DType{ir.Float32, ir.Float16} {
			for n := int64(2); n <= 8; n++ {
				shapes := []shape{{[]int64{1}, 40, 1}, {[]int64{2, 9}, 37, 2}, {[]int64{33}, 200, 2}}
				if n == 4 {
					shapes = append(shapes, shape{[]int64{4096}, 16, 2}, shape{[]int64{1, 256}, 1024, 1})
				}
				for _, s := range shapes {
					for _, shared := range []bool{false, true} {
						hc := newHeadCase(t, dt, s.lead, n, s.c, shared, uint64(n))
						t.Run(fmt.Sprintf("%s/threads%d/no_avx512=%q", hc, s.threads, noWide), func(t *testing.T) {
							t.Setenv("MHCC_ORTOPS_NO_AVX512", noWide)
							headCheck(t, hc, s.threads)
						})
					}
				}
			}
		}
	}
}

// TestHeadUnsupportedFailsAtSessionCreation: the library refuses an HCHead
// node with 9 streams or a bfloat16 state when the session creates its
// kernel, naming the node.
func TestHeadUnsupportedFailsAtSessionCreation(t *testing.T) {
	needLib(t)
	for _, tc := range []struct {
		et   onnxpb.TensorProto_DataType
		n    int64
		want string
	}{
		{onnxpb.TensorProto_FLOAT, 9, "x has 9 streams; the kernels support n = 2 to 8"},
		{onnxpb.TensorProto_FLOAT, 1, "x has 1 streams; the kernels support n = 2 to 8"},
		{onnxpb.TensorProto_BFLOAT16, 4, "input x has element type 16; the kernels take float32 (1) or float16 (10)"},
		{onnxpb.TensorProto_DOUBLE, 4, "input x has element type 11; the kernels take float32 (1) or float16 (10)"},
	} {
		t.Run(fmt.Sprintf("%v_n%d", tc.et, tc.n), func(t *testing.T) {
			hc := newHeadCase(t, ir.Float32, []int64{3}, 4, 8, false, 1)
			data := headModel(t, hc, tc.et, tc.n, []*onnxpb.NodeProto{headNode("head.norm", []string{"o.normed", "o.state"}, tc.n)})
			s, err := session(t, data, headInputs, []string{"o.normed", "o.state"}, true, 1)
			if err == nil {
				s.Destroy()
				t.Fatal("session opened; want an error naming the node")
			}
			prefix := `mhcc ortops: node "head.norm" (ai.mhcc.HCHead): `
			if msg := err.Error(); !strings.Contains(msg, prefix+tc.want) {
				t.Errorf("error %q does not contain %q", msg, prefix+tc.want)
			}
		})
	}
}

// TestHeadBadShapesFailTheRun: inputs whose shapes disagree with x's fail
// the run, naming the node.
func TestHeadBadShapesFailTheRun(t *testing.T) {
	needLib(t)
	hc := newHeadCase(t, ir.Float32, []int64{3}, 4, 8, false, 1)
	hc.in["fn"], hc.shapes["fn"] = hc.in["fn"][:3*32], []int64{3, 32} // [n−1, n·C]
	data := headModel(t, hc, onnxpb.TensorProto_FLOAT, 4, []*onnxpb.NodeProto{headNode("head.norm", []string{"o.normed", ""}, 4)})
	// Declare fn [3, 32] too, or onnxruntime refuses the feed before the
	// kernel sees it.
	mp := &onnxpb.ModelProto{}
	if err := proto.Unmarshal(data, mp); err != nil {
		t.Fatal(err)
	}
	mp.Graph.Input[1] = vInfo("fn", onnxpb.TensorProto_FLOAT, []int64{3, 32})
	data, err := proto.Marshal(mp)
	if err != nil {
		t.Fatal(err)
	}
	s, err := session(t, data, headInputs, []string{"o.normed"}, true, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Destroy()
	var ins []ort.Value
	for _, name := range headInputs {
		v, err := headTensor(hc, name, false)
		if err != nil {
			t.Fatal(err)
		}
		defer v.Destroy()
		ins = append(ins, v)
	}
	out, err := ort.NewEmptyTensor[float32](ort.Shape(hc.shapes["y"]))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Destroy()
	err = s.Run(ins, []ort.Value{out})
	want := `mhcc ortops: node "head.norm" (ai.mhcc.HCHead): input fn must be float32 [4, 32]`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("run: got %v, want an error containing %q", err, want)
	}
}

// TestHeadThreadsAgree: the kernel's outputs do not depend on the thread
// count (each token's sums are formed in one order): 1 and 2 threads give
// the same bits, with the state output and without, float32 and float16.
func TestHeadThreadsAgree(t *testing.T) {
	needLib(t)
	for _, dt := range []ir.DType{ir.Float32, ir.Float16} {
		for _, n := range []int64{3, 4, 8} {
			hc := newHeadCase(t, dt, []int64{2, 301}, n, 72, false, uint64(n))
			t.Run(hc.String(), func(t *testing.T) {
				et := onnxpb.TensorProto_FLOAT
				if dt == ir.Float16 {
					et = onnxpb.TensorProto_FLOAT16
				}
				data := headModel(t, hc, et, n, []*onnxpb.NodeProto{
					headNode("head", []string{"h.normed", "h.state"}, n),
					headNode("headg", []string{"g.normed", ""}, n),
				})
				outs := []string{"h.normed", "h.state", "g.normed"}
				one, two := headRun(t, hc, data, outs, 1), headRun(t, hc, data, outs, 2)
				for _, o := range outs {
					for i := range one[o] {
						if math.Float64bits(one[o][i]) != math.Float64bits(two[o][i]) {
							t.Fatalf("%s[%d] is %.9g on 1 thread, %.9g on 2", o, i, one[o][i], two[o][i])
						}
					}
				}
			})
		}
	}
}
