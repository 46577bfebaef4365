package ref

import (
	"fmt"
	"math"

	"github.com/mhcc-dev/mhcc/runtime/internal/core"
)

// Shape and data-movement kernels. Each computes, for every output element,
// the flat index of the input element it copies, and hands that to take; so
// they work on every element type, float16 bit patterns included.

// rowStrides returns the row-major strides of shape.
func rowStrides(shape []int64) []int {
	st := make([]int, len(shape))
	s := 1
	for i := len(shape) - 1; i >= 0; i-- {
		st[i] = s
		s *= int(shape[i])
	}
	return st
}

// forEachIndex calls f(o, coord) for each element of shape in row-major order.
func forEachIndex(shape []int64, f func(o int, coord []int)) {
	n := Product(shape)
	coord := make([]int, len(shape))
	for o := 0; o < n; o++ {
		f(o, coord)
		for d := len(shape) - 1; d >= 0; d-- {
			coord[d]++
			if coord[d] < int(shape[d]) {
				break
			}
			coord[d] = 0
		}
	}
}

// Strided returns base + Σ coord[d]·st[d] for each element of shape, in
// row-major order: the source index of a strided view (Transpose, Slice, Split).
func Strided(shape []int64, st []int, base int) []int {
	idx := make([]int, core.CheckSizeOf(shape, 8))
	forEachIndex(shape, func(o int, coord []int) {
		off := base
		for d, c := range coord {
			off += c * st[d]
		}
		idx[o] = off
	})
	return idx
}

// concatData returns the elements of ts (of one type), one after another, as a 1-D tensor.
func concatData(ts ...*core.Tensor) *core.Tensor {
	n := 0
	for _, t := range ts {
		if t.DType != ts[0].DType {
			panic(core.ErrType)
		}
		n += t.Len()
	}
	var data any
	switch ts[0].Elems.(type) {
	case []float32:
		data = concatSlices[float32](ts, n)
	case []float64:
		data = concatSlices[float64](ts, n)
	case []uint16:
		data = concatSlices[uint16](ts, n)
	case []int8:
		data = concatSlices[int8](ts, n)
	case []int16:
		data = concatSlices[int16](ts, n)
	case []int32:
		data = concatSlices[int32](ts, n)
	case []int64:
		data = concatSlices[int64](ts, n)
	case []uint8:
		data = concatSlices[uint8](ts, n)
	case []uint32:
		data = concatSlices[uint32](ts, n)
	case []uint64:
		data = concatSlices[uint64](ts, n)
	case []bool:
		data = concatSlices[bool](ts, n)
	default:
		panic(core.ErrType)
	}
	return &core.Tensor{DType: ts[0].DType, Shape: []int64{int64(n)}, Elems: data}
}

func concatSlices[T any](ts []*core.Tensor, n int) []T {
	out := make([]T, 0, n)
	for _, t := range ts {
		out = append(out, t.Elems.([]T)...)
	}
	return out
}

// scalarInt reads a one-element integer tensor.
func scalarInt(t *core.Tensor, what string) int64 {
	if t.Len() != 1 {
		core.Failf("%s must have one element, got shape %v", what, t.Shape)
	}
	return t.Int64s()[0]
}

// shapeOp is the shape of x as int64, dims [start, end) (opset 15; negative
// values count from the end and both clamp to [0, rank]).
func shapeOp(c *core.Call, in []*core.Tensor) []*core.Tensor {
	r := int64(len(in[0].Shape))
	clampDim := func(v int64) int64 {
		if v < 0 {
			v += r
		}
		return min(max(v, 0), r)
	}
	start, end := clampDim(c.Int("start", 0)), clampDim(c.Int("end", r))
	dims := []int64{}
	if start < end {
		dims = append(dims, in[0].Shape[start:end]...)
	}
	return []*core.Tensor{{DType: core.Int64, Shape: []int64{int64(len(dims))}, Elems: dims}}
}

