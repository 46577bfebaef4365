package runtime

import (
	"math"
	"strings"
	"testing"

	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
	"github.com/mhcc-dev/mhcc/runtime/internal/core"
	"github.com/mhcc-dev/mhcc/runtime/internal/fast"
	"github.com/mhcc-dev/mhcc/runtime/internal/ref"
)

type attrs = []*onnxpb.AttributeProto

// iota32 is a float32 tensor holding 0, 1, 2, … in row-major order.
func iota32(shape ...int64) *core.Tensor {
	v := make([]float32, ref.Product(shape))
	for i := range v {
		v[i] = float32(i)
	}
	return core.NewFloat32(shape, v)
}

func bools(shape []int64, v ...bool) *core.Tensor { return core.NewBool(shape, v) }

// kernelCases are the tricky semantics: broadcasting, negative axes and the
// opset-dependent ops. Each runs as a one-node model through Decode and Run.
var kernelCases = []struct {
	name  string
	opset int64
	op    string
	attrs attrs
	in    []*core.Tensor // nil: omitted optional input
	want  []*core.Tensor
	tol   float64 // |got − want| ≤ tol + tol·|want|
	err   string  // when set, the error must contain it
}{
	// Broadcasting.
	{name: "Add/row", opset: 17, op: "Add", in: []*core.Tensor{iota32(2, 3), f32(sh(3), 10, 20, 30)},
		want: []*core.Tensor{f32(sh(2, 3), 10, 21, 32, 13, 24, 35)}},
	{name: "Add/outer", opset: 17, op: "Add", in: []*core.Tensor{f32(sh(2, 1), 1, 2), f32(sh(1, 3), 10, 20, 30)},
		want: []*core.Tensor{f32(sh(2, 3), 11, 21, 31, 12, 22, 32)}},
	{name: "Mul/scalar", opset: 17, op: "Mul", in: []*core.Tensor{f32(sh(), 2), f32(sh(2, 2), 1, 2, 3, 4)},
		want: []*core.Tensor{f32(sh(2, 2), 2, 4, 6, 8)}},
	{name: "Add/empty", opset: 17, op: "Add", in: []*core.Tensor{f32(sh(0, 3)), f32(sh(1, 3), 1, 2, 3)},
		want: []*core.Tensor{f32(sh(0, 3))}},
	{name: "Add/incompatible", opset: 17, op: "Add", in: []*core.Tensor{iota32(2, 3), f32(sh(2), 1, 2)},
		err: `node "n" (Add): cannot broadcast shapes [[2 3] [2]]`},
	{name: "Where/three-way", opset: 17, op: "Where",
		in:   []*core.Tensor{bools(sh(2, 1), true, false), f32(sh(1, 2), 1, 2), f32(sh(), 9)},
		want: []*core.Tensor{f32(sh(2, 2), 1, 2, 9, 9)}},
	{name: "Max/variadic", opset: 17, op: "Max", in: []*core.Tensor{f32(sh(2), 1, 5), f32(sh(2, 1), 3, 0), f32(sh(), 2)},
		want: []*core.Tensor{f32(sh(2, 2), 3, 5, 2, 5)}},
	{name: "Equal/broadcast", opset: 17, op: "Equal", in: []*core.Tensor{i64(sh(2, 1), 1, 2), i64(sh(2), 1, 2)},
		want: []*core.Tensor{bools(sh(2, 2), true, false, false, true)}},
	{name: "Div/int truncates", opset: 17, op: "Div", in: []*core.Tensor{i64(sh(2), -7, 7), i64(sh(1), 2)},
		want: []*core.Tensor{i64(sh(2), -3, 3)}},
	{name: "Div/int by zero", opset: 17, op: "Div", in: []*core.Tensor{i64(sh(1), 1), i64(sh(1), 0)},
		err: "integer division by zero"},
	{name: "Mod/sign of divisor", opset: 17, op: "Mod", in: []*core.Tensor{i64(sh(2), -7, 7), i64(sh(), 3)},
		want: []*core.Tensor{i64(sh(2), 2, 1)}},
	{name: "Mod/fmod", opset: 17, op: "Mod", attrs: attrs{aInt("fmod", 1)}, in: []*core.Tensor{f32(sh(2), -7, 7), f32(sh(), 3)},
		want: []*core.Tensor{f32(sh(2), -1, 1)}},
	{name: "Pow/int exponent", opset: 17, op: "Pow", in: []*core.Tensor{f32(sh(2), 2, 3), i64(sh(), 3)},
		want: []*core.Tensor{f32(sh(2), 8, 27)}},
	{name: "Add/float16 rounds once", opset: 17, op: "Add",
		in:   []*core.Tensor{core.NewFloat16(sh(2), []float32{1, 2048}), core.NewFloat16(sh(2), []float32{0.0004, 1})},
		want: []*core.Tensor{core.NewFloat16(sh(2), []float32{1, 2048})}},
	{name: "Mul/bfloat16", opset: 17, op: "Mul",
		in:   []*core.Tensor{core.NewBFloat16(sh(1), []float32{3}), core.NewBFloat16(sh(1), []float32{1.0078125})},
		want: []*core.Tensor{core.NewBFloat16(sh(1), []float32{3.03125})}},

	// Clip, Cast.
	{name: "Clip/opset 6 attributes", opset: 6, op: "Clip", attrs: attrs{aFloat("min", -1), aFloat("max", 1)},
		in: []*core.Tensor{f32(sh(3), -2, 0.5, 3)}, want: []*core.Tensor{f32(sh(3), -1, 0.5, 1)}},
	{name: "Clip/opset 13 max only", opset: 13, op: "Clip",
		in: []*core.Tensor{f32(sh(3), -2, 0.5, 3), nil, f32(sh(), 1)}, want: []*core.Tensor{f32(sh(3), -2, 0.5, 1)}},
	{name: "Cast/float to int truncates", opset: 17, op: "Cast", attrs: attrs{aInt("to", int64(core.Int64))},
		in: []*core.Tensor{f32(sh(2), -1.7, 2.9)}, want: []*core.Tensor{i64(sh(2), -1, 2)}},
	{name: "Cast/float16 overflows to inf", opset: 17, op: "Cast", attrs: attrs{aInt("to", int64(core.Float16))},
		in:   []*core.Tensor{f32(sh(2), 65520, 1.5)},
		want: []*core.Tensor{core.NewFloat16(sh(2), []float32{float32(math.Inf(1)), 1.5})}},

	// Softmax before and after opset 13.
	{name: "Softmax/opset 11 axis 1 flattens", opset: 11, op: "Softmax", attrs: attrs{aInt("axis", 1)},
		in: []*core.Tensor{f32(sh(1, 2, 2), 0, 0, 0, 0)}, want: []*core.Tensor{f32(sh(1, 2, 2), 0.25, 0.25, 0.25, 0.25)}, tol: 1e-7},
	{name: "Softmax/opset 13 axis 1 alone", opset: 13, op: "Softmax", attrs: attrs{aInt("axis", 1)},
		in: []*core.Tensor{f32(sh(1, 2, 2), 0, 0, 0, 0)}, want: []*core.Tensor{f32(sh(1, 2, 2), 0.5, 0.5, 0.5, 0.5)}, tol: 1e-7},
	{name: "Softmax/opset 11 default axis 1", opset: 11, op: "Softmax",
		in: []*core.Tensor{f32(sh(1, 2, 2), 0, 0, 0, 0)}, want: []*core.Tensor{f32(sh(1, 2, 2), 0.25, 0.25, 0.25, 0.25)}, tol: 1e-7},
	{name: "Softmax/opset 13 default axis -1", opset: 13, op: "Softmax",
		in:   []*core.Tensor{f32(sh(2, 2), 1, 2, 3, 4)},
		want: []*core.Tensor{f32(sh(2, 2), 0.26894142, 0.73105858, 0.26894142, 0.73105858)}, tol: 1e-6},
	{name: "LogSoftmax/opset 13 axis -2", opset: 13, op: "LogSoftmax", attrs: attrs{aInt("axis", -2)},
		in:   []*core.Tensor{f32(sh(2, 1), 0, 0)},
		want: []*core.Tensor{f32(sh(2, 1), -0.69314718, -0.69314718)}, tol: 1e-6},

	// Unsqueeze and Squeeze: axes as attribute before 13, as input from 13.
	{name: "Unsqueeze/opset 11 attribute", opset: 11, op: "Unsqueeze", attrs: attrs{aInts("axes", 0, -1)},
		in: []*core.Tensor{iota32(2, 3)}, want: []*core.Tensor{core.Reshaped(iota32(2, 3), sh(1, 2, 3, 1))}},
	{name: "Unsqueeze/opset 13 input", opset: 13, op: "Unsqueeze",
		in: []*core.Tensor{iota32(2, 3), i64(sh(1), -1)}, want: []*core.Tensor{core.Reshaped(iota32(2, 3), sh(2, 3, 1))}},
	{name: "Unsqueeze/opset 13 needs the input", opset: 13, op: "Unsqueeze", attrs: attrs{aInts("axes", 0)},
		in: []*core.Tensor{iota32(2, 3)}, err: "got 1 inputs, want 2"},
	{name: "Squeeze/opset 13 all ones", opset: 13, op: "Squeeze",
		in: []*core.Tensor{iota32(1, 2, 1)}, want: []*core.Tensor{iota32(2)}},
	{name: "Squeeze/opset 13 negative axis", opset: 13, op: "Squeeze",
		in: []*core.Tensor{iota32(1, 2, 1), i64(sh(1), -1)}, want: []*core.Tensor{iota32(1, 2)}},
	{name: "Squeeze/opset 11 not one", opset: 11, op: "Squeeze", attrs: attrs{aInts("axes", 1)},
		in: []*core.Tensor{iota32(1, 2, 1)}, err: "cannot squeeze axis 1"},

	// ReduceSum: axes attribute before 13, input from 13; others from 18.
	{name: "ReduceSum/opset 11 attribute", opset: 11, op: "ReduceSum", attrs: attrs{aInts("axes", -1), aInt("keepdims", 0)},
		in: []*core.Tensor{iota32(2, 3)}, want: []*core.Tensor{f32(sh(2), 3, 12)}},
	{name: "ReduceSum/opset 13 input", opset: 13, op: "ReduceSum",
		in: []*core.Tensor{iota32(2, 3), i64(sh(1), 0)}, want: []*core.Tensor{f32(sh(1, 3), 3, 5, 7)}},
	{name: "ReduceSum/opset 13 no axes reduces all", opset: 13, op: "ReduceSum",
		in: []*core.Tensor{iota32(2, 3)}, want: []*core.Tensor{f32(sh(1, 1), 15)}},
	{name: "ReduceSum/opset 13 noop_with_empty_axes", opset: 13, op: "ReduceSum", attrs: attrs{aInt("noop_with_empty_axes", 1)},
		in: []*core.Tensor{iota32(2, 3), i64(sh(0))}, want: []*core.Tensor{iota32(2, 3)}},
	{name: "ReduceMean/opset 13 attribute", opset: 13, op: "ReduceMean", attrs: attrs{aInts("axes", -1), aInt("keepdims", 0)},
		in: []*core.Tensor{iota32(2, 3)}, want: []*core.Tensor{f32(sh(2), 1, 4)}},
	{name: "ReduceMean/opset 18 input", opset: 18, op: "ReduceMean", attrs: attrs{aInt("keepdims", 0)},
		in: []*core.Tensor{iota32(2, 3), i64(sh(1), -1)}, want: []*core.Tensor{f32(sh(2), 1, 4)}},
	{name: "ReduceMax/int64", opset: 13, op: "ReduceMax", attrs: attrs{aInts("axes", 1), aInt("keepdims", 0)},
		in: []*core.Tensor{i64(sh(2, 2), 1, 5, 3, 2)}, want: []*core.Tensor{i64(sh(2), 5, 3)}},
	{name: "ReduceLogSumExp/large values", opset: 13, op: "ReduceLogSumExp", attrs: attrs{aInt("keepdims", 0)},
		in: []*core.Tensor{f32(sh(2), 1000, 1000)}, want: []*core.Tensor{f32(sh(), 1000.6931472)}, tol: 1e-6},
	{name: "ArgMax/last index", opset: 13, op: "ArgMax", attrs: attrs{aInt("axis", -1), aInt("keepdims", 0), aInt("select_last_index", 1)},
		in: []*core.Tensor{f32(sh(2, 3), 1, 3, 3, 2, 2, 1)}, want: []*core.Tensor{i64(sh(2), 2, 1)}},
	{name: "ArgMax/first index", opset: 13, op: "ArgMax", attrs: attrs{aInt("axis", -1)},
		in: []*core.Tensor{f32(sh(2, 3), 1, 3, 3, 2, 2, 1)}, want: []*core.Tensor{i64(sh(2, 1), 1, 0)}},

	// Shapes and negative axes.
	{name: "Shape/start -2", opset: 15, op: "Shape", attrs: attrs{aInt("start", -2)},
		in: []*core.Tensor{iota32(2, 3, 4)}, want: []*core.Tensor{i64(sh(2), 3, 4)}},
	{name: "Concat/axis -1", opset: 13, op: "Concat", attrs: attrs{aInt("axis", -1)},
		in: []*core.Tensor{f32(sh(2, 1), 1, 2), f32(sh(2, 2), 3, 4, 5, 6)}, want: []*core.Tensor{f32(sh(2, 3), 1, 3, 4, 2, 5, 6)}},
	{name: "Gather/axis -1 negative indices", opset: 13, op: "Gather", attrs: attrs{aInt("axis", -1)},
		in: []*core.Tensor{iota32(2, 3), i64(sh(2), -1, 0)}, want: []*core.Tensor{f32(sh(2, 2), 2, 0, 5, 3)}},
	{name: "Gather/scalar index", opset: 13, op: "Gather",
		in: []*core.Tensor{iota32(3), i64(sh(), 1)}, want: []*core.Tensor{f32(sh(), 1)}},
	{name: "Gather/out of range", opset: 13, op: "Gather",
		in: []*core.Tensor{iota32(3), i64(sh(), 3)}, err: "index 3 out of range for dim 3"},
	{name: "Transpose/default reverses", opset: 13, op: "Transpose",
		in: []*core.Tensor{iota32(2, 3)}, want: []*core.Tensor{f32(sh(3, 2), 0, 3, 1, 4, 2, 5)}},
	{name: "Flatten/axis -1", opset: 13, op: "Flatten", attrs: attrs{aInt("axis", -1)},
		in: []*core.Tensor{iota32(2, 3, 4)}, want: []*core.Tensor{iota32(6, 4)}},
	{name: "Reshape/0 and -1", opset: 14, op: "Reshape",
		in: []*core.Tensor{iota32(2, 3, 4), i64(sh(2), 0, -1)}, want: []*core.Tensor{iota32(2, 12)}},
	{name: "Reshape/allowzero", opset: 14, op: "Reshape", attrs: attrs{aInt("allowzero", 1)},
		in: []*core.Tensor{iota32(0, 3), i64(sh(2), 3, 0)}, want: []*core.Tensor{iota32(3, 0)}},
	{name: "Reshape/two -1", opset: 14, op: "Reshape",
		in: []*core.Tensor{iota32(2, 3), i64(sh(2), -1, -1)}, err: `node "n" (Reshape): shape [-1 -1] has more than one -1`},
	{name: "Slice/negative step", opset: 13, op: "Slice",
		in:   []*core.Tensor{iota32(10), i64(sh(1), -1), i64(sh(1), math.MinInt64), nil, i64(sh(1), -2)},
		want: []*core.Tensor{f32(sh(5), 9, 7, 5, 3, 1)}},
	{name: "Slice/opset 9 attributes", opset: 9, op: "Slice", attrs: attrs{aInts("starts", 0, 1), aInts("ends", 2, 3)},
		in: []*core.Tensor{iota32(2, 4)}, want: []*core.Tensor{f32(sh(2, 2), 1, 2, 5, 6)}},
	{name: "Slice/axis -1 to INT64_MAX", opset: 13, op: "Slice",
		in:   []*core.Tensor{iota32(2, 4), i64(sh(1), 1), i64(sh(1), math.MaxInt64), i64(sh(1), -1)},
		want: []*core.Tensor{f32(sh(2, 3), 1, 2, 3, 5, 6, 7)}},
	{name: "Split/opset 11 attribute", opset: 11, op: "Split", attrs: attrs{aInt("axis", -1), aInts("split", 1, 2)},
		in: []*core.Tensor{iota32(2, 3)}, want: []*core.Tensor{f32(sh(2, 1), 0, 3), f32(sh(2, 2), 1, 2, 4, 5)}},
	{name: "Split/opset 13 input", opset: 13, op: "Split",
		in: []*core.Tensor{iota32(3), i64(sh(2), 2, 1)}, want: []*core.Tensor{f32(sh(2), 0, 1), f32(sh(1), 2)}},
	{name: "Split/opset 13 equal", opset: 13, op: "Split",
		in: []*core.Tensor{iota32(3)}, want: []*core.Tensor{f32(sh(1), 0), f32(sh(1), 1), f32(sh(1), 2)}},
	{name: "Split/opset 18 num_outputs uneven", opset: 18, op: "Split", attrs: attrs{aInt("num_outputs", 2)},
		in: []*core.Tensor{iota32(5)}, want: []*core.Tensor{f32(sh(3), 0, 1, 2), f32(sh(2), 3, 4)}},
	{name: "Expand/both ways", opset: 13, op: "Expand",
		in: []*core.Tensor{f32(sh(2, 1), 1, 2), i64(sh(3), 2, 1, 2)}, want: []*core.Tensor{f32(sh(2, 2, 2), 1, 1, 2, 2, 1, 1, 2, 2)}},
	{name: "Tile", opset: 13, op: "Tile",
		in: []*core.Tensor{f32(sh(2), 1, 2), i64(sh(1), 2)}, want: []*core.Tensor{f32(sh(4), 1, 2, 1, 2)}},
	{name: "Trilu/upper k=1", opset: 14, op: "Trilu",
		in: []*core.Tensor{iota32(3, 3), i64(sh(), 1)}, want: []*core.Tensor{f32(sh(3, 3), 0, 1, 2, 0, 0, 5, 0, 0, 0)}},
	{name: "Trilu/lower k=-1", opset: 14, op: "Trilu", attrs: attrs{aInt("upper", 0)},
		in: []*core.Tensor{iota32(3, 3), i64(sh(), -1)}, want: []*core.Tensor{f32(sh(3, 3), 0, 0, 0, 3, 0, 0, 6, 7, 0)}},
	{name: "ConstantOfShape/int64 value", opset: 17, op: "ConstantOfShape", attrs: attrs{aTensor("value", i64(sh(1), 7))},
		in: []*core.Tensor{i64(sh(2), 1, 2)}, want: []*core.Tensor{i64(sh(1, 2), 7, 7)}},
	{name: "ConstantOfShape/huge", opset: 17, op: "ConstantOfShape",
		in: []*core.Tensor{i64(sh(3), 1<<20, 1<<20, 1<<20)}, err: "has more than"},
	{name: "Range/float", opset: 17, op: "Range", in: []*core.Tensor{f32(sh(), 0), f32(sh(), 1), f32(sh(), 0.25)},
		want: []*core.Tensor{f32(sh(4), 0, 0.25, 0.5, 0.75)}},
	{name: "Range/int descending", opset: 17, op: "Range", in: []*core.Tensor{i64(sh(), 10), i64(sh(), 4), i64(sh(), -3)},
		want: []*core.Tensor{i64(sh(2), 10, 7)}},

	// Products and normalization.
	{name: "MatMul/1-D times 2-D", opset: 13, op: "MatMul", in: []*core.Tensor{f32(sh(2), 1, 2), f32(sh(2, 3), 1, 2, 3, 4, 5, 6)},
		want: []*core.Tensor{f32(sh(3), 9, 12, 15)}},
	{name: "MatMul/2-D times 1-D", opset: 13, op: "MatMul", in: []*core.Tensor{f32(sh(2, 3), 1, 2, 3, 4, 5, 6), f32(sh(3), 1, 1, 1)},
		want: []*core.Tensor{f32(sh(2), 6, 15)}},
	{name: "MatMul/batch broadcast", opset: 13, op: "MatMul",
		in:   []*core.Tensor{f32(sh(2, 1, 1, 2), 1, 2, 3, 4), f32(sh(3, 2, 1), 1, 0, 0, 1, 1, 1)},
		want: []*core.Tensor{f32(sh(2, 3, 1, 1), 1, 2, 3, 3, 4, 7)}},
	{name: "MatMul/inner mismatch", opset: 13, op: "MatMul", in: []*core.Tensor{iota32(2, 3), iota32(2, 3)},
		err: "inner dims 3 and 2 differ"},
	{name: "Gemm/transB and C row", opset: 13, op: "Gemm", attrs: attrs{aInt("transB", 1), aFloat("alpha", 2), aFloat("beta", 0.5)},
		in:   []*core.Tensor{f32(sh(2, 2), 1, 2, 3, 4), f32(sh(2, 2), 5, 6, 7, 8), f32(sh(2), 1, 2)},
		want: []*core.Tensor{f32(sh(2, 2), 34.5, 47, 78.5, 107)}},
	{name: "LayerNormalization/stats", opset: 17, op: "LayerNormalization", attrs: attrs{aFloat("epsilon", 0)},
		in:   []*core.Tensor{f32(sh(1, 2), 1, 3), f32(sh(2), 1, 1), f32(sh(2), 0, 1)},
		want: []*core.Tensor{f32(sh(1, 2), -1, 2), f32(sh(1, 1), 2), f32(sh(1, 1), 1)}},

	// Einsum equations torch.onnx emits.
	{name: "Einsum/bij,bjk->bik", opset: 12, op: "Einsum", attrs: attrs{aStr("equation", "bij,bjk->bik")},
		in:   []*core.Tensor{f32(sh(1, 2, 2), 1, 2, 3, 4), f32(sh(1, 2, 2), 5, 6, 7, 8)},
		want: []*core.Tensor{f32(sh(1, 2, 2), 19, 22, 43, 50)}},
	{name: "Einsum/ellipsis broadcast", opset: 12, op: "Einsum", attrs: attrs{aStr("equation", "...ij,...jk->...ik")},
		in:   []*core.Tensor{f32(sh(1, 2, 2), 1, 2, 3, 4), f32(sh(2, 2), 5, 6, 7, 8)},
		want: []*core.Tensor{f32(sh(1, 2, 2), 19, 22, 43, 50)}},
	{name: "Einsum/bhqd,bhkd->bhqk", opset: 12, op: "Einsum", attrs: attrs{aStr("equation", "bhqd,bhkd->bhqk")},
		in:   []*core.Tensor{f32(sh(1, 1, 2, 2), 1, 2, 3, 4), f32(sh(1, 1, 2, 2), 5, 6, 7, 8)},
		want: []*core.Tensor{f32(sh(1, 1, 2, 2), 17, 23, 39, 53)}},
	{name: "Einsum/bsn,bsnc->bsc", opset: 12, op: "Einsum", attrs: attrs{aStr("equation", "bsn,bsnc->bsc")},
		in:   []*core.Tensor{f32(sh(1, 1, 2), 1, 2), f32(sh(1, 1, 2, 2), 1, 2, 3, 4)},
		want: []*core.Tensor{f32(sh(1, 1, 2), 7, 10)}},
	{name: "Einsum/implicit output", opset: 12, op: "Einsum", attrs: attrs{aStr("equation", "ij,jk")},
		in:   []*core.Tensor{f32(sh(2, 2), 1, 2, 3, 4), f32(sh(2, 2), 5, 6, 7, 8)},
		want: []*core.Tensor{f32(sh(2, 2), 19, 22, 43, 50)}},
	{name: "Einsum/diagonal", opset: 12, op: "Einsum", attrs: attrs{aStr("equation", "ii->i")},
		in: []*core.Tensor{f32(sh(2, 2), 1, 2, 3, 4)}, want: []*core.Tensor{f32(sh(2), 1, 4)}},
	{name: "Einsum/total", opset: 12, op: "Einsum", attrs: attrs{aStr("equation", "ij->")},
		in: []*core.Tensor{f32(sh(2, 2), 1, 2, 3, 4)}, want: []*core.Tensor{f32(sh(), 10)}},
	{name: "Einsum/bad label", opset: 12, op: "Einsum", attrs: attrs{aStr("equation", "ij->k")},
		in: []*core.Tensor{f32(sh(2, 2), 1, 2, 3, 4)}, err: `output label 'k' is not an input label`},
}

