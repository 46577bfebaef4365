package ref

import (
	"github.com/mhcc-dev/mhcc/runtime/internal/core"
)

// Matrix products. matMulNaive is the reference loop, float64 sums rounded
// once per output element; internal/fast's matmul.go has the Fast engine's forms,
// tested against it (matmul_test.go, gemm_test.go).

type Float interface{ ~float32 | ~float64 }

// matMul is numpy's matmul: C[..., i, j] = Σ_p A[..., i, p]·B[..., p, j], the
// batch dims broadcasting, a 1-D A a row and a 1-D B a column (each dropped
// from the result).
func matMul(c *core.Call, in []*core.Tensor) []*core.Tensor {
	return []*core.Tensor{c.Ops.Matmul(in[0], in[1])}
}

// MatmulRef is matMul by the reference loop (matMulNaive; matMulInt for
// integers, float16 and bfloat16 widened to float32).
func MatmulRef(a, b *core.Tensor) *core.Tensor {
	p, shape, final := MmShapes(a, b, false, false)
	out := core.Alloc(a.DType, shape)
	switch ad := a.Elems.(type) {
	case []float32:
		p.naive32(out.Elems.([]float32), ad, b.Elems.([]float32))
	case []float64:
		mmNaive(&p, out.Elems.([]float64), ad, b.Elems.([]float64))
	default:
		if a.DType.IsHalf() {
			out = core.NarrowFloat32(MatmulRef(core.Widen(a), core.Widen(b)), a.DType)
		} else if a.DType.IsInt() {
			out = p.Ints(a, b, shape)
		} else {
			panic(core.ErrType)
		}
	}
	return core.Reshaped(out, final)
}

func (p *MmProblem) naive32(c, a, b []float32) { mmNaive(p, c, a, b) }

// mmNaive runs matMulNaive over every output row of the batch.
func mmNaive[T Float](p *MmProblem, c, a, b []T) {
	m, k, n := p.M, p.K, p.N
	if len(p.AIdx)*m == 0 || n == 0 {
		return
	}
	for bi := range p.AIdx {
		matMulNaive(c[bi*m*n:(bi+1)*m*n], a[p.AIdx[bi]*m*k:(p.AIdx[bi]+1)*m*k], b[p.BIdx[bi]*k*n:(p.BIdx[bi]+1)*k*n], 0, m, k, n)
	}
}

// Ints is the integer product, wrapping (matMulInt per batch).
func (p *MmProblem) Ints(a, b *core.Tensor, shape []int64) *core.Tensor {
	av, bv := a.Int64s(), b.Int64s()
	res := make([]int64, core.CheckSize(shape))
	for bi := range p.AIdx {
		matMulInt(res[bi*p.M*p.N:], av[p.AIdx[bi]*p.M*p.K:], bv[p.BIdx[bi]*p.K*p.N:], p.M, p.K, p.N)
	}
	return core.FromInt64s(a.DType, shape, res)
}

// MmShapes checks a·b (a's last two dims swapped if ta, b's if tb) and
// gives the batch of products, the output shape and the shape without the
// dims a 1-D operand added.
func MmShapes(a, b *core.Tensor, ta, tb bool) (p MmProblem, shape, final []int64) {
	if a.DType != b.DType {
		panic(core.ErrType)
	}
	if len(a.Shape) == 0 || len(b.Shape) == 0 || ta && len(a.Shape) < 2 || tb && len(b.Shape) < 2 {
		panic(core.ErrRank)
	}
	as, bs := a.Shape, b.Shape
	if len(as) == 1 {
		as = []int64{1, as[0]}
	}
	if len(bs) == 1 {
		bs = []int64{bs[0], 1}
	}
	m, k := as[len(as)-2], as[len(as)-1]
	if ta {
		m, k = k, m
	}
	k2, n := bs[len(bs)-2], bs[len(bs)-1]
	if tb {
		k2, n = n, k2
	}
	if k != k2 {
		core.Failf("matmul of %v and %v: inner dims %d and %d differ", a.Shape, b.Shape, k, k2)
	}
	batch := BroadcastShapes(as[:len(as)-2], bs[:len(bs)-2])
	shape = append(append([]int64{}, batch...), m, n)
	// Which batch of a and of b each output batch reads.
	aIdx := batchIndex(as[:len(as)-2], batch)
	bIdx := batchIndex(bs[:len(bs)-2], batch)
	p = MmProblem{M: int(m), K: int(k), N: int(n), AIdx: aIdx, BIdx: bIdx, TransA: ta, TransB: tb}
	// Drop the dims a 1-D operand added.
	final = append([]int64{}, batch...)
	if len(a.Shape) > 1 {
		final = append(final, m)
	}
	if len(b.Shape) > 1 {
		final = append(final, n)
	}
	return p, shape, final
}

