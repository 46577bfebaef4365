package ortops_test

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/mhcc-dev/mhcc/internal/fusedcase"
	"github.com/mhcc-dev/mhcc/internal/ortops"
	"github.com/mhcc-dev/mhcc/ir"
	mhrt "github.com/mhcc-dev/mhcc/runtime"

	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
)

// BenchmarkFusedOps times one onnxruntime run of the four-op graph of
// TestKernelsMatchBodiesAndReference at decode size (one token, n = 4,
// C = 256 and 1024), with the library's kernels and with the function
// bodies, on one thread, and one run of the same graph in mhcc's Go runtime
// with its kernels (go-kernels).
func BenchmarkFusedOps(b *testing.B) {
	needLib(b)
	for _, c := range []int64{256, 1024} {
		benchFused(b, []int64{1}, c)
	}
}

// BenchmarkFusedOpsPrefill is the same at prefill size: 256 tokens at
// C = 1024 (bench/fused.md's prefill), kernels on 1 and 2 threads.
func BenchmarkFusedOpsPrefill(b *testing.B) {
	needLib(b)
	fc := newFusedCase(b, ir.Float32, []int64{1, 256}, 4, 1024, 1)
	data := fc.ONNX(b)
	for _, threads := range []int{1, 2} {
		b.Run(fmt.Sprintf("%s/kernels/threads%d", fc, threads), func(b *testing.B) {
			p := fc.prepare(b, data, true, threads)
			defer p.close()
			for b.Loop() {
				if err := p.s.Run(p.ins, p.outs); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func benchFused(b *testing.B, lead []int64, c int64) {
	{
		fc := newFusedCase(b, ir.Float32, lead, 4, c, 1)
		data := fc.ONNX(b)
		b.Run(fc.String()+"/go-kernels", func(b *testing.B) {
			m, err := mhrt.Decode(data)
			if err != nil {
				b.Fatal(err)
			}
			in := map[string]*mhrt.Tensor{}
			for name, v := range fc.Inputs {
				f := make([]float32, len(v))
				for i := range v {
					f[i] = float32(v[i])
				}
				in[name] = mhrt.NewFloat32(fc.Shapes[name], f)
			}
			for b.Loop() {
				if _, err := m.Run(in); err != nil {
					b.Fatal(err)
				}
			}
		})
		for _, withLib := range []bool{true, false} {
			name := fc.String() + "/bodies"
			if withLib {
				name = fc.String() + "/kernels"
			}
			b.Run(name, func(b *testing.B) {
				p := fc.prepare(b, data, withLib, 1)
				defer p.close()
				for b.Loop() {
					if err := p.s.Run(p.ins, p.outs); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkCoeffsBoundary times the merged op HCCoeffsBoundary against the
// pair it replaces (HCPostCoeffsSinkhorn, then HCBoundary on its pre and
// comb), both as in a compiled model (fn an initializer, the state output
// left out), at n = 4, C = 1024, 1 and 256 tokens, on one intra-op thread,
// with a second session of the pair as the A/A control (pair2). Each
// iteration runs every session once, the order rotating, and times each
// run by the calling thread's CPU time (onnxruntime runs every node
// there); it reports the medians per call (pair-ms, merged-ms, pair2-ms)
// and the medians of the per-iteration ratios (merged/pair, pair2/pair). If
// MHCC_ORTOPS_BASE_LIB names another build of the library (say main's, for
// the speed before a change), the pair also runs with it, in the same
// iterations, and so does the merged op (base-pair-ms, base-merged-ms,
// merged/base-pair, pair/base-pair, merged/base-merged). The _cold
// case writes 64 MB before each run (untimed), so x and y come from memory
// as in a model, where the sublayer's block runs between the state's
// writing and its reading. If MHCC_ORTOPS_BENCH_ENV_B is NAME=VALUE[,…],
// the merged op also runs as merged-b with those variables set during its
// runs only (a library setting read at each call), in the same iterations
// (merged-b/merged). Results: bench/fused-kernels.md.
func BenchmarkCoeffsBoundary(b *testing.B) {
	needLib(b)
	var base *ortops.Lib
	if path := os.Getenv("MHCC_ORTOPS_BASE_LIB"); path != "" {
		var err error
		if base, err = ortops.Open(path); err != nil {
			b.Fatal(err)
		}
	}
	for _, tc := range []struct {
		tokens int64
		cold   bool
	}{{1, false}, {256, false}, {256, true}} {
		tokens := tc.tokens
		name := fmt.Sprintf("n4_C1024_tokens%d", tokens)
		if tc.cold {
			name += "_cold"
		}
		b.Run(name, func(b *testing.B) {
			fc := fusedcase.New(b, ir.Float32, []int64{tokens}, 4, 1024, false, 1)
			coeffAttrs := []*onnxpb.AttributeProto{fAttr("eps", cbEps), fAttr("rms_eps", cbRMSEps), iAttr("iters", fusedcase.Iters)}
			outs := []string{"o.pre", "o.post", "o.comb", "o.normed", "o.mixed"}
			pair := cbModel(b, onnxpb.TensorProto_FLOAT, fc.Lead, fc.N, fc.C, fc.Inputs["fn"], []*onnxpb.NodeProto{
				mhccNode("pc", "HCPostCoeffsSinkhorn", []string{"x", "fn", "base", "y", "post"}, outs[:3], coeffAttrs...),
				mhccNode("pb", "HCBoundary", []string{"x", "o.pre", "o.comb", "w", "y", "post"}, []string{"o.normed", "o.mixed", ""}, fAttr("eps", cbNormEps)),
			})
			merged := cbModel(b, onnxpb.TensorProto_FLOAT, fc.Lead, fc.N, fc.C, fc.Inputs["fn"], []*onnxpb.NodeProto{
				mhccNode("cb", "HCCoeffsBoundary", []string{"x", "fn", "base", "w", "y", "post"}, append(append([]string(nil), outs...), ""), cbAttrs(fusedcase.Iters)...),
			})
			// Contenders: the pair, the merged op, a second session of the
			// pair (the A/A control: its ratio to the first is the noise),
			// and the pair with the base library if one is given.
			names := []string{"pair", "merged", "pair2"}
			runs := []*prepared{newTimedRun(b, lib, fc, pair, outs), newTimedRun(b, lib, fc, merged, outs), newTimedRun(b, lib, fc, pair, outs)}
			if base != nil {
				names = append(names, "base-pair", "base-merged")
				runs = append(runs, newTimedRun(b, base, fc, pair, outs), newTimedRun(b, base, fc, merged, outs))
			}
			envB := os.Getenv("MHCC_ORTOPS_BENCH_ENV_B") // NAME=VALUE[,…]: merged-b, the merged op with them set during its runs
			mb := -1
			if envB != "" {
				mb = len(runs)
				names = append(names, "merged-b")
				runs = append(runs, newTimedRun(b, lib, fc, merged, outs))
			}
			before := lib.Calls()
			for _, r := range runs {
				defer r.close()
				r.cpuRun(b)
			}
			after := lib.Calls()
			for _, op := range []string{"HCPostCoeffsSinkhorn", "HCBoundary", "HCCoeffsBoundary"} {
				if after[op] == before[op] {
					b.Fatalf("kernel %s did not run", op)
				}
			}
			samples := make([][]float64, len(runs))
			i := 0
			for b.Loop() {
				for k := range runs { // the order rotates
					c := (i + k) % len(runs)
					if tc.cold {
						evict()
					}
					if c == mb {
						for kv := range strings.SplitSeq(envB, ",") {
							k, v, _ := strings.Cut(kv, "=")
							os.Setenv(k, v)
						}
					}
					samples[c] = append(samples[c], runs[c].cpuRun(b))
					if c == mb {
						for kv := range strings.SplitSeq(envB, ",") {
							k, _, _ := strings.Cut(kv, "=")
							os.Unsetenv(k)
						}
					}
				}
				i++
			}
			ratio := func(a, c int) float64 {
				r := make([]float64, len(samples[a]))
				for i := range r {
					r[i] = samples[a][i] / samples[c][i]
				}
				return median(r)
			}
			for k, name := range names {
				b.ReportMetric(median(samples[k]), name+"-ms")
			}
			b.ReportMetric(ratio(1, 0), "merged/pair")
			b.ReportMetric(ratio(2, 0), "pair2/pair")
			if mb >= 0 {
				b.ReportMetric(ratio(mb, 1), "merged-b/merged")
			}
			if base != nil {
				b.ReportMetric(ratio(1, 3), "merged/base-pair")
				b.ReportMetric(ratio(0, 3), "pair/base-pair")
				b.ReportMetric(ratio(1, 4), "merged/base-merged")
			}
		})
	}
}

var evictBuf []byte

// evict writes 64 MB, more than the caches hold, so what a run reads next
// comes from memory.
func evict() {
	if evictBuf == nil {
		evictBuf = make([]byte, 64<<20)
	}
	for i := 0; i < len(evictBuf); i += 64 {
		evictBuf[i]++
	}
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// threadCPU is the calling thread's CPU time (CLOCK_THREAD_CPUTIME_ID).
func threadCPU() time.Duration {
	var ts syscall.Timespec
	syscall.Syscall(syscall.SYS_CLOCK_GETTIME, 3, uintptr(unsafe.Pointer(&ts)), 0)
	return time.Duration(ts.Nano())
}

// newTimedRun is a one-thread session of a cbModel with its inputs (fn is
// an initializer, everything float32) and float32 outputs.
func newTimedRun(b *testing.B, l *ortops.Lib, fc *fusedcase.Case, data []byte, outs []string) *prepared {
	b.Helper()
	shapes := [][]int64{fc.Shapes["post"], fc.Shapes["post"], append(append([]int64(nil), fc.Shapes["post"]...), fc.N), fc.Shapes["y"], fc.Shapes["x"]}
	return prepare(b, l, data, []string{"x", "base", "w", "y", "post"}, func(name string) (ort.Value, error) { return inputTensor(fc, name, false) },
		outs, func(i int) []int64 { return shapes[i] }, func(int) bool { return false }, 1)
}

// alternate times ta then tb, tb then ta, and so on, once each per
// benchmark iteration, and reports the medians of each (aName-ms,
// bName-ms) and of their ratio within an iteration (aName/bName).
func alternate(b *testing.B, aName, bName string, ta, tb func() float64) {
	var as, bs, ratio []float64
	for i := 0; b.Loop(); i++ {
		var p, q float64
		if i%2 == 0 {
			p, q = ta(), tb()
		} else {
			q, p = tb(), ta()
		}
		as, bs, ratio = append(as, p), append(bs, q), append(ratio, p/q)
	}
	b.ReportMetric(median(as), aName+"-ms")
	b.ReportMetric(median(bs), bName+"-ms")
	b.ReportMetric(median(ratio), aName+"/"+bName)
}

// BenchmarkCoeffsGEMM times the prefill projection's two 16-lane kernels
// on the same sessions (n = 4, C = 1024, 256 tokens, 1 thread, fn an
// initializer): micro16p (the default for n = 4 on AVX-512) and micro16
// (MHCC_ORTOPS_NO_PAIRS=1), both in HCPostCoeffsSinkhorn alone and in
// HCCoeffsBoundary, each setting with its own session. Each iteration runs
// each op under both settings, the order alternating; it reports the
// medians per call and of the per-iteration ratios (pairs/nopairs).
func BenchmarkCoeffsGEMM(b *testing.B) {
	needLib(b)
	fc := fusedcase.New(b, ir.Float32, []int64{256}, 4, 1024, false, 1)
	coeffAttrs := []*onnxpb.AttributeProto{fAttr("eps", cbEps), fAttr("rms_eps", cbRMSEps), iAttr("iters", fusedcase.Iters)}
	outs := []string{"o.pre", "o.post", "o.comb", "o.normed", "o.mixed"}
	coeffs := cbModel(b, onnxpb.TensorProto_FLOAT, fc.Lead, fc.N, fc.C, fc.Inputs["fn"], []*onnxpb.NodeProto{
		mhccNode("pc", "HCPostCoeffsSinkhorn", []string{"x", "fn", "base", "y", "post"}, outs[:3], coeffAttrs...),
	})
	merged := cbModel(b, onnxpb.TensorProto_FLOAT, fc.Lead, fc.N, fc.C, fc.Inputs["fn"], []*onnxpb.NodeProto{
		mhccNode("cb", "HCCoeffsBoundary", []string{"x", "fn", "base", "w", "y", "post"}, append(append([]string(nil), outs...), ""), cbAttrs(fusedcase.Iters)...),
	})
	for _, c := range []struct {
		name string
		data []byte
		outs []string
	}{{"HCPostCoeffsSinkhorn", coeffs, outs[:3]}, {"HCCoeffsBoundary", merged, outs}} {
		b.Run(c.name, func(b *testing.B) {
			// A session per setting: the kernel packs the constant fn for
			// the kernel the setting picks when the session is created.
			runs := map[string]*prepared{}
			for _, v := range []string{"", "1"} {
				b.Setenv("MHCC_ORTOPS_NO_PAIRS", v)
				runs[v] = newTimedRun(b, lib, fc, c.data, c.outs)
				defer runs[v].close()
			}
			timed := func(noPairs string) float64 {
				b.Setenv("MHCC_ORTOPS_NO_PAIRS", noPairs)
				return runs[noPairs].cpuRun(b)
			}
			timed("1")
			timed("")
			alternate(b, "pairs", "nopairs", func() float64 { return timed("") }, func() float64 { return timed("1") })
		})
	}
}

// A benchCase is one sub-benchmark of BenchmarkHead and BenchmarkEntry: the
// tokens of a call and whether its inputs come from memory (cold).
type benchCase struct {
	tokens int64
	cold   bool
}

// benchTokens runs f as sub-benchmarks at n = 4, C = 1024: 1, 16 and 256
// tokens, and 256 tokens cold (named _cold).
func benchTokens(b *testing.B, f func(b *testing.B, tc benchCase)) {
	for _, tc := range []benchCase{{1, false}, {16, false}, {256, false}, {256, true}} {
		name := fmt.Sprintf("n4_C1024_tokens%d", tc.tokens)
		if tc.cold {
			name += "_cold"
		}
		b.Run(name, func(b *testing.B) { f(b, tc) })
	}
}

// BenchmarkHead times the HCHead kernel as in a compiled model (the state
// output left out) at n = 4, C = 1024, 1, 16 and 256 tokens, on one intra-op
// thread, by the calling thread's CPU time: in 16-lane vectors (AVX-512,
// where the CPU has it) and in 8-lane ones (MHCC_ORTOPS_NO_AVX512=1), the
// two alternating in the same iterations; the _cold case writes 64 MB
// before each run (untimed), so x and y come from memory. It reports the
// medians per call (wide-ms, narrow-ms) and of the ratios (wide/narrow).
func BenchmarkHead(b *testing.B) {
	needLib(b)
	benchTokens(b, func(b *testing.B, tc benchCase) {
		hc := newHeadCase(b, ir.Float32, []int64{tc.tokens}, 4, 1024, false, 1)
		data := headModel(b, hc, onnxpb.TensorProto_FLOAT, 4, []*onnxpb.NodeProto{headNode("head", []string{"o.normed", ""}, 4)})
		r := prepare(b, lib, data, headInputs, func(name string) (ort.Value, error) { return headTensor(hc, name, false) },
			[]string{"o.normed"}, func(int) []int64 { return hc.shapes["y"] }, func(int) bool { return false }, 1)
		defer r.close()
		before := lib.Calls()["HCHead"]
		r.cpuRun(b)
		if lib.Calls()["HCHead"] == before {
			b.Fatal("kernel HCHead did not run")
		}
		timed := func(noWide string) float64 {
			b.Setenv("MHCC_ORTOPS_NO_AVX512", noWide)
			if tc.cold {
				evict()
			}
			return r.cpuRun(b)
		}
		alternate(b, "wide", "narrow", func() float64 { return timed("") }, func() float64 { return timed("1") })
	})
}

// BenchmarkEntry times the HCEntry kernel as in a compiled model (fn an
// initializer, summed and packed when the session creates the kernel) at
// n = 4, C = 1024, 1, 16 and 256 tokens, on one intra-op thread, by the
// calling thread's CPU time, in 16-lane (AVX-512, where the CPU has it:
// the projection's micro16p) and 8-lane forms (MHCC_ORTOPS_NO_AVX512=1),
// alternating in the same iterations, each with its own session (the
// packing depends on the setting); the _cold case writes 64 MB before each
// run (untimed), so e comes from memory. It reports the medians per call
// (wide-ms, narrow-ms) and of the ratios (wide/narrow).
func BenchmarkEntry(b *testing.B) {
	needLib(b)
	benchTokens(b, func(b *testing.B, tc benchCase) {
		fc := fusedcase.New(b, ir.Float32, []int64{tc.tokens}, 4, 1024, false, 1, fusedcase.Entry)
		data := entryModel(b, fc, onnxpb.TensorProto_FLOAT, true)
		runs := map[string]*prepared{}
		for _, v := range []string{"", "1"} {
			b.Setenv("MHCC_ORTOPS_NO_AVX512", v)
			runs[v] = entrySession(b, fc, data, true, 1)
			defer runs[v].close()
		}
		timed := func(noWide string) float64 {
			b.Setenv("MHCC_ORTOPS_NO_AVX512", noWide)
			if tc.cold {
				evict()
			}
			return runs[noWide].cpuRun(b)
		}
		before := lib.Calls()["HCEntry"]
		timed("")
		timed("1")
		if lib.Calls()["HCEntry"]-before != 2 {
			b.Fatal("kernel HCEntry did not run")
		}
		alternate(b, "wide", "narrow", func() float64 { return timed("") }, func() float64 { return timed("1") })
	})
}
