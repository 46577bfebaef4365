package verify

import (
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"testing"

	"github.com/mhcc-dev/mhcc/compile"
	"github.com/mhcc-dev/mhcc/model"
	mhrt "github.com/mhcc-dev/mhcc/runtime"
)

// Every example and golden model passes its own verification.
func TestModelsVerify(t *testing.T) {
	a, _ := filepath.Glob("../testdata/models/*.yaml")
	b, _ := filepath.Glob("../testdata/golden/*/model.yaml")
	files := append(a, b...)
	if len(files) < 8 {
		t.Fatalf("found %d model files", len(files))
	}
	for _, path := range files {
		rep, err := Model(path, Options{Seed: 7})
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if !rep.OK {
			t.Errorf("%s: verification failed:\n%s", path, rep.Text())
		}
		m, _ := model.Load(path)
		fixed := m.Inputs.Batch > 0 && (m.Inputs.Sequence > 0 || m.Arch.Kind == model.ArchMLP)
		if len(rep.Runs) < 2 && !fixed {
			t.Errorf("%s: %d runs, want several shapes", path, len(rep.Runs))
		}
		if m.HC.Kind == model.HCMHC && (len(rep.Sublayers) != 2*m.Arch.Layers && len(rep.Sublayers) != m.Arch.Layers || rep.Gain == nil) {
			t.Errorf("%s: %d sublayers checked, gain %v", path, len(rep.Sublayers), rep.Gain)
		}
	}
}

// variant writes a copy of the model file with one line replaced and
// compiles it to ONNX.
func variant(t *testing.T, src, old, new string) string {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), old) {
		t.Fatalf("%s has no %q", src, old)
	}
	dir := t.TempDir()
	yaml := filepath.Join(dir, "variant.yaml")
	os.WriteFile(yaml, []byte(strings.Replace(string(data), old, new, 1)), 0o644)
	res, err := compile.Compile(yaml, compile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "variant.onnx")
	os.WriteFile(out, res.ONNX, 0o644)
	return out
}

