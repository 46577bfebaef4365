package runtime

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/mhcc-dev/mhcc/runtime/internal/core"
	"github.com/mhcc-dev/mhcc/runtime/internal/fast"
	"github.com/mhcc-dev/mhcc/runtime/internal/ref"
)

// randTensor is a float32 tensor of uniform values in [−1, 1) from seed.
func randTensor(seed uint64, shape ...int64) *core.Tensor {
	r := rand.New(rand.NewPCG(seed, 1))
	v := make([]float32, ref.Product(shape))
	for i := range v {
		v[i] = 2*r.Float32() - 1
	}
	return core.NewFloat32(shape, v)
}

// TestMatMulBlocked checks the fast kernels against the reference loop. In
// float64 both sum in float64 in the same order, so they must agree exactly;
// float32 products of 32³ multiply-adds or more go to gonum, which sums in
// float32, so they agree to float32 rounding of a k-term sum. The sizes
// straddle the block edges, the gonum threshold and the goroutine split.
func TestMatMulBlocked(t *testing.T) {
	shapes := []struct{ a, b []int64 }{
		{sh(1, 1), sh(1, 1)},
		{sh(3, 5), sh(5, 7)},
		{sh(9, 130), sh(130, 513)},
		{sh(2, 3, 17, 200), sh(200, 33)},  // batch on A only
		{sh(4, 1, 8, 16), sh(3, 16, 600)}, // batches broadcast both ways
		{sh(64, 64), sh(64, 64)},
		{sh(300), sh(300, 70)},
		{sh(0, 4), sh(4, 3)},
		{sh(33, 31), sh(31, 33)}, // just over the gonum threshold
		{sh(1, 1024), sh(1024, 37)},
		{sh(5, 128, 8), sh(8, 128)},
	}
	for i, s := range shapes {
		t.Run(fmt.Sprint(s.a, s.b), func(t *testing.T) {
			a, b := randTensor(uint64(2*i), s.a...), randTensor(uint64(2*i+1), s.b...)
			poisonPool()
			got, slow := fast.MatmulT(a, b, false, false), ref.MatmulRef(a, b)
			k := float64(s.a[len(s.a)-1])
			if err := compareTensors(got, slow, 1e-6*k, 1e-6*k); err != nil {
				t.Error(err)
			}
			a64, b64 := ref.Cast1(a, core.Float64), ref.Cast1(b, core.Float64)
			if err := compareTensors(fast.MatmulT(a64, b64, false, false), ref.MatmulRef(a64, b64), 0, 0); err != nil {
				t.Error("float64:", err)
			}
		})
	}
}

// TestMatMulNaive pins the oracle itself to a hand-computed product.
func TestMatMulNaive(t *testing.T) {
	got := ref.MatmulRef(f32(sh(2, 3), 1, 2, 3, 4, 5, 6), f32(sh(3, 2), 7, 8, 9, 10, 11, 12))
	if err := compareTensors(got, f32(sh(2, 2), 58, 64, 139, 154), 0, 0); err != nil {
		t.Error(err)
	}
}

func BenchmarkMatMul(b *testing.B) {
	for _, n := range []int64{64, 256, 512} {
		x, y := randTensor(1, n, n), randTensor(2, n, n)
		for _, useFast := range []bool{true, false} {
			if !useFast && n > 256 {
				continue
			}
			name := fmt.Sprintf("%d/blocked", n)
			if !useFast {
				name = fmt.Sprintf("%d/naive", n)
			}
			b.Run(name, func(b *testing.B) {
				for b.Loop() {
					if useFast {
						fast.MatmulT(x, y, false, false)
					} else {
						ref.MatmulRef(x, y)
					}
				}
				b.ReportMetric(float64(2*n*n*n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

// TestMatMulTransposed checks products with operands read transposed (as
// the plan fuses them, plan.go), small-k batches (the mHC stream mixing)
// among them, against the reference on explicitly transposed copies.
func TestMatMulTransposed(t *testing.T) {
	shapes := []struct{ a, b []int64 }{
		{sh(128, 4, 4), sh(128, 4, 256)},
		{sh(3, 4, 4), sh(3, 4, 17)},
		{sh(2, 7, 3), sh(3, 40)},
		{sh(1, 5), sh(5, 33)},
		{sh(9, 130), sh(130, 65)},
		{sh(2, 3, 5, 64), sh(2, 3, 64, 6)},
	}
	for i, s := range shapes {
		for _, tr := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
			t.Run(fmt.Sprint(s.a, s.b, tr), func(t *testing.T) {
				a, b := randTensor(uint64(2*i), s.a...), randTensor(uint64(2*i+1), s.b...)
				want := ref.MatmulRef(a, b)
				poisonPool()
				if tr[0] {
					a = swapLast2(a)
				}
				if tr[1] {
					b = swapLast2(b)
				}
				k := float64(s.a[len(s.a)-1])
				if err := compareTensors(fast.MatmulT(a, b, tr[0], tr[1]), want, 1e-6*k, 1e-6*k); err != nil {
					t.Error(err)
				}
				// float64 (the verification reference): b read transposed
				// in place by matMulTransB, a materialized; float64 sums in
				// another order than the oracle's, so within a few ulps.
				a64, b64 := ref.Cast1(a, core.Float64), ref.Cast1(b, core.Float64)
				want64 := ref.MatmulRef(ref.Cast1(transposedIf(a, tr[0]), core.Float64), ref.Cast1(transposedIf(b, tr[1]), core.Float64))
				if err := compareTensors(fast.MatmulT(a64, b64, tr[0], tr[1]), want64, 1e-13, 1e-13); err != nil {
					t.Error("float64:", err)
				}
			})
		}
	}
}

func transposedIf(x *core.Tensor, tr bool) *core.Tensor {
	if tr {
		return swapLast2(x)
	}
	return x
}

// swapLast2 swaps the last two dims of x by the plain transpose.
func swapLast2(x *core.Tensor) *core.Tensor {
	r := len(x.Shape)
	perm := make([]int, r)
	for i := range perm {
		perm[i] = i
	}
	perm[r-2], perm[r-1] = r-1, r-2
	return ref.TransposeTensor(x, perm)
}