func TestKernels(t *testing.T) {
	for _, tc := range kernelCases {
		t.Run(tc.name, func(t *testing.T) {
			nOut := max(len(tc.want), 1)
			got, err := runOp(t, tc.opset, tc.op, tc.attrs, nOut, tc.in...)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for i, w := range tc.want {
				if err := compareTensors(got[i], w, tc.tol, tc.tol); err != nil {
					t.Errorf("output %d: %v\ngot  %v\nwant %v", i, err, got[i], w)
				}
			}
		})
	}
}

// TestEinsumMatchesMatMul checks the attention equations against MatMul on
// random data: q·kᵀ and p·v.
func TestEinsumMatchesMatMul(t *testing.T) {
	q, k := randTensor(1, 2, 3, 5, 4), randTensor(2, 2, 3, 6, 4)
	got, err := runOp(t, 12, "Einsum", attrs{aStr("equation", "bhqd,bhkd->bhqk")}, 1, q, k)
	if err != nil {
		t.Fatal(err)
	}
	want := ref.MatmulRef(q, ref.TransposeTensor(k, []int{0, 1, 3, 2}))
	if err := compareTensors(got[0], want, 1e-6, 1e-6); err != nil {
		t.Error(err)
	}
	p := randTensor(3, 2, 3, 5, 6)
	got, err = runOp(t, 12, "Einsum", attrs{aStr("equation", "bhqk,bhkd->bhqd")}, 1, p, k)
	if err != nil {
		t.Fatal(err)
	}
	if err := compareTensors(got[0], ref.MatmulRef(p, k), 1e-6, 1e-6); err != nil {
		t.Error(err)
	}
}