// size is the number of elements of x, an int64 scalar.
func size(c *core.Call, in []*core.Tensor) []*core.Tensor {
	return []*core.Tensor{{DType: core.Int64, Shape: []int64{}, Elems: []int64{int64(in[0].Len())}}}
}

// reshape gives x the shape input: 0 copies x's dim (unless allowzero=1), one
// −1 is inferred from the element count.
func reshape(c *core.Call, in []*core.Tensor) []*core.Tensor {
	x := in[0]
	want := in[1].Int64s()
	allowZero := c.Int("allowzero", 0) != 0
	shape := make([]int64, len(want))
	infer := -1
	known := int64(1)
	for i, d := range want {
		switch {
		case d == 0 && !allowZero:
			if i >= len(x.Shape) {
				core.Failf("shape %v copies dim %d of an input of rank %d", want, i, len(x.Shape))
			}
			d = x.Shape[i]
		case d == -1:
			if infer >= 0 {
				core.Failf("shape %v has more than one -1", want)
			}
			infer = i
			continue
		case d < 0:
			core.Failf("shape %v has a negative dim", want)
		}
		shape[i] = d
		if d > 0 && known > math.MaxInt64/d {
			core.Failf("shape %v is too large", want)
		}
		known *= d
	}
	n := int64(x.Len())
	if infer >= 0 {
		if known == 0 || n%known != 0 {
			core.Failf("cannot reshape %v to %v", x.Shape, want)
		}
		shape[infer] = n / known
	} else if known != n {
		core.Failf("cannot reshape %v (%d elements) to %v", x.Shape, n, want)
	}
	return []*core.Tensor{core.Reshaped(x, shape)}
}

// flatten reshapes x to [Π dims before axis, Π dims from axis] (axis default 1).
func flatten(c *core.Call, in []*core.Tensor) []*core.Tensor {
	x := in[0]
	r := len(x.Shape)
	axis := c.Int("axis", 1)
	if axis < -int64(r) || axis > int64(r) {
		panic(core.ErrAxis)
	}
	if axis < 0 {
		axis += int64(r)
	}
	a, b := int64(1), int64(1)
	for i, d := range x.Shape {
		if int64(i) < axis {
			a *= d
		} else {
			b *= d
		}
	}
	return []*core.Tensor{core.Reshaped(x, []int64{a, b})}
}

// transpose is y[i…] = x[perm(i…)]: output dim k is input dim perm[k]
// (perm defaults to reversing the dims).
func transpose(c *core.Call, in []*core.Tensor) []*core.Tensor {
	x := in[0]
	r := len(x.Shape)
	perm := make([]int, r)
	if p, ok := c.Ints("perm"); ok {
		if len(p) != r {
			core.Failf("perm %v for rank %d", p, r)
		}
		seen := make([]bool, r)
		for i, a := range p {
			k := NormAxis(a, r)
			if seen[k] {
				core.Failf("perm %v is not a permutation", p)
			}
			seen[k] = true
			perm[i] = k
		}
	} else {
		for i := range perm {
			perm[i] = r - 1 - i
		}
	}
	return []*core.Tensor{c.Ops.Transpose(x, perm)}
}

// TransposeTensor is y[i…] = x[i permuted], one index walk per element.
func TransposeTensor(x *core.Tensor, perm []int) *core.Tensor {
	shape, pst := Transposed(x.Shape, perm)
	return core.Take(x, shape, Strided(shape, pst, 0))
}

// Transposed is the shape of x permuted by perm and the stride in x of each
// of its dims.
func Transposed(xs []int64, perm []int) (shape []int64, pst []int) {
	st := rowStrides(xs)
	shape = make([]int64, len(perm))
	pst = make([]int, len(perm))
	for i, p := range perm {
		shape[i] = xs[p]
		pst[i] = st[p]
	}
	return shape, pst
}

