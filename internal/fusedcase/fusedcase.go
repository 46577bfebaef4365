// Package fusedcase builds the test graph of mhcc's fused mHC ops
// (docs/fused-ops.md) with seeded inputs, for the tests that run it in
// several implementations: the Go runtime's kernels and function bodies
// (runtime) and onnxruntime with and without mhcc's custom-op library
// (internal/ortops). It imports neither runtime, so both can use it.
package fusedcase

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/mhcc-dev/mhcc/export"
	"github.com/mhcc-dev/mhcc/ir"
	"github.com/mhcc-dev/mhcc/onnx/tensor/half"
	"github.com/mhcc-dev/mhcc/target"
)

// Iters is the Sinkhorn iteration count of the case's coefficient ops.
const Iters = 20

// A Case is a graph of the fused ops, each reading graph inputs only
// (so implementations are compared op by op, without one's rounding
// feeding another): HCCoeffsSinkhorn and HCPremixNorm without the
// post-mix, HCPostCoeffsSinkhorn and HCBoundary (with its state output)
// with it, with the option Merged and per-token coefficients,
// HCCoeffsBoundary (outputs pc, qc, cc, nc, mc, sc), and with the option
// Head, HCHead (inputs hfn, hbase, hscale besides x, w, y, post; outputs
// nh, sh), and with the option Entry, HCEntry (input e besides fn, base,
// w; outputs pe, qe, ce, ne, me).
type Case struct {
	DT      ir.DType
	Lead    []int64 // leading dims; tokens = their product
	N, C    int64
	Static  bool // pre and comb shared by every token ([n], [n, n])
	Merged  bool // the graph has HCCoeffsBoundary (option Merged; never when Static)
	Head    bool // the graph has HCHead (option Head)
	Entry   bool // the graph has HCEntry (option Entry)
	G       *ir.Graph
	Inputs  map[string][]float64 // values (float16 inputs already rounded)
	Shapes  map[string][]int64
	Outputs []string
}

func (fc *Case) String() string {
	s := fmt.Sprintf("%v_lead%v_n%d_C%d", fc.DT, fc.Lead, fc.N, fc.C)
	if fc.Static {
		s += "_static"
	}
	if fc.Merged {
		s += "_merged"
	}
	if fc.Head {
		s += "_head"
	}
	if fc.Entry {
		s += "_entry"
	}
	return s
}

// Dims is d joined by commas, as the IR text writes a shape.
func Dims(d []int64) string {
	s := make([]string, len(d))
	for i, v := range d {
		s[i] = fmt.Sprint(v)
	}
	return strings.Join(s, ",")
}

// An Option changes the case New builds.
type Option func(*Case)

// Merged adds HCCoeffsBoundary to a case with per-token coefficients. (A
// separate option while onnxruntime with mhcc's custom-op library lacks
// the op: internal/ortops runs every output of the case there.)
func Merged(fc *Case) { fc.Merged = !fc.Static }

// Head adds HCHead to a case (its post per token, or shared when Static).
func Head(fc *Case) { fc.Head = true }

// Entry adds HCEntry to a case (its coefficients are always per token).
func Entry(fc *Case) { fc.Entry = true }

