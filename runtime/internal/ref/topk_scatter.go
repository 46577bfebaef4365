package ref

import (
	"fmt"
	"github.com/mhcc-dev/mhcc/runtime/internal/core"
	"slices"
	"sort"
)

// TopK, NonZero, ScatterElements and ScatterND: the routing ops of a
// mixture-of-experts FFN (export/op_moe.go): the top-k experts of each token,
// the tokens routed to an expert, and the routing weights (or the experts'
// rows) put back into place.

var routingKernels = []core.Kernel{
	{Op: "TopK", Since: 10, MinIn: 2, MaxOut: 2, Fn: topK, Types: topKTypes},
	{Op: "NonZero", Since: 9, MinIn: 1, Fn: nonZero, Types: result(isAny, core.Int64)},
	{Op: "ScatterElements", Since: 11, MinIn: 3, Fn: scatterElements, Types: scatterTypes(true), Check: checkScatterReduction},
	{Op: "ScatterND", Since: 11, MinIn: 3, Fn: scatterND, Types: scatterTypes(false), Check: checkScatterReduction},
}

// topKTypes: the values have x's type, the indices are int64.
func topKTypes(n *core.Node, in []core.DType) ([]core.DType, error) {
	if in[0] != core.Undefined && !isNumber(in[0]) {
		return nil, fmt.Errorf("input 0 has type %v, want a number type", in[0])
	}
	if len(in) > 1 && in[1] != core.Undefined && in[1] != core.Int64 {
		return nil, fmt.Errorf("input 1 (k) has type %v, want int64", in[1])
	}
	return []core.DType{in[0], core.Int64}[:len(n.Outputs)], nil
}

// scatterTypes: data and updates of one type, indices int64 (or, for
// ScatterElements, int32); the output has data's type.
func scatterTypes(int32OK bool) core.TypeRule {
	return func(n *core.Node, in []core.DType) ([]core.DType, error) {
		if len(in) > 1 && in[1] != core.Undefined && in[1] != core.Int64 && !(int32OK && in[1] == core.Int32) {
			return nil, fmt.Errorf("input 1 (indices) has type %v, want int64", in[1])
		}
		if len(in) > 2 && in[0] != core.Undefined && in[2] != core.Undefined && in[0] != in[2] {
			return nil, fmt.Errorf("input 2 (updates) has type %v, want %v (the data's)", in[2], in[0])
		}
		return []core.DType{in[0]}, nil
	}
}

// checkScatterReduction checks the reduction attribute against the opset:
// none before 16, add and mul from 16, max and min from 18.
func checkScatterReduction(n *core.Node) error {
	a := n.Attrs["reduction"]
	if a == nil {
		return nil
	}
	r := string(a.GetS())
	switch {
	case n.Opset < 16:
		return core.Errorf("attribute reduction needs opset 16, the model imports %d", n.Opset)
	case r == "none" || r == "add" || r == "mul":
	case (r == "max" || r == "min") && n.Opset >= 18:
	default:
		return core.Errorf("reduction %q: want none, add or mul (max and min from opset 18)", r)
	}
	return nil
}

// topK returns the k largest (largest=1) or smallest elements of x along
// axis and their indices, in that order (sorted or not, the runtime sorts);
// equal elements keep the lower index first, as the ONNX spec says:
//
//	for each line along axis: order = stable sort of 0..dim-1 by x (descending)
//	values = x[order[:k]], indices = order[:k]
func topK(c *core.Call, in []*core.Tensor) []*core.Tensor {
	x := in[0]
	r := len(x.Shape)
	if r == 0 {
		panic(core.ErrRank)
	}
	if in[1].Len() != 1 {
		core.Failf("k must be one value, got shape %v", in[1].Shape)
	}
	k := in[1].Int64s()[0]
	axis := NormAxis(c.Int("axis", -1), r)
	outer, dim, inner := Split3(x.Shape, axis)
	if k < 0 || k > int64(dim) {
		core.Failf("k = %d, want 0 ≤ k ≤ %d (dim %d of %v)", k, dim, axis, x.Shape)
	}
	largest := c.Int("largest", 1) != 0
	var less func(a, b int) bool // a sorts before b
	if x.DType.IsInt() {
		v := x.Int64s()
		less = func(a, b int) bool { return v[a] > v[b] == largest && v[a] != v[b] }
	} else {
		v := x.Float64s()
		less = func(a, b int) bool { return v[a] > v[b] == largest && v[a] != v[b] }
	}
	shape := slices.Clone(x.Shape)
	shape[axis] = k
	n := core.CheckSize(shape)
	idx := make([]int, n)
	ind := make([]int64, n)
	line := make([]int, dim)
	for o := 0; o < outer; o++ {
		for i := 0; i < inner; i++ {
			for j := range line {
				line[j] = (o*dim+j)*inner + i
			}
			sort.SliceStable(line, func(a, b int) bool { return less(line[a], line[b]) })
			for j := 0; j < int(k); j++ {
				at := (o*int(k)+j)*inner + i
				idx[at] = line[j]
				ind[at] = int64((line[j] / inner) % dim)
			}
		}
	}
	return []*core.Tensor{core.Take(x, shape, idx), {DType: core.Int64, Shape: slices.Clone(shape), Elems: ind}}
}

