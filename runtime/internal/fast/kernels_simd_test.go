//go:build goexperiment.simd && amd64

package fast

import (
	"math"
	"math/rand/v2"
	"simd/archsimd"
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

// TestSumSqAndCombRow checks the fused mHC ops' vector kernels against
// float64 sums: sumSqAVX512 (float32 sums in its own order) within float32
// rounding of the total, combRowAVX512 within the rounding of n fused
// multiply-adds, for lengths with and without a scalar tail and every
// stream count; and that both decline what they do not do.
func TestSumSqAndCombRow(t *testing.T) {
	if !archsimd.X86.AVX512() {
		t.Skip("no AVX-512 on this CPU")
	}
	r := rand.New(rand.NewPCG(3, 4))
	for _, C := range []int{16, 37, 64, 1000, 4096} {
		x := randSlice(r, 8*C)
		var want float64
		for _, v := range x[:C] {
			want += float64(v) * float64(v)
		}
		got, ok := sumSqAVX512(x[:C])
		if C < 64 {
			if ok {
				t.Errorf("sumSqAVX512 took %d floats, want it to decline under 64", C)
			}
		} else if d := math.Abs(float64(got) - want); !ok || d > want*float64(C)*0x1p-24 {
			t.Errorf("sumSqAVX512 of %d floats = %v (ok %v), want %v", C, got, ok, want)
		}
		for n := 1; n <= 8; n++ {
			coef := randSlice(r, n)
			dst := make([]float32, C)
			if !combRowAVX512(dst, x, C, coef) {
				t.Fatalf("combRowAVX512 declined n=%d C=%d", n, C)
			}
			for i := range C {
				var w, mag float64
				for q := range n {
					p := float64(coef[q]) * float64(x[q*C+i])
					w += p
					mag += math.Abs(p)
				}
				if d := math.Abs(float64(dst[i]) - w); d > mag*float64(n)*0x1p-23 {
					t.Fatalf("combRowAVX512 n=%d C=%d: dst[%d] = %v, want %v", n, C, i, dst[i], w)
				}
			}
		}
	}
	if combRowAVX512(make([]float32, 16), make([]float32, 9*16), 16, make([]float32, 9)) {
		t.Error("combRowAVX512 took 9 streams, want it to decline over 8")
	}
	if combRowAVX512(make([]float32, 32), make([]float32, 40), 16, make([]float32, 2)) {
		t.Error("combRowAVX512 took a state shorter than its streams")
	}
}
