package runtime_test

import (
	"fmt"
	"maps"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"testing"

	mhrt "github.com/mhcc-dev/mhcc/runtime"
)

// BenchmarkPrefill is a prefill of 256 tokens of bench/models' decoder-1024
// in the Fast engine on one thread (go test -bench Prefill -cpuprofile …),
// reporting the thread's CPU time per prefill beside ns/op.
func BenchmarkPrefill(b *testing.B) {
	for _, tg := range []string{"ort", "fused"} {
		b.Run(fmt.Sprintf("decoder-1024/%s/seq256", tg), func(b *testing.B) {
			m, feeds := kvStep(b, filepath.Join("..", "bench", "models", "decoder-1024.yaml"), tg, 0, 256)
			defer goruntime.GOMAXPROCS(goruntime.GOMAXPROCS(1))
			goruntime.LockOSThread()
			defer goruntime.UnlockOSThread()
			var live []*mhrt.Tensor
			for _, t := range feeds {
				live = append(live, t)
			}
			t0 := cpuClock(3)
			for b.Loop() {
				out, err := m.Run(feeds)
				if err != nil {
					b.Fatal(err)
				}
				mhrt.Recycle(slices.Collect(maps.Values(out)), live...)
			}
			b.ReportMetric(float64(cpuClock(3)-t0)/1e6/float64(b.N), "thread-cpu-ms/op")
		})
	}
}