// nonZero returns the coordinates of the non-zero elements of x, [rank, N],
// in row-major order.
func nonZero(c *core.Call, in []*core.Tensor) []*core.Tensor {
	x := in[0]
	nz := x.Bools()
	var coords []int64
	count := 0
	forEachIndex(x.Shape, func(o int, coord []int) {
		if nz[o] {
			count++
			for _, v := range coord {
				coords = append(coords, int64(v))
			}
		}
	})
	r := len(x.Shape)
	out := make([]int64, r*count) // coords is [N, rank]; the output is its transpose
	for i := 0; i < count; i++ {
		for d := 0; d < r; d++ {
			out[d*count+i] = coords[i*r+d]
		}
	}
	return []*core.Tensor{{DType: core.Int64, Shape: []int64{int64(r), int64(count)}, Elems: out}}
}

// scatterElements is data with updates[i…] written (or combined, by
// reduction) at the position of i… whose coordinate along axis is
// indices[i…]:
//
//	out = copy(data); out[i₀…, indices[i…], …iₙ] ⊕= updates[i…]
func scatterElements(c *core.Call, in []*core.Tensor) []*core.Tensor {
	data, ind, upd := in[0], in[1], in[2]
	r := len(data.Shape)
	if r == 0 || len(ind.Shape) != r {
		panic(core.ErrRank)
	}
	if !slices.Equal(ind.Shape, upd.Shape) {
		core.Failf("indices shape %v and updates shape %v differ", ind.Shape, upd.Shape)
	}
	offs := elementOffsets(data.Shape, ind, NormAxis(c.Int("axis", 0), r))
	return []*core.Tensor{scatterInto(c, data, upd, offs, 1)}
}

// scatterND is data with the slices updates[i…, :] written (or combined)
// at data[indices[i…, :], :]: indices is [..., q] of coordinates of the
// first q axes of data.
func scatterND(c *core.Call, in []*core.Tensor) []*core.Tensor {
	data, ind, upd := in[0], in[1], in[2]
	r := len(data.Shape)
	ir := len(ind.Shape)
	if r == 0 || ir == 0 {
		panic(core.ErrRank)
	}
	q := int(ind.Shape[ir-1])
	if q > r {
		core.Failf("indices of %d coordinates for data of rank %d", q, r)
	}
	want := append(slices.Clone(ind.Shape[:ir-1]), data.Shape[q:]...)
	if !slices.Equal(upd.Shape, want) {
		core.Failf("updates shape %v, want %v", upd.Shape, want)
	}
	st := rowStrides(data.Shape)
	slice := 1
	for _, d := range data.Shape[q:] {
		slice *= int(d)
	}
	iv := ind.Int64s()
	n := len(iv) / max(q, 1)
	if q == 0 {
		n = core.CheckSize(ind.Shape[:ir-1])
	}
	offs := make([]int, n)
	for i := range offs {
		off := 0
		for d := 0; d < q; d++ {
			j, dim := iv[i*q+d], data.Shape[d]
			if j < -dim || j >= dim {
				core.Failf("index %d out of range for dim %d", j, dim)
			}
			if j < 0 {
				j += dim
			}
			off += int(j) * st[d]
		}
		offs[i] = off
	}
	return []*core.Tensor{scatterInto(c, data, upd, offs, slice)}
}

// scatterInto copies data and puts the runs of width elements of updates,
// run i at offset offs[i], in place by the reduction attribute (none: the
// last write wins, as onnxruntime does for duplicates).
func scatterInto(c *core.Call, data, upd *core.Tensor, offs []int, width int) *core.Tensor {
	red := c.Str("reduction", "none")
	if red == "none" {
		// A permutation of data followed by updates, so any type works.
		src := concatData(data, upd)
		idx := make([]int, data.Len())
		for i := range idx {
			idx[i] = i
		}
		for i, off := range offs {
			for w := 0; w < width; w++ {
				idx[off+w] = data.Len() + i*width + w
			}
		}
		return core.Take(src, slices.Clone(data.Shape), idx)
	}
	switch d := data.Elems.(type) {
	case []float32:
		return &core.Tensor{DType: data.DType, Shape: slices.Clone(data.Shape), Elems: reduceInto(d, upd.Elems.([]float32), offs, width, red)}
	case []float64:
		return &core.Tensor{DType: data.DType, Shape: slices.Clone(data.Shape), Elems: reduceInto(d, upd.Elems.([]float64), offs, width, red)}
	case []int64:
		return &core.Tensor{DType: data.DType, Shape: slices.Clone(data.Shape), Elems: reduceInto(d, upd.Elems.([]int64), offs, width, red)}
	case []int32:
		return &core.Tensor{DType: data.DType, Shape: slices.Clone(data.Shape), Elems: reduceInto(d, upd.Elems.([]int32), offs, width, red)}
	case []uint16:
		if data.DType.IsHalf() {
			// Each combination in float32, rounded once to the half type.
			w := core.Widen(data).Elems.([]float32)
			out := &core.Tensor{DType: core.Float32, Shape: slices.Clone(data.Shape), Elems: reduceInto(w, core.Widen(upd).Elems.([]float32), offs, width, red)}
			return core.NarrowFloat32(out, data.DType)
		}
	}
	core.Failf("reduction %q on %v is not implemented", red, data.DType)
	return nil
}

func reduceInto[T float32 | float64 | int64 | int32](data, upd []T, offs []int, width int, red string) []T {
	out := slices.Clone(data)
	for i, off := range offs {
		for w := 0; w < width; w++ {
			o, u := &out[off+w], upd[i*width+w]
			switch red {
			case "add":
				*o += u
			case "mul":
				*o *= u
			case "max":
				*o = max(*o, u)
			case "min":
				*o = min(*o, u)
			}
		}
	}
	return out
}
