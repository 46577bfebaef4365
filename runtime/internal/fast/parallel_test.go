package fast

import (
	goruntime "runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestParallelFor checks that every index is visited exactly once, for
// sizes around the chunking, from several goroutines at once and with
// ParallelFor nested in itself (the pool is busy: the callers do the work).
func TestParallelFor(t *testing.T) {
	sizes := []int{0, 1, 2, 3, 7, 8, 9, 63, 64, 65, 1000, 4097}
	check := func(n, workers int) {
		hits := make([]atomic.Int32, n)
		ParallelFor(n, workers, func(i0, i1 int) {
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
				ParallelFor(6, 3, func(i0, i1 int) {
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
		ParallelFor(8, 3, func(i0, i1 int) {})
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

// TestParallelForPanics checks that a panic in f, a kernel's way of
// reporting an error, comes out of ParallelFor on the caller, whichever
// goroutine ran the chunk (one case forces a helper), and that the pool
// keeps working afterwards.
func TestParallelForPanics(t *testing.T) {
	for bad := range 8 {
		got := func() (r any) {
			defer func() { r = recover() }()
			ParallelFor(8, 2, func(i0, i1 int) {
				for i := i0; i < i1; i++ {
					if i == bad {
						panic(testPanic("bad index"))
					}
				}
			})
			return nil
		}()
		if got != testPanic("bad index") {
			t.Fatalf("index %d: recovered %v, want the kernel error", bad, got)
		}
	}
	// A panic on a helper goroutine, for certain: chunks run by the caller
	// wait until a helper has taken one, and the helper's chunk panics
	// (without the hand-over it would crash the test binary).
	var onHelper atomic.Bool
	got := func() (r any) {
		defer func() { r = recover() }()
		ParallelFor(8, 2, func(i0, i1 int) {
			stack := make([]byte, 4096)
			if strings.Contains(string(stack[:goruntime.Stack(stack, false)]), "helperLoop") {
				onHelper.Store(true)
				panic(testPanic("bad chunk on a helper"))
			}
			for deadline := time.Now().Add(5 * time.Second); !onHelper.Load() && time.Now().Before(deadline); {
				goruntime.Gosched()
			}
		})
		return nil
	}()
	if !onHelper.Load() {
		t.Fatal("no helper ran a chunk in 5 s")
	}
	if got != testPanic("bad chunk on a helper") {
		t.Fatalf("recovered %v, want the helper's kernel error", got)
	}
	check := make([]atomic.Int32, 100)
	ParallelFor(100, 2, func(i0, i1 int) {
		for i := i0; i < i1; i++ {
			check[i].Add(1)
		}
	})
	for i := range check {
		if check[i].Load() != 1 {
			t.Fatalf("after the panics, index %d visited %d times", i, check[i].Load())
		}
	}
}

// testPanic stands for the runtime's kernelError: a typed panic value that
// must come out of ParallelFor unchanged.
type testPanic string
