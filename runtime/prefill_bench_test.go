package runtime_test

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"testing"

	mhrt "github.com/mhcc-dev/mhcc/runtime"
)

// BenchmarkPrefill is a prefill of 256 tokens of bench/models' decoder-1024
// in the Fast engine at GOMAXPROCS 1 and 2 (go test -bench Prefill
// -cpuprofile …), reporting the calling thread's and the process's CPU
// time per prefill beside ns/op. The calling goroutine is locked to its
// thread (so the thread's CPU time is the run's), unless
// MHCC_BENCH_UNLOCKED=1: a locked caller pays for every hand-off between
// goroutines, which the unlocked run shows.
func BenchmarkPrefill(b *testing.B) {
	for _, c := range []struct {
		target  string
		threads int
	}{{"ort", 1}, {"fused", 1}, {"fused", 2}} {
		b.Run(fmt.Sprintf("decoder-1024/%s/seq256/threads%d", c.target, c.threads), func(b *testing.B) {
			m, feeds := kvStep(b, filepath.Join("..", "bench", "models", "decoder-1024.yaml"), c.target, 0, 256)
			defer goruntime.GOMAXPROCS(goruntime.GOMAXPROCS(c.threads))
			if os.Getenv("MHCC_BENCH_UNLOCKED") == "" {
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
		})
	}
}