// axesArg reads the axes of Unsqueeze/Squeeze: an attribute before opset 13,
// the optional second input from 13.
func axesArg(c *core.Call, in []*core.Tensor) ([]int64, bool) {
	if c.Opset() < 13 {
		return c.Ints("axes")
	}
	if len(in) > 1 && in[1] != nil {
		return in[1].Int64s(), true
	}
	return nil, false
}

// unsqueeze inserts dims of size 1 at axes, which index the output's dims.
func unsqueeze(c *core.Call, in []*core.Tensor) []*core.Tensor {
	x := in[0]
	axes, ok := axesArg(c, in)
	if !ok {
		core.Failf("axes are required")
	}
	r := len(x.Shape) + len(axes)
	ones := make([]bool, r)
	for _, a := range axes {
		k := NormAxis(a, r)
		if ones[k] {
			core.Failf("axis %d repeated in %v", a, axes)
		}
		ones[k] = true
	}
	shape := make([]int64, 0, r)
	j := 0
	for i := 0; i < r; i++ {
		if ones[i] {
			shape = append(shape, 1)
		} else {
			shape = append(shape, x.Shape[j])
			j++
		}
	}
	return []*core.Tensor{core.Reshaped(x, shape)}
}

// squeeze removes the dims at axes, each of which must be 1, or every dim of
// size 1 when axes are absent.
func squeeze(c *core.Call, in []*core.Tensor) []*core.Tensor {
	x := in[0]
	axes, ok := axesArg(c, in)
	drop := make([]bool, len(x.Shape))
	for _, a := range axes {
		k := NormAxis(a, len(x.Shape))
		if x.Shape[k] != 1 {
			core.Failf("cannot squeeze axis %d of shape %v", a, x.Shape)
		}
		drop[k] = true
	}
	shape := []int64{}
	for i, d := range x.Shape {
		if !ok && d == 1 || drop[i] {
			continue
		}
		shape = append(shape, d)
	}
	return []*core.Tensor{core.Reshaped(x, shape)}
}

// concat joins the inputs along axis; the other dims must agree.
func concat(c *core.Call, in []*core.Tensor) []*core.Tensor {
	if !c.Has("axis") {
		core.Failf("attribute \"axis\" is required")
	}
	r := len(in[0].Shape)
	axis := NormAxis(c.Int("axis", 0), r)
	shape := append([]int64{}, in[0].Shape...)
	shape[axis] = 0
	for _, t := range in {
		if len(t.Shape) != r {
			panic(core.ErrRank)
		}
		for d := range shape {
			if d != axis && t.Shape[d] != shape[d] {
				core.Failf("cannot concatenate shapes %v and %v on axis %d", in[0].Shape, t.Shape, axis)
			}
		}
		shape[axis] += t.Shape[axis]
	}
	return []*core.Tensor{c.Ops.Concat(in, shape, axis)}
}

// Concat is the plain Concat: one index per output element, into the
// inputs' data laid end to end.
func (Ops) Concat(in []*core.Tensor, shape []int64, axis int) *core.Tensor {
	all := concatData(in...)
	idx := make([]int, 0, core.CheckSizeOf(shape, 8))
	outer, _, inner := Split3(shape, axis)
	base := 0
	bases := make([]int, len(in))
	for i, t := range in {
		bases[i] = base
		base += t.Len()
	}
	for o := 0; o < outer; o++ {
		for i, t := range in {
			blk := int(t.Shape[axis]) * inner
			for j := 0; j < blk; j++ {
				idx = append(idx, bases[i]+o*blk+j)
			}
		}
	}
	return core.Take(all, shape, idx)
}

