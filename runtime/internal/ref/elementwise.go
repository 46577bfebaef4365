package ref

import (
	"math"

	"github.com/mhcc-dev/mhcc/runtime/internal/core"
)

// Elementwise kernels. Floats compute in float64 per element and round once
// to the storage type (for + − × ÷ and √ that equals computing in float32);
// float16 and bfloat16 widen to float32 first. Integers compute in int64 and
// wrap to their width. Binary ops broadcast as numpy does.

// BroadcastShapes returns the numpy broadcast of shapes: aligned at the right,
// each dim equal or 1.
func BroadcastShapes(shapes ...[]int64) []int64 {
	r := 0
	for _, s := range shapes {
		r = max(r, len(s))
	}
	out := make([]int64, r)
	for i := range out {
		out[i] = 1
	}
	for _, s := range shapes {
		for i, d := range s {
			j := r - len(s) + i
			switch {
			case d == out[j] || d == 1:
			case out[j] == 1:
				out[j] = d
			default:
				core.Failf("cannot broadcast shapes %v", shapes)
			}
		}
	}
	return out
}

// BroadcastStrides gives the row-major strides of shape aligned to a rank-r
// output, 0 along dims that broadcast.
func BroadcastStrides(shape []int64, r int) []int {
	st := make([]int, r)
	s := 1
	for i := len(shape) - 1; i >= 0; i-- {
		j := r - len(shape) + i
		if shape[i] != 1 {
			st[j] = s
		}
		s *= int(shape[i])
	}
	return st
}

