package runtime

import (
	"math"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/mhcc-dev/mhcc/export"
	"github.com/mhcc-dev/mhcc/internal/fusedcase"
	"github.com/mhcc-dev/mhcc/ir"
	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
	"github.com/mhcc-dev/mhcc/onnx/tensor/half"
)

// The fused mHC ops' kernels (docs/fused-ops.md): ref.hcFused (Reference)
// and fast.hcFast (Fast), against the ops' function bodies run by this
// runtime and against the float64 reference lowering of the same IR graph.

// An hcCase is internal/fusedcase's graph of the fused ops, each reading
// graph inputs only (internal/ortops runs the same graph in onnxruntime),
// with HCCoeffsBoundary unless static, HCHead (its post shared when
// static) and HCEntry.
type hcCase struct{ *fusedcase.Case }

func newHCCase(t testing.TB, dt ir.DType, lead []int64, n, c int64, static bool, seed uint64) *hcCase {
	return &hcCase{fusedcase.New(t, dt, lead, n, c, static, seed, fusedcase.Merged, fusedcase.Head, fusedcase.Entry)}
}

// nodes is the count of the case's ai.mhcc nodes.
func (hc *hcCase) nodes() int {
	k := 4
	if hc.Merged {
		k++
	}
	if hc.Head {
		k++
	}
	if hc.Entry {
		k++
	}
	return k
}

// reference runs the float64 reference lowering (the ops' parts as
// standard ONNX, in float64) under the Reference engine.
func (hc *hcCase) reference(t testing.TB) map[string][]float64 {
	t.Helper()
	mp, err := export.Encode(hc.G, export.Options{Float64: true})
	if err != nil {
		t.Fatal(err)
	}
	m, err := DecodeProto(mp)
	if err != nil {
		t.Fatal(err)
	}
	in := map[string]*Tensor{}
	for name, v := range hc.Inputs {
		in[name] = NewFloat64(hc.Shapes[name], v)
	}
	out, err := m.RunWith(in, RunOptions{Engine: Reference})
	if err != nil {
		t.Fatalf("float64 reference: %v", err)
	}
	res := map[string][]float64{}
	for _, o := range hc.Outputs {
		res[o] = out[o].Float64s()
	}
	return res
}

func (hc *hcCase) feeds() map[string]*Tensor {
	in := map[string]*Tensor{}
	for name, v := range hc.Inputs {
		f := make([]float32, len(v))
		for i := range v {
			f[i] = float32(v[i])
		}
		if hc.DT == ir.Float16 && hc.IsT(name) {
			in[name] = NewFloat16(hc.Shapes[name], f)
		} else {
			in[name] = NewFloat32(hc.Shapes[name], f)
		}
	}
	return in
}

// run runs m on the case's inputs under engine e.
func (hc *hcCase) run(t testing.TB, m *Model, e Engine) map[string][]float64 {
	t.Helper()
	out, err := m.RunWith(hc.feeds(), RunOptions{Engine: e})
	if err != nil {
		t.Fatalf("%v: %v", e, err)
	}
	res := map[string][]float64{}
	for _, o := range hc.Outputs {
		res[o] = out[o].Float64s()
	}
	return res
}

func (hc *hcCase) outIsT(o string) bool { return o[0] == 'n' || o[0] == 'm' || o[0] == 's' }

// hcClose is internal/ortops' tolerance: 1e-5 relative (|got−want| ≤
// 1e-5·max(|want|, 1)) for float32 values; a float16 output within one
// float16 ulp of want rounded to float16, plus the float32 tolerance.
func hcClose(got, want float64, f16 bool) bool {
	if f16 {
		w := float64(half.Float16ToFloat32(half.Float32ToFloat16(float32(want))))
		ulp := math.Max(math.Abs(w)*math.Pow(2, -10), math.Pow(2, -24))
		return math.Abs(got-w) <= ulp+1e-5*math.Max(math.Abs(want), 1)
	}
	return math.Abs(got-want) <= 1e-5*math.Max(math.Abs(want), 1)
}

func (hc *hcCase) compare(t *testing.T, who string, got, want map[string][]float64) {
	t.Helper()
	for _, o := range hc.Outputs {
		g, w := got[o], want[o]
		if len(g) != len(w) {
			t.Fatalf("%s: %s has %d values, want %d", who, o, len(g), len(w))
		}
		bad := 0
		for i := range w {
			if !hcClose(g[i], w[i], hc.DT == ir.Float16 && hc.OutIsT(o)) {
				if bad < 3 {
					t.Errorf("%s: %s[%d] = %.9g, want %.9g", who, o, i, g[i], w[i])
				}
				bad++
			}
		}
		if bad > 0 {
			t.Errorf("%s: %s: %d of %d values off", who, o, bad, len(w))
		}
	}
}