// split cuts x along axis into the node's outputs: sizes from the split
// attribute (before 13) or input (from 13), else equal parts (from 18 with
// num_outputs the last part may be smaller).
func split(c *core.Call, in []*core.Tensor) []*core.Tensor {
	x := in[0]
	axis := NormAxis(c.Int("axis", 0), len(x.Shape))
	dim := x.Shape[axis]
	var sizes []int64
	if c.Opset() < 13 {
		sizes, _ = c.Ints("split")
	} else if len(in) > 1 && in[1] != nil {
		sizes = in[1].Int64s()
	}
	if sizes == nil {
		n := int64(c.Nout)
		if c.Has("num_outputs") {
			n = c.Int("num_outputs", 0)
			if n != int64(c.Nout) {
				core.Failf("num_outputs is %d but the node has %d outputs", n, c.Nout)
			}
		}
		if n <= 0 {
			core.Failf("cannot split into %d parts", n)
		}
		chunk := dim / n
		if dim%n != 0 {
			if !c.Has("num_outputs") {
				core.Failf("cannot split dim %d into %d equal parts", dim, n)
			}
			chunk = (dim + n - 1) / n
		}
		for i := int64(0); i < n; i++ {
			sizes = append(sizes, max(0, min(chunk, dim-i*chunk)))
		}
	}
	if len(sizes) != c.Nout {
		core.Failf("%d split sizes for %d outputs", len(sizes), c.Nout)
	}
	return splitPieces(x, axis, sizes)
}

// splitPieces cuts x along axis into pieces of the given sizes, which must
// be non-negative and add up to the dim: Split's outputs and
// SplitToSequence's items.
func splitPieces(x *core.Tensor, axis int, sizes []int64) []*core.Tensor {
	dim := x.Shape[axis]
	var total int64
	for _, s := range sizes {
		if s < 0 {
			core.Failf("negative split size in %v", sizes)
		}
		total += s
	}
	if total != dim {
		core.Failf("split sizes %v do not add up to dim %d", sizes, dim)
	}
	st := rowStrides(x.Shape)
	outs := make([]*core.Tensor, len(sizes))
	var start int64
	for i, s := range sizes {
		shape := append([]int64{}, x.Shape...)
		shape[axis] = s
		outs[i] = core.Take(x, shape, Strided(shape, st, int(start)*st[axis]))
		start += s
	}
	return outs
}

func splitTypes(n *core.Node, in []core.DType) ([]core.DType, error) {
	return fill(len(n.Outputs), in[0]), nil
}

// slice takes x[start:end:step] along each listed axis: starts, ends, axes
// (default 0…) and steps (default 1) are attributes before opset 10 and inputs
// from 10. Negative starts and ends count from the end; both clamp to the dim
// ([0, dim] going forward, [−1, dim−1] going backward).
func slice(c *core.Call, in []*core.Tensor) []*core.Tensor {
	x := in[0]
	r := len(x.Shape)
	var starts, ends, axes, steps []int64
	if c.Opset() < 10 {
		starts, _ = c.Ints("starts")
		ends, _ = c.Ints("ends")
		axes, _ = c.Ints("axes")
	} else {
		starts, ends = in[1].Int64s(), in[2].Int64s()
		if len(in) > 3 && in[3] != nil {
			axes = in[3].Int64s()
		}
		if len(in) > 4 && in[4] != nil {
			steps = in[4].Int64s()
		}
	}
	if len(ends) != len(starts) || axes != nil && len(axes) != len(starts) || steps != nil && len(steps) != len(starts) {
		core.Failf("starts, ends, axes and steps differ in length")
	}
	shape := append([]int64{}, x.Shape...)
	st := rowStrides(x.Shape)
	ost := append([]int{}, st...)
	base := 0
	seen := make([]bool, r)
	for i := range starts {
		axis := i
		if axes != nil {
			axis = NormAxis(axes[i], r)
		} else if i >= r {
			panic(core.ErrAxis)
		}
		if seen[axis] {
			core.Failf("axis %d sliced twice", axis)
		}
		seen[axis] = true
		step := int64(1)
		if steps != nil {
			step = steps[i]
		}
		if step == 0 {
			core.Failf("step is 0")
		}
		dim := x.Shape[axis]
		start, end := starts[i], ends[i]
		if start < 0 {
			start += dim
		}
		if end < 0 {
			end += dim
		}
		var n int64
		if step > 0 {
			start, end = min(max(start, 0), dim), min(max(end, 0), dim)
			if end > start {
				n = (end - start + step - 1) / step
			}
		} else {
			start, end = min(max(start, 0), dim-1), min(max(end, -1), dim-1)
			if start > end {
				n = (start - end - step - 1) / -step
			}
		}
		shape[axis] = n
		ost[axis] = st[axis] * int(step)
		if n > 0 {
			base += int(start) * st[axis]
		}
	}
	return []*core.Tensor{c.Ops.Strided(x, shape, ost, base)}
}