// batchIndex is expandIndex for the batch dims, without a walk when there
// is no broadcasting.
func batchIndex(in, out []int64) []int {
	if Product(in) == Product(out) {
		core.CheckIndex(core.CheckSize(out))
		idx := make([]int, Product(out))
		for i := range idx {
			idx[i] = i
		}
		return idx
	}
	return expandIndex(in, out)
}

// An MmProblem is a batch of products C_b = A_aIdx[b] · B_bIdx[b] with A m×k,
// B k×n, each stored transposed when transA or transB (float32 only).
type MmProblem struct {
	M, K, N        int
	AIdx, BIdx     []int
	TransA, TransB bool
}

// matMulNaive is the reference: c[i,j] = Σ_p a[i,p]·b[p,j] for rows i in [i0, i1),
// summed in float64 in order of p.
func matMulNaive[T Float](c, a, b []T, i0, i1, k, n int) {
	for i := i0; i < i1; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for p := 0; p < k; p++ {
				s += float64(a[i*k+p]) * float64(b[p*n+j])
			}
			c[i*n+j] = T(s)
		}
	}
}

// matMulInt is c = a·b for one m×k by k×n integer product (wrapping).
func matMulInt(c, a, b []int64, m, k, n int) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s int64
			for p := 0; p < k; p++ {
				s += a[i*k+p] * b[p*n+j]
			}
			c[i*n+j] = s
		}
	}
}

// gemm is Y = alpha·A'·B' + beta·C, A' = transA ? Aᵀ : A (likewise B), with C
// (optional from opset 11) broadcasting to Y.
func gemm(c *core.Call, in []*core.Tensor) []*core.Tensor {
	a, b := in[0], in[1]
	if len(a.Shape) != 2 || len(b.Shape) != 2 {
		panic(core.ErrRank)
	}
	if c.Int("transA", 0) != 0 {
		a = c.Ops.Transpose(a, []int{1, 0})
	}
	if c.Int("transB", 0) != 0 {
		b = c.Ops.Transpose(b, []int{1, 0})
	}
	y := c.Ops.Matmul(a, b)
	alpha, beta := c.Float("alpha", 1), c.Float("beta", 1)
	var bias *core.Tensor
	if len(in) > 2 && in[2] != nil && beta != 0 {
		bias = in[2]
		if bias.DType != y.DType {
			panic(core.ErrType)
		}
		if !SameShape(BroadcastShapes(y.Shape, bias.Shape), y.Shape) {
			core.Failf("C of shape %v does not broadcast to %v", bias.Shape, y.Shape)
		}
	}
	if alpha == 1 && bias == nil {
		return []*core.Tensor{y}
	}
	if yv, ok := y.Elems.([]float32); ok && alpha == 1 && beta == 1 {
		// float32 fast path (the Sinkhorn lowering's c·M + eps): y + C
		// summed in float32, as onnxruntime does; C a scalar or a row.
		if bv, ok := bias.Elems.([]float32); ok && (len(bv) == 1 || len(bv) == int(y.Shape[1]) && bias.Len() == len(bv) && (len(bias.Shape) == 1 || bias.Shape[0] == 1)) {
			n := int(y.Shape[1])
			for i := range yv {
				if len(bv) == 1 {
					yv[i] += bv[0]
				} else {
					yv[i] += bv[i%n]
				}
			}
			return []*core.Tensor{y}
		}
	}
	yv := y.Float64s()
	for i := range yv {
		yv[i] *= alpha
	}
	if bias != nil {
		bv := bias.Float64s()
		walkBroadcast(y.Shape, [][]int64{bias.Shape}, func(o int, ix []int) { yv[o] += beta * bv[ix[0]] })
	}
	return []*core.Tensor{core.FromFloat64s(y.DType, y.Shape, yv)}
}
