package runtime

// Matrix products. matMulNaive is the reference loop, float64 sums rounded
// once per output element; matmul_fast.go has the Fast engine's forms,
// tested against it (matmul_test.go, gemm_test.go).

type float interface{ ~float32 | ~float64 }

// matMul is numpy's matmul: C[..., i, j] = Σ_p A[..., i, p]·B[..., p, j], the
// batch dims broadcasting, a 1-D A a row and a 1-D B a column (each dropped
// from the result).
func matMul(c *call, in []*Tensor) []*Tensor {
	return []*Tensor{c.ops.matmul(in[0], in[1])}
}

// matmulRef is matMul by the reference loop (matMulNaive; matMulInt for
// integers, float16 and bfloat16 widened to float32).
func matmulRef(a, b *Tensor) *Tensor {
	p, shape, final := mmShapes(a, b, false, false)
	out := alloc(a.DType, shape)
	switch ad := a.data.(type) {
	case []float32:
		p.naive32(out.data.([]float32), ad, b.data.([]float32))
	case []float64:
		mmNaive(&p, out.data.([]float64), ad, b.data.([]float64))
	default:
		if a.DType.isHalf() {
			out = narrowFloat32(matmulRef(widen(a), widen(b)), a.DType)
		} else if a.DType.IsInt() {
			out = p.ints(a, b, shape)
		} else {
			panic(errType)
		}
	}
	return reshaped(out, final)
}

func (p *mmProblem) naive32(c, a, b []float32) { mmNaive(p, c, a, b) }

// mmNaive runs matMulNaive over every output row of the batch.
func mmNaive[T float](p *mmProblem, c, a, b []T) {
	m, k, n := p.m, p.k, p.n
	if len(p.aIdx)*m == 0 || n == 0 {
		return
	}
	for bi := range p.aIdx {
		matMulNaive(c[bi*m*n:(bi+1)*m*n], a[p.aIdx[bi]*m*k:(p.aIdx[bi]+1)*m*k], b[p.bIdx[bi]*k*n:(p.bIdx[bi]+1)*k*n], 0, m, k, n)
	}
}

// ints is the integer product, wrapping (matMulInt per batch).
func (p *mmProblem) ints(a, b *Tensor, shape []int64) *Tensor {
	av, bv := a.Int64s(), b.Int64s()
	res := make([]int64, checkSize(shape))
	for bi := range p.aIdx {
		matMulInt(res[bi*p.m*p.n:], av[p.aIdx[bi]*p.m*p.k:], bv[p.bIdx[bi]*p.k*p.n:], p.m, p.k, p.n)
	}
	return fromInt64s(a.DType, shape, res)
}

// mmShapes checks a·b (a's last two dims swapped if ta, b's if tb) and
// gives the batch of products, the output shape and the shape without the
// dims a 1-D operand added.
func mmShapes(a, b *Tensor, ta, tb bool) (p mmProblem, shape, final []int64) {
	if a.DType != b.DType {
		panic(errType)
	}
	if len(a.Shape) == 0 || len(b.Shape) == 0 || ta && len(a.Shape) < 2 || tb && len(b.Shape) < 2 {
		panic(errRank)
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
		failf("matmul of %v and %v: inner dims %d and %d differ", a.Shape, b.Shape, k, k2)
	}
	batch := broadcastShapes(as[:len(as)-2], bs[:len(bs)-2])
	shape = append(append([]int64{}, batch...), m, n)
	// Which batch of a and of b each output batch reads.
	aIdx := batchIndex(as[:len(as)-2], batch)
	bIdx := batchIndex(bs[:len(bs)-2], batch)
	p = mmProblem{m: int(m), k: int(k), n: int(n), aIdx: aIdx, bIdx: bIdx, transA: ta, transB: tb}
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
	if product(in) == product(out) {
		checkIndex(checkSize(out))
		idx := make([]int, product(out))
		for i := range idx {
			idx[i] = i
		}
		return idx
	}
	return expandIndex(in, out)
}

// An mmProblem is a batch of products C_b = A_aIdx[b] · B_bIdx[b] with A m×k,
// B k×n, each stored transposed when transA or transB (float32 only).
type mmProblem struct {
	m, k, n        int
	aIdx, bIdx     []int
	transA, transB bool
}

// matMulNaive is the reference: c[i,j] = Σ_p a[i,p]·b[p,j] for rows i in [i0, i1),
// summed in float64 in order of p.
func matMulNaive[T float](c, a, b []T, i0, i1, k, n int) {
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
func gemm(c *call, in []*Tensor) []*Tensor {
	a, b := in[0], in[1]
	if len(a.Shape) != 2 || len(b.Shape) != 2 {
		panic(errRank)
	}
	if c.int("transA", 0) != 0 {
		a = c.ops.transpose(a, []int{1, 0})
	}
	if c.int("transB", 0) != 0 {
		b = c.ops.transpose(b, []int{1, 0})
	}
	y := c.ops.matmul(a, b)
	alpha, beta := c.float("alpha", 1), c.float("beta", 1)
	var bias *Tensor
	if len(in) > 2 && in[2] != nil && beta != 0 {
		bias = in[2]
		if bias.DType != y.DType {
			panic(errType)
		}
		if !sameShape(broadcastShapes(y.Shape, bias.Shape), y.Shape) {
			failf("C of shape %v does not broadcast to %v", bias.Shape, y.Shape)
		}
	}
	if alpha == 1 && bias == nil {
		return []*Tensor{y}
	}
	if yv, ok := y.data.([]float32); ok && alpha == 1 && beta == 1 {
		// float32 fast path (the Sinkhorn lowering's c·M + eps): y + C
		// summed in float32, as onnxruntime does; C a scalar or a row.
		if bv, ok := bias.data.([]float32); ok && (len(bv) == 1 || len(bv) == int(y.Shape[1]) && bias.Len() == len(bv) && (len(bias.Shape) == 1 || bias.Shape[0] == 1)) {
			n := int(y.Shape[1])
			for i := range yv {
				if len(bv) == 1 {
					yv[i] += bv[0]
				} else {
					yv[i] += bv[i%n]
				}
			}
			return []*Tensor{y}
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
	return []*Tensor{fromFloat64s(y.DType, y.Shape, yv)}
}