func SameShape(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func Product(s []int64) int {
	n := 1
	for _, d := range s {
		n *= int(d)
	}
	return n
}

// walkBroadcast calls f(o, idx) for every element o of out in row-major order,
// idx[k] being the flat index of the element of input k (shape ins[k]) that
// broadcasts to it. The caller has checked that ins broadcast to out.
func walkBroadcast(out []int64, ins [][]int64, f func(o int, idx []int)) {
	plain := true
	for _, s := range ins {
		plain = plain && SameShape(s, out)
	}
	if plain {
		idx := make([]int, len(ins))
		for o, n := 0, Product(out); o < n; o++ {
			for k := range idx {
				idx[k] = o
			}
			f(o, idx)
		}
		return
	}
	strides := make([][]int, len(ins))
	for k, s := range ins {
		strides[k] = BroadcastStrides(s, len(out))
	}
	walkStrides(out, strides, f)
}

// walkStrides calls f(o, idx) for every element o of shape in row-major
// order, idx[k] being Σ_d coord[d]·strides[k][d]: an odometer that updates
// the offsets of several strided operands at once.
func walkStrides(shape []int64, strides [][]int, f func(o int, idx []int)) {
	n := Product(shape)
	idx := make([]int, len(strides))
	r := len(shape)
	counter := make([]int64, r)
	for o := 0; o < n; o++ {
		f(o, idx)
		for d := r - 1; d >= 0; d-- {
			counter[d]++
			for k := range idx {
				idx[k] += strides[k][d]
			}
			if counter[d] < shape[d] {
				break
			}
			for k := range idx {
				idx[k] -= strides[k][d] * int(shape[d])
			}
			counter[d] = 0
		}
	}
}

// expandIndex returns, for each element of out, the flat index into a tensor
// of shape in that broadcasts to it.
func expandIndex(in, out []int64) []int {
	n := core.CheckSize(out)
	core.CheckIndex(n)
	idx := make([]int, n)
	walkBroadcast(out, [][]int64{in}, func(o int, ix []int) { idx[o] = ix[0] })
	return idx
}

// ---- unary ----

// MapFloat is y[i] = f(x[i]) for a floating-point x. mapFloatOn is its
// form that splits a large float32 x among goroutines under the Fast engine.
func MapFloat(x *core.Tensor, f func(float64) float64) *core.Tensor {
	switch d := x.Elems.(type) {
	case []float32:
		out := make([]float32, len(d))
		for i, v := range d {
			out[i] = float32(f(float64(v)))
		}
		return &core.Tensor{DType: core.Float32, Shape: x.Shape, Elems: out}
	case []float64:
		out := make([]float64, len(d))
		for i, v := range d {
			out[i] = f(v)
		}
		return &core.Tensor{DType: core.Float64, Shape: x.Shape, Elems: out}
	}
	if x.DType.IsHalf() {
		return core.NarrowFloat32(MapFloat(core.Widen(x), f), x.DType)
	}
	panic(core.ErrType)
}

// A numFn is one elementwise function for floats and for integers (nil: the
// op does not accept that kind).
type numFn struct {
	f func(float64) float64
	i func(int64) int64
}

// mapNum is y[i] = f(x[i]) for any number type.
func mapNum(c *core.Call, x *core.Tensor, fn numFn) *core.Tensor {
	if x.DType.IsFloat() && fn.f != nil {
		return c.Ops.MapFloat(x, fn.f)
	}
	if !x.DType.IsInt() || fn.i == nil {
		panic(core.ErrType)
	}
	v := x.Int64s()
	out := make([]int64, len(v))
	for i, e := range v {
		out[i] = fn.i(e)
	}
	return core.FromInt64s(x.DType, x.Shape, out)
}

func unaryFloat(f func(float64) float64) core.KernelFunc {
	return func(c *core.Call, in []*core.Tensor) []*core.Tensor { return []*core.Tensor{c.Ops.MapFloat(in[0], f)} }
}

// sigmoidOp is the Sigmoid kernel.
func sigmoidOp(c *core.Call, in []*core.Tensor) []*core.Tensor {
	return []*core.Tensor{MapFloat(in[0], sigmoid)}
}

func unaryNum(fn numFn) core.KernelFunc {
	return func(c *core.Call, in []*core.Tensor) []*core.Tensor { return []*core.Tensor{mapNum(c, in[0], fn)} }
}

func sqrt(x float64) float64       { return math.Sqrt(x) }           // √x
func exp(x float64) float64        { return math.Exp(x) }            // eˣ
func log(x float64) float64        { return math.Log(x) }            // ln x
func reciprocal(x float64) float64 { return 1 / x }                  // 1/x
func sigmoid(x float64) float64    { return 1 / (1 + math.Exp(-x)) } // 1/(1+e⁻ˣ)
func tanh(x float64) float64       { return math.Tanh(x) }
func erf(x float64) float64        { return math.Erf(x) }
func sin(x float64) float64        { return math.Sin(x) }
func cos(x float64) float64        { return math.Cos(x) }
func tan(x float64) float64        { return math.Tan(x) }
func asin(x float64) float64       { return math.Asin(x) }
func acos(x float64) float64       { return math.Acos(x) }
func atan(x float64) float64       { return math.Atan(x) }
func sinh(x float64) float64       { return math.Sinh(x) }
func cosh(x float64) float64       { return math.Cosh(x) }
func asinh(x float64) float64      { return math.Asinh(x) }
func acosh(x float64) float64      { return math.Acosh(x) }
func atanh(x float64) float64      { return math.Atanh(x) }
func floor(x float64) float64      { return math.Floor(x) }
func ceil(x float64) float64       { return math.Ceil(x) }
func round(x float64) float64      { return math.RoundToEven(x) }   // halves to even
func softsign(x float64) float64   { return x / (1 + math.Abs(x)) } // x/(1+|x|)
func hardSwish(x float64) float64  { return x * clamp01(x/6+0.5) }  // x·max(0, min(1, x/6+½))

// softplus is ln(1+eˣ), computed without overflow for large x.
func softplus(x float64) float64 {
	if x > 0 {
		return x + math.Log1p(math.Exp(-x))
	}
	return math.Log1p(math.Exp(x))
}

func clamp01(x float64) float64 { return math.Max(0, math.Min(1, x)) }

var (
	neg  = numFn{f: func(x float64) float64 { return -x }, i: func(x int64) int64 { return -x }}                    // −x
	abs  = numFn{f: math.Abs, i: func(x int64) int64 { return max(x, -x) }}                                         // |x|
	relu = numFn{f: func(x float64) float64 { return math.Max(x, 0) }, i: func(x int64) int64 { return max(x, 0) }} // max(x, 0)
	sign = numFn{f: signF, i: func(x int64) int64 { return max(min(x, 1), -1) }}                                    // −1, 0 or 1
)

// signF is −1, 0 or 1 by the sign of x; NaN stays NaN.
func signF(x float64) float64 {
	switch {
	case x > 0:
		return 1
	case x < 0:
		return -1
	}
	return x
}

// elu is y = x < 0 ? alpha·(eˣ−1) : x.
func elu(c *core.Call, in []*core.Tensor) []*core.Tensor {
	alpha := c.Float("alpha", 1)
	return []*core.Tensor{c.Ops.MapFloat(in[0], func(x float64) float64 {
		if x < 0 {
			return alpha * (math.Exp(x) - 1)
		}
		return x
	})}
}

// selu is y = gamma · (x ≤ 0 ? alpha·eˣ − alpha : x).
func selu(c *core.Call, in []*core.Tensor) []*core.Tensor {
	alpha := c.Float("alpha", 1.67326319217681884765625)
	gamma := c.Float("gamma", 1.05070102214813232421875)
	return []*core.Tensor{c.Ops.MapFloat(in[0], func(x float64) float64 {
		if x <= 0 {
			return gamma * (alpha*math.Exp(x) - alpha)
		}
		return gamma * x
	})}
}

// celu is y = max(0, x) + min(0, alpha·(e^(x/alpha) − 1)).
func celu(c *core.Call, in []*core.Tensor) []*core.Tensor {
	alpha := c.Float("alpha", 1)
	return []*core.Tensor{c.Ops.MapFloat(in[0], func(x float64) float64 {
		return math.Max(0, x) + math.Min(0, alpha*(math.Exp(x/alpha)-1))
	})}
}

// leakyRelu is y = x < 0 ? alpha·x : x.
func leakyRelu(c *core.Call, in []*core.Tensor) []*core.Tensor {
	alpha := c.Float("alpha", 0.01)
	return []*core.Tensor{c.Ops.MapFloat(in[0], func(x float64) float64 {
		if x < 0 {
			return alpha * x
		}
		return x
	})}
}

// thresholdedRelu is y = x > alpha ? x : 0.
func thresholdedRelu(c *core.Call, in []*core.Tensor) []*core.Tensor {
	alpha := c.Float("alpha", 1)
	return []*core.Tensor{c.Ops.MapFloat(in[0], func(x float64) float64 {
		if x > alpha {
			return x
		}
		return 0
	})}
}

// hardSigmoid is y = max(0, min(1, alpha·x + beta)).
func hardSigmoid(c *core.Call, in []*core.Tensor) []*core.Tensor {
	alpha, beta := c.Float("alpha", 0.2), c.Float("beta", 0.5)
	return []*core.Tensor{c.Ops.MapFloat(in[0], func(x float64) float64 { return clamp01(alpha*x + beta) })}
}

// shrink is y = x < −lambd ? x + bias : x > lambd ? x − bias : 0.
func shrink(c *core.Call, in []*core.Tensor) []*core.Tensor {
	lambd, bias := c.Float("lambd", 0.5), c.Float("bias", 0)
	f := func(x float64) float64 {
		switch {
		case x < -lambd:
			return x + bias
		case x > lambd:
			return x - bias
		}
		return 0
	}
	x := in[0]
	if x.DType.IsFloat() {
		return []*core.Tensor{c.Ops.MapFloat(x, f)}
	}
	v := x.Float64s()
	for i := range v {
		v[i] = f(v[i])
	}
	return []*core.Tensor{core.FromFloat64s(x.DType, x.Shape, v)}
}

// isNaN is y = x ≠ x.
func isNaN(c *core.Call, in []*core.Tensor) []*core.Tensor {
	v := in[0].Float64s()
	out := make([]bool, len(v))
	for i, x := range v {
		out[i] = math.IsNaN(x)
	}
	return []*core.Tensor{{DType: core.Bool, Shape: in[0].Shape, Elems: out}}
}

// isInf is y = x = +∞ (if detect_positive) or x = −∞ (if detect_negative).
func isInf(c *core.Call, in []*core.Tensor) []*core.Tensor {
	pos, negv := c.Int("detect_positive", 1) != 0, c.Int("detect_negative", 1) != 0
	v := in[0].Float64s()
	out := make([]bool, len(v))
	for i, x := range v {
		out[i] = pos && math.IsInf(x, 1) || negv && math.IsInf(x, -1)
	}
	return []*core.Tensor{{DType: core.Bool, Shape: in[0].Shape, Elems: out}}
}

// identity is y = x (sharing storage).
func identity(c *core.Call, in []*core.Tensor) []*core.Tensor { return []*core.Tensor{in[0]} }

// dropout at inference is y = x, mask = true; training with a non-zero ratio
// is random and not supported.
func dropout(c *core.Call, in []*core.Tensor) []*core.Tensor {
	training := false
	ratio := c.Float("ratio", 0.5)
	if c.Opset() >= 12 {
		if len(in) > 1 && in[1] != nil {
			ratio = in[1].Float64s()[0]
		}
		if len(in) > 2 && in[2] != nil {
			training = in[2].Bools()[0]
		}
	}
	if training && ratio != 0 {
		core.Failf("training-mode dropout with ratio %g is random; not supported", ratio)
	}
	outs := []*core.Tensor{in[0], nil}
	if c.WantOut(1) {
		mask := core.Alloc(core.Bool, in[0].Shape)
		for i := range mask.Elems.([]bool) {
			mask.Elems.([]bool)[i] = true
		}
		if c.Opset() < 10 {
			mask = Cast1(mask, in[0].DType)
		}
		outs[1] = mask
	}
	return outs
}

func dropoutTypes(n *core.Node, in []core.DType) ([]core.DType, error) {
	mask := core.Bool
	if n.Opset < 10 {
		mask = in[0]
	}
	return []core.DType{in[0], mask}, nil
}

// cast converts each element to the type `to`: floats to integers truncate
// toward zero, integers wrap, x ≠ 0 is true, float16/bfloat16 round to nearest even.
func cast(c *core.Call, in []*core.Tensor) []*core.Tensor {
	return []*core.Tensor{Cast1(in[0], core.DType(c.Int("to", 0)))}
}

// castLike is cast to the type of input 1.
func castLike(c *core.Call, in []*core.Tensor) []*core.Tensor {
	return []*core.Tensor{Cast1(in[0], in[1].DType)}
}

func Cast1(x *core.Tensor, to core.DType) *core.Tensor {
	switch {
	case !to.Supported():
		panic(core.ErrType)
	case x.DType == to:
		return x
	case (x.DType.IsInt() || x.DType == core.Bool) && !to.IsFloat():
		return core.FromInt64s(to, x.Shape, x.Int64s())
	case x.DType == core.Float32 && to.IsHalf():
		return core.NarrowFloat32(x, to)
	case x.DType.IsHalf() && to == core.Float32:
		return core.Widen(x)
	}
	return core.FromFloat64s(to, x.Shape, x.Float64s())
}

func checkCast(n *core.Node) error {
	a := n.Attrs["to"]
	if a == nil {
		return core.Errorf("attribute \"to\" is required")
	}
	if !core.DType(a.GetI()).Supported() {
		return core.Errorf("cannot cast to %v", core.DType(a.GetI()))
	}
	return nil
}

func castTypes(n *core.Node, in []core.DType) ([]core.DType, error) {
	return []core.DType{core.DType(n.Attrs["to"].GetI())}, nil
}

func castLikeTypes(n *core.Node, in []core.DType) ([]core.DType, error) {
	return []core.DType{in[1]}, nil
}

// ---- binary ----

var (
	add    = core.BinFn{F: func(x, y float64) float64 { return x + y }, I: func(x, y int64) int64 { return x + y }, Kind: core.BinAdd} // x + y
	sub    = core.BinFn{F: func(x, y float64) float64 { return x - y }, I: func(x, y int64) int64 { return x - y }, Kind: core.BinSub} // x − y
	mul    = core.BinFn{F: func(x, y float64) float64 { return x * y }, I: func(x, y int64) int64 { return x * y }, Kind: core.BinMul} // x · y
	div    = core.BinFn{F: func(x, y float64) float64 { return x / y }, I: intDiv, Kind: core.BinDiv}                                  // x / y, integers truncating
	maxOf  = core.BinFn{F: math.Max, I: func(x, y int64) int64 { return max(x, y) }}                                                   // max(x, y), NaN wins
	minOf  = core.BinFn{F: math.Min, I: func(x, y int64) int64 { return min(x, y) }}                                                   // min(x, y), NaN wins
	fmodFn = core.BinFn{F: math.Mod, I: intRem}                                                                                        // remainder with the sign of x (C fmod)
	pyMod  = core.BinFn{F: floorMod, I: intFloorMod}                                                                                   // remainder with the sign of y (Python %)
)

func intRem(x, y int64) int64 {
	nonzero(y)
	return x % y
}

func intFloorMod(x, y int64) int64 {
	nonzero(y)
	r := x % y
	if r != 0 && (r < 0) != (y < 0) {
		r += y
	}
	return r
}

func intDiv(x, y int64) int64 {
	nonzero(y)
	return x / y
}

func nonzero(y int64) {
	if y == 0 {
		panic("runtime: integer division by zero")
	}
}

func floorMod(x, y float64) float64 {
	r := math.Mod(x, y)
	if r != 0 && (r < 0) != (y < 0) {
		r += y
	}
	return r
}

// ZipNum is z[i] = op(x[i], y[i]) with broadcasting, for inputs of one type.
func ZipNum(a, b *core.Tensor, op core.BinFn) *core.Tensor {
	if a.DType != b.DType {
		panic(core.ErrType)
	}
	shape := BroadcastShapes(a.Shape, b.Shape)
	ins := [][]int64{a.Shape, b.Shape}
	switch ad := a.Elems.(type) {
	case []float32:
		bd := b.Elems.([]float32)
		out := core.Alloc(core.Float32, shape)
		od := out.Elems.([]float32)
		walkBroadcast(shape, ins, func(o int, ix []int) {
			od[o] = float32(op.F(float64(ad[ix[0]]), float64(bd[ix[1]])))
		})
		return out
	case []float64:
		bd := b.Elems.([]float64)
		out := core.Alloc(core.Float64, shape)
		od := out.Elems.([]float64)
		walkBroadcast(shape, ins, func(o int, ix []int) { od[o] = op.F(ad[ix[0]], bd[ix[1]]) })
		return out
	}
	if a.DType.IsHalf() {
		return core.NarrowFloat32(ZipNum(core.Widen(a), core.Widen(b), op), a.DType)
	}
	if !a.DType.IsInt() || op.I == nil {
		panic(core.ErrType)
	}
	ad, bd := a.Int64s(), b.Int64s()
	out := core.Alloc(core.Int64, shape)
	od := out.Elems.([]int64)
	walkBroadcast(shape, ins, func(o int, ix []int) { od[o] = op.I(ad[ix[0]], bd[ix[1]]) })
	return core.FromInt64s(a.DType, shape, od)
}

func binaryNum(op core.BinFn) core.KernelFunc {
	return func(c *core.Call, in []*core.Tensor) []*core.Tensor {
		return []*core.Tensor{c.Ops.Zip(in[0], in[1], op)}
	}
}

// variadic folds op over all inputs left to right, broadcasting (Max, Min, Sum).
func variadic(op core.BinFn) core.KernelFunc {
	return func(c *core.Call, in []*core.Tensor) []*core.Tensor {
		acc := in[0]
		for _, t := range in[1:] {
			acc = c.Ops.Zip(acc, t, op)
		}
		return []*core.Tensor{acc}
	}
}

// mean is the broadcast sum of the inputs divided by their count.
func mean(c *core.Call, in []*core.Tensor) []*core.Tensor {
	s := variadic(add)(c, in)[0]
	n := float64(len(in))
	return []*core.Tensor{c.Ops.MapFloat(s, func(x float64) float64 { return x / n })}
}

// mod is x mod y: with fmod=1 the sign of x (C fmod), else the sign of y.
func mod(c *core.Call, in []*core.Tensor) []*core.Tensor {
	op := pyMod
	if c.Int("fmod", 0) != 0 {
		op = fmodFn
	}
	return []*core.Tensor{ZipNum(in[0], in[1], op)}
}

// pow is xʸ, broadcasting; the exponent may have another type than x.
func pow(c *core.Call, in []*core.Tensor) []*core.Tensor {
	x, y := in[0], in[1]
	if x.DType == y.DType && x.DType.IsFloat() {
		return []*core.Tensor{ZipNum(x, y, core.BinFn{F: math.Pow})}
	}
	shape := BroadcastShapes(x.Shape, y.Shape)
	out := make([]float64, core.CheckSizeOf(shape, 8))
	xv, yv := x.Float64s(), y.Float64s()
	walkBroadcast(shape, [][]int64{x.Shape, y.Shape}, func(o int, ix []int) {
		out[o] = math.Pow(xv[ix[0]], yv[ix[1]])
	})
	return []*core.Tensor{core.FromFloat64s(x.DType, shape, out)}
}

// prelu is y = x < 0 ? slope·x : x, slope broadcasting to x.
func prelu(c *core.Call, in []*core.Tensor) []*core.Tensor {
	return []*core.Tensor{ZipNum(in[0], in[1], core.BinFn{
		F: func(x, s float64) float64 {
			if x < 0 {
				return s * x
			}
			return x
		},
		I: func(x, s int64) int64 {
			if x < 0 {
				return s * x
			}
			return x
		},
	})}
}

// bitShift is x << y or x >> y (direction LEFT or RIGHT) on unsigned integers.
func bitShift(c *core.Call, in []*core.Tensor) []*core.Tensor {
	var op core.BinFn
	switch d := c.Str("direction", ""); d {
	case "LEFT":
		op.I = func(x, y int64) int64 { return int64(uint64(x) << uint64(y)) }
	case "RIGHT":
		op.I = func(x, y int64) int64 { return int64(uint64(x) >> uint64(y)) }
	default:
		core.Failf("direction %q, want LEFT or RIGHT", d)
	}
	return []*core.Tensor{ZipNum(in[0], in[1], op)}
}

// ---- comparisons and logic ----

// A cmpFn is a comparison for floats and for integers (and bools as 0/1).
type cmpFn struct {
	f func(x, y float64) bool
	i func(x, y int64) bool
}

var (
	equal          = cmpFn{f: func(x, y float64) bool { return x == y }, i: func(x, y int64) bool { return x == y }}
	less           = cmpFn{f: func(x, y float64) bool { return x < y }, i: func(x, y int64) bool { return x < y }}
	greater        = cmpFn{f: func(x, y float64) bool { return x > y }, i: func(x, y int64) bool { return x > y }}
	lessOrEqual    = cmpFn{f: func(x, y float64) bool { return x <= y }, i: func(x, y int64) bool { return x <= y }}
	greaterOrEqual = cmpFn{f: func(x, y float64) bool { return x >= y }, i: func(x, y int64) bool { return x >= y }}
)

// compare is z[i] = op(x[i], y[i]) as bool, broadcasting.
func compare(op cmpFn) core.KernelFunc {
	return func(c *core.Call, in []*core.Tensor) []*core.Tensor {
		a, b := in[0], in[1]
		if a.DType != b.DType {
			panic(core.ErrType)
		}
		shape := BroadcastShapes(a.Shape, b.Shape)
		out := core.Alloc(core.Bool, shape)
		od := out.Elems.([]bool)
		ins := [][]int64{a.Shape, b.Shape}
		if a.DType.IsFloat() {
			ad, bd := a.Float64s(), b.Float64s()
			walkBroadcast(shape, ins, func(o int, ix []int) { od[o] = op.f(ad[ix[0]], bd[ix[1]]) })
		} else {
			ad, bd := a.Int64s(), b.Int64s()
			walkBroadcast(shape, ins, func(o int, ix []int) { od[o] = op.i(ad[ix[0]], bd[ix[1]]) })
		}
		return []*core.Tensor{out}
	}
}

func and(x, y bool) bool { return x && y }
func or(x, y bool) bool  { return x || y }
func xor(x, y bool) bool { return x != y }

// logical is z[i] = op(x[i], y[i]) on bools, broadcasting.
func logical(op func(x, y bool) bool) core.KernelFunc {
	return func(c *core.Call, in []*core.Tensor) []*core.Tensor {
		a, b := in[0], in[1]
		if a.DType != core.Bool || b.DType != core.Bool {
			panic(core.ErrType)
		}
		shape := BroadcastShapes(a.Shape, b.Shape)
		out := core.Alloc(core.Bool, shape)
		od, ad, bd := out.Elems.([]bool), a.Elems.([]bool), b.Elems.([]bool)
		walkBroadcast(shape, [][]int64{a.Shape, b.Shape}, func(o int, ix []int) { od[o] = op(ad[ix[0]], bd[ix[1]]) })
		return []*core.Tensor{out}
	}
}

// not is y = !x.
func not(c *core.Call, in []*core.Tensor) []*core.Tensor {
	x := in[0].Elems.([]bool)
	out := make([]bool, len(x))
	for i, v := range x {
		out[i] = !v
	}
	return []*core.Tensor{{DType: core.Bool, Shape: in[0].Shape, Elems: out}}
}

// where is z[i] = cond[i] ? x[i] : y[i], all three broadcasting.
func where(c *core.Call, in []*core.Tensor) []*core.Tensor {
	cond, x, y := in[0], in[1], in[2]
	if cond.DType != core.Bool || x.DType != y.DType {
		panic(core.ErrType)
	}
	shape := BroadcastShapes(cond.Shape, x.Shape, y.Shape)
	n := core.CheckSize(shape)
	core.CheckIndex(n)
	// Gather from x and y at once: indices ≥ len(x) address y.
	both := concatData(x, y)
	idx := make([]int, n)
	cd := cond.Elems.([]bool)
	off := x.Len()
	walkBroadcast(shape, [][]int64{cond.Shape, x.Shape, y.Shape}, func(o int, ix []int) {
		if cd[ix[0]] {
			idx[o] = ix[1]
		} else {
			idx[o] = off + ix[2]
		}
	})
	return []*core.Tensor{core.Take(both, shape, idx)}
}

func whereTypes(n *core.Node, in []core.DType) ([]core.DType, error) {
	if in[0] != core.Undefined && in[0] != core.Bool {
		return nil, core.Errorf("input 0 has type %v, want bool", in[0])
	}
	t, err := common(in[1:], isAny)
	if err != nil {
		return nil, core.Errorf("input 2 has type %v, want %v (the type of input 1)", in[2], in[1])
	}
	return []core.DType{t}, nil
}

// clip is y = min(max(x, lo), hi), lo and hi from attributes (opset < 11) or
// optional scalar inputs.
func clip(c *core.Call, in []*core.Tensor) []*core.Tensor {
	x := in[0]
	lo, hi := math.Inf(-1), math.Inf(1)
	var ilo, ihi int64 = math.MinInt64, math.MaxInt64
	if c.Opset() < 11 {
		lo, hi = c.Float("min", lo), c.Float("max", hi)
	} else {
		for i, p := range []*float64{&lo, &hi} {
			if len(in) > i+1 && in[i+1] != nil {
				b := in[i+1]
				if b.Len() != 1 {
					core.Failf("input %d must be a scalar, got shape %v", i+1, b.Shape)
				}
				*p = b.Float64s()[0]
				if i == 0 {
					ilo = b.Int64s()[0]
				} else {
					ihi = b.Int64s()[0]
				}
			}
		}
	}
	return []*core.Tensor{mapNum(c, x, numFn{
		f: func(v float64) float64 {
			if v < lo {
				v = lo
			}
			if v > hi {
				v = hi
			}
			return v
		},
		i: func(v int64) int64 { return min(max(v, ilo), ihi) },
	})}
}
