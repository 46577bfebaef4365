package ref

import (
	"math"

	"github.com/mhcc-dev/mhcc/runtime/internal/core"
)

// Reductions. Floats accumulate in float64, in row-major order, and round
// once to the input's type; integers accumulate exactly in int64 where the
// reduction has an integer form (sum, mean, max, min, product, sum of
// squares, L1), else through float64.

func addF(a, x float64) float64 { return a + x }
func addI(a, x int64) int64     { return a + x }

var (
	sumR  = core.Reducer{Step: addF, IStep: addI, Kind: core.RedSum}  // Σx
	meanR = core.Reducer{Step: addF, IStep: addI, Kind: core.RedMean, // Σx/n (integers truncate)
		Final:  func(a float64, n int) float64 { return a / float64(n) },
		IFinal: func(a int64, n int) int64 { return a / int64(max(n, 1)) }}
	maxR = core.Reducer{Init: math.Inf(-1), Step: math.Max, // max x, NaN wins
		IInit: math.MinInt64, IStep: func(a, x int64) int64 { return max(a, x) }}
	minR = core.Reducer{Init: math.Inf(1), Step: math.Min, // min x, NaN wins
		IInit: math.MaxInt64, IStep: func(a, x int64) int64 { return min(a, x) }}
	prodR = core.Reducer{Init: 1, Step: func(a, x float64) float64 { return a * x }, // Πx
		IInit: 1, IStep: func(a, x int64) int64 { return a * x }}
	sumSquareR = core.Reducer{Step: func(a, x float64) float64 { return a + x*x }, Kind: core.RedSumSquare, // Σx²
		IStep: func(a, x int64) int64 { return a + x*x }}
	MeanSquareR = core.Reducer{Step: func(a, x float64) float64 { return a + x*x }, Kind: core.RedMeanSquare, // Σx²/n
		Final:  func(a float64, n int) float64 { return a / float64(n) },
		IStep:  func(a, x int64) int64 { return a + x*x },
		IFinal: func(a int64, n int) int64 { return a / int64(max(n, 1)) }}
	l1R = core.Reducer{Step: func(a, x float64) float64 { return a + math.Abs(x) }, // Σ|x|
		IStep: func(a, x int64) int64 { return a + max(x, -x) }}
	l2R = core.Reducer{Step: func(a, x float64) float64 { return a + x*x }, // √Σx²
		Final: func(a float64, _ int) float64 { return math.Sqrt(a) }}
	logSumR = core.Reducer{Step: addF, // ln Σx
		Final: func(a float64, _ int) float64 { return math.Log(a) }}
	logSumExpR = core.Reducer{} // ln Σeˣ, shifted by the max: see reduceAxes
)

// Reduce builds the kernel of one Reduce* op. Its axes come from the "axes"
// attribute in the rows with one input (ReduceSum before opset 13, the others
// before 18) and from the optional second input after; keepdims (default 1)
// keeps reduced dims as 1; with axes empty or absent every dim is reduced,
// unless noop_with_empty_axes=1 (input form only) makes the op the identity.
func Reduce(r core.Reducer) core.KernelFunc {
	return func(c *core.Call, in []*core.Tensor) []*core.Tensor {
		x := in[0]
		var axes []int64
		if c.N.K.MaxIn == 1 {
			axes, _ = c.Ints("axes")
		} else {
			if len(in) > 1 && in[1] != nil {
				axes = in[1].Int64s()
			}
			if len(axes) == 0 && c.Int("noop_with_empty_axes", 0) != 0 {
				return []*core.Tensor{x}
			}
		}
		return []*core.Tensor{c.Ops.ReduceAxes(x, axes, c.Int("keepdims", 1) != 0, r)}
	}
}

// reduceAxes reduces x over axes (all if empty) with r, by the plain index
// walk (reduceWalk).
func reduceAxes(x *core.Tensor, axes []int64, keepdims bool, r core.Reducer) *core.Tensor {
	_, keep, shape, nOut := ReduceShape(x, axes, keepdims)
	return ReduceWalk(x, keep, shape, nOut, r)
}

// ReduceShape gives, for reducing x over axes, which dims are reduced, the
// output shape with them kept as 1, the output shape, and its size.
func ReduceShape(x *core.Tensor, axes []int64, keepdims bool) (red []bool, keep, shape []int64, nOut int) {
	rank := len(x.Shape)
	red = make([]bool, rank)
	for _, a := range axes {
		red[NormAxis(a, rank)] = true
	}
	if len(axes) == 0 {
		for i := range red {
			red[i] = true
		}
	}
	keep = make([]int64, rank) // the output shape with reduced dims kept as 1
	var squeezed []int64
	for i, d := range x.Shape {
		if red[i] {
			keep[i] = 1
			continue
		}
		keep[i] = d
		squeezed = append(squeezed, d)
	}
	nOut = core.CheckSizeOf(keep, 8)
	shape = keep
	if !keepdims {
		shape = squeezed
		if shape == nil {
			shape = []int64{}
		}
	}
	return red, keep, shape, nOut
}

