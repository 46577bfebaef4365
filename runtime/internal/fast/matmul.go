package fast

import (
	goruntime "runtime"
	"sync"

	"github.com/mhcc-dev/mhcc/runtime/internal/core"
	"github.com/mhcc-dev/mhcc/runtime/internal/ref"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

// The Fast engine's matrix products, tested against matMulNaive
// (matmul_test.go, gemm_test.go): float32 goes to the packed AVX-512 GEMM of
// internal/fast where the CPU and build have a micro-kernel for it, else to
// gonum's blas32 from 32³ multiply-adds and matMulBlocked (float64 sums)
// below; float64 to matMulBlocked.

// matMulFused is the kernel of a MatMul the plan fused (plan.go): an operand
// whose Transpose of the last two dims was fused into it arrives
// untransposed and is read transposed; a constant B the plan packed is read
// from its packed form.
func matMulFused(c *core.Call, in []*core.Tensor) []*core.Tensor {
	if pk := fusionOf(c.N).packed; pk != nil {
		return []*core.Tensor{matmulPacked(in[0], pk)}
	}
	return []*core.Tensor{MatmulT(in[0], in[1], fusionOf(c.N).transA, fusionOf(c.N).transB)}
}

// MatmulT multiplies a (its last two dims swapped if ta) by b (likewise if
// tb). The float32 path reads either operand transposed in place, the
// float64 one a transposed b (x·Wᵀ, every linear layer of the verification
// reference: materializing Wᵀ would copy every weight on every run); the
// others materialize the transpose first.
func MatmulT(a, b *core.Tensor, ta, tb bool) *core.Tensor {
	if a.DType != b.DType {
		panic(core.ErrType)
	}
	if len(a.Shape) == 0 || len(b.Shape) == 0 || ta && len(a.Shape) < 2 || tb && len(b.Shape) < 2 {
		panic(core.ErrRank)
	}
	inPlace := a.DType == core.Float32 || a.DType == core.Float64 && !ta
	if (ta || tb) && !inPlace {
		if ta {
			a = transposeLast2(a)
		}
		if tb {
			b = transposeLast2(b)
		}
		ta, tb = false, false
	}
	p, shape, final := ref.MmShapes(a, b, ta, tb)
	var out *core.Tensor
	if a.DType == core.Float32 {
		out = newF32(shape) // every kernel below writes all of C
	} else {
		out = core.Alloc(a.DType, shape)
	}
	switch ad := a.Elems.(type) {
	case []float32:
		run32(&p, out.Elems.([]float32), ad, b.Elems.([]float32))
	case []float64:
		run64(&p, out.Elems.([]float64), ad, b.Elems.([]float64))
	default:
		if a.DType.IsHalf() {
			out = core.NarrowFloat32(MatmulT(core.Widen(a), core.Widen(b), false, false), a.DType)
		} else if a.DType.IsInt() {
			out = p.Ints(a, b, shape)
		} else {
			panic(core.ErrType)
		}
	}
	return core.Reshaped(out, final)
}

// matmulPacked is a·B for a float32 a (rank ≥ 1) and a constant B packed by
// the plan: all of a's rows, whatever its batch dims, in one product.
func matmulPacked(a *core.Tensor, pk *packedB) *core.Tensor {
	if a.DType != core.Float32 {
		panic(core.ErrType)
	}
	if len(a.Shape) == 0 {
		panic(core.ErrRank)
	}
	k := int(a.Shape[len(a.Shape)-1])
	if k != pk.K {
		core.Failf("matmul of %v and [%d %d]: inner dims %d and %d differ", a.Shape, pk.K, pk.N, k, pk.K)
	}
	shape := append(append([]int64{}, a.Shape[:len(a.Shape)-1]...), int64(pk.N))
	out := newF32(shape)
	m := a.Len() / max(k, 1)
	if k == 0 {
		m = ref.Product(shape) / max(pk.N, 1)
	}
	SgemmPacked(SIMDKernel, RowsKernel, m, a.Elems.([]float32), k, pk.PackedB, out.Elems.([]float32), pk.N, Workers())
	return out
}

// transposeLast2 swaps the last two dims of x.
func transposeLast2(x *core.Tensor) *core.Tensor {
	r := len(x.Shape)
	perm := make([]int, r)
	for i := range perm {
		perm[i] = i
	}
	perm[r-2], perm[r-1] = r-1, r-2
	return Ops{}.Transpose(x, perm)
}

func run32(p *ref.MmProblem, c, a, b []float32) {
	m, k, n := p.M, p.K, p.N
	if SIMDKernel != nil {
		lda, ldb := k, n
		if p.TransA {
			lda = m
		}
		if p.TransB {
			ldb = k
		}
		one := func(bi, workers int) {
			Sgemm(SIMDKernel, m, n, k, a[p.AIdx[bi]*m*k:][:m*k], lda, p.TransA, b[p.BIdx[bi]*k*n:][:k*n], ldb, p.TransB, c[bi*m*n:][:m*n], n, workers)
		}
		if k <= smallK && n >= 16 && axpySIMD != nil {
			one = func(bi, _ int) {
				matMulSmallK(c[bi*m*n:][:m*n], a[p.AIdx[bi]*m*k:][:m*k], p.TransA, b[p.BIdx[bi]*k*n:][:k*n], p.TransB, m, k, n)
			}
		}
		workers := Workers()
		batches := len(p.AIdx)
		if batches < workers || batches*m*n*k < 1<<16 {
			for bi := range batches {
				one(bi, workers)
			}
			return
		}
		ParallelFor(batches, workers, func(b0, b1 int) {
			for bi := b0; bi < b1; bi++ {
				one(bi, 1)
			}
		})
		return
	}
	if p.TransA || p.TransB || m*k*n >= gonumMinWork {
		for bi := range p.AIdx {
			matMulGonum32(c[bi*m*n:(bi+1)*m*n], a[p.AIdx[bi]*m*k:(p.AIdx[bi]+1)*m*k], p.TransA, b[p.BIdx[bi]*k*n:(p.BIdx[bi]+1)*k*n], p.TransB, m, k, n)
		}
		return
	}
	mmRun(p, c, a, b)
}

// smallK is the inner dimension up to which a float32 product skips the
// packed GEMM: with k this small, packing costs more than it saves
// (the mHC stream mixing is a batch of 4×4 · 4×C products).
const smallK = 8

// matMulSmallK is c = a·b for one m×k by k×n float32 product, k ≤ smallK, as
// row updates c[i,:] += a[i,p]·b[p,:] with the vector axpy.
func matMulSmallK(c, a []float32, ta bool, b []float32, tb bool, m, k, n int) {
	if tb {
		// From the pool: with a small head dimension this is attention's
		// Q·Kᵀ, and its B as long as the KV cache.
		bt := GetF32(k * n)
		defer PutF32(bt)
		for j := range n {
			for p := range k {
				bt[p*n+j] = b[j*k+p]
			}
		}
		b = bt
	}
	for i := range m {
		row := c[i*n:][:n]
		clear(row)
		for p := range k {
			av := a[i*k+p]
			if ta {
				av = a[p*m+i]
			}
			axpySIMD(row, b[p*n:][:n], av)
		}
	}
}

// axpySIMD is dst[i] += alpha·x[i] where the build has a vector form
// (kernels_simd.go), else nil.
var axpySIMD func(dst, x []float32, alpha float32)

// gonumMinWork is the number of multiply-adds from which a float32 product
// goes to gonum: below it, the call overhead outweighs the faster kernel.
const gonumMinWork = 32 * 32 * 32

// matMulGonum32 is c = a·b for one m×k by k×n float32 product (a, b stored
// transposed when ta, tb) through
// gonum's blas32.Gemm: assembly-accelerated and parallel across the cores
// for large products. It sums in float32, as onnxruntime's MLAS does, so it
// agrees with matMulNaive (which sums in float64) to float32 rounding, not
// bit for bit; matmul_test.go checks the bound.
func matMulGonum32(c, a []float32, ta bool, b []float32, tb bool, m, k, n int) {
	A := blas32.General{Rows: m, Cols: k, Stride: k, Data: a}
	opA := blas.NoTrans
	if ta {
		A, opA = blas32.General{Rows: k, Cols: m, Stride: m, Data: a}, blas.Trans
	}
	B := blas32.General{Rows: k, Cols: n, Stride: n, Data: b}
	opB := blas.NoTrans
	if tb {
		B, opB = blas32.General{Rows: n, Cols: k, Stride: k, Data: b}, blas.Trans
	}
	blas32.Gemm(opA, opB, 1, A, B, 0, blas32.General{Rows: m, Cols: n, Stride: n, Data: c})
}
func run64(p *ref.MmProblem, c, a, b []float64) { mmRun(p, c, a, b) }

// mmRun splits the batch × m output rows among goroutines.
func mmRun[T ref.Float](p *ref.MmProblem, c, a, b []T) {
	m, k, n := p.M, p.K, p.N
	rows := len(p.AIdx) * m
	if rows == 0 || n == 0 {
		return
	}
	// rowsOf computes output rows [r0, r1), which may span batches.
	rowsOf := func(r0, r1 int) {
		for r0 < r1 {
			bi, i0 := r0/m, r0%m
			i1 := min(m, i0+r1-r0)
			cb := c[bi*m*n : (bi+1)*m*n]
			ab := a[p.AIdx[bi]*m*k : (p.AIdx[bi]+1)*m*k]
			bb := b[p.BIdx[bi]*k*n : (p.BIdx[bi]+1)*k*n]
			if p.TransB {
				matMulTransB(cb, ab, bb, i0, i1, k, n)
			} else {
				matMulBlocked(cb, ab, bb, i0, i1, k, n)
			}
			r0 += i1 - i0
		}
	}
	workers := goruntime.GOMAXPROCS(0)
	const minWork = 1 << 16 // multiply-adds per goroutine worth starting one
	if w := rows * k * n / minWork; w < workers {
		workers = max(w, 1)
	}
	if workers == 1 {
		rowsOf(0, rows)
		return
	}
	var wg sync.WaitGroup
	chunk := (rows + workers - 1) / workers
	for r := 0; r < rows; r += chunk {
		wg.Add(1)
		go func(r0, r1 int) {
			defer wg.Done()
			rowsOf(r0, r1)
		}(r, min(rows, r+chunk))
	}
	wg.Wait()
}

// Block sizes of matMulBlocked: a kb×nb panel of B (256 KiB of float32)
// stays in cache while up to rb rows of A stream over it.
const (
	mmRB = 8
	mmKB = 128
	mmNB = 512
)

// matMulTransB is matMulBlocked with b stored transposed (n×k): each C[i, j]
// is the float64 dot product of two contiguous rows, A's i and B's j. The
// rows of B are taken in blocks that stay in cache while every row of A
// meets them, and two rows of A meet two of B at a time, so each element
// loaded serves two products (the float64 verification reference spends
// most of its time here, on x·Wᵀ).
func matMulTransB[T ref.Float](c, a, b []T, i0, i1, k, n int) {
	const jBlock = 32
	for j0 := 0; j0 < n; j0 += jBlock {
		j1 := min(n, j0+jBlock)
		i := i0
		for ; i+2 <= i1; i += 2 {
			a0, a1 := a[i*k:(i+1)*k], a[(i+1)*k:(i+2)*k]
			c0, c1 := c[i*n:(i+1)*n], c[(i+1)*n:(i+2)*n]
			j := j0
			for ; j+2 <= j1; j += 2 {
				b0, b1 := b[j*k:(j+1)*k], b[(j+1)*k:(j+2)*k]
				a1, b0, b1 := a1[:len(a0)], b0[:len(a0)], b1[:len(a0)]
				var s00, s01, s10, s11 float64
				for p, x := range a0 {
					x0, x1 := float64(x), float64(a1[p])
					y0, y1 := float64(b0[p]), float64(b1[p])
					s00 += x0 * y0
					s01 += x0 * y1
					s10 += x1 * y0
					s11 += x1 * y1
				}
				c0[j], c0[j+1], c1[j], c1[j+1] = T(s00), T(s01), T(s10), T(s11)
			}
			for ; j < j1; j++ {
				c0[j], c1[j] = T(dotT(a0, b[j*k:(j+1)*k])), T(dotT(a1, b[j*k:(j+1)*k]))
			}
		}
		for ; i < i1; i++ {
			arow, crow := a[i*k:(i+1)*k], c[i*n:(i+1)*n]
			for j := j0; j < j1; j++ {
				crow[j] = T(dotT(arow, b[j*k:(j+1)*k]))
			}
		}
	}
}

// dotT is Σ x[p]·y[p] in float64, in four partial sums.
func dotT[T ref.Float](x, y []T) float64 {
	y = y[:len(x)]
	var s0, s1, s2, s3 float64
	p := 0
	for ; p+4 <= len(x); p += 4 {
		s0 += float64(x[p]) * float64(y[p])
		s1 += float64(x[p+1]) * float64(y[p+1])
		s2 += float64(x[p+2]) * float64(y[p+2])
		s3 += float64(x[p+3]) * float64(y[p+3])
	}
	for ; p < len(x); p++ {
		s0 += float64(x[p]) * float64(y[p])
	}
	return (s0 + s1) + (s2 + s3)
}

// matMulBlocked computes the same as matMulNaive, summing in float64 in order
// of p, but walks B in kb×nb panels, accumulating rb rows of C at a time as
// row updates c[i,:] += a[i,p]·b[p,:] that run along memory.
func matMulBlocked[T ref.Float](c, a, b []T, i0, i1, k, n int) {
	var accBuf [mmRB * mmNB]float64
	for ib := i0; ib < i1; ib += mmRB {
		ie := min(ib+mmRB, i1)
		for jb := 0; jb < n; jb += mmNB {
			je := min(jb+mmNB, n)
			w := je - jb
			acc := accBuf[:(ie-ib)*w]
			clear(acc)
			for pb := 0; pb < k; pb += mmKB {
				pe := min(pb+mmKB, k)
				for i := ib; i < ie; i++ {
					ac := acc[(i-ib)*w : (i-ib+1)*w]
					arow := a[i*k+pb : i*k+pe]
					for pp, av := range arow {
						f := float64(av)
						brow := b[(pb+pp)*n+jb : (pb+pp)*n+je]
						ac := ac[:len(brow)]
						for j, bv := range brow {
							ac[j] += f * float64(bv)
						}
					}
				}
			}
			for i := ib; i < ie; i++ {
				crow := c[i*n+jb : i*n+je]
				ac := acc[(i-ib)*w : (i-ib+1)*w]
				for j := range crow {
					crow[j] = T(ac[j])
				}
			}
		}
	}
}
