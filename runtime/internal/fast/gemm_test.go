package fast

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// gemmKernels are the micro-kernels this build can run on this CPU: the
// portable one always, the assembly one on amd64 with AVX-512 (unless built
// with -tags purego), the simd/archsimd one when built with GOEXPERIMENT=simd
// on a CPU with AVX-512.
func gemmKernels() map[string]MicroKernel {
	ks := map[string]MicroKernel{"generic": MicroGeneric}
	if AsmKernel != nil {
		ks["asm"] = AsmKernel
	}
	if ArchsimdKernel != nil {
		ks["archsimd"] = ArchsimdKernel
	}
	return ks
}

// TestSgemm checks the packed driver with each micro-kernel against
// matMulNaive (float64 sums) on sizes of 1, around and off the MR/NR/KC/MC
// block edges, with A and B plain and transposed, serial and split over goroutines,
// and with row strides wider than the matrices.
func TestSgemm(t *testing.T) {
	sizes := [][3]int{
		{1, 1, 1}, {1, 7, 1}, {7, 1, 3}, {8, 32, 1}, {9, 33, 5}, {3, 5, 257},
		{17, 65, 300}, {129, 31, 513}, {64, 64, 64}, {130, 70, 2}, {1, 2049, 3}, {40, 100, 0}, {40, 2100, 260},
	}
	for name, kern := range gemmKernels() {
		for i, s := range sizes {
			m, n, k := s[0], s[1], s[2]
			for _, trans := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
				transA, transB := trans[0], trans[1]
				for _, workers := range []int{1, 3} {
					t.Run(fmt.Sprintf("%s/%dx%dx%d/t%v%v/w%d", name, m, n, k, transA, transB, workers), func(t *testing.T) {
						r := rand.New(rand.NewPCG(uint64(i), 7))
						pad := 3
						lda, ldb, ldc := k+pad, n+pad, n+pad
						if transA {
							lda = m + pad
						}
						if transB {
							ldb = k + pad
						}
						a := randSlice(r, max(m, k)*lda)
						b := randSlice(r, max(k, n)*ldb)
						c := randSlice(r, m*ldc) // garbage Sgemm must overwrite
						guard := c[len(c)-1]
						Sgemm(kern, m, n, k, a, lda, transA, b, ldb, transB, c, ldc, workers)
						// The oracle on dense copies.
						ad, bd := make([]float32, m*k), make([]float32, k*n)
						for i := range m {
							for p := range k {
								if transA {
									ad[i*k+p] = a[p*lda+i]
								} else {
									ad[i*k+p] = a[i*lda+p]
								}
							}
						}
						for p := range k {
							for j := range n {
								if transB {
									bd[p*n+j] = b[j*ldb+p]
								} else {
									bd[p*n+j] = b[p*ldb+j]
								}
							}
						}
						want := make([]float32, m*n)
						matMulNaive(want, ad, bd, 0, m, k, n)
						tol := 2e-7 * float64(k+1)
						for i := range m {
							for j := range n {
								got := c[i*ldc+j]
								if d := math.Abs(float64(got - want[i*n+j])); d > tol || math.IsNaN(d) {
									t.Fatalf("C[%d,%d] = %v, want %v (|Δ| %g > %g)", i, j, got, want[i*n+j], d, tol)
								}
							}
						}
						if m > 0 && n+pad <= ldc && c[len(c)-1] != guard {
							t.Errorf("Sgemm wrote past the matrix into the row padding")
						}
					})
				}
			}
		}
	}
}

func randSlice(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = 2*r.Float32() - 1
	}
	return v
}

