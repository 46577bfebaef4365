package ref

import (
	"fmt"
	"slices"
	"sort"

	"github.com/mhcc-dev/mhcc/runtime/internal/core"
)

// kernelTable is the single index of what the interpreter can run; adding an
// op means adding a row here and its kernel in the family file.
var kernelTable = []core.Kernel{
	// elementwise.go: unary math on floats.
	{Op: "Sqrt", Since: 1, MinIn: 1, Fn: unaryFloat(sqrt), Types: same(isFloat)},
	{Op: "Exp", Since: 1, MinIn: 1, Fn: unaryFloat(exp), Types: same(isFloat)},
	{Op: "Log", Since: 1, MinIn: 1, Fn: unaryFloat(log), Types: same(isFloat)},
	{Op: "Reciprocal", Since: 1, MinIn: 1, Fn: unaryFloat(reciprocal), Types: same(isFloat)},
	{Op: "Sigmoid", Since: 1, MinIn: 1, Fn: sigmoidOp, Types: same(isFloat)},
	{Op: "Tanh", Since: 1, MinIn: 1, Fn: unaryFloat(tanh), Types: same(isFloat)},
	{Op: "Erf", Since: 9, MinIn: 1, Fn: unaryFloat(erf), Types: same(isFloat)},
	{Op: "Sin", Since: 7, MinIn: 1, Fn: unaryFloat(sin), Types: same(isFloat)},
	{Op: "Cos", Since: 7, MinIn: 1, Fn: unaryFloat(cos), Types: same(isFloat)},
	{Op: "Tan", Since: 7, MinIn: 1, Fn: unaryFloat(tan), Types: same(isFloat)},
	{Op: "Asin", Since: 7, MinIn: 1, Fn: unaryFloat(asin), Types: same(isFloat)},
	{Op: "Acos", Since: 7, MinIn: 1, Fn: unaryFloat(acos), Types: same(isFloat)},
	{Op: "Atan", Since: 7, MinIn: 1, Fn: unaryFloat(atan), Types: same(isFloat)},
	{Op: "Sinh", Since: 9, MinIn: 1, Fn: unaryFloat(sinh), Types: same(isFloat)},
	{Op: "Cosh", Since: 9, MinIn: 1, Fn: unaryFloat(cosh), Types: same(isFloat)},
	{Op: "Asinh", Since: 9, MinIn: 1, Fn: unaryFloat(asinh), Types: same(isFloat)},
	{Op: "Acosh", Since: 9, MinIn: 1, Fn: unaryFloat(acosh), Types: same(isFloat)},
	{Op: "Atanh", Since: 9, MinIn: 1, Fn: unaryFloat(atanh), Types: same(isFloat)},
	{Op: "Floor", Since: 1, MinIn: 1, Fn: unaryFloat(floor), Types: same(isFloat)},
	{Op: "Ceil", Since: 1, MinIn: 1, Fn: unaryFloat(ceil), Types: same(isFloat)},
	{Op: "Round", Since: 11, MinIn: 1, Fn: unaryFloat(round), Types: same(isFloat)},
	{Op: "Softplus", Since: 1, MinIn: 1, Fn: unaryFloat(softplus), Types: same(isFloat)},
	{Op: "Softsign", Since: 1, MinIn: 1, Fn: unaryFloat(softsign), Types: same(isFloat)},
	{Op: "Elu", Since: 1, MinIn: 1, Fn: elu, Types: same(isFloat)},
	{Op: "Selu", Since: 1, MinIn: 1, Fn: selu, Types: same(isFloat)},
	{Op: "Celu", Since: 12, MinIn: 1, Fn: celu, Types: same(isFloat)},
	{Op: "LeakyRelu", Since: 1, MinIn: 1, Fn: leakyRelu, Types: same(isFloat)},
	{Op: "ThresholdedRelu", Since: 10, MinIn: 1, Fn: thresholdedRelu, Types: same(isFloat)},
	{Op: "HardSigmoid", Since: 1, MinIn: 1, Fn: hardSigmoid, Types: same(isFloat)},
	{Op: "HardSwish", Since: 14, MinIn: 1, Fn: unaryFloat(hardSwish), Types: same(isFloat)},
	{Op: "IsNaN", Since: 9, MinIn: 1, Fn: isNaN, Types: result(isFloat, core.Bool)},
	{Op: "IsInf", Since: 10, MinIn: 1, Fn: isInf, Types: result(isFloat, core.Bool)},
	// elementwise.go: unary on numbers.
	{Op: "Neg", Since: 1, MinIn: 1, Fn: unaryNum(neg), Types: same(isSigned)},
	{Op: "Abs", Since: 1, MinIn: 1, Fn: unaryNum(abs), Types: same(isNumber)},
	{Op: "Relu", Since: 1, MinIn: 1, Fn: unaryNum(relu), Types: same(isSigned)},
	{Op: "Sign", Since: 9, MinIn: 1, Fn: unaryNum(sign), Types: same(isNumber)},
	{Op: "Shrink", Since: 9, MinIn: 1, Fn: shrink, Types: same(isNumber)},
	{Op: "Identity", Since: 1, MinIn: 1, Fn: identity, Types: same(isAnyOrSeq)},
	{Op: "Dropout", Since: 7, Until: 11, MinIn: 1, MaxOut: 2, Fn: dropout, Types: dropoutTypes},
	{Op: "Dropout", Since: 12, MinIn: 1, MaxIn: 3, MaxOut: 2, Fn: dropout, Types: dropoutTypes},
	{Op: "Cast", Since: 6, MinIn: 1, Fn: cast, Types: castTypes, Check: checkCast},
	{Op: "CastLike", Since: 15, MinIn: 2, Fn: castLike, Types: castLikeTypes},
	// elementwise.go: binary and variadic with numpy broadcasting.
	{Op: "Add", Since: 7, MinIn: 2, Fn: binaryNum(add), Types: same(isNumber)},
	{Op: "Sub", Since: 7, MinIn: 2, Fn: binaryNum(sub), Types: same(isNumber)},
	{Op: "Mul", Since: 7, MinIn: 2, Fn: binaryNum(mul), Types: same(isNumber)},
	{Op: "Div", Since: 7, MinIn: 2, Fn: binaryNum(div), Types: same(isNumber)},
	{Op: "Mod", Since: 10, MinIn: 2, Fn: mod, Types: same(isNumber)},
	{Op: "Pow", Since: 7, MinIn: 2, Fn: pow, Types: first(isNumber)},
	{Op: "PRelu", Since: 7, MinIn: 2, Fn: prelu, Types: same(isNumber)},
	{Op: "BitShift", Since: 11, MinIn: 2, Fn: bitShift, Types: same(isUnsigned)},
	{Op: "Equal", Since: 7, MinIn: 2, Fn: compare(equal), Types: result(isAny, core.Bool)},
	{Op: "Less", Since: 7, MinIn: 2, Fn: compare(less), Types: result(isNumber, core.Bool)},
	{Op: "Greater", Since: 7, MinIn: 2, Fn: compare(greater), Types: result(isNumber, core.Bool)},
	{Op: "LessOrEqual", Since: 12, MinIn: 2, Fn: compare(lessOrEqual), Types: result(isNumber, core.Bool)},
	{Op: "GreaterOrEqual", Since: 12, MinIn: 2, Fn: compare(greaterOrEqual), Types: result(isNumber, core.Bool)},
	{Op: "Not", Since: 1, MinIn: 1, Fn: not, Types: same(isBool)},
	{Op: "And", Since: 7, MinIn: 2, Fn: logical(and), Types: same(isBool)},
	{Op: "Or", Since: 7, MinIn: 2, Fn: logical(or), Types: same(isBool)},
	{Op: "Xor", Since: 7, MinIn: 2, Fn: logical(xor), Types: same(isBool)},
	{Op: "Max", Since: 8, MinIn: 1, MaxIn: -1, Fn: variadic(maxOf), Types: same(isNumber)},
	{Op: "Min", Since: 8, MinIn: 1, MaxIn: -1, Fn: variadic(minOf), Types: same(isNumber)},
	{Op: "Sum", Since: 8, MinIn: 1, MaxIn: -1, Fn: variadic(add), Types: same(isNumber)},
	{Op: "Mean", Since: 8, MinIn: 1, MaxIn: -1, Fn: mean, Types: same(isFloat)},
	{Op: "Where", Since: 9, MinIn: 3, Fn: where, Types: whereTypes},
	{Op: "Clip", Since: 6, Until: 10, MinIn: 1, Fn: clip, Types: same(isNumber)},
	{Op: "Clip", Since: 11, MinIn: 1, MaxIn: 3, Fn: clip, Types: same(isNumber)},
	// matmul.go
	{Op: "MatMul", Since: 1, MinIn: 2, Fn: matMul, Types: same(isNumber)},
	{Op: "Gemm", Since: 7, Until: 10, MinIn: 3, Fn: gemm, Types: same(isNumber)},
	{Op: "Gemm", Since: 11, MinIn: 2, MaxIn: 3, Fn: gemm, Types: same(isNumber)},
	// reduce.go: axes as an attribute, then as an input.
	{Op: "ReduceSum", Since: 1, Until: 12, MinIn: 1, Fn: Reduce(sumR), Types: first(isNumber)},
	{Op: "ReduceSum", Since: 13, MinIn: 1, MaxIn: 2, Fn: Reduce(sumR), Types: first(isNumber)},
	{Op: "ReduceMean", Since: 1, Until: 17, MinIn: 1, Fn: Reduce(meanR), Types: first(isNumber)},
	{Op: "ReduceMean", Since: 18, MinIn: 1, MaxIn: 2, Fn: Reduce(meanR), Types: first(isNumber)},
	{Op: "ReduceMax", Since: 1, Until: 17, MinIn: 1, Fn: Reduce(maxR), Types: first(isNumber)},
	{Op: "ReduceMax", Since: 18, MinIn: 1, MaxIn: 2, Fn: Reduce(maxR), Types: first(isNumber)},
	{Op: "ReduceMin", Since: 1, Until: 17, MinIn: 1, Fn: Reduce(minR), Types: first(isNumber)},
	{Op: "ReduceMin", Since: 18, MinIn: 1, MaxIn: 2, Fn: Reduce(minR), Types: first(isNumber)},
	{Op: "ReduceProd", Since: 1, Until: 17, MinIn: 1, Fn: Reduce(prodR), Types: first(isNumber)},
	{Op: "ReduceProd", Since: 18, MinIn: 1, MaxIn: 2, Fn: Reduce(prodR), Types: first(isNumber)},
	{Op: "ReduceSumSquare", Since: 1, Until: 17, MinIn: 1, Fn: Reduce(sumSquareR), Types: first(isNumber)},
	{Op: "ReduceSumSquare", Since: 18, MinIn: 1, MaxIn: 2, Fn: Reduce(sumSquareR), Types: first(isNumber)},
	{Op: "ReduceLogSumExp", Since: 1, Until: 17, MinIn: 1, Fn: Reduce(logSumExpR), Types: first(isNumber)},
	{Op: "ReduceLogSumExp", Since: 18, MinIn: 1, MaxIn: 2, Fn: Reduce(logSumExpR), Types: first(isNumber)},
	{Op: "ReduceLogSum", Since: 1, Until: 17, MinIn: 1, Fn: Reduce(logSumR), Types: first(isNumber)},
	{Op: "ReduceLogSum", Since: 18, MinIn: 1, MaxIn: 2, Fn: Reduce(logSumR), Types: first(isNumber)},
	{Op: "ReduceL1", Since: 1, Until: 17, MinIn: 1, Fn: Reduce(l1R), Types: first(isNumber)},
	{Op: "ReduceL1", Since: 18, MinIn: 1, MaxIn: 2, Fn: Reduce(l1R), Types: first(isNumber)},
	{Op: "ReduceL2", Since: 1, Until: 17, MinIn: 1, Fn: Reduce(l2R), Types: first(isNumber)},
	{Op: "ReduceL2", Since: 18, MinIn: 1, MaxIn: 2, Fn: Reduce(l2R), Types: first(isNumber)},
	{Op: "ArgMax", Since: 1, MinIn: 1, Fn: argMax, Types: result(isNumber, core.Int64)},
	{Op: "ArgMin", Since: 1, MinIn: 1, Fn: argMin, Types: result(isNumber, core.Int64)},
	// shape.go
	{Op: "Shape", Since: 1, MinIn: 1, Fn: shapeOp, Types: result(isAny, core.Int64)},
	{Op: "Size", Since: 1, MinIn: 1, Fn: size, Types: result(isAny, core.Int64)},
	{Op: "Reshape", Since: 5, MinIn: 2, Fn: reshape, Types: first(isAny, core.Int64)},
	{Op: "Flatten", Since: 1, MinIn: 1, Fn: flatten, Types: first(isAny)},
	{Op: "Transpose", Since: 1, MinIn: 1, Fn: transpose, Types: first(isAny)},
	{Op: "Unsqueeze", Since: 1, Until: 12, MinIn: 1, Fn: unsqueeze, Types: first(isAny)},
	{Op: "Unsqueeze", Since: 13, MinIn: 2, Fn: unsqueeze, Types: first(isAny, core.Int64)},
	{Op: "Squeeze", Since: 1, Until: 12, MinIn: 1, Fn: squeeze, Types: first(isAny)},
	{Op: "Squeeze", Since: 13, MinIn: 1, MaxIn: 2, Fn: squeeze, Types: first(isAny, core.Int64)},
	{Op: "Concat", Since: 4, MinIn: 1, MaxIn: -1, Fn: concat, Types: same(isAny)},
	{Op: "Split", Since: 2, Until: 12, MinIn: 1, MaxOut: 1 << 20, Fn: split, Types: splitTypes},
	{Op: "Split", Since: 13, MinIn: 1, MaxIn: 2, MaxOut: 1 << 20, Fn: split, Types: splitTypes},
	{Op: "Slice", Since: 1, Until: 9, MinIn: 1, Fn: slice, Types: first(isAny)},
	{Op: "Slice", Since: 10, MinIn: 3, MaxIn: 5, Fn: slice, Types: first(isAny, anyIndex, anyIndex, anyIndex, anyIndex)},
	{Op: "Gather", Since: 1, MinIn: 2, Fn: gather, Types: first(isAny, anyIndex)},
	{Op: "GatherElements", Since: 11, MinIn: 2, Fn: gatherElements, Types: first(isAny, anyIndex)},
	{Op: "Expand", Since: 8, MinIn: 2, Fn: expand, Types: first(isAny, core.Int64)},
	{Op: "Tile", Since: 6, MinIn: 2, Fn: tile, Types: first(isAny, core.Int64)},
	{Op: "Trilu", Since: 14, MinIn: 1, MaxIn: 2, Fn: trilu, Types: first(isAny, core.Int64)},
	{Op: "ConstantOfShape", Since: 9, MinIn: 1, Fn: constantOfShape, Types: constantOfShapeTypes},
	{Op: "Constant", Since: 1, MinIn: 0, Fn: constant, Types: constantTypes, Check: checkConstant},
	{Op: "Range", Since: 11, MinIn: 3, Fn: rangeOp, Types: same(isNumber)},
	// norm.go
	{Op: "Softmax", Since: 1, MinIn: 1, Fn: softmax, Types: same(isFloat)},
	{Op: "LogSoftmax", Since: 1, MinIn: 1, Fn: logSoftmax, Types: same(isFloat)},
	{Op: "Hardmax", Since: 1, MinIn: 1, Fn: hardmax, Types: same(isFloat)},
	{Op: "LayerNormalization", Since: 17, MinIn: 2, MaxIn: 3, MaxOut: 3, Fn: layerNorm, Types: layerNormTypes},
	// control.go: subgraphs run by the interpreter.
	{Op: "Loop", Since: 1, MinIn: 0, MaxIn: 1 << 20, MaxOut: 1 << 20, Fn: loop, Types: loopTypes, Check: checkLoop},
	{Op: "If", Since: 1, MinIn: 1, MaxOut: 1 << 20, Fn: ifOp, Types: ifTypes, Check: checkIf},
	// mhcc_ops.go: mhcc's own operators.
	{Domain: MhccDomain, Op: "Sinkhorn", Since: 1, Until: 1, MinIn: 1, Fn: sinkhorn, Types: same(isSinkhornType), Check: checkSinkhorn},
	{Domain: MhccDomain, Op: "HCCoeffsSinkhorn", Since: 1, Until: 1, MinIn: 3, MaxOut: 3, Fn: hcFused, Types: hcTypes, Check: checkHC},
	{Domain: MhccDomain, Op: "HCPostCoeffsSinkhorn", Since: 1, Until: 1, MinIn: 5, MaxOut: 3, Fn: hcFused, Types: hcTypes, Check: checkHC},
	{Domain: MhccDomain, Op: "HCPremixNorm", Since: 1, Until: 1, MinIn: 4, MaxOut: 2, Fn: hcFused, Types: hcTypes, Check: checkHC},
	{Domain: MhccDomain, Op: "HCBoundary", Since: 1, Until: 1, MinIn: 6, MaxOut: 3, Fn: hcFused, Types: hcTypes, Check: checkHC},
	{Domain: MhccDomain, Op: "HCCoeffsBoundary", Since: 1, Until: 1, MinIn: 6, MaxOut: 6, Fn: hcFused, Types: hcTypes, Check: checkHC},
	{Domain: MhccDomain, Op: "HCHead", Since: 1, Until: 1, MinIn: 7, MaxOut: 2, Fn: hcFused, Types: hcTypes, Check: checkHC},
	{Domain: MhccDomain, Op: "HCEntry", Since: 1, Until: 1, MinIn: 4, MaxOut: 5, Fn: hcFused, Types: hcTypes, Check: checkHC},
	// contrib.go: onnxruntime's contrib ops (SimplifiedLayerNormalization is
	// registered in the ONNX domain, version 1, by onnxruntime).
	{Op: "SimplifiedLayerNormalization", Since: 1, MinIn: 2, MaxOut: 2, Fn: simplifiedLayerNorm, Types: simplifiedLayerNormTypes, Check: checkStashType},
	{Domain: MsDomain, Op: "SkipSimplifiedLayerNormalization", Since: 1, Until: 1, MinIn: 3, MaxIn: 4, MaxOut: 4, Fn: skipSimplifiedLayerNorm, Types: skipSimplifiedLayerNormTypes},
	{Domain: MsDomain, Op: "RotaryEmbedding", Since: 1, Until: 1, MinIn: 4, Fn: rotaryEmbedding, Types: rotaryTypes, Check: checkRotary},
	// einsum.go
	{Op: "Einsum", Since: 12, MinIn: 1, MaxIn: -1, Fn: einsum, Types: same(isNumber), Check: checkEinsum},
	// contrib_gqa.go: onnxruntime's decoder attention with a KV cache (key and value may be omitted: packed QKV).
	{Domain: "com.microsoft", Op: "GroupQueryAttention", Since: 1, MinIn: 1, MaxIn: 12, MaxOut: 3, Fn: groupQueryAttention, Types: gqaTypes},
}