// An ONNX file that computes something else fails, naming the input shape.
func TestDetectsDifferences(t *testing.T) {
	const model = "../testdata/models/tiny-mhc.yaml"
	for _, c := range []struct{ name, old, new string }{
		{"other weights", "seed: 1", "seed: 2"},
		{"fewer sinkhorn iterations", "sinkhorn_iterations: 20", "sinkhorn_iterations: 2"},
	} {
		t.Run(c.name, func(t *testing.T) {
			onnx := variant(t, model, c.old, c.new)
			rep, err := ONNX(onnx, model, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK || len(rep.Failures()) == 0 || !strings.Contains(rep.Failures()[0], "input [") {
				t.Fatalf("verification passed or did not name the input:\n%s", rep.Text())
			}
		})
	}
	// The unchanged model, given as an ONNX file, passes.
	onnx := variant(t, model, "seed: 1", "seed: 1")
	if rep, err := ONNX(onnx, model, Options{}); err != nil || !rep.OK {
		t.Fatalf("same model: err %v\n%v", err, rep.Text())
	}
}

// colNormalise divides each column of the n×n matrix a by its sum plus eps,
// as the last step of docs/spec.md §2's Sinkhorn does, and returns the result and
// the denominators c + eps (the reference's den).
func colNormalise(a []float64, n int, eps float64) (comb, den []float64) {
	comb = make([]float64, n*n)
	den = make([]float64, n)
	for k := 0; k < n; k++ {
		for j := 0; j < n; j++ {
			den[k] += a[j*n+k]
		}
		den[k] += eps
		for j := 0; j < n; j++ {
			comb[j*n+k] = a[j*n+k] / den[k]
		}
	}
	return comb, den
}

// The invariant checks fail on bad coefficients and name the token, and
// pass a column that sums to c/(c+eps) however far that is from 1.
func TestInvariantsCatch(t *testing.T) {
	s := sublayer{name: "layers.3.ffn", kind: "ffn", layer: 3}
	good, goodDen := colNormalise([]float64{0.3, 0.7, 0.7, 0.3}, 2, 1e-6)
	// Issue 17's column: c ≈ 0.0159 before the last normalisation, eps
	// 1e-4, so it sums to 0.99369, 6.3e-3 from 1 (n·eps = 2e-4).
	thin, thinDen := colNormalise([]float64{0.0079, 0.6, 0.0080, 0.4}, 2, 1e-4)
	// eps at its largest (0.1) and a nearly empty column: it sums to 1/11.
	empty, emptyDen := colNormalise([]float64{0.005, 0.9, 0.005, 1.1}, 2, 0.1)
	// Rows normalised last instead of columns (a transposed Sinkhorn).
	rows, _ := colNormalise([]float64{0.3, 0.2, 0.9, 0.6}, 2, 1e-6)
	rows = []float64{rows[0], rows[2], rows[1], rows[3]}
	_, rowsDen := colNormalise([]float64{0.3, 0.9, 0.2, 0.6}, 2, 1e-6)
	half := []float64{0.5, 0.5}
	one := []float64{1, 1}
	cases := []struct {
		name                 string
		eps                  float64
		source               string
		pre, post, comb, den []float64
		want                 string
	}{
		{"ok", 1e-6, "target", half, one, good, goodDen, ""},
		{"ok reference", 1e-6, "reference", half, one, good, goodDen, ""},
		{"thin column", 1e-4, "target", half, one, thin, thinDen, ""},
		{"thin column, reference", 1e-4, "reference", half, one, thin, thinDen, ""},
		{"empty column, eps 0.1", 0.1, "target", half, one, empty, emptyDen, ""},
		{"negative", 1e-6, "target", half, one, []float64{-0.1, 1.1, 1.1, -0.1}, goodDen, "is negative"},
		{"column sum", 1e-6, "target", half, one, []float64{0.3, 0.7, 0.8, 0.3}, goodDen, "column 0 of comb sums to 1.1"},
		{"thin column off by 1e-3", 1e-4, "target", half, one, []float64{thin[0] + 1e-3, thin[1], thin[2], thin[3]}, thinDen, "column 0 of comb sums to 0.99475"},
		{"sum of 1 where c/(c+eps) is 0.9937", 1e-4, "target", half, one, good, thinDen, "want c/(c+eps) = 0.99375"},
		{"rows normalised last", 1e-6, "target", half, one, rows, rowsDen, "column 0 of comb sums to"},
		{"pre", 1e-6, "target", []float64{0, 0.5}, one, good, goodDen, "pre[0] = 0"},
		{"post", 1e-6, "target", half, []float64{2.5, 1}, good, goodDen, "post[0] = 2.5"},
		// A float32 sigmoid rounds to 0 below about -88: pre is then eps.
		{"sigmoids rounded to 0", 1e-4, "target", []float64{1e-4, 0.5}, []float64{0, 1}, thin, thinDen, ""},
		{"pre below eps", 1e-4, "target", []float64{5e-5, 0.5}, one, thin, thinDen, "pre[0] = 5e-05"},
		{"post negative", 1e-6, "target", half, []float64{-1e-9, 1}, good, goodDen, "post[0] = -1e-09"},
	}
	for _, c := range cases {
		a := newInvariants(s, model.HyperConnections{Streams: 2, Eps: c.eps}, ToleranceFor("f32"))
		a.source = c.source
		// one run, batch 1, sequence 1: shapes [1,1,2], [1,1,2,2], [1,1,1,2]
		a.add(0, mhrt.NewFloat64([]int64{1, 1, 2}, c.pre), mhrt.NewFloat64([]int64{1, 1, 2}, c.post),
			mhrt.NewFloat64([]int64{1, 1, 2, 2}, c.comb), mhrt.NewFloat64([]int64{1, 1, 1, 2}, c.den))
		r := a.report()
		if c.want == "" {
			if !r.OK {
				t.Errorf("%s: unexpected problems %v", c.name, r.Problems)
			}
			continue
		}
		if r.OK || !strings.Contains(strings.Join(r.Problems, ";"), c.want) || !strings.Contains(strings.Join(r.Problems, ";"), "batch 0, position 0") {
			t.Errorf("%s: problems %v, want one containing %q and the token", c.name, r.Problems, c.want)
		}
	}
}

// The Amax gain of products of mixing matrices.
func TestGain(t *testing.T) {
	perm := mhrt.NewFloat64([]int64{2, 2}, []float64{0, 1, 1, 0})
	var g Gain
	gainOf([]*mhrt.Tensor{perm, perm, perm}, 0, &g)
	if g.Forward != 1 || g.Backward != 1 {
		t.Errorf("permutations: gain %+v, want 1 and 1", g)
	}
	// comb with columns summing to 1 but rows to 2 and 0: H = combᵀ has
	// rows summing to 1 (forward 1) and columns to 2 (backward 2).
	skew := mhrt.NewFloat64([]int64{2, 2}, []float64{1, 1, 0, 0})
	g = Gain{}
	gainOf([]*mhrt.Tensor{skew}, 0, &g)
	if math.Abs(g.Forward-1) > 1e-12 || math.Abs(g.Backward-2) > 1e-12 {
		t.Errorf("skewed: gain %+v, want forward 1, backward 2", g)
	}
}

// lowGC nests: the setting drops while any verification runs and comes back
// when the last one ends, whatever the order.
func TestLowGCNests(t *testing.T) {
	before := debug.SetGCPercent(100)
	defer debug.SetGCPercent(before)
	r1 := lowGC()
	r2 := lowGC()
	r1()
	if got := debug.SetGCPercent(-1); got != 25 {
		t.Errorf("GC percent %d with one verification still running, want 25", got)
	}
	debug.SetGCPercent(25)
	r2()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GC percent %d after both, want 100", got)
	}
}

// Progress hears every step, in order, one run per shape.
func TestProgress(t *testing.T) {
	var steps []string
	_, err := Model("../testdata/models/tiny-mhc.yaml", Options{Shapes: [][2]int64{{1, 3}, {2, 5}}, Progress: func(s string) { steps = append(steps, s) }})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"generating the random weights",
		"compiling for target onnx",
		"loading the compiled model into the Go runtime",
		"building the float64 reference",
		"run 1/2: input 1x3",
		"run 2/2: input 2x5",
	}
	if !slices.Equal(steps, want) {
		t.Errorf("steps\n%q\nwant\n%q", steps, want)
	}
}