// gather is y[i…, j…, k…] = x[i…, idx[j…], k…] along axis (negative indices
// count from the end).
func gather(c *core.Call, in []*core.Tensor) []*core.Tensor {
	x, ind := in[0], in[1]
	r := len(x.Shape)
	if r == 0 {
		panic(core.ErrRank)
	}
	axis := NormAxis(c.Int("axis", 0), r)
	outer, dim, inner := Split3(x.Shape, axis)
	iv := ind.Int64s()
	shape := append(append(append([]int64{}, x.Shape[:axis]...), ind.Shape...), x.Shape[axis+1:]...)
	return []*core.Tensor{c.Ops.Gather(x, iv, shape, outer, dim, inner)}
}

// Gather is the plain Gather: one index per output element.
func (Ops) Gather(x *core.Tensor, iv []int64, shape []int64, outer, dim, inner int) *core.Tensor {
	idx := make([]int, 0, core.CheckSizeOf(shape, 8))
	for o := 0; o < outer; o++ {
		for _, j := range iv {
			if j < -int64(dim) || j >= int64(dim) {
				core.Failf("index %d out of range for dim %d", j, dim)
			}
			if j < 0 {
				j += int64(dim)
			}
			for k := 0; k < inner; k++ {
				idx = append(idx, (o*dim+int(j))*inner+k)
			}
		}
	}
	return core.Take(x, shape, idx)
}

// gatherElements is y[p] = x[p with its axis coordinate replaced by idx[p]];
// idx has x's rank and y idx's shape.
func gatherElements(c *core.Call, in []*core.Tensor) []*core.Tensor {
	x, ind := in[0], in[1]
	r := len(x.Shape)
	if len(ind.Shape) != r || r == 0 {
		panic(core.ErrRank)
	}
	idx := elementOffsets(x.Shape, ind, NormAxis(c.Int("axis", 0), r))
	return []*core.Tensor{core.Take(x, append([]int64{}, ind.Shape...), idx)}
}

// elementOffsets gives, for each entry p of ind (of the data's rank), the
// row-major offset in data of p with its axis coordinate replaced by ind[p]
// (negative indices count from the end): the addressing of GatherElements
// and ScatterElements.
func elementOffsets(shape []int64, ind *core.Tensor, axis int) []int {
	st := rowStrides(shape)
	iv := ind.Int64s()
	dim := shape[axis]
	offs := make([]int, len(iv))
	forEachIndex(ind.Shape, func(o int, coord []int) {
		j := iv[o]
		if j < -dim || j >= dim {
			core.Failf("index %d out of range for dim %d", j, dim)
		}
		if j < 0 {
			j += dim
		}
		off := 0
		for d, cd := range coord {
			if d == axis {
				cd = int(j)
			} else if int64(cd) >= shape[d] {
				core.Failf("indices shape %v exceeds data shape %v", ind.Shape, shape)
			}
			off += cd * st[d]
		}
		offs[o] = off
	})
	return offs
}

// expand broadcasts x with the shape input (both ways, as numpy).
func expand(c *core.Call, in []*core.Tensor) []*core.Tensor {
	x := in[0]
	shape := BroadcastShapes(x.Shape, in[1].Int64s())
	core.CheckSize(shape)
	return []*core.Tensor{c.Ops.Expand(x, shape)}
}

