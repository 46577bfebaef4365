package runtime_test

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	goruntime "runtime"
	"runtime/debug"
	"slices"
	"syscall"
	"testing"
	"unsafe"

	"github.com/mhcc-dev/mhcc/compile"
	"github.com/mhcc-dev/mhcc/lower"
	"github.com/mhcc-dev/mhcc/model"
	mhrt "github.com/mhcc-dev/mhcc/runtime"
)

// kvStep compiles the model file with the KV cache for target (RoPE tables
// raised to cover past+seq positions) and returns it with the feeds of one
// step of seq new tokens, batch 1, on a cache of past random tokens.
func kvStep(tb testing.TB, file, target string, past, seq int) (*mhrt.Model, map[string]*mhrt.Tensor) {
	tb.Helper()
	m, err := model.Load(file)
	if err != nil {
		tb.Fatal(err)
	}
	w, err := model.LoadWeights(m)
	if err != nil {
		tb.Fatal(err)
	}
	m.Inputs.MaxSequence = max(m.Inputs.MaxSequence, past+seq)
	res, err := compile.CompileModel(m, w, compile.Options{Target: target, KVCache: true})
	if err != nil {
		tb.Fatal(err)
	}
	rm, err := mhrt.Decode(res.ONNX)
	if err != nil {
		tb.Fatal(err)
	}
	a := m.Arch
	rng := rand.New(rand.NewPCG(1, uint64(past)))
	feeds := map[string]*mhrt.Tensor{}
	for _, in := range rm.Inputs {
		switch in.Name {
		case lower.InputIDs, lower.PositionIDs:
			ids := make([]int64, seq)
			for i := range ids {
				ids[i] = int64(3 + i)
				if in.Name == lower.PositionIDs {
					ids[i] = int64(past + i)
				}
			}
			feeds[in.Name] = mhrt.NewInt64([]int64{1, int64(seq)}, ids)
		case lower.AttentionMask:
			ones := make([]int64, past+seq)
			for i := range ones {
				ones[i] = 1
			}
			feeds[in.Name] = mhrt.NewInt64([]int64{1, int64(past + seq)}, ones)
		default:
			kv := make([]float32, a.KVHeads*past*a.HeadDim)
			for i := range kv {
				kv[i] = float32(rng.NormFloat64())
			}
			feeds[in.Name] = mhrt.NewFloat32([]int64{1, int64(a.KVHeads), int64(past), int64(a.HeadDim)}, kv)
		}
	}
	return rm, feeds
}

// BenchmarkDecodeStep is one decode step of bench/models' decoders in the
// Fast engine on one thread, recycling the outputs as a generation loop
// does (go test -bench DecodeStep -cpuprofile …). Besides ns/op it reports
// the thread's and the process's CPU time per step, which a loaded machine
// moves less than the wall time.
func BenchmarkDecodeStep(b *testing.B) {
	for _, file := range []string{"decoder-256", "decoder-1024"} {
		for _, tg := range []string{"onnx", "ort", "fused"} {
			for _, past := range []int{0, 512, 2048} {
				b.Run(fmt.Sprintf("%s/%s/past%d", file, tg, past), func(b *testing.B) {
					m, feeds := kvStep(b, filepath.Join("..", "bench", "models", file+".yaml"), tg, past, 1)
					b.ReportAllocs()
					benchRuns(b, m, feeds, 1, true)
				})
			}
		}
	}
}

// BenchmarkPrefill is a prefill of 256 tokens of bench/models' decoder-1024
// in the Fast engine at GOMAXPROCS 1 and 2 (go test -bench Prefill
// -cpuprofile …). The calling goroutine is locked to its thread, as in
// BenchmarkDecodeStep, unless MHCC_BENCH_UNLOCKED=1: a locked caller pays
// for every hand-off between goroutines, which the unlocked run shows.
func BenchmarkPrefill(b *testing.B) {
	for _, c := range []struct {
		target  string
		threads int
	}{{"ort", 1}, {"fused", 1}, {"fused", 2}} {
		b.Run(fmt.Sprintf("decoder-1024/%s/seq256/threads%d", c.target, c.threads), func(b *testing.B) {
			m, feeds := kvStep(b, filepath.Join("..", "bench", "models", "decoder-1024.yaml"), c.target, 0, 256)
			benchRuns(b, m, feeds, c.threads, os.Getenv("MHCC_BENCH_UNLOCKED") == "")
		})
	}
}