// KernelIndex maps (domain, op_type) to its rows, oldest first.
var KernelIndex = indexKernels(slices.Concat(kernelTable, sequenceKernels, exportKernels, routingKernels))

func indexKernels(table []core.Kernel) map[core.OpKey][]*core.Kernel {
	idx := map[core.OpKey][]*core.Kernel{}
	for i := range table {
		k := &table[i]
		if k.MaxIn == 0 {
			k.MaxIn = k.MinIn
		}
		if k.MaxOut == 0 {
			k.MaxOut = 1
		}
		key := core.OpKey{Domain: k.Domain, Op: k.Op}
		idx[key] = append(idx[key], k)
	}
	for _, rows := range idx {
		sort.Slice(rows, func(i, j int) bool { return rows[i].Since < rows[j].Since })
	}
	return idx
}

// LookupKernel returns the row implementing op at opset, or nil.
func LookupKernel(domain, op string, opset int64) *core.Kernel {
	for _, k := range KernelIndex[core.OpKey{Domain: domain, Op: op}] {
		if k.Since <= opset && opset <= k.Last() {
			return k
		}
	}
	return nil
}

// KernelVersions describes the opsets op is implemented for ("7-21"), or "".
func KernelVersions(domain, op string) string {
	s := ""
	for _, k := range KernelIndex[core.OpKey{Domain: domain, Op: op}] {
		if s != "" {
			s += ", "
		}
		s += fmt.Sprintf("%d-%d", k.Since, k.Last())
	}
	return s
}

