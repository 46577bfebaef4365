package runtime

import (
	"fmt"
	"math"
	"testing"

	"github.com/mhcc-dev/mhcc/runtime/internal/core"
	"github.com/mhcc-dev/mhcc/runtime/internal/fast"
	"github.com/mhcc-dev/mhcc/runtime/internal/ref"

	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
)

// fastVsGeneral runs one op under the Fast engine (fastpath.go and, in a
// GOEXPERIMENT=simd build, the vector forms) and under the Reference engine
// (the oracle) and compares the outputs within rtol, atol. Each run first
// fills the buffer pool with NaN-filled buffers, so a kernel that leaves
// part of a pooled output unwritten shows.
func fastVsGeneral(t *testing.T, opset int64, op string, attrs []*onnxpb.AttributeProto, rtol, atol float64, ins ...*core.Tensor) {
	t.Helper()
	poisonPool()
	fast, errF := runOpOn(t, core.Fast, opset, op, attrs, 1, ins...)
	poisonPool()
	slow, errS := runOpOn(t, core.Reference, opset, op, attrs, 1, ins...)
	if errF != nil || errS != nil {
		t.Fatalf("fast: %v; general: %v", errF, errS)
	}
	if err := compareTensors(fast[0], slow[0], rtol, atol); err != nil {
		t.Error(err)
	}
	if !ref.SameShape(fast[0].Shape, slow[0].Shape) {
		t.Errorf("shape %v, want %v", fast[0].Shape, slow[0].Shape)
	}
}

// Shapes that broadcast in every way the row planner distinguishes: equal,
// scalar, size-1 dims inside and at the ends, operands broadcasting both
// ways, 1 and odd lengths around the 16-lane vectors, and sizes over
// parallelMin (split among goroutines).
var broadcastCases = []struct{ a, b []int64 }{
	{sh(), sh()},
	{sh(1), sh(1)},
	{sh(17), sh(17)},
	{sh(3, 33), sh()},
	{sh(), sh(5, 31)},
	{sh(2, 128, 4, 4), sh(2, 128, 1, 4)},
	{sh(2, 128, 4, 4), sh(2, 128, 4, 1)},
	{sh(1, 7, 4, 1), sh(1, 7, 1, 19)},
	{sh(3, 1, 5), sh(1, 4, 1)},
	{sh(6, 35), sh(35)},
	{sh(1, 1, 1), sh(9)},
	{sh(2, 3, 0), sh(3, 1)},
	{sh(1, 130, 300), sh(1, 130, 300)},
	{sh(1, 130, 4, 65), sh(1, 130, 4, 1)},
}

// TestFastBinary: + − × ÷ on float32 agree bit for bit with the general
// kernel (float32 operations round like float64 ones rounded once).
func TestFastBinary(t *testing.T) {
	for i, c := range broadcastCases {
		for _, op := range []string{"Add", "Sub", "Mul", "Div"} {
			t.Run(fmt.Sprint(op, c.a, c.b), func(t *testing.T) {
				fastVsGeneral(t, 17, op, nil, 0, 0, randTensor(uint64(3*i), c.a...), randTensor(uint64(3*i+1), c.b...))
			})
		}
	}
}

// TestFastReduce: ReduceSum, ReduceMean and ReduceSumSquare on float32 sum in
// float64 as the general kernel does (along a contiguous line in four
// partial sums), so they agree to float32 rounding: one ulp at most; axes
// that are not adjacent fall back to it.
func TestFastReduce(t *testing.T) {
	cases := []struct {
		shape []int64
		axes  []int64
	}{
		{sh(1, 128, 4, 4), sh(-1)},
		{sh(1, 128, 4, 4), sh(-2)},
		{sh(2, 5, 3), sh(0, 1)},
		{sh(2, 5, 3), sh(0, 2)}, // not adjacent
		{sh(2, 1, 5, 3), sh(0, 2)},
		{sh(7), nil},
		{sh(), nil},
		{sh(1, 130, 1025), sh(2)},
		{sh(3, 0, 2), sh(1)},
	}
	for i, c := range cases {
		for _, op := range []string{"ReduceSum", "ReduceMean", "ReduceSumSquare"} {
			for _, keep := range []int64{0, 1} {
				t.Run(fmt.Sprint(op, c.shape, c.axes, keep), func(t *testing.T) {
					x := randTensor(uint64(i), c.shape...)
					if op == "ReduceSum" {
						var axes *core.Tensor
						if c.axes != nil {
							axes = i64(sh(int64(len(c.axes))), c.axes...)
						}
						fastVsGeneral(t, 13, op, []*onnxpb.AttributeProto{aInt("keepdims", keep)}, 1.2e-7, 1e-30, x, axes)
						return
					}
					attrs := []*onnxpb.AttributeProto{aInt("keepdims", keep)}
					if c.axes != nil {
						attrs = append(attrs, aInts("axes", c.axes...))
					}
					fastVsGeneral(t, 13, op, attrs, 1.2e-7, 1e-30, x)
				})
			}
		}
	}
}

