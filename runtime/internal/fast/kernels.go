package fast

import (
	"math"
	goruntime "runtime"
	"slices"

	"github.com/mhcc-dev/mhcc/runtime/internal/core"
	"github.com/mhcc-dev/mhcc/runtime/internal/ref"
)

// Fast paths for the kernels a decoder spends its time in. Each computes
// exactly what the general kernel it short-cuts computes (same float64
// accumulation order, same rounding), only without a per-element index walk;
// fastpath_test.go compares them with the general code on odd and
// broadcasting shapes.
//
// They work row by row: a rowPlan splits an output shape into rows, the
// longest suffix of dims along which every operand either runs contiguously
// or stays on one element, so the inner loops are plain slice loops.

// parallelMin is the number of elements from which elementwise work is
// split among goroutines.
const parallelMin = 1 << 15

// newF32 is alloc(Float32, shape) from the pool, contents arbitrary.
func newF32(shape []int64) *core.Tensor {
	return &core.Tensor{DType: core.Float32, Shape: shape, Elems: GetF32(core.CheckSizeOf(shape, 4))}
}

// A packedB is a constant MatMul weight the plan packed for the GEMM
// (fast.PackedB); unpack gives back the matrix it was made from.
type packedB struct{ *PackedB }

func (pk *packedB) Matrix(transB bool) []float32 { return pk.Unpack(transB) }

// Kernels describes the float32 kernels this build runs on this CPU, for
// benchmark reports.
func Kernels() string {
	elem := "scalar elementwise (GOEXPERIMENT=simd adds AVX-512 ones)"
	if binRowSIMD != nil {
		elem = "AVX-512 elementwise, exp and reductions (simd/archsimd, GOEXPERIMENT=simd)"
	}
	return GEMMKernel() + "; " + elem
}

// Ops are the Fast engine's forms of the steps kernels share (ops):
// each falls back to the plain form (ref.Ops) where it has nothing faster.
type Ops struct{}

// MapFloat is mapFloat, split among goroutines for a large float32 x.
func (o Ops) MapFloat(x *core.Tensor, f func(float64) float64) *core.Tensor {
	if x.DType.IsHalf() {
		return core.NarrowFloat32(o.MapFloat(core.Widen(x), f), x.DType)
	}
	d, ok := x.Elems.([]float32)
	if !ok || len(d) < parallelMin {
		return ref.MapFloat(x, f)
	}
	out := GetF32(len(d))
	ParallelFor(len(d), goruntime.GOMAXPROCS(0), func(i0, i1 int) {
		for i, v := range d[i0:i1] {
			out[i0+i] = float32(f(float64(v)))
		}
	})
	return &core.Tensor{DType: core.Float32, Shape: x.Shape, Elems: out}
}

// Zip is zipNum, row by row (zip32) for + − × ÷ on float32 (and on float16
// and bfloat16 widened to it).
func (Ops) Zip(a, b *core.Tensor, op core.BinFn) *core.Tensor {
	if a.DType != b.DType || op.Kind == core.BinOther {
		return ref.ZipNum(a, b, op)
	}
	if a.DType == core.Float32 {
		return zip32(op.Kind, a, b)
	}
	if a.DType.IsHalf() {
		return core.NarrowFloat32(zip32(op.Kind, core.Widen(a), core.Widen(b)), a.DType)
	}
	return ref.ZipNum(a, b, op)
}

// Transpose copies whole strided runs (takeStrided).
func (Ops) Transpose(x *core.Tensor, perm []int) *core.Tensor {
	shape, pst := ref.Transposed(x.Shape, perm)
	return takeStrided(x, shape, pst, 0)
}

// ReduceAxes reduces along whole float32 lines (reduce32) where it can.
func (Ops) ReduceAxes(x *core.Tensor, axes []int64, keepdims bool, r core.Reducer) *core.Tensor {
	red, keep, shape, nOut := ref.ReduceShape(x, axes, keepdims)
	if x.DType == core.Float32 {
		if t, ok := reduce32(x, red, r, shape); ok {
			return t
		}
	}
	return ref.ReduceWalk(x, keep, shape, nOut, r)
}

// Matmul is the fast matmulT.
func (Ops) Matmul(a, b *core.Tensor) *core.Tensor { return MatmulT(a, b, false, false) }

// Concat copies whole blocks for float32 and int64.
func (Ops) Concat(in []*core.Tensor, shape []int64, axis int) *core.Tensor {
	for _, t := range in {
		if t.DType != in[0].DType {
			panic(core.ErrType)
		}
	}
	switch in[0].Elems.(type) {
	case []float32:
		// From the pool: the onnx target's KV cache is a Concat of the past
		// and the new token each step, a fresh buffer as long as the cache
		// (Recycle gives the replaced one back).
		out := GetF32(core.CheckSizeOf(shape, 4))[:0]
		return &core.Tensor{DType: in[0].DType, Shape: shape, Elems: concatInto(out, in, shape, axis)}
	case []int64:
		return &core.Tensor{DType: in[0].DType, Shape: shape, Elems: concatBlocks[int64](in, shape, axis)}
	}
	return ref.Ops{}.Concat(in, shape, axis)
}

