package ref

import (
	"slices"

	"github.com/mhcc-dev/mhcc/runtime/internal/core"
)

// Pad and CumSum: two ops exporters write for ordinary model code that the
// mHC graphs never needed (F.pad; positions computed as a cumulative sum of
// the attention mask), so that a graph from torch or its dynamo exporter does
// not stop at them.

var exportKernels = []core.Kernel{
	{Op: "Pad", Since: 11, MinIn: 2, MaxIn: 4, Fn: pad, Types: first(isAny, core.Int64), Check: checkPad},
	{Op: "CumSum", Since: 11, MinIn: 2, Fn: cumSum, Types: first(isNumber, anyIndex)},
}

func checkPad(n *core.Node) error {
	mode := "constant"
	if a := n.Attrs["mode"]; a != nil {
		mode = string(a.GetS())
	}
	switch mode {
	case "constant", "reflect", "edge":
	case "wrap":
		if n.Opset < 19 {
			return core.Errorf("mode \"wrap\" needs opset 19, the model imports %d", n.Opset)
		}
	default:
		return core.Errorf("mode %q: want constant, reflect, edge or wrap", mode)
	}
	if n.Nformal > 3 && n.Inputs[3] != "" && n.Opset < 18 {
		return core.Errorf("input 3 (axes) needs opset 18, the model imports %d", n.Opset)
	}
	return nil
}

// pad pads (or, with negative pads, crops) x along the axes (default: all)
// by pads = [begin of each axis…, end of each axis…], filling by mode:
// constant (input 2, default 0), edge (repeat the border), reflect (mirror
// without repeating the border, at most size-1 elements, as onnxruntime
// allows) or wrap (periodic, as numpy.pad: onnxruntime 1.30 gave a zero in
// a test whose wrap pad exceeded the axis' size, so the tests keep to pads
// within it).
func pad(c *core.Call, in []*core.Tensor) []*core.Tensor {
	x := in[0]
	r := len(x.Shape)
	pads := in[1].Int64s()
	axes := make([]int, r)
	for i := range axes {
		axes[i] = i
	}
	if len(in) > 3 && in[3] != nil {
		if in[3].DType != core.Int32 && in[3].DType != core.Int64 {
			panic(core.ErrType)
		}
		axes = axes[:0]
		for _, a := range in[3].Int64s() {
			ax := NormAxis(a, r)
			if slices.Contains(axes, ax) {
				core.Failf("axis %d given twice", a)
			}
			axes = append(axes, ax)
		}
	}
	if len(pads) != 2*len(axes) {
		core.Failf("%d pads for %d axes, want %d", len(pads), len(axes), 2*len(axes))
	}
	begin := make([]int64, r)
	shape := slices.Clone(x.Shape)
	for i, ax := range axes {
		begin[ax] = pads[i]
		shape[ax] += pads[i] + pads[i+len(axes)]
		if shape[ax] < 0 {
			core.Failf("pads %v make axis %d of %v negative", pads, ax, x.Shape)
		}
	}
	mode := c.Str("mode", "constant")
	if mode == "reflect" {
		// onnxruntime refuses more than one reflection (numpy would repeat).
		for i, ax := range axes {
			if d := x.Shape[ax]; pads[i] > d-1 || pads[i+len(axes)] > d-1 {
				core.Failf("reflect pads %d and %d on axis %d exceed its size %d - 1", pads[i], pads[i+len(axes)], ax, d)
			}
		}
	}
	n := core.CheckSize(shape)
	src := x
	fill := -1
	if mode == "constant" {
		v := core.Alloc(x.DType, []int64{1})
		if len(in) > 2 && in[2] != nil {
			if in[2].DType != x.DType {
				panic(core.ErrType)
			}
			if in[2].Len() != 1 {
				core.Failf("constant_value must be one value, got shape %v", in[2].Shape)
			}
			v = in[2]
		}
		fill = x.Len()
		src = concatData(x, v)
	} else if x.Len() == 0 && n > 0 {
		core.Failf("cannot pad an empty tensor in mode %q", mode)
	}
	st := rowStrides(x.Shape)
	idx := make([]int, 0, n)
	forEachIndex(shape, func(_ int, coord []int) {
		off := 0
		for d, co := range coord {
			i, dim := int64(co)-begin[d], x.Shape[d]
			if i < 0 || i >= dim {
				switch mode {
				case "constant":
					off = -1
				case "edge":
					i = min(max(i, 0), dim-1)
				case "reflect":
					if dim == 1 {
						i = 0
						break
					}
					p := 2 * (dim - 1)
					i = ((i % p) + p) % p
					if i >= dim {
						i = p - i
					}
				case "wrap":
					i = ((i % dim) + dim) % dim
				}
			}
			if off < 0 {
				break
			}
			off += int(i) * st[d]
		}
		if off < 0 {
			off = fill
		}
		idx = append(idx, off)
	})
	return []*core.Tensor{core.Take(src, shape, idx)}
}

// cumSum sums x along axis (input 1, one value): inclusive, or exclusive
// (each element gets the sum of those before it), from the start or (reverse)
// from the end. float32 accumulates in float32, as onnxruntime does.
func cumSum(c *core.Call, in []*core.Tensor) []*core.Tensor {
	x := in[0]
	if in[1].Len() != 1 {
		core.Failf("axis must be one value, got shape %v", in[1].Shape)
	}
	axis := NormAxis(in[1].Int64s()[0], len(x.Shape))
	exclusive, reverse := c.Int("exclusive", 0) != 0, c.Int("reverse", 0) != 0
	outer, dim, inner := Split3(x.Shape, axis)
	out := core.Alloc(x.DType, slices.Clone(x.Shape))
	switch d := x.Elems.(type) {
	case []float32:
		cumSumOf(d, out.Elems.([]float32), outer, dim, inner, exclusive, reverse)
	case []float64:
		cumSumOf(d, out.Elems.([]float64), outer, dim, inner, exclusive, reverse)
	case []int32:
		cumSumOf(d, out.Elems.([]int32), outer, dim, inner, exclusive, reverse)
	case []int64:
		cumSumOf(d, out.Elems.([]int64), outer, dim, inner, exclusive, reverse)
	case []uint32:
		cumSumOf(d, out.Elems.([]uint32), outer, dim, inner, exclusive, reverse)
	case []uint64:
		cumSumOf(d, out.Elems.([]uint64), outer, dim, inner, exclusive, reverse)
	default:
		panic(core.ErrType)
	}
	return []*core.Tensor{out}
}

func cumSumOf[T float32 | float64 | int32 | int64 | uint32 | uint64](x, y []T, outer, dim, inner int, exclusive, reverse bool) {
	for o := 0; o < outer; o++ {
		for i := 0; i < inner; i++ {
			var s T
			for k := 0; k < dim; k++ {
				j := k
				if reverse {
					j = dim - 1 - k
				}
				at := (o*dim+j)*inner + i
				if exclusive {
					y[at] = s
					s += x[at]
				} else {
					s += x[at]
					y[at] = s
				}
			}
		}
	}
}
