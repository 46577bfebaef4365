package core

import (
	"fmt"
	"sync"
	"sync/atomic"
)

// The memory budget. A model can ask for any tensor its shapes allow:
// ConstantOfShape([1<<30]) is 150 bytes of model and 4 GiB of output, and
// the index array a gather builds for it is 8 GiB more. The element cap
// (maxElements) stops shapes past 2^30; the budget stops what fits that cap
// but not the machine. Every output a kernel makes and every index array it
// builds is checked, before it is allocated, against the budget less the
// bytes the running graphs already hold, so a model that asks for too much
// fails with an error naming the node instead of being killed.
//
// The budget is per process, not per run: kernels allocate through free
// functions that do not see the run's options, and the memory that runs out
// is the process's, shared by every run at once. The interpreters add each
// value they keep (graph or subgraph, plan or walk) to one live total and
// take it off when the value is released; a value that shares storage with
// another (Reshape, Identity) is counted twice, which errs on the safe side.

// maxBytes is the budget in bytes; 0 means DefaultMaxBytes.
var maxBytes atomic.Int64

// LiveBytes is the bytes of the values the running interpreters hold.
var LiveBytes atomic.Int64

// SetMaxBytes sets the process's memory budget for tensors made while
// running models and returns the previous one. n ≤ 0 restores the default.
func SetMaxBytes(n int64) (old int64) {
	old = MaxBytes()
	if n < 0 {
		n = 0
	}
	maxBytes.Store(n)
	return old
}

// MaxBytes is the memory budget in force.
func MaxBytes() int64 {
	if n := maxBytes.Load(); n > 0 {
		return n
	}
	return DefaultMaxBytes()
}

// DefaultMaxBytes is half of the memory the process may use: the smaller of
// physical memory and what the address-space limit (ulimit -v) leaves past
// the address space already reserved, on Linux. Half,
// because the Go heap needs room to grow past its live set and the model's
// weights and inputs are not counted. Elsewhere it is 4 GiB.
//
// It is measured once, at the first call: every tensor a kernel makes is
// checked against the budget, and measuring (two system calls, and reading
// /proc/self/status under ulimit -v) costs microseconds, more than making
// a small tensor.
func DefaultMaxBytes() int64 { return defaultMaxBytes() }

var defaultMaxBytes = sync.OnceValue(func() int64 {
	avail := availableMemory()
	if avail <= 0 {
		return 4 << 30
	}
	return max(avail/2, 64<<20)
})

// FormatBytes prints n as "1.5 GiB", "300 MiB" or "512 B".
func FormatBytes(n int64) string {
	const k = 1024
	switch {
	case n >= k*k*k:
		return trimZero(fmt.Sprintf("%.1f", float64(n)/(k*k*k))) + " GiB"
	case n >= k*k:
		return trimZero(fmt.Sprintf("%.1f", float64(n)/(k*k))) + " MiB"
	case n >= k:
		return trimZero(fmt.Sprintf("%.1f", float64(n)/k)) + " KiB"
	}
	return fmt.Sprintf("%d B", n)
}

func trimZero(s string) string {
	if len(s) > 2 && s[len(s)-2:] == ".0" {
		return s[:len(s)-2]
	}
	return s
}

// ReserveBytes panics with a kernel error (reported against the node) when
// n more bytes would take the live total past the budget. It only checks:
// the bytes count once the interpreter keeps the value (holdBytes). what
// names the allocation; it is called only when the check fails, so the
// check, made for every tensor a kernel makes, formats nothing.
func ReserveBytes(n int64, what func() string) {
	limit := MaxBytes()
	live := LiveBytes.Load()
	if n > limit-live {
		panic(KernelError(fmt.Sprintf("%s needs %s, past the memory budget of %s (%s already held); raise the budget with --max-memory (runtime.SetMaxBytes)",
			what(), FormatBytes(n), FormatBytes(limit), FormatBytes(live))))
	}
}

// CheckSizeOf is checkSize for elements of elem bytes, checked against the
// memory budget as well as the element cap.
func CheckSizeOf(shape []int64, elem int) int {
	n := CheckSize(shape)
	ReserveBytes(int64(n)*int64(elem), func() string { return fmt.Sprintf("a tensor of shape %v", shape) })
	return n
}

// CheckIndex budgets an index array of n ints.
func CheckIndex(n int) {
	ReserveBytes(int64(n)*8, func() string { return fmt.Sprintf("an index array of %d elements", n) })
}

// TensorBytes is the storage t holds.
func TensorBytes(t *Tensor) int64 {
	if t == nil {
		return 0
	}
	return int64(t.Len()) * int64(t.DType.Size())
}

// HoldBytes adds t to the live total and returns what was added, for
// dropBytes.
func HoldBytes(t *Tensor) int64 {
	n := TensorBytes(t)
	LiveBytes.Add(n)
	return n
}

// DropBytes takes n bytes off the live total.
func DropBytes(n int64) { LiveBytes.Add(-n) }

// DefaultMaxLoopIterations is the iteration limit of a Loop node unless
// SetMaxLoopIterations changes it. ONNX lets a Loop run for ever (no trip
// count, a condition that stays true); the runtime stops it after a million
// iterations, which no model mhcc compiles or runs comes near, and which an
// empty body takes seconds to reach. The limit counts iterations, not time,
// so a model fails or passes the same on every machine.
const DefaultMaxLoopIterations = 1_000_000

var maxLoopIterations atomic.Int64

func init() { maxLoopIterations.Store(DefaultMaxLoopIterations) }

// SetMaxLoopIterations sets how many iterations a Loop node may run (0: no
// limit) and returns the previous limit.
func SetMaxLoopIterations(n int64) (old int64) {
	return maxLoopIterations.Swap(max(n, 0))
}

// MaxLoopIterations is the Loop iteration limit in force (0: none).
func MaxLoopIterations() int64 { return maxLoopIterations.Load() }