// Strided copies whole strided runs.
func (Ops) Strided(x *core.Tensor, shape []int64, st []int, base int) *core.Tensor {
	return takeStrided(x, shape, st, base)
}

// Expand copies whole runs, with stride 0 along the broadcast dims.
func (Ops) Expand(x *core.Tensor, shape []int64) *core.Tensor {
	return takeStrided(x, shape, ref.BroadcastStrides(x.Shape, len(shape)), 0)
}

// Gather copies whole runs of inner elements (an embedding's rows) of a
// float32 x at once.
func (Ops) Gather(x *core.Tensor, iv []int64, shape []int64, outer, dim, inner int) *core.Tensor {
	xv, ok := x.Elems.([]float32)
	if !ok {
		return ref.Ops{}.Gather(x, iv, shape, outer, dim, inner)
	}
	out := GetF32(core.CheckSizeOf(shape, 4))
	for o := 0; o < outer; o++ {
		for n, j := range iv {
			if j < -int64(dim) || j >= int64(dim) {
				core.Failf("index %d out of range for dim %d", j, dim)
			}
			if j < 0 {
				j += int64(dim)
			}
			copy(out[(o*len(iv)+n)*inner:][:inner], xv[(o*dim+int(j))*inner:][:inner])
		}
	}
	return &core.Tensor{DType: core.Float32, Shape: shape, Elems: out}
}

// Run runs sub under the Fast engine.
func (Ops) Run(sub *core.Model, feeds map[string]*core.Tensor) (map[string]*core.Tensor, error) {
	return sub.RunWith(feeds, core.RunOptions{Engine: core.Fast})
}

// KernelForms are the Fast engine's own forms of whole kernels, by (domain,
// op_type), for every opset row of the op. Each returns nil where it does
// not apply (another dtype, another shape): the engine then runs the row's
// kernel (Kernel). TestFastKernelsHaveRows checks each names a row.
var KernelForms = map[core.OpKey]core.KernelFunc{
	{Op: "Neg"}:     unary32(neg32),
	{Op: "Sigmoid"}: sigmoidFast,
	{Op: "Pow"}:     powFast,
	{Op: "Where"}:   whereFast,
	{Op: "Softmax"}: softmaxFast,
	// hcfused.go: the fused mHC ops.
	{Domain: ref.MhccDomain, Op: "HCCoeffsSinkhorn"}:     hcFast,
	{Domain: ref.MhccDomain, Op: "HCPostCoeffsSinkhorn"}: hcFast,
	{Domain: ref.MhccDomain, Op: "HCPremixNorm"}:         hcFast,
	{Domain: ref.MhccDomain, Op: "HCBoundary"}:           hcFast,
	{Domain: ref.MhccDomain, Op: "HCCoeffsBoundary"}:     hcFast,
	{Domain: ref.MhccDomain, Op: "HCHead"}:               hcFast,
	{Domain: ref.MhccDomain, Op: "HCEntry"}:              hcFast,
	{Domain: "com.microsoft", Op: "GroupQueryAttention"}: gqaFast,
}

// FormRows is KernelForms resolved per table row, each with its fallback.
var FormRows = func() map[*core.Kernel]core.KernelFunc {
	rows := map[*core.Kernel]core.KernelFunc{}
	for key, f := range KernelForms {
		for _, k := range ref.KernelIndex[key] {
			ref := k.Fn
			rows[k] = func(c *core.Call, in []*core.Tensor) []*core.Tensor {
				if out := f(c, in); out != nil {
					return out
				}
				return ref(c, in)
			}
		}
	}
	return rows
}()

// Kernel is the function the Fast engine calls for a node of row k.
func Kernel(k *core.Kernel) core.KernelFunc {
	if f := FormRows[k]; f != nil {
		return f
	}
	return k.Fn
}

// unary32 runs loop over a float32 tensor, split among goroutines when
// large; nil for other types.
func unary32(loop func(dst, src []float32)) core.KernelFunc {
	return func(c *core.Call, in []*core.Tensor) []*core.Tensor {
		d, ok := in[0].Elems.([]float32)
		if !ok {
			return nil
		}
		out := GetF32(len(d))
		workers := 1
		if len(d) >= parallelMin {
			workers = goruntime.GOMAXPROCS(0)
		}
		ParallelFor(len(d), workers, func(i0, i1 int) { loop(out[i0:i1], d[i0:i1]) })
		return []*core.Tensor{{DType: core.Float32, Shape: in[0].Shape, Elems: out}}
	}
}

// neg32 is dst = −src.
func neg32(dst, src []float32) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = -v
	}
}

