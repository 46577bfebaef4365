package runtime

import "math"

// Reductions. Floats accumulate in float64, in row-major order, and round
// once to the input's type; integers accumulate exactly in int64 where the
// reduction has an integer form (sum, mean, max, min, product, sum of
// squares, L1), else through float64.

// A reducer folds the elements of one output position: acc starts at init,
// takes step for each element and ends as final(acc, count) (nil: acc).
// The i-fields are the integer form.
type reducer struct {
	init   float64
	step   func(acc, x float64) float64
	final  func(acc float64, n int) float64
	iinit  int64
	istep  func(acc, x int64) int64
	ifinal func(acc int64, n int) int64
	kind   redKind // the float32 fast path (fastpath.go), or redOther
}

// A redKind names the reductions with a float32 fast path.
type redKind uint8

const (
	redOther redKind = iota
	redSum
	redMean
	redSumSquare
	redMeanSquare // Σx²/n: ReduceMean(Pow(x, 2)) as the plan fuses it (plan.go)
)

func addF(a, x float64) float64 { return a + x }
func addI(a, x int64) int64     { return a + x }

var (
	sumR  = reducer{step: addF, istep: addI, kind: redSum}  // Σx
	meanR = reducer{step: addF, istep: addI, kind: redMean, // Σx/n (integers truncate)
		final:  func(a float64, n int) float64 { return a / float64(n) },
		ifinal: func(a int64, n int) int64 { return a / int64(max(n, 1)) }}
	maxR = reducer{init: math.Inf(-1), step: math.Max, // max x, NaN wins
		iinit: math.MinInt64, istep: func(a, x int64) int64 { return max(a, x) }}
	minR = reducer{init: math.Inf(1), step: math.Min, // min x, NaN wins
		iinit: math.MaxInt64, istep: func(a, x int64) int64 { return min(a, x) }}
	prodR = reducer{init: 1, step: func(a, x float64) float64 { return a * x }, // Πx
		iinit: 1, istep: func(a, x int64) int64 { return a * x }}
	sumSquareR = reducer{step: func(a, x float64) float64 { return a + x*x }, kind: redSumSquare, // Σx²
		istep: func(a, x int64) int64 { return a + x*x }}
	meanSquareR = reducer{step: func(a, x float64) float64 { return a + x*x }, kind: redMeanSquare, // Σx²/n
		final:  func(a float64, n int) float64 { return a / float64(n) },
		istep:  func(a, x int64) int64 { return a + x*x },
		ifinal: func(a int64, n int) int64 { return a / int64(max(n, 1)) }}
	l1R = reducer{step: func(a, x float64) float64 { return a + math.Abs(x) }, // Σ|x|
		istep: func(a, x int64) int64 { return a + max(x, -x) }}
	l2R = reducer{step: func(a, x float64) float64 { return a + x*x }, // √Σx²
		final: func(a float64, _ int) float64 { return math.Sqrt(a) }}
	logSumR = reducer{step: addF, // ln Σx
		final: func(a float64, _ int) float64 { return math.Log(a) }}
	logSumExpR = reducer{} // ln Σeˣ, shifted by the max: see reduceAxes
)

// reduce builds the kernel of one Reduce* op. Its axes come from the "axes"
// attribute in the rows with one input (ReduceSum before opset 13, the others
// before 18) and from the optional second input after; keepdims (default 1)
// keeps reduced dims as 1; with axes empty or absent every dim is reduced,
// unless noop_with_empty_axes=1 (input form only) makes the op the identity.
func reduce(r reducer) kernelFunc {
	return func(c *call, in []*Tensor) []*Tensor {
		x := in[0]
		var axes []int64
		if c.n.k.maxIn == 1 {
			axes, _ = c.ints("axes")
		} else {
			if len(in) > 1 && in[1] != nil {
				axes = in[1].Int64s()
			}
			if len(axes) == 0 && c.int("noop_with_empty_axes", 0) != 0 {
				return []*Tensor{x}
			}
		}
		return []*Tensor{c.ops.reduceAxes(x, axes, c.int("keepdims", 1) != 0, r)}
	}
}