func BenchmarkSgemm(b *testing.B) {
	for name, kern := range gemmKernels() {
		for _, n := range []int{128, 1024} {
			r := rand.New(rand.NewPCG(1, 2))
			x, y, z := randSlice(r, n*n), randSlice(r, n*n), make([]float32, n*n)
			b.Run(fmt.Sprintf("%s/%d", name, n), func(b *testing.B) {
				for b.Loop() {
					Sgemm(kern, n, n, n, x, n, false, y, n, false, z, n, Workers())
				}
				b.ReportMetric(2*float64(n*n*n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

// TestSgemmPacked checks the product with B packed beforehand (the plan's
// weights) against matMulNaive, with A packed per call and with full row
// tiles of A read in place (each rows kernel this build has), on sizes
// around the MR/NR/KC edges, serial and split.
func TestSgemmPacked(t *testing.T) {
	rows := map[string]RowsMicroKernel{"packA": nil, "rows-generic": MicroRowsGeneric}
	if RowsKernel != nil {
		rows["rows-asm"] = RowsKernel
	}
	sizes := [][3]int{{1, 1, 1}, {7, 33, 5}, {8, 32, 1}, {9, 31, 257}, {16, 70, 300}, {130, 64, 513}, {128, 24, 1024}, {3, 100, 0},
		{9, 200, 300},  // fewer rows than columns: split by columns (so is the next)
		{27, 600, 300}} // more columns than packedRowsNB: column blocks, one with a partial panel
	for name, kern := range gemmKernels() {
		for rname, rk := range rows {
			for i, s := range sizes {
				m, n, k := s[0], s[1], s[2]
				for _, workers := range []int{1, 3} {
					t.Run(fmt.Sprintf("%s/%s/%dx%dx%d/w%d", name, rname, m, n, k, workers), func(t *testing.T) {
						r := rand.New(rand.NewPCG(uint64(i), 9))
						lda, ldc := k+3, n+2
						a, b := randSlice(r, m*lda), randSlice(r, k*n)
						c := randSlice(r, m*ldc)
						guard := c[len(c)-1]
						SgemmPacked(kern, rk, m, a, lda, PackConstB(b, k, n, false), c, ldc, workers)
						ad := make([]float32, m*k)
						for i := range m {
							copy(ad[i*k:(i+1)*k], a[i*lda:])
						}
						want := make([]float32, m*n)
						matMulNaive(want, ad, b, 0, m, k, n)
						tol := 2e-7 * float64(k+1)
						for i := range m {
							for j := range n {
								got := c[i*ldc+j]
								if d := math.Abs(float64(got - want[i*n+j])); d > tol || math.IsNaN(d) {
									t.Fatalf("C[%d,%d] = %v, want %v (|Δ| %g > %g)", i, j, got, want[i*n+j], d, tol)
								}
							}
						}
						if c[len(c)-1] != guard {
							t.Errorf("wrote into the row padding")
						}
					})
				}
			}
		}
	}
}

// matMulNaive is the oracle, the runtime's reference loop (runtime/matmul.go)
// for float32: c[i,j] = Σ_p a[i,p]·b[p,j] for rows i in [i0, i1), summed in
// float64 in order of p.
func matMulNaive(c, a, b []float32, i0, i1, k, n int) {
	for i := i0; i < i1; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for p := 0; p < k; p++ {
				s += float64(a[i*k+p]) * float64(b[p*n+j])
			}
			c[i*n+j] = float32(s)
		}
	}
}

// TestRowKernelMatchesTile checks that blocks of up to rowKernelRows rows,
// which macro computes row by row with RowKernel, come out bit for bit as
// the 8-row assembly micro-kernel computes them (RowKernel nil): the same
// fused multiply-adds in the same order. Plain and transposed operands,
// pre-packed B, column counts on and off the 32-column panels and past the
// four-panel groups, depths across the KC blocks (the acc path).
func TestRowKernelMatchesTile(t *testing.T) {
	if RowKernel == nil || AsmKernel == nil {
		t.Skip("no assembly row kernel in this build or on this CPU")
	}
	row := RowKernel
	defer func() { RowKernel = row }()
	for i, s := range [][3]int{{1, 1, 1}, {1, 32, 7}, {1, 33, 64}, {1, 128, 256}, {1, 200, 300}, {2, 161, 513}, {4, 1000, 100}, {3, 96, 1}, {9, 65, 40}, {12, 40, 600}} {
		m, n, k := s[0], s[1], s[2]
		r := rand.New(rand.NewPCG(uint64(i), 11))
		for _, trans := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
			ta, tb := trans[0], trans[1]
			lda, ldb := k, n
			if ta {
				lda = m
			}
			if tb {
				ldb = k
			}
			a, b := randSlice(r, m*k), randSlice(r, k*n)
			run := func(rk RowKernel1) []float32 {
				RowKernel = rk
				c := randSlice(r, m*n)
				Sgemm(AsmKernel, m, n, k, a, lda, ta, b, ldb, tb, c, n, 1)
				return c
			}
			want, got := run(nil), run(row)
			for j := range want {
				if math.Float32bits(got[j]) != math.Float32bits(want[j]) {
					t.Fatalf("%dx%dx%d trans %v %v: element %d is %v with the row kernel, %v with the tile kernel", m, n, k, ta, tb, j, got[j], want[j])
				}
			}
		}
		pk := PackConstB(randSlice(r, k*n), k, n, false)
		a := randSlice(r, m*k)
		for _, rows := range []RowsMicroKernel{nil, RowsKernel} {
			run := func(rk RowKernel1) []float32 {
				RowKernel = rk
				c := randSlice(r, m*n)
				SgemmPacked(AsmKernel, rows, m, a, k, pk, c, n, 1)
				return c
			}
			want, got := run(nil), run(row)
			for j := range want {
				if math.Float32bits(got[j]) != math.Float32bits(want[j]) {
					t.Fatalf("packed %dx%dx%d: element %d is %v with the row kernel, %v with the tile kernel", m, n, k, j, got[j], want[j])
				}
			}
		}
	}
}

// BenchmarkSgemmPacked is the product with pre-packed weights the plan runs
// for every MatMul by a constant: a prefill's 256 token rows by the
// weights of a hidden-1024 decoder (the attention's, the FFN's and the
// gate and up projections side by side), on one and two workers.
func BenchmarkSgemmPacked(b *testing.B) {
	if RowsKernel == nil {
		b.Skip("no rows kernel in this build")
	}
	for _, s := range [][3]int{{256, 1024, 1024}, {256, 1024, 2816}, {256, 2816, 1024}, {256, 1024, 5632}} {
		m, k, n := s[0], s[1], s[2]
		r := rand.New(rand.NewPCG(1, 2))
		a, w, c := randSlice(r, m*k), randSlice(r, k*n), make([]float32, m*n)
		pk := PackConstB(w, k, n, false)
		for _, workers := range []int{1, 2} {
			b.Run(fmt.Sprintf("%dx%dx%d/workers%d", m, k, n, workers), func(b *testing.B) {
				for b.Loop() {
					SgemmPacked(SIMDKernel, RowsKernel, m, a, k, pk, c, n, workers)
				}
				b.ReportMetric(2*float64(m*n*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

// BenchmarkSgemmPackedCold is BenchmarkSgemmPacked's FFN shape with
// weights that are not cached, as in a model's prefill: each call takes the
// next of 24 packed B (277 MB in all).
func BenchmarkSgemmPackedCold(b *testing.B) {
	if RowsKernel == nil {
		b.Skip("no rows kernel in this build")
	}
	m, k, n := 256, 1024, 2816
	r := rand.New(rand.NewPCG(1, 2))
	a, c := randSlice(r, m*k), make([]float32, m*n)
	var pks []*PackedB
	for range 24 {
		pks = append(pks, PackConstB(randSlice(r, k*n), k, n, false))
	}
	for _, workers := range []int{1, 2} {
		b.Run(fmt.Sprintf("%dx%dx%d/workers%d", m, k, n, workers), func(b *testing.B) {
			i := 0
			for b.Loop() {
				SgemmPacked(SIMDKernel, RowsKernel, m, a, k, pks[i%len(pks)], c, n, workers)
				i++
			}
			b.ReportMetric(2*float64(m*n*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
