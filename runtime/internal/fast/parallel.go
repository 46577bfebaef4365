package fast

import (
	goruntime "runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Parallel loops. A decoder run is about a thousand kernel calls, most of
// them a few microseconds long, and the parallel ones among them split work
// of tens of microseconds. Starting a goroutine per split costs little, but
// waking an idle thread to run it costs a futex call and often tens of
// microseconds before it runs, which is as long as the work: measured on
// decoder-256, the Go runtime was barely faster on 2 threads than on 1.
//
// So ParallelFor hands its work to a pool of helper goroutines that, once
// started, keep looking for work for a while (helperSpin) before they block,
// as onnxruntime's thread pool does, and it splits the work into more chunks
// than workers, taken one at a time from an atomic counter. The caller takes
// chunks too, and waits only for chunks a helper has already started: a late
// helper costs nothing, a busy pool (a ParallelFor inside another, or two
// models run at once) degrades to the caller doing the work, and nothing can
// deadlock.

// helperSpin is how long an idle helper keeps looking for work before it
// blocks until ParallelFor wakes it.
const helperSpin = 200 * time.Microsecond

// waitSpin is how long ParallelFor's caller spins for the helpers' last
// chunks before it yields its thread between checks.
const waitSpin = 50 * time.Microsecond

// chunksPerWorker is how many chunks ParallelFor makes per worker, so that
// a helper that starts late, or a core the OS gives to someone else,
// unbalances the loop by a fraction of one worker's share.
const chunksPerWorker = 4

// A pjob is one ParallelFor: chunks [0, nchunks) of per indices each.
type pjob struct {
	f       func(i0, i1 int)
	n, per  int
	nchunks int64
	next    atomic.Int64 // the next chunk to start
	done    atomic.Int64 // chunks finished
	helpers atomic.Int32 // helpers still allowed to join
	// The first panic in a helper's chunk, raised again in the caller, so
	// that a kernel's error reaches runCall's recover like any other.
	panicked atomic.Pointer[helperPanic]
}

type helperPanic struct{ v any }

// help is work on a helper goroutine: a panic ends the chunk it came from
// (counted as done) and is kept for the caller.
func (j *pjob) help() {
	defer func() {
		if r := recover(); r != nil {
			j.panicked.CompareAndSwap(nil, &helperPanic{r})
			j.done.Add(1)
			j.help() // the chunks left
		}
	}()
	j.work()
}

// work runs chunks of j until none is left to start.
func (j *pjob) work() {
	for {
		c := j.next.Add(1) - 1
		if c >= j.nchunks {
			return
		}
		i0 := int(c) * j.per
		j.f(i0, min(j.n, i0+j.per))
		j.done.Add(1)
	}
}

var helpers struct {
	mu       sync.Mutex
	started  int          // helper goroutines running
	count    atomic.Int32 // started, for a check without the lock
	current  atomic.Pointer[pjob]
	sleeping atomic.Int32  // helpers blocked on wake, or about to be
	wake     chan struct{} // a token per sleeping helper to wake
}

func init() {
	helpers.wake = make(chan struct{}, 256)
}

// ensureHelpers starts helpers until there are n; once they run, it costs
// an atomic load (ParallelFor calls it every time).
func ensureHelpers(n int) {
	n = min(n, cap(helpers.wake))
	if int(helpers.count.Load()) >= n {
		return
	}
	helpers.mu.Lock()
	for helpers.started < n {
		helpers.started++
		go helperLoop()
	}
	helpers.count.Store(int32(helpers.started))
	helpers.mu.Unlock()
}

// helperLoop is a helper goroutine: it joins the current job while there is
// one with chunks left, spins for helperSpin looking for the next, then
// blocks until woken.
func helperLoop() {
	for {
		idle := time.Now()
		var seen *pjob
		for spins := 0; ; spins++ {
			// Join each job once, if it still has chunks to start and
			// wants another helper; else keep spinning politely.
			if j := helpers.current.Load(); j != nil && j != seen && j.next.Load() < j.nchunks {
				seen = j
				if j.helpers.Add(-1) >= 0 {
					j.help()
					idle = time.Now()
				}
				continue
			}
			if spins%64 == 63 {
				if time.Since(idle) > helperSpin {
					break
				}
				goruntime.Gosched()
			}
		}
		// Only a ParallelFor that counts this helper out of sleeping sends
		// it a token, so no token is ever left over to wake a helper for
		// nothing (and keep it spinning while someone else runs).
		helpers.sleeping.Add(1)
		<-helpers.wake
	}
}

// ParallelFor splits [0, n) into contiguous ranges and runs f on them, on
// the calling goroutine and on up to workers−1 helpers, returning when all
// are done. f must be safe to call concurrently on disjoint ranges; the
// ranges' sizes and number are not fixed (more than workers, so a slow
// worker does not hold up the others). A panic in f, on whichever
// goroutine, comes out of ParallelFor (a helper's once all chunks are done).
func ParallelFor(n, workers int, f func(i0, i1 int)) {
	workers = min(workers, n)
	if workers <= 1 {
		f(0, n)
		return
	}
	chunks := min(n, workers*chunksPerWorker)
	per := (n + chunks - 1) / chunks
	if per > 64 {
		per = (per + 15) &^ 15 // whole 16-lane vectors for elementwise loops
	}
	j := &pjob{f: f, n: n, per: per, nchunks: int64((n + per - 1) / per)}
	j.helpers.Store(int32(workers - 1))
	ensureHelpers(workers - 1)
	helpers.current.Store(j)
	for woken := 0; woken < workers-1; {
		s := helpers.sleeping.Load()
		if s <= 0 {
			break
		}
		if helpers.sleeping.CompareAndSwap(s, s-1) {
			helpers.wake <- struct{}{}
			woken++
		}
	}
	finished := false
	defer func() {
		if !finished { // f panicked here: hand out no more chunks
			j.next.Store(j.nchunks)
			helpers.current.CompareAndSwap(j, nil)
		}
	}()
	j.work()
	finished = true
	helpers.current.CompareAndSwap(j, nil)
	// Wait for the chunks helpers started, spinning: yielding at once
	// costs a locked caller (runtime.LockOSThread, as benchmarks and cgo
	// callers do) a hand-off of its thread at every wait, 55 ms of a 320 ms
	// prefill at hidden 1024 on two threads. Yield only once a wait has
	// lasted waitSpin, so a helper that lost its thread still gets one.
	var since time.Time
	for spins := 0; j.done.Load() < j.nchunks; spins++ {
		if spins%64 == 63 {
			switch {
			case since.IsZero():
				since = time.Now()
			case time.Since(since) > waitSpin:
				goruntime.Gosched()
			}
		}
	}
	if p := j.panicked.Load(); p != nil {
		panic(p.v)
	}
}