// reduceAxes reduces x over axes (all if empty) with r, by the plain index
// walk (reduceWalk).
func reduceAxes(x *Tensor, axes []int64, keepdims bool, r reducer) *Tensor {
	_, keep, shape, nOut := reduceShape(x, axes, keepdims)
	return reduceWalk(x, keep, shape, nOut, r)
}

// reduceShape gives, for reducing x over axes, which dims are reduced, the
// output shape with them kept as 1, the output shape, and its size.
func reduceShape(x *Tensor, axes []int64, keepdims bool) (red []bool, keep, shape []int64, nOut int) {
	rank := len(x.Shape)
	red = make([]bool, rank)
	for _, a := range axes {
		red[normAxis(a, rank)] = true
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
	nOut = checkSizeOf(keep, 8)
	shape = keep
	if !keepdims {
		shape = squeezed
		if shape == nil {
			shape = []int64{}
		}
	}
	return red, keep, shape, nOut
}

// reduceWalk reduces x to shape (keep with the reduced dims as 1, nOut
// elements) by one index walk over x.
func reduceWalk(x *Tensor, keep, shape []int64, nOut int, r reducer) *Tensor {
	// The kept shape broadcasts to x's: each element of x finds its output.
	idx := expandIndex(keep, x.Shape)
	count := 0
	if nOut > 0 {
		count = x.Len() / nOut
	}
	if x.DType.IsInt() && r.istep != nil {
		acc := make([]int64, nOut)
		for i := range acc {
			acc[i] = r.iinit
		}
		for i, v := range x.Int64s() {
			acc[idx[i]] = r.istep(acc[idx[i]], v)
		}
		if r.ifinal != nil {
			for i := range acc {
				acc[i] = r.ifinal(acc[i], count)
			}
		}
		return fromInt64s(x.DType, shape, acc)
	}
	xv := x.Float64s()
	acc := make([]float64, nOut)
	if r.step == nil { // log-sum-exp, shifted by the max for range
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
			acc[i] = r.init
		}
		for i, v := range xv {
			acc[idx[i]] = r.step(acc[idx[i]], v)
		}
		if r.final != nil {
			for i := range acc {
				acc[i] = r.final(acc[i], count)
			}
		}
	}
	return fromFloat64s(x.DType, shape, acc)
}

// normAxis maps an axis in [−rank, rank) to [0, rank), panicking otherwise.
func normAxis(a int64, rank int) int {
	if a < -int64(rank) || a >= int64(rank) {
		failf("axis %d out of range for rank %d", a, rank)
	}
	if a < 0 {
		a += int64(rank)
	}
	return int(a)
}

// argMax is the index of the largest element along axis (the first one, or
// the last with select_last_index=1), as int64; keepdims as in reduce.
func argMax(c *call, in []*Tensor) []*Tensor {
	return []*Tensor{argReduce(c, in[0], 1)}
}

// argMin is argMax for the smallest element.
func argMin(c *call, in []*Tensor) []*Tensor {
	return []*Tensor{argReduce(c, in[0], -1)}
}

// argReduce finds the index along axis maximizing sign·x.
func argReduce(c *call, x *Tensor, sign int) *Tensor {
	rank := len(x.Shape)
	if rank == 0 {
		panic(errRank)
	}
	axis := normAxis(c.int("axis", 0), rank)
	last := c.int("select_last_index", 0) != 0
	outer, dim, inner := split3(x.Shape, axis)
	if dim == 0 {
		failf("cannot take an arg-reduction over an empty axis")
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
	if c.int("keepdims", 1) != 0 {
		shape[axis] = 1
	} else {
		shape = append(shape[:axis], shape[axis+1:]...)
	}
	return &Tensor{DType: Int64, Shape: shape, data: out}
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

// split3 views shape as [outer, shape[axis], inner].
func split3(shape []int64, axis int) (outer, dim, inner int) {
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