// TestFastMovement: Transpose, Slice and Expand through takeStrided, and
// Gather copying whole runs, copy the same elements as through an index
// list; Neg's loop negates as the general kernel does.
func TestFastMovement(t *testing.T) {
	x := randTensor(1, 2, 3, 5, 7)
	for axis := range int64(4) {
		t.Run(fmt.Sprint("Gather axis ", axis), func(t *testing.T) {
			ids := i64(sh(2, 2), 0, -1, 1, 0)
			fastVsGeneral(t, 13, "Gather", []*onnxpb.AttributeProto{aInt("axis", axis)}, 0, 0, x, ids)
		})
	}
	fastVsGeneral(t, 13, "Gather", nil, 0, 0, x, i64(sh(), 1)) // scalar index: the axis goes
	fastVsGeneral(t, 13, "Neg", nil, 0, 0, randTensor(4, 3, 70000))
	for _, perm := range [][]int64{{0, 1, 2, 3}, {3, 2, 1, 0}, {0, 2, 1, 3}, {0, 1, 3, 2}, {1, 0, 3, 2}} {
		t.Run(fmt.Sprint("Transpose", perm), func(t *testing.T) {
			fastVsGeneral(t, 13, "Transpose", []*onnxpb.AttributeProto{aInts("perm", perm...)}, 0, 0, x)
		})
	}
	for _, s := range [][4][]int64{
		{sh(0), sh(1), sh(-1), sh(1)},
		{sh(1), sh(6), sh(3), sh(2)},
		{sh(-1), sh(-100), sh(2), sh(-2)},
		{sh(0, 1), sh(2, 2), sh(0, 3), sh(1, 1)},
	} {
		t.Run(fmt.Sprint("Slice", s), func(t *testing.T) {
			n := int64(len(s[0]))
			fastVsGeneral(t, 13, "Slice", nil, 0, 0, x, i64(sh(n), s[0]...), i64(sh(n), s[1]...), i64(sh(n), s[2]...), i64(sh(n), s[3]...))
		})
	}
	for _, shape := range [][]int64{{2, 3, 5, 7}, {4, 2, 3, 5, 7}, {2, 3, 5, 1}} {
		t.Run(fmt.Sprint("Expand", shape), func(t *testing.T) {
			fastVsGeneral(t, 13, "Expand", nil, 0, 0, randTensor(2, 1, 3, 1, 7), i64(sh(int64(len(shape))), shape...))
		})
	}
}