// fusedNodes checks that m's ai.mhcc nodes run the kernels (no function
// body attached) or, with bodies, their function bodies.
func fusedNodes(t *testing.T, m *Model, bodies bool) int {
	t.Helper()
	count := 0
	for _, n := range m.Nodes() {
		if n.Domain != "ai.mhcc" {
			continue
		}
		count++
		if (n.Fn != nil) != bodies {
			t.Errorf("%v: function body attached %v, want %v", n, n.Fn != nil, bodies)
		}
	}
	return count
}

// TestFusedKernelsMatchBodiesAndReference runs the seven fused ops with the
// runtime's kernels (both engines) and with their function bodies (both
// engines) and holds each to the float64 reference and the kernels to the
// bodies, within internal/ortops' tolerance: float32 and float16 states,
// n = 2…8, 1 to 4096 tokens, per-token and shared (static) coefficients
// (HCHead's post shared when static; HCEntry's coefficients, which it
// computes, always per token).
func TestFusedKernelsMatchBodiesAndReference(t *testing.T) {
	type shape struct {
		lead   []int64
		c      int64
		static bool
	}
	for _, dt := range []ir.DType{ir.Float32, ir.Float16} {
		for n := int64(2); n <= 8; n++ {
			cases := []shape{{[]int64{1}, 32, false}, {[]int64{2, 9}, 24, false}, {[]int64{3}, 16, true}}
			if n == 2 || n == 4 || n == 8 {
				cases = append(cases, shape{[]int64{4096}, 16, false}, shape{[]int64{1, 1000}, 8, true})
			}
			for _, s := range cases {
				hc := newHCCase(t, dt, s.lead, n, s.c, s.static, uint64(n))
				t.Run(hc.String(), func(t *testing.T) {
					data := hc.ONNX(t)
					kern, err := Decode(data)
					if err != nil {
						t.Fatal(err)
					}
					if got := fusedNodes(t, kern, false); got != hc.nodes() {
						t.Fatalf("%d ai.mhcc nodes, want %d", got, hc.nodes())
					}
					want := hc.reference(t)
					fastK := hc.run(t, kern, Fast)
					hc.compare(t, "Fast kernels vs float64 reference", fastK, want)
					hc.compare(t, "Reference kernels vs float64 reference", hc.run(t, kern, Reference), want)
					if s.lead[len(s.lead)-1] >= 1000 && n != 4 {
						return // the bodies are slow on many tokens: n = 4 runs them
					}
					body, err := DecodeWith(data, DecodeOptions{FunctionBodies: true})
					if err != nil {
						t.Fatal(err)
					}
					fusedNodes(t, body, true)
					fastB := hc.run(t, body, Fast)
					hc.compare(t, "Fast function bodies vs float64 reference", fastB, want)
					hc.compare(t, "Fast kernels vs function bodies", fastK, fastB)
					if s.lead[len(s.lead)-1] < 1000 {
						hc.compare(t, "Reference function bodies vs float64 reference", hc.run(t, body, Reference), want)
					}
				})
			}
		}
	}
}