// Implements reports whether the interpreter has a kernel for op_type op of
// domain ("" or "ai.onnx" for the default domain) at the given opset version.
func Implements(domain, op string, opset int64) bool {
	return LookupKernel(core.CanonicalDomain(domain), op, opset) != nil
}

// Type classes for the static checks.
func isAny(t core.DType) bool    { return !t.IsSequence() }
func isAnyOrSeq(core.DType) bool { return true }
func isFloat(t core.DType) bool  { return t.IsFloat() }
func isNumber(t core.DType) bool { return t.IsFloat() || t.IsInt() }
func isSigned(t core.DType) bool {
	return t.IsFloat() || t == core.Int8 || t == core.Int16 || t == core.Int32 || t == core.Int64
}
func isUnsigned(t core.DType) bool {
	return t == core.Uint8 || t == core.Uint16 || t == core.Uint32 || t == core.Uint64
}
func isBool(t core.DType) bool { return t == core.Bool }

// anyIndex marks an input of first that may be int32 or int64.
const anyIndex core.DType = -1

// same requires every known input type to be equal and allowed; the outputs
// have that type.
func same(allowed func(core.DType) bool) core.TypeRule {
	return func(n *core.Node, in []core.DType) ([]core.DType, error) {
		t, err := common(in, allowed)
		if err != nil {
			return nil, err
		}
		return fill(len(n.Outputs), t), nil
	}
}