// tile repeats x repeats[d] times along each dim d: y[i…] = x[i mod dim …].
func tile(c *core.Call, in []*core.Tensor) []*core.Tensor {
	x := in[0]
	rep := in[1].Int64s()
	if len(rep) != len(x.Shape) {
		core.Failf("%d repeats for rank %d", len(rep), len(x.Shape))
	}
	shape := make([]int64, len(rep))
	for d, n := range rep {
		if n < 0 {
			core.Failf("negative repeat %d", n)
		}
		if n > 0 && x.Shape[d] > core.MaxElements/n {
			core.Failf("tiled shape is too large")
		}
		shape[d] = x.Shape[d] * n
	}
	st := rowStrides(x.Shape)
	idx := make([]int, core.CheckSizeOf(shape, 8))
	forEachIndex(shape, func(o int, coord []int) {
		off := 0
		for d, cd := range coord {
			off += cd % int(x.Shape[d]) * st[d]
		}
		idx[o] = off
	})
	return []*core.Tensor{core.Take(x, shape, idx)}
}

// trilu keeps the upper (upper=1: j − i ≥ k) or lower (j − i ≤ k) triangle of
// the last two dims and zeroes the rest; k is the optional second input.
func trilu(c *core.Call, in []*core.Tensor) []*core.Tensor {
	x := in[0]
	r := len(x.Shape)
	if r < 2 {
		panic(core.ErrRank)
	}
	var k int64
	if len(in) > 1 && in[1] != nil {
		k = scalarInt(in[1], "k")
	}
	upper := c.Int("upper", 1) != 0
	rows, cols := int(x.Shape[r-2]), int(x.Shape[r-1])
	zero := x.Len() // index of the appended zero
	src := concatData(x, core.Alloc(x.DType, []int64{1}))
	idx := make([]int, x.Len())
	for o := range idx {
		i, j := o/cols%rows, o%cols
		d := int64(j - i)
		if upper && d >= k || !upper && d <= k {
			idx[o] = o
		} else {
			idx[o] = zero
		}
	}
	return []*core.Tensor{core.Take(src, x.Shape, idx)}
}

// constantOfShape is a tensor of the shape input filled with the one-element
// value attribute (default float32 0).
func constantOfShape(c *core.Call, in []*core.Tensor) []*core.Tensor {
	v := c.Tensor("value")
	if v == nil {
		v = &core.Tensor{DType: core.Float32, Shape: []int64{1}, Elems: []float32{0}}
	}
	if v.Len() != 1 {
		core.Failf("value must have one element, got shape %v", v.Shape)
	}
	shape := append([]int64{}, in[0].Int64s()...)
	// The output is made and filled, with no index array: a take would
	// need 8 bytes of index per element on top of the output.
	out := core.Alloc(v.DType, shape)
	fillWith(out.Elems, v.Elems)
	return []*core.Tensor{out}
}

func constantOfShapeTypes(n *core.Node, in []core.DType) ([]core.DType, error) {
	if in[0] != core.Undefined && in[0] != core.Int64 {
		return nil, core.Errorf("input 0 has type %v, want int64", in[0])
	}
	if v := n.Consts["value"]; v != nil {
		return []core.DType{v.DType}, nil
	}
	return []core.DType{core.Float32}, nil
}

// constant is the tensor of its one value attribute.
func constant(c *core.Call, in []*core.Tensor) []*core.Tensor {
	return []*core.Tensor{constantValue(c.N)}
}

func constantValue(n *core.Node) *core.Tensor {
	if t := n.Consts["value"]; t != nil {
		return t
	}
	for name, a := range n.Attrs {
		switch name {
		case "value_float":
			return &core.Tensor{DType: core.Float32, Shape: []int64{}, Elems: []float32{a.GetF()}}
		case "value_floats":
			f := append([]float32{}, a.GetFloats()...)
			return &core.Tensor{DType: core.Float32, Shape: []int64{int64(len(f))}, Elems: f}
		case "value_int":
			return &core.Tensor{DType: core.Int64, Shape: []int64{}, Elems: []int64{a.GetI()}}
		case "value_ints":
			v := append([]int64{}, a.GetInts()...)
			return &core.Tensor{DType: core.Int64, Shape: []int64{int64(len(v))}, Elems: v}
		}
	}
	return nil
}