// TestFusedUnsupportedFailsAtLoad: a fused op whose stream count (known
// from the graph) is outside 2…8, or whose state is neither float32 nor
// float16, fails when the model is decoded, with an error naming the node,
// as onnxruntime's session creation does with mhcc's library; with the
// function bodies the same graph decodes and runs. HCEntry's count is its
// attribute streams, so it always fails at decode (its state's type is
// e's: "input e has type …"). A stream count the graph leaves symbolic
// fails the run instead, naming the node, unless a constant says it
// (HCHead's fn, whose rows are the streams).
func TestFusedUnsupportedFailsAtLoad(t *testing.T) {
	for _, tc := range []struct {
		dt   ir.DType
		n    int64
		want string
	}{
		{ir.Float32, 9, "x has 9 streams; the kernels support n = 2 to 8"},
		{ir.Float32, 1, "x has 1 streams; the kernels support n = 2 to 8"},
		{ir.Float16, 12, "x has 12 streams; the kernels support n = 2 to 8"},
		{ir.BFloat16, 4, "input x has type bfloat16; the kernels take float32 or float16"},
		{ir.Float64, 4, "input x has type float64; the kernels take float32 or float16"},
	} {
		hc := newHCCase(t, tc.dt, []int64{3}, tc.n, 8, false, 1)
		t.Run(hc.String(), func(t *testing.T) {
			data := hc.ONNX(t)
			_, err := Decode(data)
			if err == nil {
				t.Fatal("decoded; want an error naming a fused node")
			}
			var all []string // every error of the list
			if l, ok := err.(interface{ Unwrap() []error }); ok {
				for _, e := range l.Unwrap() {
					all = append(all, e.Error())
				}
			}
			if msg := err.Error(); !strings.HasPrefix(msg, `runtime: node "pa/1_HCCoeffsSinkhorn" (ai.mhcc.HCCoeffsSinkhorn): `+tc.want) {
				t.Errorf("error %q does not name node pa/1_HCCoeffsSinkhorn with %q", msg, tc.want)
			}
			for _, node := range []string{`"pc/1_HCCoeffsBoundary" (ai.mhcc.HCCoeffsBoundary)`, `"nh/1_HCHead" (ai.mhcc.HCHead)`, `"pe/1_HCEntry" (ai.mhcc.HCEntry)`} {
				want := tc.want
				if strings.HasSuffix(node, "HCEntry)") {
					want = strings.Replace(want, "input x ", "input e ", 1)
				}
				if want := `runtime: node ` + node + `: ` + want; !slices.Contains(all, want) {
					t.Errorf("errors %q do not include %q", all, want)
				}
			}
			m, err := DecodeWith(data, DecodeOptions{FunctionBodies: true})
			if err != nil {
				t.Fatalf("with the function bodies: %v", err)
			}
			if tc.dt == ir.Float32 || tc.dt == ir.Float16 {
				if _, err := m.Run(hc.feeds()); err != nil {
					t.Errorf("with the function bodies: %v", err)
				}
			}
		})
	}

	// x's stream axis symbolic: the count is known only when the node runs.
	hc := newHCCase(t, ir.Float32, []int64{3}, 9, 8, false, 1)
	var mp onnxpb.ModelProto
	if err := proto.Unmarshal(hc.ONNX(t), &mp); err != nil {
		t.Fatal(err)
	}
	for _, in := range mp.GetGraph().GetInput() {
		for _, d := range in.GetType().GetTensorType().GetShape().GetDim() {
			d.Value = &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: "d_" + in.GetName()}
		}
	}
	data, err := proto.Marshal(&mp)
	if err != nil {
		t.Fatal(err)
	}
	// HCEntry's count is its attribute: it fails at decode, alone.
	_, err = Decode(data)
	if want := `runtime: node "pe/1_HCEntry" (ai.mhcc.HCEntry): x has 9 streams; the kernels support n = 2 to 8`; err == nil || err.Error() != want {
		t.Fatalf("symbolic shapes, HCEntry with streams = 9: got %v, want %q", err, want)
	}
	graph := mp.GetGraph()
	graph.Node = slices.DeleteFunc(graph.Node, func(n *onnxpb.NodeProto) bool { return n.GetOpType() == "HCEntry" })
	graph.Output = slices.DeleteFunc(graph.Output, func(v *onnxpb.ValueInfoProto) bool {
		return slices.Contains([]string{"pe", "qe", "ce", "ne", "me"}, v.GetName())
	})
	if data, err = proto.Marshal(&mp); err != nil {
		t.Fatal(err)
	}
	m, err := Decode(data)
	if err != nil {
		t.Fatalf("symbolic stream count: %v", err)
	}
	for _, e := range []Engine{Fast, Reference} {
		_, err = m.RunWith(hc.feeds(), RunOptions{Engine: e})
		if err == nil || !strings.Contains(err.Error(), `(ai.mhcc.HCCoeffsSinkhorn): x has 9 streams; the kernels support n = 2 to 8`) {
			t.Errorf("%v: run with 9 streams: got %v, want an error naming the node", e, err)
		}
	}

	// x symbolic, HCHead's fn a constant: its rows are the stream count.
	graph.Input = slices.DeleteFunc(graph.Input, func(v *onnxpb.ValueInfoProto) bool { return v.GetName() == "hfn" })
	hfn := make([]float32, len(hc.Inputs["hfn"]))
	for i, v := range hc.Inputs["hfn"] {
		hfn[i] = float32(v)
	}
	graph.Initializer = append(graph.Initializer, &onnxpb.TensorProto{Name: proto.String("hfn"), Dims: hc.Shapes["hfn"],
		DataType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)), FloatData: hfn})
	if data, err = proto.Marshal(&mp); err != nil {
		t.Fatal(err)
	}
	_, err = Decode(data)
	if want := `runtime: node "nh/1_HCHead" (ai.mhcc.HCHead): x has 9 streams; the kernels support n = 2 to 8`; err == nil || err.Error() != want {
		t.Errorf("HCHead's fn a constant of 9 rows: got %v, want %q", err, want)
	}
}