// A rowPlan walks the rows of an output shape for up to three operands that
// broadcast to it.
type rowPlan struct {
	inner int      // elements per row
	step  [3]int   // per operand: 1 if it runs along the row, 0 if it stays on one element
	dims  []int    // the outer dims, coalesced
	str   [3][]int // per operand: the stride of each outer dim, in elements
	rows  int
}

// makeRowPlan plans the rows of out for operands of shapes ins (at most three),
// which broadcast to out.
func makeRowPlan(out []int64, ins ...[]int64) rowPlan {
	r := len(out)
	var p rowPlan
	// Each operand's shape, aligned at the right, and its row-major strides
	// (0 along dims of size 1, which broadcast).
	var al [3][]int64
	var st [3][]int
	for k, s := range ins {
		al[k] = make([]int64, r)
		for i := range al[k] {
			al[k][i] = 1
		}
		copy(al[k][r-len(s):], s)
		st[k] = ref.BroadcastStrides(al[k], r)
	}
	// The inner suffix: while each operand keeps one mode (running or staying).
	mode := [3]int{-1, -1, -1}
	p.inner = 1
	d := r - 1
	for ; d >= 0; d-- {
		if out[d] == 1 {
			continue
		}
		ok := true
		var m [3]int
		for k := range ins {
			m[k] = 0
			if al[k][d] != 1 {
				m[k] = 1
			}
			if mode[k] >= 0 && mode[k] != m[k] {
				ok = false
			}
		}
		if !ok {
			break
		}
		for k := range ins {
			mode[k] = m[k]
		}
		p.inner *= int(out[d])
	}
	for k := range ins {
		p.step[k] = max(mode[k], 0)
	}
	// The outer dims, dropping 1s and merging neighbours that step alike.
	p.rows = 1
	for i := 0; i <= d; i++ {
		if out[i] == 1 {
			continue
		}
		p.rows *= int(out[i])
		if n := len(p.dims); n > 0 {
			merge := true
			for k := range ins {
				if st[k][i]*int(out[i]) != p.str[k][n-1] {
					merge = false
				}
			}
			if merge {
				p.dims[n-1] *= int(out[i])
				for k := range ins {
					p.str[k][n-1] = st[k][i]
				}
				continue
			}
		}
		p.dims = append(p.dims, int(out[i]))
		for k := range ins {
			p.str[k] = append(p.str[k], st[k][i])
		}
	}
	if ref.Product(out) == 0 {
		p.rows = 0
	}
	p.splitInner(len(ins))
	return p
}

// splitInner cuts long rows into pieces, so that run has rows to share
// among goroutines: two operands of one shape are one row of all their
// elements (a SwiGLU's Mul at 256 tokens: 720 896), which one goroutine
// did alone. Each piece is a multiple of 16 elements and at least
// parallelMin/4; the pieces become the innermost outer dim.
func (p *rowPlan) splitInner(nins int) {
	const pieces = 8
	if p.rows == 0 || p.rows >= pieces || p.inner < 2*(parallelMin/4) {
		return
	}
	s := 1
	for c := pieces; c >= 2; c /= 2 {
		if w := p.inner / c; p.inner%c == 0 && w%16 == 0 && w >= parallelMin/4 {
			s = c
			break
		}
	}
	if s == 1 {
		return
	}
	p.inner /= s
	p.rows *= s
	p.dims = append(p.dims, s)
	for k := range nins {
		p.str[k] = append(p.str[k], p.step[k]*p.inner)
	}
}

// each calls f for rows [r0, r1) with each operand's offset at the row's start.
func (p *rowPlan) each(r0, r1 int, f func(row int, off [3]int)) {
	if r0 >= r1 {
		return
	}
	nd := len(p.dims)
	coord := make([]int, nd)
	var off [3]int
	rem := r0
	for i := nd - 1; i >= 0; i-- {
		coord[i] = rem % p.dims[i]
		rem /= p.dims[i]
		for k := range off {
			if p.str[k] != nil {
				off[k] += coord[i] * p.str[k][i]
			}
		}
	}
	for row := r0; row < r1; row++ {
		f(row, off)
		for i := nd - 1; i >= 0; i-- {
			coord[i]++
			for k := range off {
				if p.str[k] != nil {
					off[k] += p.str[k][i]
				}
			}
			if coord[i] < p.dims[i] {
				break
			}
			for k := range off {
				if p.str[k] != nil {
					off[k] -= p.str[k][i] * p.dims[i]
				}
			}
			coord[i] = 0
		}
	}
}

// run calls f over all rows, split among goroutines when there are n ≥
// parallelMin elements in all.
func (p *rowPlan) run(f func(row int, off [3]int)) {
	workers := 1
	if p.rows*p.inner >= parallelMin {
		workers = goruntime.GOMAXPROCS(0)
	}
	ParallelFor(p.rows, workers, func(r0, r1 int) { p.each(r0, r1, f) })
}