// ReduceWalk reduces x to shape (keep with the reduced dims as 1, nOut
// elements) by one index walk over x.
func ReduceWalk(x *core.Tensor, keep, shape []int64, nOut int, r core.Reducer) *core.Tensor {
	// The kept shape broadcasts to x's: each element of x finds its output.
	idx := expandIndex(keep, x.Shape)
	count := 0
	if nOut > 0 {
		count = x.Len() / nOut
	}
	if x.DType.IsInt() && r.IStep != nil {
		acc := make([]int64, nOut)
		for i := range acc {
			acc[i] = r.IInit
		}
		for i, v := range x.Int64s() {
			acc[idx[i]] = r.IStep(acc[idx[i]], v)
		}
		if r.IFinal != nil {
			for i := range acc {
				acc[i] = r.IFinal(acc[i], count)
			}
		}
		return core.FromInt64s(x.DType, shape, acc)
	}
	xv := x.Float64s()
	acc := make([]float64, nOut)
	if r.Step == nil { // log-sum-exp, shifted by the max for range
		mx := make([]float64, nOut)
		for i := range mx {
			mx[i] = math.Inf(-1)
		}
		for i, v := range xv {
			mx[idx[i]] = math.Max(mx[idx[i]], v)
		}
		for i, v := range xv {
			acc[idx[i]] += math.Exp(v - mx[idx[i]])
		}
		for i := range acc {
			if math.IsInf(mx[i], 0) {
				acc[i] = mx[i] // all −∞ (or empty), or a +∞ present
				continue
			}
			acc[i] = mx[i] + math.Log(acc[i])
		}
	} else {
		for i := range acc {
			acc[i] = r.Init
		}
		for i, v := range xv {
			acc[idx[i]] = r.Step(acc[idx[i]], v)
		}
		if r.Final != nil {
			for i := range acc {
				acc[i] = r.Final(acc[i], count)
			}
		}
	}
	return core.FromFloat64s(x.DType, shape, acc)
}

// NormAxis maps an axis in [−rank, rank) to [0, rank), panicking otherwise.
func NormAxis(a int64, rank int) int {
	if a < -int64(rank) || a >= int64(rank) {
		core.Failf("axis %d out of range for rank %d", a, rank)
	}
	if a < 0 {
		a += int64(rank)
	}
	return int(a)
}

// argMax is the index of the largest element along axis (the first one, or
// the last with select_last_index=1), as int64; keepdims as in reduce.
func argMax(c *core.Call, in []*core.Tensor) []*core.Tensor {
	return []*core.Tensor{argReduce(c, in[0], 1)}
}

// argMin is argMax for the smallest element.
func argMin(c *core.Call, in []*core.Tensor) []*core.Tensor {
	return []*core.Tensor{argReduce(c, in[0], -1)}
}

// argReduce finds the index along axis maximizing sign·x.
func argReduce(c *core.Call, x *core.Tensor, sign int) *core.Tensor {
	rank := len(x.Shape)
	if rank == 0 {
		panic(core.ErrRank)
	}
	axis := NormAxis(c.Int("axis", 0), rank)
	last := c.Int("select_last_index", 0) != 0
	outer, dim, inner := Split3(x.Shape, axis)
	if dim == 0 {
		core.Failf("cannot take an arg-reduction over an empty axis")
	}
	// cmp(i, j) is the sign of sign·(x[i] − x[j]); integers compare exactly.
	var cmp func(i, j int) int
	if x.DType.IsInt() {
		v := x.Int64s()
		cmp = func(i, j int) int { return sign * cmpOrder(v[i], v[j]) }
	} else {
		v := x.Float64s()
		cmp = func(i, j int) int { return sign * cmpOrder(v[i], v[j]) }
	}
	out := make([]int64, outer*inner)
	for o := 0; o < outer; o++ {
		for i := 0; i < inner; i++ {
			base := o*dim*inner + i
			best := 0
			for j := 1; j < dim; j++ {
				if d := cmp(base+j*inner, base+best*inner); d > 0 || last && d == 0 {
					best = j
				}
			}
			out[o*inner+i] = int64(best)
		}
	}
	shape := append([]int64{}, x.Shape...)
	if c.Int("keepdims", 1) != 0 {
		shape[axis] = 1
	} else {
		shape = append(shape[:axis], shape[axis+1:]...)
	}
	return &core.Tensor{DType: core.Int64, Shape: shape, Elems: out}
}

// cmpOrder is −1, 0 or 1 as a < b, a = b or a > b (NaN compares equal to everything).
func cmpOrder[T int64 | float64](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Split3 views shape as [outer, shape[axis], inner].
func Split3(shape []int64, axis int) (outer, dim, inner int) {
	outer, inner = 1, 1
	for i, d := range shape {
		switch {
		case i < axis:
			outer *= int(d)
		case i > axis:
			inner *= int(d)
		}
	}
	return outer, int(shape[axis]), inner
}
