package runtime

import (
	"fmt"
	"math"
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
	n := product(shape)
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

// strided returns base + Σ coord[d]·st[d] for each element of shape, in
// row-major order: the source index of a strided view (Transpose, Slice, Split).
func strided(shape []int64, st []int, base int) []int {
	idx := make([]int, checkSizeOf(shape, 8))
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
func concatData(ts ...*Tensor) *Tensor {
	n := 0
	for _, t := range ts {
		if t.DType != ts[0].DType {
			panic(errType)
		}
		n += t.Len()
	}
	var data any
	switch ts[0].data.(type) {
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
		panic(errType)
	}
	return &Tensor{DType: ts[0].DType, Shape: []int64{int64(n)}, data: data}
}

func concatSlices[T any](ts []*Tensor, n int) []T {
	out := make([]T, 0, n)
	for _, t := range ts {
		out = append(out, t.data.([]T)...)
	}
	return out
}

// scalarInt reads a one-element integer tensor.
func scalarInt(t *Tensor, what string) int64 {
	if t.Len() != 1 {
		failf("%s must have one element, got shape %v", what, t.Shape)
	}
	return t.Int64s()[0]
}

// shapeOp is the shape of x as int64, dims [start, end) (opset 15; negative
// values count from the end and both clamp to [0, rank]).
func shapeOp(c *call, in []*Tensor) []*Tensor {
	r := int64(len(in[0].Shape))
	clampDim := func(v int64) int64 {
		if v < 0 {
			v += r
		}
		return min(max(v, 0), r)
	}
	start, end := clampDim(c.int("start", 0)), clampDim(c.int("end", r))
	dims := []int64{}
	if start < end {
		dims = append(dims, in[0].Shape[start:end]...)
	}
	return []*Tensor{{DType: Int64, Shape: []int64{int64(len(dims))}, data: dims}}
}

// size is the number of elements of x, an int64 scalar.
func size(c *call, in []*Tensor) []*Tensor {
	return []*Tensor{{DType: Int64, Shape: []int64{}, data: []int64{int64(in[0].Len())}}}
}

// reshape gives x the shape input: 0 copies x's dim (unless allowzero=1), one
// −1 is inferred from the element count.
func reshape(c *call, in []*Tensor) []*Tensor {
	x := in[0]
	want := in[1].Int64s()
	allowZero := c.int("allowzero", 0) != 0
	shape := make([]int64, len(want))
	infer := -1
	known := int64(1)
	for i, d := range want {
		switch {
		case d == 0 && !allowZero:
			if i >= len(x.Shape) {
				failf("shape %v copies dim %d of an input of rank %d", want, i, len(x.Shape))
			}
			d = x.Shape[i]
		case d == -1:
			if infer >= 0 {
				failf("shape %v has more than one -1", want)
			}
			infer = i
			continue
		case d < 0:
			failf("shape %v has a negative dim", want)
		}
		shape[i] = d
		if d > 0 && known > math.MaxInt64/d {
			failf("shape %v is too large", want)
		}
		known *= d
	}
	n := int64(x.Len())
	if infer >= 0 {
		if known == 0 || n%known != 0 {
			failf("cannot reshape %v to %v", x.Shape, want)
		}
		shape[infer] = n / known
	} else if known != n {
		failf("cannot reshape %v (%d elements) to %v", x.Shape, n, want)
	}
	return []*Tensor{reshaped(x, shape)}
}

// flatten reshapes x to [Π dims before axis, Π dims from axis] (axis default 1).
func flatten(c *call, in []*Tensor) []*Tensor {
	x := in[0]
	r := len(x.Shape)
	axis := c.int("axis", 1)
	if axis < -int64(r) || axis > int64(r) {
		panic(errAxis)
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
	return []*Tensor{reshaped(x, []int64{a, b})}
}

// transpose is y[i…] = x[perm(i…)]: output dim k is input dim perm[k]
// (perm defaults to reversing the dims).
func transpose(c *call, in []*Tensor) []*Tensor {
	x := in[0]
	r := len(x.Shape)
	perm := make([]int, r)
	if p, ok := c.ints("perm"); ok {
		if len(p) != r {
			failf("perm %v for rank %d", p, r)
		}
		seen := make([]bool, r)
		for i, a := range p {
			k := normAxis(a, r)
			if seen[k] {
				failf("perm %v is not a permutation", p)
			}
			seen[k] = true
			perm[i] = k
		}
	} else {
		for i := range perm {
			perm[i] = r - 1 - i
		}
	}
	return []*Tensor{c.ops.transpose(x, perm)}
}

// transposeTensor is y[i…] = x[i permuted], one index walk per element.
func transposeTensor(x *Tensor, perm []int) *Tensor {
	shape, pst := transposed(x.Shape, perm)
	return take(x, shape, strided(shape, pst, 0))
}

// transposed is the shape of x permuted by perm and the stride in x of each
// of its dims.
func transposed(xs []int64, perm []int) (shape []int64, pst []int) {
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
func axesArg(c *call, in []*Tensor) ([]int64, bool) {
	if c.opset() < 13 {
		return c.ints("axes")
	}
	if len(in) > 1 && in[1] != nil {
		return in[1].Int64s(), true
	}
	return nil, false
}

// unsqueeze inserts dims of size 1 at axes, which index the output's dims.
func unsqueeze(c *call, in []*Tensor) []*Tensor {
	x := in[0]
	axes, ok := axesArg(c, in)
	if !ok {
		failf("axes are required")
	}
	r := len(x.Shape) + len(axes)
	ones := make([]bool, r)
	for _, a := range axes {
		k := normAxis(a, r)
		if ones[k] {
			failf("axis %d repeated in %v", a, axes)
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
	return []*Tensor{reshaped(x, shape)}
}

// squeeze removes the dims at axes, each of which must be 1, or every dim of
// size 1 when axes are absent.
func squeeze(c *call, in []*Tensor) []*Tensor {
	x := in[0]
	axes, ok := axesArg(c, in)
	drop := make([]bool, len(x.Shape))
	for _, a := range axes {
		k := normAxis(a, len(x.Shape))
		if x.Shape[k] != 1 {
			failf("cannot squeeze axis %d of shape %v", a, x.Shape)
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
	return []*Tensor{reshaped(x, shape)}
}

// concat joins the inputs along axis; the other dims must agree.
func concat(c *call, in []*Tensor) []*Tensor {
	if !c.has("axis") {
		failf("attribute \"axis\" is required")
	}
	r := len(in[0].Shape)
	axis := normAxis(c.int("axis", 0), r)
	shape := append([]int64{}, in[0].Shape...)
	shape[axis] = 0
	for _, t := range in {
		if len(t.Shape) != r {
			panic(errRank)
		}
		for d := range shape {
			if d != axis && t.Shape[d] != shape[d] {
				failf("cannot concatenate shapes %v and %v on axis %d", in[0].Shape, t.Shape, axis)
			}
		}
		shape[axis] += t.Shape[axis]
	}
	return []*Tensor{c.ops.concat(in, shape, axis)}
}

// concat is the plain Concat: one index per output element, into the
// inputs' data laid end to end.
func (plainOps) concat(in []*Tensor, shape []int64, axis int) *Tensor {
	all := concatData(in...)
	idx := make([]int, 0, checkSizeOf(shape, 8))
	outer, _, inner := split3(shape, axis)
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
	return take(all, shape, idx)
}

// split cuts x along axis into the node's outputs: sizes from the split
// attribute (before 13) or input (from 13), else equal parts (from 18 with
// num_outputs the last part may be smaller).
func split(c *call, in []*Tensor) []*Tensor {
	x := in[0]
	axis := normAxis(c.int("axis", 0), len(x.Shape))
	dim := x.Shape[axis]
	var sizes []int64
	if c.opset() < 13 {
		sizes, _ = c.ints("split")
	} else if len(in) > 1 && in[1] != nil {
		sizes = in[1].Int64s()
	}
	if sizes == nil {
		n := int64(c.nout)
		if c.has("num_outputs") {
			n = c.int("num_outputs", 0)
			if n != int64(c.nout) {
				failf("num_outputs is %d but the node has %d outputs", n, c.nout)
			}
		}
		if n <= 0 {
			failf("cannot split into %d parts", n)
		}
		chunk := dim / n
		if dim%n != 0 {
			if !c.has("num_outputs") {
				failf("cannot split dim %d into %d equal parts", dim, n)
			}
			chunk = (dim + n - 1) / n
		}
		for i := int64(0); i < n; i++ {
			sizes = append(sizes, max(0, min(chunk, dim-i*chunk)))
		}
	}
	if len(sizes) != c.nout {
		failf("%d split sizes for %d outputs", len(sizes), c.nout)
	}
	return splitPieces(x, axis, sizes)
}

// splitPieces cuts x along axis into pieces of the given sizes, which must
// be non-negative and add up to the dim: Split's outputs and
// SplitToSequence's items.
func splitPieces(x *Tensor, axis int, sizes []int64) []*Tensor {
	dim := x.Shape[axis]
	var total int64
	for _, s := range sizes {
		if s < 0 {
			failf("negative split size in %v", sizes)
		}
		total += s
	}
	if total != dim {
		failf("split sizes %v do not add up to dim %d", sizes, dim)
	}
	st := rowStrides(x.Shape)
	outs := make([]*Tensor, len(sizes))
	var start int64
	for i, s := range sizes {
		shape := append([]int64{}, x.Shape...)
		shape[axis] = s
		outs[i] = take(x, shape, strided(shape, st, int(start)*st[axis]))
		start += s
	}
	return outs
}

func splitTypes(n *Node, in []DType) ([]DType, error) { return fill(len(n.Outputs), in[0]), nil }

// slice takes x[start:end:step] along each listed axis: starts, ends, axes
// (default 0…) and steps (default 1) are attributes before opset 10 and inputs
// from 10. Negative starts and ends count from the end; both clamp to the dim
// ([0, dim] going forward, [−1, dim−1] going backward).
func slice(c *call, in []*Tensor) []*Tensor {
	x := in[0]
	r := len(x.Shape)
	var starts, ends, axes, steps []int64
	if c.opset() < 10 {
		starts, _ = c.ints("starts")
		ends, _ = c.ints("ends")
		axes, _ = c.ints("axes")
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
		failf("starts, ends, axes and steps differ in length")
	}
	shape := append([]int64{}, x.Shape...)
	st := rowStrides(x.Shape)
	ost := append([]int{}, st...)
	base := 0
	seen := make([]bool, r)
	for i := range starts {
		axis := i
		if axes != nil {
			axis = normAxis(axes[i], r)
		} else if i >= r {
			panic(errAxis)
		}
		if seen[axis] {
			failf("axis %d sliced twice", axis)
		}
		seen[axis] = true
		step := int64(1)
		if steps != nil {
			step = steps[i]
		}
		if step == 0 {
			failf("step is 0")
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
	return []*Tensor{c.ops.strided(x, shape, ost, base)}
}

// gather is y[i…, j…, k…] = x[i…, idx[j…], k…] along axis (negative indices
// count from the end).
func gather(c *call, in []*Tensor) []*Tensor {
	x, ind := in[0], in[1]
	r := len(x.Shape)
	if r == 0 {
		panic(errRank)
	}
	axis := normAxis(c.int("axis", 0), r)
	outer, dim, inner := split3(x.Shape, axis)
	iv := ind.Int64s()
	shape := append(append(append([]int64{}, x.Shape[:axis]...), ind.Shape...), x.Shape[axis+1:]...)
	return []*Tensor{c.ops.gather(x, iv, shape, outer, dim, inner)}
}

// gather is the plain Gather: one index per output element.
func (plainOps) gather(x *Tensor, iv []int64, shape []int64, outer, dim, inner int) *Tensor {
	idx := make([]int, 0, checkSizeOf(shape, 8))
	for o := 0; o < outer; o++ {
		for _, j := range iv {
			if j < -int64(dim) || j >= int64(dim) {
				failf("index %d out of range for dim %d", j, dim)
			}
			if j < 0 {
				j += int64(dim)
			}
			for k := 0; k < inner; k++ {
				idx = append(idx, (o*dim+int(j))*inner+k)
			}
		}
	}
	return take(x, shape, idx)
}

// gatherElements is y[p] = x[p with its axis coordinate replaced by idx[p]];
// idx has x's rank and y idx's shape.
func gatherElements(c *call, in []*Tensor) []*Tensor {
	x, ind := in[0], in[1]
	r := len(x.Shape)
	if len(ind.Shape) != r || r == 0 {
		panic(errRank)
	}
	axis := normAxis(c.int("axis", 0), r)
	st := rowStrides(x.Shape)
	iv := ind.Int64s()
	dim := x.Shape[axis]
	idx := make([]int, len(iv))
	forEachIndex(ind.Shape, func(o int, coord []int) {
		j := iv[o]
		if j < -dim || j >= dim {
			failf("index %d out of range for dim %d", j, dim)
		}
		if j < 0 {
			j += dim
		}
		off := 0
		for d, cd := range coord {
			if d == axis {
				cd = int(j)
			} else if int64(cd) >= x.Shape[d] {
				failf("indices shape %v exceeds data shape %v", ind.Shape, x.Shape)
			}
			off += cd * st[d]
		}
		idx[o] = off
	})
	return []*Tensor{take(x, append([]int64{}, ind.Shape...), idx)}
}

// expand broadcasts x with the shape input (both ways, as numpy).
func expand(c *call, in []*Tensor) []*Tensor {
	x := in[0]
	shape := broadcastShapes(x.Shape, in[1].Int64s())
	checkSize(shape)
	return []*Tensor{c.ops.expand(x, shape)}
}

// tile repeats x repeats[d] times along each dim d: y[i…] = x[i mod dim …].
func tile(c *call, in []*Tensor) []*Tensor {
	x := in[0]
	rep := in[1].Int64s()
	if len(rep) != len(x.Shape) {
		failf("%d repeats for rank %d", len(rep), len(x.Shape))
	}
	shape := make([]int64, len(rep))
	for d, n := range rep {
		if n < 0 {
			failf("negative repeat %d", n)
		}
		if n > 0 && x.Shape[d] > maxElements/n {
			failf("tiled shape is too large")
		}
		shape[d] = x.Shape[d] * n
	}
	st := rowStrides(x.Shape)
	idx := make([]int, checkSizeOf(shape, 8))
	forEachIndex(shape, func(o int, coord []int) {
		off := 0
		for d, cd := range coord {
			off += cd % int(x.Shape[d]) * st[d]
		}
		idx[o] = off
	})
	return []*Tensor{take(x, shape, idx)}
}

// trilu keeps the upper (upper=1: j − i ≥ k) or lower (j − i ≤ k) triangle of
// the last two dims and zeroes the rest; k is the optional second input.
func trilu(c *call, in []*Tensor) []*Tensor {
	x := in[0]
	r := len(x.Shape)
	if r < 2 {
		panic(errRank)
	}
	var k int64
	if len(in) > 1 && in[1] != nil {
		k = scalarInt(in[1], "k")
	}
	upper := c.int("upper", 1) != 0
	rows, cols := int(x.Shape[r-2]), int(x.Shape[r-1])
	zero := x.Len() // index of the appended zero
	src := concatData(x, alloc(x.DType, []int64{1}))
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
	return []*Tensor{take(src, x.Shape, idx)}
}

// constantOfShape is a tensor of the shape input filled with the one-element
// value attribute (default float32 0).
func constantOfShape(c *call, in []*Tensor) []*Tensor {
	v := c.tensor("value")
	if v == nil {
		v = &Tensor{DType: Float32, Shape: []int64{1}, data: []float32{0}}
	}
	if v.Len() != 1 {
		failf("value must have one element, got shape %v", v.Shape)
	}
	shape := append([]int64{}, in[0].Int64s()...)
	// The output is made and filled, with no index array: a take would
	// need 8 bytes of index per element on top of the output.
	out := alloc(v.DType, shape)
	fillWith(out.data, v.data)
	return []*Tensor{out}
}

func constantOfShapeTypes(n *Node, in []DType) ([]DType, error) {
	if in[0] != Undefined && in[0] != Int64 {
		return nil, errorf("input 0 has type %v, want int64", in[0])
	}
	if v := n.consts["value"]; v != nil {
		return []DType{v.DType}, nil
	}
	return []DType{Float32}, nil
}

// constant is the tensor of its one value attribute.
func constant(c *call, in []*Tensor) []*Tensor {
	return []*Tensor{constantValue(c.n)}
}

func constantValue(n *Node) *Tensor {
	if t := n.consts["value"]; t != nil {
		return t
	}
	for name, a := range n.attrs {
		switch name {
		case "value_float":
			return &Tensor{DType: Float32, Shape: []int64{}, data: []float32{a.GetF()}}
		case "value_floats":
			f := append([]float32{}, a.GetFloats()...)
			return &Tensor{DType: Float32, Shape: []int64{int64(len(f))}, data: f}
		case "value_int":
			return &Tensor{DType: Int64, Shape: []int64{}, data: []int64{a.GetI()}}
		case "value_ints":
			v := append([]int64{}, a.GetInts()...)
			return &Tensor{DType: Int64, Shape: []int64{int64(len(v))}, data: v}
		}
	}
	return nil
}

func checkConstant(n *Node) error {
	if len(n.attrs) != 1 {
		return errorf("want exactly one value attribute, got %d attributes", len(n.attrs))
	}
	for name := range n.attrs {
		switch name {
		case "value":
			if n.consts["value"] == nil {
				return errorf("attribute \"value\" is not a tensor")
			}
		case "value_float", "value_floats", "value_int", "value_ints":
		case "value_string", "value_strings", "sparse_value":
			return errorf("attribute %q is not supported", name)
		default:
			return errorf("unknown attribute %q", name)
		}
	}
	return nil
}

func constantTypes(n *Node, in []DType) ([]DType, error) {
	if v := constantValue(n); v != nil {
		return []DType{v.DType}, nil
	}
	return nil, errorf("no value attribute")
}

// rangeOp is y[i] = start + i·delta for i < max(⌈(limit − start)/delta⌉, 0).
func rangeOp(c *call, in []*Tensor) []*Tensor {
	start, limit, delta := in[0], in[1], in[2]
	for _, t := range in {
		if t.Len() != 1 {
			failf("start, limit and delta must be scalars")
		}
	}
	dt := start.DType
	if dt.IsFloat() {
		s, l, d := start.Float64s()[0], limit.Float64s()[0], delta.Float64s()[0]
		if d == 0 {
			failf("delta is 0")
		}
		n := math.Max(math.Ceil((l-s)/d), 0)
		if n > maxElements || math.IsNaN(n) {
			failf("range of %g elements", n)
		}
		reserveBytes(int64(n)*16, func() string { return fmt.Sprintf("a range of %d elements", int64(n)) })
		out := make([]float64, int(n))
		for i := range out {
			out[i] = s + float64(i)*d
		}
		return []*Tensor{fromFloat64s(dt, []int64{int64(n)}, out)}
	}
	s, l, d := start.Int64s()[0], limit.Int64s()[0], delta.Int64s()[0]
	if d == 0 {
		failf("delta is 0")
	}
	var n int64
	if d > 0 && l > s {
		n = (l - s + d - 1) / d
	} else if d < 0 && l < s {
		n = (s - l - d - 1) / -d
	}
	if n > maxElements || n < 0 {
		failf("range of %d elements", n)
	}
	reserveBytes(n*8, func() string { return fmt.Sprintf("a range of %d elements", n) })
	out := make([]int64, n)
	for i := range out {
		out[i] = s + int64(i)*d
	}
	return []*Tensor{fromInt64s(dt, []int64{n}, out)}
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
		panic(errType)
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