// result is same with outputs of type out.
func result(allowed func(core.DType) bool, out core.DType) core.TypeRule {
	return func(n *core.Node, in []core.DType) ([]core.DType, error) {
		if _, err := common(in, allowed); err != nil {
			return nil, err
		}
		return fill(len(n.Outputs), out), nil
	}
}

// first gives the outputs input 0's type (which must be allowed); the later
// inputs, when listed in rest, must have that type (anyIndex: int32 or int64).
func first(allowed func(core.DType) bool, rest ...core.DType) core.TypeRule {
	return func(n *core.Node, in []core.DType) ([]core.DType, error) {
		if len(in) > 0 && in[0] != core.Undefined && !allowed(in[0]) {
			return nil, fmt.Errorf("input 0 has type %v, which the op does not accept", in[0])
		}
		for i, want := range rest {
			if i+1 >= len(in) || in[i+1] == core.Undefined {
				continue
			}
			got := in[i+1]
			if want == anyIndex && (got == core.Int32 || got == core.Int64) || got == want {
				continue
			}
			w := want.String()
			if want == anyIndex {
				w = "int32 or int64"
			}
			return nil, fmt.Errorf("input %d has type %v, want %s", i+1, got, w)
		}
		var t core.DType
		if len(in) > 0 {
			t = in[0]
		}
		return fill(len(n.Outputs), t), nil
	}
}

func common(in []core.DType, allowed func(core.DType) bool) (core.DType, error) {
	var t core.DType
	at := 0
	for i, d := range in {
		if d == core.Undefined {
			continue
		}
		if !allowed(d) {
			return 0, fmt.Errorf("input %d has type %v, which the op does not accept", i, d)
		}
		if t == core.Undefined {
			t, at = d, i
		} else if d != t {
			return 0, fmt.Errorf("input %d has type %v, want %v (the type of input %d)", i, d, t, at)
		}
	}
	return t, nil
}

func fill(n int, t core.DType) []core.DType {
	out := make([]core.DType, n)
	for i := range out {
		out[i] = t
	}
	return out
}
