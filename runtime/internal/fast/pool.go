package fast

import (
	"math/bits"
	"sync"
)

// Buffer reuse. A decoder makes hundreds of float32 intermediates per run,
// most of them dead a few nodes later; allocating each afresh makes the Go
// heap grow to several times the live set between collections and pays for
// zeroing and page faults on every one. Instead, when the plan drops the
// last value that can see a buffer (plan.go works out which values may share
// storage), the buffer goes back to a pool by size class, and the fast
// kernels, which overwrite every element of their output, take their output
// buffers from it. The pool is a sync.Pool per class, so buffers nobody
// asks for are collected as usual.

// f32Pools[c] holds buffers whose capacity is at least 1<<c.
var f32Pools [48]sync.Pool

// A f32Buf carries a buffer through a sync.Pool (a pointer, so Put does not
// allocate).
type f32Buf struct{ b []float32 }

var f32BufHolders = sync.Pool{New: func() any { return new(f32Buf) }}

// PoolMin is the smallest buffer worth pooling, in elements.
const PoolMin = 1 << 6

// GetF32 returns a float32 slice of length n, reused when the pool has one.
// Its contents are arbitrary: the caller must write every element.
func GetF32(n int) []float32 {
	if n < PoolMin {
		return make([]float32, n)
	}
	c := bits.Len(uint(n - 1)) // the class whose buffers all hold n
	if c < len(f32Pools) {
		if h, ok := f32Pools[c].Get().(*f32Buf); ok {
			b := h.b[:n]
			h.b = nil
			f32BufHolders.Put(h)
			return b
		}
		return make([]float32, n, 1<<c)
	}
	return make([]float32, n)
}

// PutF32 gives a buffer that nothing references any more back to the pool.
func PutF32(b []float32) {
	if cap(b) < PoolMin {
		return
	}
	c := bits.Len(uint(cap(b))) - 1 // its capacity is at least 1<<c
	if c >= len(f32Pools) {
		return
	}
	h := f32BufHolders.Get().(*f32Buf)
	h.b = b[:0]
	f32Pools[c].Put(h)
}