// New builds the case: state dtype dt (float32 or float16, or another to
// test refusals), leading dims lead, n streams of width c, inputs drawn
// from seed (the same draws with any options).
func New(t testing.TB, dt ir.DType, lead []int64, n, c int64, static bool, seed uint64, opts ...Option) *Case {
	t.Helper()
	fc := &Case{DT: dt, Lead: lead, N: n, C: c, Static: static, Inputs: map[string][]float64{}, Shapes: map[string][]int64{}}
	for _, o := range opts {
		o(fc)
	}
	m := n*n + 2*n
	L := Dims(lead)
	T := dt.String()
	ty := func(d string, s ...int64) string {
		if len(s) == 0 {
			return d + "[" + L + "]"
		}
		return d + "[" + L + "," + Dims(s) + "]"
	}
	preT, combT := ty("f32", n), ty("f32", n, n)
	if static {
		preT, combT = fmt.Sprintf("f32[%d]", n), fmt.Sprintf("f32[%d,%d]", n, n)
	}
	attrs := fmt.Sprintf("{eps=1e-06, iters=%d, rms_eps=1e-06, streams=%d} @function", Iters, n)
	text := fmt.Sprintf(`graph fused
input %%x: %s
input %%fn: f32[%d,%d]
input %%base: f32[%d]
input %%y: %s
input %%post: %s
input %%pre: %s
input %%comb: %s
input %%w: %s[%d]
%%pa, %%qa, %%ca = HCCoeffsSinkhorn<%s, %s, %s> %%x, %%fn, %%base %s
%%pb, %%qb, %%cb = HCCoeffsSinkhorn<%s, %s, %s> %%x, %%fn, %%base, %%y, %%post %s
%%na, %%ma, %%sa = HCBoundary<%s, %s, %s> %%x, %%pre, %%comb, %%w {eps=1e-05} @function
%%nb, %%mb, %%sb = HCBoundary<%s, %s, %s> %%x, %%pre, %%comb, %%w, %%y, %%post {eps=1e-05} @function
`, ty(T, n, c), m, n*c, m, ty(T, c), ty("f32", n), preT, combT, T, c,
		ty("f32", n), ty("f32", n), ty("f32", n, n), attrs,
		ty("f32", n), ty("f32", n), ty("f32", n, n), attrs,
		ty(T, c), ty(T, n, c), ty(T, n, c),
		ty(T, c), ty(T, n, c), ty(T, n, c))
	fc.Outputs = []string{"pa", "qa", "ca", "pb", "qb", "cb", "na", "ma", "nb", "mb", "sb"}
	if fc.Merged {
		text += fmt.Sprintf("%%pc, %%qc, %%cc, %%nc, %%mc, %%sc = HCCoeffsBoundary<%s, %s, %s, %s, %s, %s> %%x, %%fn, %%base, %%w, %%y, %%post {eps=1e-06, iters=%d, norm_eps=0.01, rms_eps=1e-06, streams=%d} @function\n",
			ty("f32", n), ty("f32", n), ty("f32", n, n), ty(T, c), ty(T, n, c), ty(T, n, c), Iters, n)
		fc.Outputs = append(fc.Outputs, "pc", "qc", "cc", "nc", "mc", "sc")
	}
	if fc.Head {
		text += fmt.Sprintf("input %%hfn: f32[%d,%d]\ninput %%hbase: f32[%d]\ninput %%hscale: f32[1]\n", n, n*c, n)
		postIn := "%post"
		if static {
			text += fmt.Sprintf("input %%hpost: f32[%d]\n", n)
			postIn = "%hpost"
		}
		text += fmt.Sprintf("%%nh, %%sh = HCHead<%s, %s> %%x, %%hfn, %%hbase, %%hscale, %%w, %%y, %s {eps=1e-06, norm_eps=0.01, rms_eps=1e-06, streams=%d} @function\n",
			ty(T, c), ty(T, n, c), postIn, n)
		fc.Outputs = append(fc.Outputs, "nh", "sh")
	}
	if fc.Entry {
		text += fmt.Sprintf("input %%e: %s\n", ty(T, c))
		text += fmt.Sprintf("%%pe, %%qe, %%ce, %%ne, %%me = HCEntry<%s, %s, %s, %s, %s> %%e, %%fn, %%base, %%w {eps=1e-06, iters=%d, norm_eps=0.01, rms_eps=1e-06, streams=%d} @function\n",
			ty("f32", n), ty("f32", n), ty("f32", n, n), ty(T, c), ty(T, n, c), Iters, n)
		fc.Outputs = append(fc.Outputs, "pe", "qe", "ce", "ne", "me")
	}
	for _, o := range fc.Outputs {
		text += "output %" + o + "\n"
	}
	g, err := ir.Parse(text)
	if err != nil {
		t.Fatalf("%s: %v\n%s", fc, err, text)
	}
	fc.G = g
	r := rand.New(rand.NewPCG(seed, uint64(n*1000+c)))
	fill := func(name string, shape []int64, f func() float64) {
		size := int64(1)
		for _, d := range shape {
			size *= d
		}
		v := make([]float64, size)
		for i := range v {
			v[i] = f()
		}
		fc.Inputs[name], fc.Shapes[name] = v, shape
	}
	with := func(s ...int64) []int64 { return append(append([]int64(nil), lead...), s...) }
	f32 := func(f func() float64) func() float64 { return func() float64 { return float64(float32(f())) } }
	fnScale := 1 / math.Sqrt(float64(n*c))
	fill("x", with(n, c), r.NormFloat64)
	fill("fn", []int64{m, n * c}, f32(func() float64 { return r.NormFloat64() * fnScale }))
	fill("base", []int64{m}, f32(func() float64 { return r.NormFloat64() * 0.5 }))
	fill("y", with(c), r.NormFloat64)
	fill("post", with(n), f32(func() float64 { return 2 * r.Float64() }))
	if static {
		fill("pre", []int64{n}, f32(r.Float64))
		fill("comb", []int64{n, n}, f32(func() float64 { return r.Float64() / float64(n) }))
	} else {
		fill("pre", with(n), f32(r.Float64))
		fill("comb", with(n, n), f32(func() float64 { return r.Float64() / float64(n) }))
	}
	fill("w", []int64{c}, func() float64 { return 1 + 0.1*r.NormFloat64() })
	if fc.Head { // drawn after the others: the same draws with and without Head
		fill("hfn", []int64{n, n * c}, f32(func() float64 { return r.NormFloat64() * fnScale }))
		fill("hbase", []int64{n}, f32(func() float64 { return r.NormFloat64() * 0.5 }))
		fill("hscale", []int64{1}, f32(func() float64 { return 0.5 + r.Float64() }))
		if static {
			fill("hpost", []int64{n}, f32(func() float64 { return 2 * r.Float64() }))
		}
	}
	if fc.Entry {
		fill("e", with(c), r.NormFloat64)
	}
	for _, name := range []string{"x", "y", "w", "e"} { // the T inputs: exactly representable
		for i, v := range fc.Inputs[name] {
			if dt == ir.Float16 {
				fc.Inputs[name][i] = float64(half.Float16ToFloat32(half.Float32ToFloat16(float32(v))))
			} else {
				fc.Inputs[name][i] = float64(float32(v))
			}
		}
	}
	return fc
}

// IsT reports whether input name has the case's state dtype (else float32).
func (fc *Case) IsT(name string) bool {
	return name == "x" || name == "y" || name == "w" || name == "e"
}

// OutIsT reports whether output o has the case's state dtype (else float32).
func (fc *Case) OutIsT(o string) bool { return o[0] == 'n' || o[0] == 'm' || o[0] == 's' }

// ONNX is the graph lowered for the fused target: one ai.mhcc node per op,
// each with its model-local function.
func (fc *Case) ONNX(t testing.TB) []byte {
	t.Helper()
	prof, err := target.Get("fused")
	if err != nil {
		t.Fatal(err)
	}
	m, err := export.Encode(fc.G, export.Options{Profile: prof})
	if err != nil {
		t.Fatal(err)
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