// TestKernelTable checks the registry: no overlapping opset ranges, sane arities.
func TestKernelTable(t *testing.T) {
	for key, rows := range ref.KernelIndex {
		for i, k := range rows {
			if k.Fn == nil {
				t.Errorf("%v: no kernel", key)
			}
			if k.Since < 1 || k.Last() < k.Since {
				t.Errorf("%v: bad opset range %d-%d", key, k.Since, k.Last())
			}
			if i > 0 && rows[i-1].Last() >= k.Since {
				t.Errorf("%v: rows %d-%d and %d-%d overlap", key, rows[i-1].Since, rows[i-1].Last(), k.Since, k.Last())
			}
			if k.MaxIn >= 0 && k.MaxIn < k.MinIn {
				t.Errorf("%v: maxIn %d < minIn %d", key, k.MaxIn, k.MinIn)
			}
		}
	}
	if !ref.Implements("ai.onnx", "Softmax", 13) || ref.Implements("", "Softmax", core.MaxOpset+1) || ref.Implements("ai.mhcc", "Softmax", 13) {
		t.Error("Implements disagrees with the table")
	}
}

// TestFastKernelsHaveRows checks that every fast form names a row of the
// table, so that none is dead and every one has a reference to fall back to
// and be tested against.
func TestFastKernelsHaveRows(t *testing.T) {
	for key := range fast.KernelForms {
		rows := ref.KernelIndex[key]
		if len(rows) == 0 {
			t.Errorf("fast kernel %v has no row in the table", key)
		}
		for _, k := range rows {
			if fast.FormRows[k] == nil {
				t.Errorf("fast kernel %v: row %d-%d not resolved", key, k.Since, k.Last())
			}
		}
	}
}
