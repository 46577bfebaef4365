//go:build goexperiment.simd && amd64

package fast

import (
	"testing"

	"github.com/mhcc-dev/mhcc/runtime/internal/core"
)

// BenchmarkRowsAVX512 times each AVX-512 row kernel on a row of 1000
// floats (62 vectors and an 8-element scalar tail), as the Fast engine
// calls them, one row after another.
func BenchmarkRowsAVX512(b *testing.B) {
	const n = 1000
	x, y, dst := make([]float32, n), make([]float32, n), make([]float32, n)
	acc := make([]float64, n)
	for i := range x {
		x[i], y[i] = float32(i%13)*0.1-0.5, float32(i%5)+1
	}
	b.Run("binRow", func(b *testing.B) {
		for b.Loop() {
			binRowAVX512(core.BinMul, dst, x, 1, y, 1)
		}
	})
	b.Run("sigmoidRow", func(b *testing.B) {
		for b.Loop() {
			sigmoidRowAVX512(dst, x)
		}
	})
	b.Run("expSubRow", func(b *testing.B) {
		for b.Loop() {
			expSubRowAVX512(dst, x, 0.7)
		}
	})
	b.Run("expRow", func(b *testing.B) {
		for b.Loop() {
			copy(dst, x)
			expRowAVX512(dst)
		}
	})
	b.Run("maxRow", func(b *testing.B) {
		for b.Loop() {
			maxRowAVX512(x)
		}
	})
	b.Run("scaleRow", func(b *testing.B) {
		for b.Loop() {
			scaleRowAVX512(dst, 1.0001)
		}
	})
	b.Run("axpy", func(b *testing.B) {
		for b.Loop() {
			axpyAVX512(dst, x, 0.5)
		}
	})
	b.Run("accRow", func(b *testing.B) {
		for b.Loop() {
			accRowAVX512(acc, x, true)
		}
	})
}