// benchRuns runs m on feeds at GOMAXPROCS threads for b's iterations, the
// calling goroutine locked to its thread if lock, giving the outputs back
// as a generation loop does, and reports beside ns/op the calling
// thread's and the process's CPU time per run (a loaded machine moves
// them less than the wall time).
func benchRuns(b *testing.B, m *mhrt.Model, feeds map[string]*mhrt.Tensor, threads int, lock bool) {
	defer goruntime.GOMAXPROCS(goruntime.GOMAXPROCS(threads))
	if lock {
		goruntime.LockOSThread()
		defer goruntime.UnlockOSThread()
	}
	var live []*mhrt.Tensor
	for _, t := range feeds {
		live = append(live, t)
	}
	t0, p0 := cpuClock(3), cpuClock(2)
	for b.Loop() {
		out, err := m.Run(feeds)
		if err != nil {
			b.Fatal(err)
		}
		mhrt.Recycle(slices.Collect(maps.Values(out)), live...)
	}
	b.ReportMetric(float64(cpuClock(3)-t0)/1e6/float64(b.N), "thread-cpu-ms/op")
	b.ReportMetric(float64(cpuClock(2)-p0)/1e6/float64(b.N), "proc-cpu-ms/op")
}

// cpuClock reads clock_gettime's clock id (2: the process's CPU time, 3:
// the calling thread's), in nanoseconds.
func cpuClock(id uintptr) int64 {
	var ts syscall.Timespec
	syscall.Syscall(syscall.SYS_CLOCK_GETTIME, id, uintptr(unsafe.Pointer(&ts)), 0)
	return ts.Nano()
}

// TestEnginesAgreeOnKVSteps is TestEnginesAgreeOnModels for the KV-cache
// graphs, which testdata/models does not compile: tiny-mhc-kv for the onnx,
// ort (GroupQueryAttention, whose Fast form is gqaFast) and fused targets,
// a decode step on caches of 0, 1 and 37 random tokens, a prefill of 6
// tokens and a chunk of 3 on a cache of 5, Fast engine against Reference
// within modelTol("fp32").
func TestEnginesAgreeOnKVSteps(t *testing.T) {
	for _, tg := range []string{"onnx", "ort", "fused"} {
		for _, c := range [][2]int{{0, 1}, {1, 1}, {37, 1}, {0, 6}, {5, 3}} {
			past, seq := c[0], c[1]
			t.Run(fmt.Sprintf("%s/past%d/seq%d", tg, past, seq), func(t *testing.T) {
				m, feeds := kvStep(t, "../testdata/kv/tiny-mhc-kv.yaml", tg, past, seq)
				fast, err := m.RunWith(feeds, mhrt.RunOptions{Engine: mhrt.Fast})
				if err != nil {
					t.Fatalf("fast: %v", err)
				}
				ref, err := m.RunWith(feeds, mhrt.RunOptions{Engine: mhrt.Reference})
				if err != nil {
					t.Fatalf("reference: %v", err)
				}
				rtol, atol := modelTol("fp32")
				for _, v := range m.Outputs {
					d, err := maxExcess(fast[v.Name], ref[v.Name], rtol, atol)
					if err != nil {
						t.Errorf("output %q: %v", v.Name, err)
						continue
					}
					t.Logf("output %q: max |fast − reference| / (atol + rtol·|reference|) = %.3g", v.Name, d)
				}
			})
		}
	}
}