// ---- binary float32 ----

// zip32 is zipNum for float32 operands and an op of kind k.
func zip32(k core.BinKind, a, b *core.Tensor) *core.Tensor {
	ad, bd := a.Elems.([]float32), b.Elems.([]float32)
	// Operands of one shape, or one of them a single element of no higher
	// rank, below the parallel size (most of a decode step's): one row,
	// without planning rows (a decode step's binary ops allocated eight
	// times each for it).
	if n := max(len(ad), len(bd)); n < parallelMin {
		switch {
		case slices.Equal(a.Shape, b.Shape):
			out := GetF32(len(ad))
			binRow32(k, out, ad, 1, bd, 1)
			return &core.Tensor{DType: core.Float32, Shape: a.Shape, Elems: out}
		case len(bd) == 1 && len(b.Shape) <= len(a.Shape):
			out := GetF32(len(ad))
			binRow32(k, out, ad, 1, bd, 0)
			return &core.Tensor{DType: core.Float32, Shape: a.Shape, Elems: out}
		case len(ad) == 1 && len(a.Shape) <= len(b.Shape):
			out := GetF32(len(bd))
			binRow32(k, out, ad, 0, bd, 1)
			return &core.Tensor{DType: core.Float32, Shape: b.Shape, Elems: out}
		}
	}
	shape := ref.BroadcastShapes(a.Shape, b.Shape)
	out := newF32(shape)
	od := out.Elems.([]float32)
	p := makeRowPlan(shape, a.Shape, b.Shape)
	p.run(func(row int, off [3]int) {
		dst := od[row*p.inner:][:p.inner]
		binRow32(k, dst, ad[off[0]:], p.step[0], bd[off[1]:], p.step[1])
	})
	return out
}

// binRow32 is dst[i] = x[i·xs] op y[i·ys], xs and ys each 0 or 1.
func binRow32(k core.BinKind, dst, x []float32, xs int, y []float32, ys int) {
	if binRowSIMD != nil && binRowSIMD(k, dst, x, xs, y, ys) {
		return
	}
	n := len(dst)
	switch {
	case xs == 1 && ys == 1:
		x, y := x[:n], y[:n]
		switch k {
		case core.BinAdd:
			for i := range dst {
				dst[i] = x[i] + y[i]
			}
		case core.BinSub:
			for i := range dst {
				dst[i] = x[i] - y[i]
			}
		case core.BinMul:
			for i := range dst {
				dst[i] = x[i] * y[i]
			}
		case core.BinDiv:
			for i := range dst {
				dst[i] = x[i] / y[i]
			}
		}
	case xs == 1:
		x, s := x[:n], y[0]
		switch k {
		case core.BinAdd:
			for i := range dst {
				dst[i] = x[i] + s
			}
		case core.BinSub:
			for i := range dst {
				dst[i] = x[i] - s
			}
		case core.BinMul:
			for i := range dst {
				dst[i] = x[i] * s
			}
		case core.BinDiv:
			for i := range dst {
				dst[i] = x[i] / s
			}
		}
	case ys == 1:
		s, y := x[0], y[:n]
		switch k {
		case core.BinAdd:
			for i := range dst {
				dst[i] = s + y[i]
			}
		case core.BinSub:
			for i := range dst {
				dst[i] = s - y[i]
			}
		case core.BinMul:
			for i := range dst {
				dst[i] = s * y[i]
			}
		case core.BinDiv:
			for i := range dst {
				dst[i] = s / y[i]
			}
		}
	default:
		var v float32
		switch k {
		case core.BinAdd:
			v = x[0] + y[0]
		case core.BinSub:
			v = x[0] - y[0]
		case core.BinMul:
			v = x[0] * y[0]
		case core.BinDiv:
			v = x[0] / y[0]
		}
		for i := range dst {
			dst[i] = v
		}
	}
}

// binRowSIMD is the vector form of binRow32 where the build has one
// (kernels_simd.go); it reports whether it did the row.
var binRowSIMD func(k core.BinKind, dst, x []float32, xs int, y []float32, ys int) bool

// ---- reductions ----

