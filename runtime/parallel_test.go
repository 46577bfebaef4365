package runtime

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestParallelFor checks that every index is visited exactly once, for
// sizes around the chunking, from several goroutines at once and with
// parallelFor nested in itself (the pool is busy: the callers do the work).
func TestParallelFor(t *testing.T) {
	sizes := []int{0, 1, 2, 3, 7, 8, 9, 63, 64, 65, 1000, 4097}
	check := func(n, workers int) {
		hits := make([]atomic.Int32, n)
		parallelFor(n, workers, func(i0, i1 int) {
			if i0 < 0 || i1 > n || i0 > i1 || i0 == i1 && n > 0 {
				t.Errorf("n=%d: range [%d, %d)", n, i0, i1)
				return
			}
			for i := i0; i < i1; i++ {
				hits[i].Add(1)
			}
		})
		for i := range hits {
			if h := hits[i].Load(); h != 1 {
				t.Fatalf("n=%d workers=%d: index %d visited %d times", n, workers, i, h)
			}
		}
	}
	for _, n := range sizes {
		for _, w := range []int{1, 2, 3, 8} {
			check(n, w)
		}
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 50 {
				parallelFor(6, 3, func(i0, i1 int) {
					for range i1 - i0 {
						check(65, 2)
					}
				})
			}
		})
	}
	wg.Wait()
}

// TestHelpersSleep checks that helpers go to sleep once work stops and no
// wake-up token is left over: a leftover token would wake a helper to spin
// for nothing, taking a core from whatever runs next (onnxruntime, in the
// benchmark).
func TestHelpersSleep(t *testing.T) {
	for range 2000 {
		parallelFor(8, 3, func(i0, i1 int) {})
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		helpers.mu.Lock()
		started := helpers.started
		helpers.mu.Unlock()
		if int(helpers.sleeping.Load()) == started && len(helpers.wake) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d helpers asleep, %d wake-up tokens pending", helpers.sleeping.Load(), started, len(helpers.wake))
		}
		time.Sleep(helperSpin)
	}
}