func checkConstant(n *core.Node) error {
	if len(n.Attrs) != 1 {
		return core.Errorf("want exactly one value attribute, got %d attributes", len(n.Attrs))
	}
	for name := range n.Attrs {
		switch name {
		case "value":
			if n.Consts["value"] == nil {
				return core.Errorf("attribute \"value\" is not a tensor")
			}
		case "value_float", "value_floats", "value_int", "value_ints":
		case "value_string", "value_strings", "sparse_value":
			return core.Errorf("attribute %q is not supported", name)
		default:
			return core.Errorf("unknown attribute %q", name)
		}
	}
	return nil
}

func constantTypes(n *core.Node, in []core.DType) ([]core.DType, error) {
	if v := constantValue(n); v != nil {
		return []core.DType{v.DType}, nil
	}
	return nil, core.Errorf("no value attribute")
}

// rangeOp is y[i] = start + i·delta for i < max(⌈(limit − start)/delta⌉, 0).
func rangeOp(c *core.Call, in []*core.Tensor) []*core.Tensor {
	start, limit, delta := in[0], in[1], in[2]
	for _, t := range in {
		if t.Len() != 1 {
			core.Failf("start, limit and delta must be scalars")
		}
	}
	dt := start.DType
	if dt.IsFloat() {
		s, l, d := start.Float64s()[0], limit.Float64s()[0], delta.Float64s()[0]
		if d == 0 {
			core.Failf("delta is 0")
		}
		n := math.Max(math.Ceil((l-s)/d), 0)
		if n > core.MaxElements || math.IsNaN(n) {
			core.Failf("range of %g elements", n)
		}
		core.ReserveBytes(int64(n)*16, func() string { return fmt.Sprintf("a range of %d elements", int64(n)) })
		out := make([]float64, int(n))
		for i := range out {
			out[i] = s + float64(i)*d
		}
		return []*core.Tensor{core.FromFloat64s(dt, []int64{int64(n)}, out)}
	}
	s, l, d := start.Int64s()[0], limit.Int64s()[0], delta.Int64s()[0]
	if d == 0 {
		core.Failf("delta is 0")
	}
	var n int64
	if d > 0 && l > s {
		n = (l - s + d - 1) / d
	} else if d < 0 && l < s {
		n = (s - l - d - 1) / -d
	}
	if n > core.MaxElements || n < 0 {
		core.Failf("range of %d elements", n)
	}
	core.ReserveBytes(n*8, func() string { return fmt.Sprintf("a range of %d elements", n) })
	out := make([]int64, n)
	for i := range out {
		out[i] = s + int64(i)*d
	}
	return []*core.Tensor{core.FromInt64s(dt, []int64{n}, out)}
}

// fillWith sets every element of dst to src's only element (both of one
// storage type).
func fillWith(dst, src any) {
	switch d := dst.(type) {
	case []float32:
		fillSlice(d, src.([]float32)[0])
	case []float64:
		fillSlice(d, src.([]float64)[0])
	case []uint16:
		fillSlice(d, src.([]uint16)[0])
	case []int8:
		fillSlice(d, src.([]int8)[0])
	case []int16:
		fillSlice(d, src.([]int16)[0])
	case []int32:
		fillSlice(d, src.([]int32)[0])
	case []int64:
		fillSlice(d, src.([]int64)[0])
	case []uint8:
		fillSlice(d, src.([]uint8)[0])
	case []uint32:
		fillSlice(d, src.([]uint32)[0])
	case []uint64:
		fillSlice(d, src.([]uint64)[0])
	case []bool:
		fillSlice(d, src.([]bool)[0])
	default:
		panic(core.ErrType)
	}
}

func fillSlice[T comparable](d []T, v T) {
	var zero T
	if v == zero {
		return // alloc's storage is zeroed already
	}
	for i := range d {
		d[i] = v
	}
}