// stepAllocs runs one decode step of m on feeds n times, recycling each
// step's outputs as a generation loop does (mhrt.Recycle), and returns the
// mean allocations and allocated bytes per step.
func stepAllocs(t *testing.T, m *mhrt.Model, feeds map[string]*mhrt.Tensor, n int) (allocs, bytes float64) {
	t.Helper()
	var live []*mhrt.Tensor
	for _, f := range feeds {
		live = append(live, f)
	}
	step := func() {
		out, err := m.Run(feeds)
		if err != nil {
			t.Fatal(err)
		}
		mhrt.Recycle(slices.Collect(maps.Values(out)), live...)
	}
	for range 3 {
		step() // fill the buffer pool
	}
	defer goruntime.GOMAXPROCS(goruntime.GOMAXPROCS(1))
	// No collection while counting: a collection empties the buffer pool
	// (sync.Pool), and the steps after it allocate their buffers again,
	// which is the collector's doing, not the step's.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	var before, after goruntime.MemStats
	goruntime.ReadMemStats(&before)
	allocs = testing.AllocsPerRun(n, step)
	goruntime.ReadMemStats(&after)
	return allocs, float64(after.TotalAlloc-before.TotalAlloc) / float64(n+1) // AllocsPerRun runs step once more to warm up
}

// TestDecodeStepAllocations bounds what a decode step allocates on
// tiny-mhc-kv (2 layers, 2 KV heads of 8) for the onnx target (the cache
// Concat'ed each step) and the ort target (GroupQueryAttention), on one
// thread. It is not timed; it fails when per-step garbage comes back:
//
//   - bytes per step must not grow with the cache: at a 1024-token cache a
//     step's four presents are 4 × 2 × 1025 × 8 × 4 B = 262 KB, and before
//     mhrt.Recycle and the pooled Concat and presents every step allocated
//     them afresh (the onnx target 17 MB per step on decoder-256 at a
//     2048-token cache, ort 34 MB). With them the extra bytes over the same
//     step on an empty cache stay under a quarter of the presents' size:
//     what is left is the attention mask's int64 and bool tensors (Range,
//     Equal, Where over the past + 1 positions, which the float32 pool does
//     not hold), 25 KB (onnx) and 34 KB (ort) here;
//   - allocations per step stay within 5 per node of the graph: a kernel
//     call allocates its result tensor, the slice header its element slice
//     is boxed in, the slice of outputs it returns and a buffer below the
//     pool's smallest size, sometimes a shape; the run itself allocates its
//     result map only (its per-slot scratch is pooled). About 4 per node
//     here; 4.6 on decoder-256 before this bound (5467 allocations for 1179
//     nodes, onnx target), 4.0 after (go test -bench DecodeStep).
func TestDecodeStepAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector (see raceEnabled)")
	}
	const past = 1024
	for _, tg := range []string{"onnx", "ort"} {
		t.Run(tg, func(t *testing.T) {
			m0, f0 := kvStep(t, "../testdata/kv/tiny-mhc-kv.yaml", tg, 0, 1)
			m1, f1 := kvStep(t, "../testdata/kv/tiny-mhc-kv.yaml", tg, past, 1)
			a0, b0 := stepAllocs(t, m0, f0, 50)
			a1, b1 := stepAllocs(t, m1, f1, 50)
			presents := 0
			for _, v := range m1.Outputs {
				if v.Name != lower.Logits {
					presents += 2 * (past + 1) * 8 * 4
				}
			}
			nodes := len(m1.Nodes())
			t.Logf("%d nodes; past 0: %.0f allocations, %.0f bytes per step; past %d: %.0f allocations, %.0f bytes (presents %d bytes)", nodes, a0, b0, past, a1, b1, presents)
			if extra := b1 - b0; extra > float64(presents)/4 {
				t.Errorf("a step on a %d-token cache allocates %.0f bytes more than on an empty one, more than a quarter of its presents' %d bytes: the cache is allocated afresh each step", past, extra, presents)
			}
			if bound := 5 * float64(nodes); a1 > bound {
				t.Errorf("%.0f allocations per step, more than 5 per node (%d nodes)", a1, nodes)
			}
		})
	}
}