// TestFastExp: Softmax and Sigmoid on float32 use expf32 (and its vector
// twin) instead of math.Exp; they stay within a few float32 ulps of the
// general kernels, including at the ends of exp's range, ±Inf and NaN.
// Softmax's e^(x − max) also inherits the float32 rounding of x − max, a
// relative error of |x − max|·2⁻²⁴, so its bound is 2e-6 relative above
// 1e-9 (|x − max| < 21).
func TestFastExp(t *testing.T) {
	specials := []float32{0, -0.0, 1, -1, 87, -87, 88.3, -88.3, 88.5, -88.5, 89, -89, 100, -104, 1e-8, -1e-8}
	inf, nan := float32(math.Inf(1)), float32(math.NaN())
	specials = append(specials, inf, -inf, nan)
	for _, shape := range [][]int64{{1}, {15}, {16}, {17}, {3, 33}, {1, 4, 1, 128, 128}, {5, 4}, {3, 7}, {1, 4096, 4}} {
		x := randTensor(5, shape...)
		xv := x.Float32s()
		for i := range xv {
			xv[i] *= 30
		}
		t.Run(fmt.Sprint("Sigmoid", shape), func(t *testing.T) {
			fastVsGeneral(t, 13, "Sigmoid", nil, 1e-6, 1e-30, x)
		})
		t.Run(fmt.Sprint("Softmax", shape), func(t *testing.T) {
			fastVsGeneral(t, 13, "Softmax", nil, 2e-6, 1e-9, x)
		})
	}
	s := core.NewFloat32(sh(int64(len(specials))), specials)
	fastVsGeneral(t, 13, "Sigmoid", nil, 1e-6, 1e-37, s)
	masked := core.NewFloat32(sh(2, 19), append([]float32{-inf, 1, 2, -inf, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3}, specials...))
	fastVsGeneral(t, 13, "Softmax", nil, 2e-6, 1e-9, masked)
	short := core.NewFloat32(sh(5, 4), append([]float32{-inf}, specials...)) // short lines, a block at a time
	fastVsGeneral(t, 13, "Softmax", nil, 2e-6, 1e-9, short)
	fastVsGeneral(t, 11, "Softmax", []*onnxpb.AttributeProto{aInt("axis", 1)}, 2e-6, 1e-9, randTensor(6, 3, 4, 5))

	// expf32 itself against math.Exp, up to expHi (beyond it: +Inf).
	for x := float32(-90); x <= fast.ExpHi; x += 0.01 {
		got, want := float64(fast.Expf32(x)), math.Exp(float64(x))
		if want < 1.2e-38 || want > math.MaxFloat32 {
			continue
		}
		if math.Abs(got-want) > 2.5e-7*want {
			t.Fatalf("expf32(%v) = %v, want %v", x, got, want)
		}
	}
	for _, c := range []struct{ x, want float32 }{{inf, inf}, {-inf, 0}, {-100, 0}, {100, inf}, {0, 1}} {
		if got := fast.Expf32(c.x); got != c.want {
			t.Errorf("expf32(%v) = %v, want %v", c.x, got, c.want)
		}
	}
	if got := fast.Expf32(nan); got == got {
		t.Errorf("expf32(NaN) = %v", got)
	}
}

// TestFastWhereConcat: Where on float32 and Concat on float32 and int64 copy
// the same elements as the general kernels.
func TestFastWhereConcat(t *testing.T) {
	for i, c := range [][3][]int64{
		{sh(128, 128), sh(), sh(1, 4, 1, 128, 128)},
		{sh(3, 1), sh(1, 5), sh(3, 5)},
		{sh(), sh(2, 3), sh(1)},
		{sh(2, 1, 40), sh(2, 3, 40), sh(40)},
	} {
		t.Run(fmt.Sprint("Where", c), func(t *testing.T) {
			r := randTensor(uint64(i), c[0]...)
			cond := make([]bool, r.Len())
			for j, v := range r.Float32s() {
				cond[j] = v > 0
			}
			fastVsGeneral(t, 16, "Where", nil, 0, 0, core.NewBool(c[0], cond), randTensor(uint64(i+10), c[1]...), randTensor(uint64(i+20), c[2]...))
		})
	}
	for _, axis := range []int64{0, 1, 2, -1} {
		t.Run(fmt.Sprint("Concat", axis), func(t *testing.T) {
			a, b := sh(2, 3, 4), sh(2, 3, 4)
			b[(axis+3)%3] = 5
			attrs := []*onnxpb.AttributeProto{aInt("axis", axis)}
			fastVsGeneral(t, 13, "Concat", attrs, 0, 0, randTensor(1, a...), randTensor(2, b...), randTensor(3, a...))
			fastVsGeneral(t, 13, "Concat", attrs, 0, 0, ref.Cast1(randTensor(4, a...), core.Int64), ref.Cast1(randTensor(5, b...), core.Int64))
		})
	}
}

// poisonPool puts NaN-filled buffers of every size class from fast.PoolMin to 2²⁰ in the pool.
func poisonPool() {
	nan := float32(math.NaN())
	for c := 6; c <= 20; c++ {
		for range 2 {
			b := make([]float32, 1<<c)
			for i := range b {
				b[i] = nan
			}
			fast.PutF32(b)
		}
	}
}