// reduce32 is reduceAxes for a float32 x and a sum, mean or sum of squares
// over axes that are adjacent once size-1 dims are ignored; ok is false for
// other cases. It sums in float64, in the order reduceAxes does except along
// a contiguous line (sumLine).
func reduce32(x *core.Tensor, red []bool, r core.Reducer, shape []int64) (*core.Tensor, bool) {
	if r.Kind == core.RedOther {
		return nil, false
	}
	// x as [outer, dim, inner] with the reduced dims in the middle.
	first, last := -1, -1
	for i, d := range x.Shape {
		if red[i] && d != 1 {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	outer, dim, inner := 1, 1, 1
	for i, d := range x.Shape {
		switch {
		case first < 0 || i < first:
			outer *= int(d)
		case i > last:
			inner *= int(d)
		default:
			if !red[i] && d != 1 {
				return nil, false // a kept dim between reduced ones
			}
			dim *= int(d)
		}
	}
	xv := x.Elems.([]float32)
	out := GetF32(outer * inner)
	sq := r.Kind == core.RedSumSquare || r.Kind == core.RedMeanSquare
	lines := func(o0, o1 int) {
		acc := make([]float64, inner)
		for o := o0; o < o1; o++ {
			base := xv[o*dim*inner:][:dim*inner]
			if inner == 1 {
				acc[0] = sumLine(base, sq)
			} else {
				clear(acc)
				for p := 0; p < dim; p++ {
					row := base[p*inner:][:inner]
					if accRowSIMD != nil {
						accRowSIMD(acc, row, sq)
						continue
					}
					if sq {
						for j, v := range row {
							acc[j] += float64(v) * float64(v)
						}
					} else {
						for j, v := range row {
							acc[j] += float64(v)
						}
					}
				}
			}
			dst := out[o*inner:][:inner]
			for j, s := range acc {
				if r.Kind == core.RedMean || r.Kind == core.RedMeanSquare {
					s = s / float64(dim)
				}
				dst[j] = float32(s)
			}
		}
	}
	workers := 1
	if x.Len() >= parallelMin {
		workers = goruntime.GOMAXPROCS(0)
	}
	ParallelFor(outer, workers, lines)
	return &core.Tensor{DType: core.Float32, Shape: shape, Elems: out}, true
}

// sumLine is Σ v (or Σ v² if sq) in float64 with four partial sums, so the
// additions do not wait on each other. It differs from the sequential sum
// only by float64 rounding (relative 1e-16), far below float32's.
func sumLine(v []float32, sq bool) float64 {
	var s0, s1, s2, s3 float64
	i := 0
	if sq {
		for ; i+4 <= len(v); i += 4 {
			a, b, c, d := float64(v[i]), float64(v[i+1]), float64(v[i+2]), float64(v[i+3])
			s0, s1, s2, s3 = s0+a*a, s1+b*b, s2+c*c, s3+d*d
		}
		for ; i < len(v); i++ {
			s0 += float64(v[i]) * float64(v[i])
		}
	} else {
		for ; i+4 <= len(v); i += 4 {
			s0, s1, s2, s3 = s0+float64(v[i]), s1+float64(v[i+1]), s2+float64(v[i+2]), s3+float64(v[i+3])
		}
		for ; i < len(v); i++ {
			s0 += float64(v[i])
		}
	}
	return (s0 + s1) + (s2 + s3)
}

// ---- data movement ----

// takeStrided is take(x, shape, strided(shape, st, base)): the element of x
// at base + Σ coord[d]·st[d] for each coordinate of shape, without building
// the index list. Transpose, Slice and Expand use it.
func takeStrided(x *core.Tensor, shape []int64, st []int, base int) *core.Tensor {
	var data any
	n := core.CheckSizeOf(shape, x.DType.Size())
	switch d := x.Elems.(type) {
	case []float32:
		data = copyStrided(d, GetF32(n), shape, st, base)
	case []float64:
		data = copyStrided(d, make([]float64, n), shape, st, base)
	case []int64:
		data = copyStrided(d, make([]int64, n), shape, st, base)
	case []int32:
		data = copyStrided(d, make([]int32, n), shape, st, base)
	case []uint16:
		data = copyStrided(d, make([]uint16, n), shape, st, base)
	case []bool:
		data = copyStrided(d, make([]bool, n), shape, st, base)
	default:
		return core.Take(x, shape, ref.Strided(shape, st, base))
	}
	return &core.Tensor{DType: x.DType, Shape: shape, Elems: data}
}

// copyStrided fills out (every element) and returns it. Large copies are
// split by rows among the helper goroutines (a prefill's transposes and
// slices at hidden 1024 ran on one goroutine at two threads).
func copyStrided[T any](src, out []T, shape []int64, st []int, base int) []T {
	n := len(out)
	if n == 0 {
		return out
	}
	r := len(shape)
	if r == 0 {
		out[0] = src[base]
		return out
	}
	rows := n / int(shape[r-1])
	if n < parallelMin || Workers() == 1 {
		copyRows(src, out, shape, st, base, 0, rows)
		return out
	}
	ParallelFor(rows, Workers(), func(r0, r1 int) { copyRows(src, out, shape, st, base, r0, r1) })
	return out
}

// copyRows is copyStrided for the rows [r0, r1) along the last dim, an
// odometer over the other dims starting at row r0's coordinates.
func copyRows[T any](src, out []T, shape []int64, st []int, base, r0, r1 int) {
	r := len(shape)
	inner, is := int(shape[r-1]), st[r-1]
	coord := make([]int, r-1)
	off := base
	for i, rem := r-2, r0; i >= 0; i-- {
		coord[i] = rem % int(shape[i])
		rem /= int(shape[i])
		off += coord[i] * st[i]
	}
	for row := r0; row < r1; row++ {
		dst := out[row*inner:][:inner]
		switch is {
		case 1:
			copy(dst, src[off:off+inner])
		case 0:
			v := src[off]
			for j := range dst {
				dst[j] = v
			}
		default:
			o := off
			for j := range dst {
				dst[j] = src[o]
				o += is
			}
		}
		for i := r - 2; i >= 0; i-- {
			coord[i]++
			off += st[i]
			if coord[i] < int(shape[i]) {
				break
			}
			off -= st[i] * int(shape[i])
			coord[i] = 0
		}
	}
}

// ---- softmax ----

// softmax32 is softmax for a float32 x along lines of stride 1 (inner = 1)
// in float32 with expf32 (a float64 sum), lines split among goroutines.
// Short lines (the mHC coefficients' 4) are done a block at a time: the
// shifted values of every line first, then one vector exp over the block,
// then the sums; a line of 16 or more goes through the vector exp whole.
func softmax32(x *core.Tensor, outer, dim int) *core.Tensor {
	xv := x.Elems.([]float32)
	out := GetF32(len(xv))
	workers := 1
	if len(xv) >= parallelMin/4 {
		workers = goruntime.GOMAXPROCS(0)
	}
	ParallelFor(outer, workers, func(o0, o1 int) {
		if dim < 16 && expRowSIMD != nil {
			for o := o0; o < o1; o++ {
				src, dst := xv[o*dim:][:dim], out[o*dim:][:dim]
				mx := lineMax(src)
				for j, v := range src {
					dst[j] = v - mx
				}
			}
			expRowSIMD(out[o0*dim : o1*dim])
			for o := o0; o < o1; o++ {
				dst := out[o*dim:][:dim]
				var s64 float64
				for _, v := range dst {
					s64 += float64(v)
				}
				inv := 1 / float32(s64)
				for j := range dst {
					dst[j] *= inv
				}
			}
			return
		}
		for o := o0; o < o1; o++ {
			softmaxLine(out[o*dim:][:dim], xv[o*dim:][:dim])
		}
	})
	return &core.Tensor{DType: core.Float32, Shape: x.Shape, Elems: out}
}

// softmaxLine is dst = softmax(src) over one line (dst may be src):
// float32 exponentials of src − max, their sum in float64 (or in the SIMD
// kernel's lanes), then one scaling by the sum's inverse. The Softmax
// kernel and GroupQueryAttention's scores share it.
func softmaxLine(dst, src []float32) {
	if len(src) == 0 {
		return
	}
	mx := lineMax(src)
	var s float32
	ok := false
	if expSubRowSIMD != nil {
		s, ok = expSubRowSIMD(dst, src, mx)
	}
	if !ok {
		var s64 float64
		for j, v := range src {
			dst[j] = Expf32(v - mx)
			s64 += float64(dst[j])
		}
		s = float32(s64)
	}
	inv := 1 / s
	if scaleRowSIMD == nil || !scaleRowSIMD(dst, inv) {
		for j := range dst {
			dst[j] *= inv
		}
	}
}

// lineMax is the largest element of src, NaN if any is NaN.
func lineMax(src []float32) float32 {
	if maxRowSIMD != nil {
		if m, ok := maxRowSIMD(src); ok {
			return m
		}
	}
	mx := float32(math.Inf(-1))
	for _, v := range src {
		if v > mx || v != v {
			mx = v
		}
	}
	return mx
}

// The vector forms of softmax32's loops where the build has them
// (kernels_simd.go), else nil: the line's maximum (false for a short
// line), e^x in place, and x·s in place (false for a short line).
var (
	maxRowSIMD   func(src []float32) (float32, bool)
	expRowSIMD   func(x []float32)
	scaleRowSIMD func(x []float32, s float32) bool
)

// ---- exp, sigmoid ----

// Constants of expf32 (Cephes' expf): e^x = 2^n · e^r with n = round(x·log₂e),
// r = x − n·ln 2 (ln 2 split in two for precision), e^r a degree-7 polynomial.
const (
	expLo    = -87.33654475 // below: 0 (e^x is under the smallest normal float32)
	ExpHi    = 88.3762626647949
	expLog2e = 1.44269504088896341
	expC1    = 0.693359375
	expC2    = -2.12194440e-4
	expP0    = 1.9875691500e-4
	expP1    = 1.3981999507e-3
	expP2    = 8.3334519073e-3
	expP3    = 4.1665795894e-2
	expP4    = 1.6666665459e-1
	expP5    = 5.0000001201e-1
)

// Expf32 is e^x in float32 to about 1 ulp (0 below expLo, +Inf above
// expHi, NaN for NaN), the scalar twin of the vector exp in
// kernels_simd.go. Sigmoid and Softmax use it on float32; it is about
// ten times cheaper than math.Exp.
func Expf32(x float32) float32 {
	switch {
	case x != x:
		return x
	case x < expLo:
		return 0
	case x > ExpHi:
		return float32(math.Inf(1))
	}
	n := float32(math.RoundToEven(float64(x * expLog2e)))
	r := x - n*expC1
	r -= n * expC2
	p := float32(expP0)
	p = p*r + expP1
	p = p*r + expP2
	p = p*r + expP3
	p = p*r + expP4
	p = p*r + expP5
	p = p*r*r + r + 1
	return p * math.Float32frombits(uint32(int32(n)+127)<<23)
}

// sigmoid32 is y = 1/(1 + e^−x) for float32, through expf32.
func sigmoid32(x *core.Tensor) *core.Tensor {
	xv := x.Elems.([]float32)
	out := GetF32(len(xv))
	workers := 1
	if len(xv) >= parallelMin/4 {
		workers = goruntime.GOMAXPROCS(0)
	}
	ParallelFor(len(xv), workers, func(i0, i1 int) {
		dst, src := out[i0:i1], xv[i0:i1]
		if sigmoidRowSIMD != nil && sigmoidRowSIMD(dst, src) {
			return
		}
		for i, v := range src {
			dst[i] = 1 / (1 + Expf32(-v))
		}
	})
	return &core.Tensor{DType: core.Float32, Shape: x.Shape, Elems: out}
}

// sigmoidFast is Sigmoid by sigmoid32 for float32.
func sigmoidFast(c *core.Call, in []*core.Tensor) []*core.Tensor {
	if in[0].DType == core.Float32 {
		return []*core.Tensor{sigmoid32(in[0])}
	}
	return nil
}

// powFast is Pow by square32 for a float32 x squared.
func powFast(c *core.Call, in []*core.Tensor) []*core.Tensor {
	if sq := Square32(in[0], in[1]); sq != nil {
		return []*core.Tensor{sq}
	}
	return nil
}

// whereFast is Where by where32 on float32.
func whereFast(c *core.Call, in []*core.Tensor) []*core.Tensor {
	cond, x, y := in[0], in[1], in[2]
	if cond.DType == core.Bool && x.DType == core.Float32 && y.DType == core.Float32 {
		return []*core.Tensor{where32(cond, x, y)}
	}
	return nil
}

// softmaxFast is Softmax by softmax32 on float32 lines that are contiguous.
func softmaxFast(c *core.Call, in []*core.Tensor) []*core.Tensor {
	if x := in[0]; x.DType == core.Float32 {
		if outer, dim, inner := ref.SoftmaxLines(c, x); inner == 1 {
			return []*core.Tensor{softmax32(x, outer, dim)}
		}
	}
	return nil
}

// Vector forms where the build has them (kernels_simd.go); each reports
// whether it did the work.
var (
	sigmoidRowSIMD func(dst, src []float32) bool
	// expSubRowSIMD sets dst[i] = e^(src[i] − m) and returns Σ dst[i].
	expSubRowSIMD func(dst, src []float32, m float32) (float32, bool)
)

// ---- Sinkhorn half-step ----

// normSum is the kernel of a Div the plan fused with its ReduceSum and Add
// (plan.go): y = x / (Σ_axis x + ε), with the roundings of the three nodes
// as their fast paths compute them (the sum in float64 as reduce32 does,
// rounded to float32, then + ε and ÷ in float32), except in the vector form
// for four streams, which sums in float32.
func normSum(c *core.Call, in []*core.Tensor) []*core.Tensor {
	x := in[0]
	if x.DType != core.Float32 {
		panic(core.ErrType)
	}
	shape := x.Shape
	var square [3]int64 // on the stack: a decode step makes hundreds of these calls
	if n := int64(fusionOf(c.N).sumSquare); n > 0 {
		// The Gemm form: rows of n² floats, n×n matrices flattened.
		if len(shape) != 2 || shape[1] != n*n {
			core.Failf("Sinkhorn step on %v, want [T, %d]", x.Shape, n*n)
		}
		square = [3]int64{shape[0], n, n}
		shape = square[:]
	}
	axis := ref.NormAxis(fusionOf(c.N).sumAxis, len(shape))
	eps := fusionOf(c.N).sumEps
	outer, dim, inner := ref.Split3(shape, axis)
	xv := x.Elems.([]float32)
	out := GetF32(len(xv))
	if dim == 4 && NormSum4SIMD != nil && NormSum4SIMD(out, xv, inner, eps) {
		return []*core.Tensor{{DType: core.Float32, Shape: x.Shape, Elems: out}}
	}
	if dim == 4 && (inner == 1 || inner == 4) {
		normSum4(out, xv, inner, eps)
		return []*core.Tensor{{DType: core.Float32, Shape: x.Shape, Elems: out}}
	}
	var small [16]float32
	den := small[:0]
	if inner > len(small) {
		den = make([]float32, 0, inner)
	}
	den = den[:inner]
	for o := 0; o < outer; o++ {
		base := xv[o*dim*inner:][:dim*inner]
		dst := out[o*dim*inner:][:dim*inner]
		if inner == 1 {
			t := float32(sumLine(base, false)) + eps
			for p, v := range base {
				dst[p] = v / t
			}
			continue
		}
		for j := range den {
			var s float64
			for p := 0; p < dim; p++ {
				s += float64(base[p*inner+j])
			}
			den[j] = float32(s) + eps
		}
		for p := 0; p < dim; p++ {
			row, drow := base[p*inner:][:inner], dst[p*inner:][:inner]
			for j, v := range row {
				drow[j] = v / den[j]
			}
		}
	}
	return []*core.Tensor{{DType: core.Float32, Shape: x.Shape, Elems: out}}
}

// normSum4 is normSum for four streams, rows (inner 1) or columns (inner
// 4) of 4×4 matrices, unrolled, with the general loop's roundings (the four
// terms summed in float64).
func normSum4(dst, src []float32, inner int, eps float32) {
	dst = dst[:len(src)]
	if inner == 1 {
		for i := 0; i+4 <= len(src); i += 4 {
			s, d := (*[4]float32)(src[i:i+4]), (*[4]float32)(dst[i:i+4])
			t := float32(float64(s[0])+float64(s[1])+float64(s[2])+float64(s[3])) + eps
			d[0], d[1], d[2], d[3] = s[0]/t, s[1]/t, s[2]/t, s[3]/t
		}
		return
	}
	for i := 0; i+16 <= len(src); i += 16 {
		s, d := (*[16]float32)(src[i:i+16]), (*[16]float32)(dst[i:i+16])
		for j := range 4 {
			t := float32(float64(s[j])+float64(s[4+j])+float64(s[8+j])+float64(s[12+j])) + eps
			d[j], d[4+j], d[8+j], d[12+j] = s[j]/t, s[4+j]/t, s[8+j]/t, s[12+j]/t
		}
	}
}

// accRowSIMD is acc[j] += x[j] (or x[j]²) in float64 where the build has a
// vector form (kernels_simd.go), else nil.
var accRowSIMD func(acc []float64, x []float32, sq bool)

// NormSum4SIMD is normSum's vector form for dim 4 (the mHC streams) where
// the build has it (kernels_simd.go); it reports whether it did the work.
var NormSum4SIMD func(dst, src []float32, inner int, eps float32) bool

// ---- Where, Concat ----

// where32 is where for float32 x and y: rows of the broadcast shape, each
// operand running along the row or staying on one element.
func where32(cond, x, y *core.Tensor) *core.Tensor {
	shape := ref.BroadcastShapes(cond.Shape, x.Shape, y.Shape)
	out := newF32(shape)
	od, cd := out.Elems.([]float32), cond.Elems.([]bool)
	xd, yd := x.Elems.([]float32), y.Elems.([]float32)
	p := makeRowPlan(shape, cond.Shape, x.Shape, y.Shape)
	p.run(func(row int, off [3]int) {
		dst := od[row*p.inner:][:p.inner]
		c, xo, yo := off[0], off[1], off[2]
		for i := range dst {
			if cd[c] {
				dst[i] = xd[xo]
			} else {
				dst[i] = yd[yo]
			}
			c += p.step[0]
			xo += p.step[1]
			yo += p.step[2]
		}
	})
	return out
}

// concatBlocks is concat's copy for storage type T: for each of the outer
// blocks, each input's contiguous block in turn.
func concatBlocks[T any](in []*core.Tensor, shape []int64, axis int) []T {
	return concatInto(make([]T, 0, core.CheckSizeOf(shape, 8)), in, shape, axis)
}

// concatInto is concatBlocks appending to out (empty, with room for the
// whole result).
func concatInto[T any](out []T, in []*core.Tensor, shape []int64, axis int) []T {
	outer, _, inner := ref.Split3(shape, axis)
	for o := 0; o < outer; o++ {
		for _, t := range in {
			blk := int(t.Shape[axis]) * inner
			out = append(out, t.Elems.([]T)[o*blk:(o+1)*blk]...)
		}
	}
	return out
}

// Square32 is the fast path of Pow for float32 x and a scalar exponent 2
// (the RMS patterns runtimes fuse): x·x in float32 is the correctly rounded
// square, which is what the general path gives too (the float64 square of a
// float32 is exact, rounded once). It returns nil for anything else.
func Square32(x, y *core.Tensor) *core.Tensor {
	xv, ok := x.Elems.([]float32)
	if !ok || y.Len() != 1 || len(y.Shape) > len(x.Shape) || y.Float64s()[0] != 2 {
		return nil
	}
	out := GetF32(len(xv))
	for i, v := range xv {
		out[i] = v * v
	}
	return &core.Tensor{DType: x.DType, Shape: append([]int64(nil), x.Shape...), Elems: out}
}
