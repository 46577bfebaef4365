package runtime

import (
	"fmt"
	"slices"
	"sort"
)

// kernelTable is the single index of what the interpreter can run; adding an
// op means adding a row here and its kernel in the family file.
var kernelTable = []kernel{
	// elementwise.go: unary math on floats.
	{op: "Sqrt", since: 1, minIn: 1, fn: unaryFloat(sqrt), types: same(isFloat)},
	{op: "Exp", since: 1, minIn: 1, fn: unaryFloat(exp), types: same(isFloat)},
	{op: "Log", since: 1, minIn: 1, fn: unaryFloat(log), types: same(isFloat)},
	{op: "Reciprocal", since: 1, minIn: 1, fn: unaryFloat(reciprocal), types: same(isFloat)},
	{op: "Sigmoid", since: 1, minIn: 1, fn: sigmoidOp, types: same(isFloat)},
	{op: "Tanh", since: 1, minIn: 1, fn: unaryFloat(tanh), types: same(isFloat)},
	{op: "Erf", since: 9, minIn: 1, fn: unaryFloat(erf), types: same(isFloat)},
	{op: "Sin", since: 7, minIn: 1, fn: unaryFloat(sin), types: same(isFloat)},
	{op: "Cos", since: 7, minIn: 1, fn: unaryFloat(cos), types: same(isFloat)},
	{op: "Tan", since: 7, minIn: 1, fn: unaryFloat(tan), types: same(isFloat)},
	{op: "Asin", since: 7, minIn: 1, fn: unaryFloat(asin), types: same(isFloat)},
	{op: "Acos", since: 7, minIn: 1, fn: unaryFloat(acos), types: same(isFloat)},
	{op: "Atan", since: 7, minIn: 1, fn: unaryFloat(atan), types: same(isFloat)},
	{op: "Sinh", since: 9, minIn: 1, fn: unaryFloat(sinh), types: same(isFloat)},
	{op: "Cosh", since: 9, minIn: 1, fn: unaryFloat(cosh), types: same(isFloat)},
	{op: "Asinh", since: 9, minIn: 1, fn: unaryFloat(asinh), types: same(isFloat)},
	{op: "Acosh", since: 9, minIn: 1, fn: unaryFloat(acosh), types: same(isFloat)},
	{op: "Atanh", since: 9, minIn: 1, fn: unaryFloat(atanh), types: same(isFloat)},
	{op: "Floor", since: 1, minIn: 1, fn: unaryFloat(floor), types: same(isFloat)},
	{op: "Ceil", since: 1, minIn: 1, fn: unaryFloat(ceil), types: same(isFloat)},
	{op: "Round", since: 11, minIn: 1, fn: unaryFloat(round), types: same(isFloat)},
	{op: "Softplus", since: 1, minIn: 1, fn: unaryFloat(softplus), types: same(isFloat)},
	{op: "Softsign", since: 1, minIn: 1, fn: unaryFloat(softsign), types: same(isFloat)},
	{op: "Elu", since: 1, minIn: 1, fn: elu, types: same(isFloat)},
	{op: "Selu", since: 1, minIn: 1, fn: selu, types: same(isFloat)},
	{op: "Celu", since: 12, minIn: 1, fn: celu, types: same(isFloat)},
	{op: "LeakyRelu", since: 1, minIn: 1, fn: leakyRelu, types: same(isFloat)},
	{op: "ThresholdedRelu", since: 10, minIn: 1, fn: thresholdedRelu, types: same(isFloat)},
	{op: "HardSigmoid", since: 1, minIn: 1, fn: hardSigmoid, types: same(isFloat)},
	{op: "HardSwish", since: 14, minIn: 1, fn: unaryFloat(hardSwish), types: same(isFloat)},
	{op: "IsNaN", since: 9, minIn: 1, fn: isNaN, types: result(isFloat, Bool)},
	{op: "IsInf", since: 10, minIn: 1, fn: isInf, types: result(isFloat, Bool)},
	// elementwise.go: unary on numbers.
	{op: "Neg", since: 1, minIn: 1, fn: unaryNum(neg), types: same(isSigned)},
	{op: "Abs", since: 1, minIn: 1, fn: unaryNum(abs), types: same(isNumber)},
	{op: "Relu", since: 1, minIn: 1, fn: unaryNum(relu), types: same(isSigned)},
	{op: "Sign", since: 9, minIn: 1, fn: unaryNum(sign), types: same(isNumber)},
	{op: "Shrink", since: 9, minIn: 1, fn: shrink, types: same(isNumber)},
	{op: "Identity", since: 1, minIn: 1, fn: identity, types: same(isAnyOrSeq)},
	{op: "Dropout", since: 7, until: 11, minIn: 1, maxOut: 2, fn: dropout, types: dropoutTypes},
	{op: "Dropout", since: 12, minIn: 1, maxIn: 3, maxOut: 2, fn: dropout, types: dropoutTypes},
	{op: "Cast", since: 6, minIn: 1, fn: cast, types: castTypes, check: checkCast},
	{op: "CastLike", since: 15, minIn: 2, fn: castLike, types: castLikeTypes},
	// elementwise.go: binary and variadic with numpy broadcasting.
	{op: "Add", since: 7, minIn: 2, fn: binaryNum(add), types: same(isNumber)},
	{op: "Sub", since: 7, minIn: 2, fn: binaryNum(sub), types: same(isNumber)},
	{op: "Mul", since: 7, minIn: 2, fn: binaryNum(mul), types: same(isNumber)},
	{op: "Div", since: 7, minIn: 2, fn: binaryNum(div), types: same(isNumber)},
	{op: "Mod", since: 10, minIn: 2, fn: mod, types: same(isNumber)},
	{op: "Pow", since: 7, minIn: 2, fn: pow, types: first(isNumber)},
	{op: "PRelu", since: 7, minIn: 2, fn: prelu, types: same(isNumber)},
	{op: "BitShift", since: 11, minIn: 2, fn: bitShift, types: same(isUnsigned)},
	{op: "Equal", since: 7, minIn: 2, fn: compare(equal), types: result(isAny, Bool)},
	{op: "Less", since: 7, minIn: 2, fn: compare(less), types: result(isNumber, Bool)},
	{op: "Greater", since: 7, minIn: 2, fn: compare(greater), types: result(isNumber, Bool)},
	{op: "LessOrEqual", since: 12, minIn: 2, fn: compare(lessOrEqual), types: result(isNumber, Bool)},
	{op: "GreaterOrEqual", since: 12, minIn: 2, fn: compare(greaterOrEqual), types: result(isNumber, Bool)},
	{op: "Not", since: 1, minIn: 1, fn: not, types: same(isBool)},
	{op: "And", since: 7, minIn: 2, fn: logical(and), types: same(isBool)},
	{op: "Or", since: 7, minIn: 2, fn: logical(or), types: same(isBool)},
	{op: "Xor", since: 7, minIn: 2, fn: logical(xor), types: same(isBool)},
	{op: "Max", since: 8, minIn: 1, maxIn: -1, fn: variadic(maxOf), types: same(isNumber)},
	{op: "Min", since: 8, minIn: 1, maxIn: -1, fn: variadic(minOf), types: same(isNumber)},
	{op: "Sum", since: 8, minIn: 1, maxIn: -1, fn: variadic(add), types: same(isNumber)},
	{op: "Mean", since: 8, minIn: 1, maxIn: -1, fn: mean, types: same(isFloat)},
	{op: "Where", since: 9, minIn: 3, fn: where, types: whereTypes},
	{op: "Clip", since: 6, until: 10, minIn: 1, fn: clip, types: same(isNumber)},
	{op: "Clip", since: 11, minIn: 1, maxIn: 3, fn: clip, types: same(isNumber)},
	// matmul.go
	{op: "MatMul", since: 1, minIn: 2, fn: matMul, types: same(isNumber)},
	{op: "Gemm", since: 7, until: 10, minIn: 3, fn: gemm, types: same(isNumber)},
	{op: "Gemm", since: 11, minIn: 2, maxIn: 3, fn: gemm, types: same(isNumber)},
	// reduce.go: axes as an attribute, then as an input.
	{op: "ReduceSum", since: 1, until: 12, minIn: 1, fn: reduce(sumR), types: first(isNumber)},
	{op: "ReduceSum", since: 13, minIn: 1, maxIn: 2, fn: reduce(sumR), types: first(isNumber)},
	{op: "ReduceMean", since: 1, until: 17, minIn: 1, fn: reduce(meanR), types: first(isNumber)},
	{op: "ReduceMean", since: 18, minIn: 1, maxIn: 2, fn: reduce(meanR), types: first(isNumber)},
	{op: "ReduceMax", since: 1, until: 17, minIn: 1, fn: reduce(maxR), types: first(isNumber)},
	{op: "ReduceMax", since: 18, minIn: 1, maxIn: 2, fn: reduce(maxR), types: first(isNumber)},
	{op: "ReduceMin", since: 1, until: 17, minIn: 1, fn: reduce(minR), types: first(isNumber)},
	{op: "ReduceMin", since: 18, minIn: 1, maxIn: 2, fn: reduce(minR), types: first(isNumber)},
	{op: "ReduceProd", since: 1, until: 17, minIn: 1, fn: reduce(prodR), types: first(isNumber)},
	{op: "ReduceProd", since: 18, minIn: 1, maxIn: 2, fn: reduce(prodR), types: first(isNumber)},
	{op: "ReduceSumSquare", since: 1, until: 17, minIn: 1, fn: reduce(sumSquareR), types: first(isNumber)},
	{op: "ReduceSumSquare", since: 18, minIn: 1, maxIn: 2, fn: reduce(sumSquareR), types: first(isNumber)},
	{op: "ReduceLogSumExp", since: 1, until: 17, minIn: 1, fn: reduce(logSumExpR), types: first(isNumber)},
	{op: "ReduceLogSumExp", since: 18, minIn: 1, maxIn: 2, fn: reduce(logSumExpR), types: first(isNumber)},
	{op: "ReduceLogSum", since: 1, until: 17, minIn: 1, fn: reduce(logSumR), types: first(isNumber)},
	{op: "ReduceLogSum", since: 18, minIn: 1, maxIn: 2, fn: reduce(logSumR), types: first(isNumber)},
	{op: "ReduceL1", since: 1, until: 17, minIn: 1, fn: reduce(l1R), types: first(isNumber)},
	{op: "ReduceL1", since: 18, minIn: 1, maxIn: 2, fn: reduce(l1R), types: first(isNumber)},
	{op: "ReduceL2", since: 1, until: 17, minIn: 1, fn: reduce(l2R), types: first(isNumber)},
	{op: "ReduceL2", since: 18, minIn: 1, maxIn: 2, fn: reduce(l2R), types: first(isNumber)},
	{op: "ArgMax", since: 1, minIn: 1, fn: argMax, types: result(isNumber, Int64)},
	{op: "ArgMin", since: 1, minIn: 1, fn: argMin, types: result(isNumber, Int64)},
	// shape.go
	{op: "Shape", since: 1, minIn: 1, fn: shapeOp, types: result(isAny, Int64)},
	{op: "Size", since: 1, minIn: 1, fn: size, types: result(isAny, Int64)},
	{op: "Reshape", since: 5, minIn: 2, fn: reshape, types: first(isAny, Int64)},
	{op: "Flatten", since: 1, minIn: 1, fn: flatten, types: first(isAny)},
	{op: "Transpose", since: 1, minIn: 1, fn: transpose, types: first(isAny)},
	{op: "Unsqueeze", since: 1, until: 12, minIn: 1, fn: unsqueeze, types: first(isAny)},
	{op: "Unsqueeze", since: 13, minIn: 2, fn: unsqueeze, types: first(isAny, Int64)},
	{op: "Squeeze", since: 1, until: 12, minIn: 1, fn: squeeze, types: first(isAny)},
	{op: "Squeeze", since: 13, minIn: 1, maxIn: 2, fn: squeeze, types: first(isAny, Int64)},
	{op: "Concat", since: 4, minIn: 1, maxIn: -1, fn: concat, types: same(isAny)},
	{op: "Split", since: 2, until: 12, minIn: 1, maxOut: 1 << 20, fn: split, types: splitTypes},
	{op: "Split", since: 13, minIn: 1, maxIn: 2, maxOut: 1 << 20, fn: split, types: splitTypes},
	{op: "Slice", since: 1, until: 9, minIn: 1, fn: slice, types: first(isAny)},
	{op: "Slice", since: 10, minIn: 3, maxIn: 5, fn: slice, types: first(isAny, anyIndex, anyIndex, anyIndex, anyIndex)},
	{op: "Gather", since: 1, minIn: 2, fn: gather, types: first(isAny, anyIndex)},
	{op: "GatherElements", since: 11, minIn: 2, fn: gatherElements, types: first(isAny, anyIndex)},
	{op: "Expand", since: 8, minIn: 2, fn: expand, types: first(isAny, Int64)},
	{op: "Tile", since: 6, minIn: 2, fn: tile, types: first(isAny, Int64)},
	{op: "Trilu", since: 14, minIn: 1, maxIn: 2, fn: trilu, types: first(isAny, Int64)},
	{op: "ConstantOfShape", since: 9, minIn: 1, fn: constantOfShape, types: constantOfShapeTypes},
	{op: "Constant", since: 1, minIn: 0, fn: constant, types: constantTypes, check: checkConstant},
	{op: "Range", since: 11, minIn: 3, fn: rangeOp, types: same(isNumber)},
	// norm.go
	{op: "Softmax", since: 1, minIn: 1, fn: softmax, types: same(isFloat)},
	{op: "LogSoftmax", since: 1, minIn: 1, fn: logSoftmax, types: same(isFloat)},
	{op: "Hardmax", since: 1, minIn: 1, fn: hardmax, types: same(isFloat)},
	{op: "LayerNormalization", since: 17, minIn: 2, maxIn: 3, maxOut: 3, fn: layerNorm, types: layerNormTypes},
	// control.go: subgraphs run by the interpreter.
	{op: "Loop", since: 1, minIn: 0, maxIn: 1 << 20, maxOut: 1 << 20, fn: loop, types: loopTypes, check: checkLoop},
	{op: "If", since: 1, minIn: 1, maxOut: 1 << 20, fn: ifOp, types: ifTypes, check: checkIf},
	// mhcc_ops.go: mhcc's own operators.
	{domain: mhccDomain, op: "Sinkhorn", since: 1, until: 1, minIn: 1, fn: sinkhorn, types: same(isSinkhornType), check: checkSinkhorn},
	// contrib.go: onnxruntime's contrib ops (SimplifiedLayerNormalization is
	// registered in the ONNX domain, version 1, by onnxruntime).
	{op: "SimplifiedLayerNormalization", since: 1, minIn: 2, maxOut: 2, fn: simplifiedLayerNorm, types: simplifiedLayerNormTypes, check: checkStashType},
	{domain: msDomain, op: "SkipSimplifiedLayerNormalization", since: 1, until: 1, minIn: 3, maxIn: 4, maxOut: 4, fn: skipSimplifiedLayerNorm, types: skipSimplifiedLayerNormTypes},
	{domain: msDomain, op: "RotaryEmbedding", since: 1, until: 1, minIn: 4, fn: rotaryEmbedding, types: rotaryTypes, check: checkRotary},
	// einsum.go
	{op: "Einsum", since: 12, minIn: 1, maxIn: -1, fn: einsum, types: same(isNumber), check: checkEinsum},
	// contrib_gqa.go: onnxruntime's decoder attention with a KV cache (key and value may be omitted: packed QKV).
	{domain: "com.microsoft", op: "GroupQueryAttention", since: 1, minIn: 1, maxIn: 12, maxOut: 3, fn: groupQueryAttention, types: gqaTypes},
}

// kernelIndex maps (domain, op_type) to its rows, oldest first.
var kernelIndex = indexKernels(slices.Concat(kernelTable, sequenceKernels, exportKernels))

func indexKernels(table []kernel) map[opKey][]*kernel {
	idx := map[opKey][]*kernel{}
	for i := range table {
		k := &table[i]
		if k.maxIn == 0 {
			k.maxIn = k.minIn
		}
		if k.maxOut == 0 {
			k.maxOut = 1
		}
		key := opKey{k.domain, k.op}
		idx[key] = append(idx[key], k)
	}
	for _, rows := range idx {
		sort.Slice(rows, func(i, j int) bool { return rows[i].since < rows[j].since })
	}
	return idx
}

// lookupKernel returns the row implementing op at opset, or nil.
func lookupKernel(domain, op string, opset int64) *kernel {
	for _, k := range kernelIndex[opKey{domain, op}] {
		if k.since <= opset && opset <= k.last() {
			return k
		}
	}
	return nil
}

// kernelVersions describes the opsets op is implemented for ("7-21"), or "".
func kernelVersions(domain, op string) string {
	s := ""
	for _, k := range kernelIndex[opKey{domain, op}] {
		if s != "" {
			s += ", "
		}
		s += fmt.Sprintf("%d-%d", k.since, k.last())
	}
	return s
}

// Implements reports whether the interpreter has a kernel for op_type op of
// domain ("" or "ai.onnx" for the default domain) at the given opset version.
func Implements(domain, op string, opset int64) bool {
	return lookupKernel(canonicalDomain(domain), op, opset) != nil
}

// Type classes for the static checks.
func isAny(t DType) bool    { return !t.IsSequence() }
func isAnyOrSeq(DType) bool { return true }
func isFloat(t DType) bool  { return t.IsFloat() }
func isNumber(t DType) bool { return t.IsFloat() || t.IsInt() }
func isSigned(t DType) bool {
	return t.IsFloat() || t == Int8 || t == Int16 || t == Int32 || t == Int64
}
func isUnsigned(t DType) bool { return t == Uint8 || t == Uint16 || t == Uint32 || t == Uint64 }
func isBool(t DType) bool     { return t == Bool }

// anyIndex marks an input of first that may be int32 or int64.
const anyIndex DType = -1

// same requires every known input type to be equal and allowed; the outputs
// have that type.
func same(allowed func(DType) bool) typeRule {
	return func(n *Node, in []DType) ([]DType, error) {
		t, err := common(in, allowed)
		if err != nil {
			return nil, err
		}
		return fill(len(n.Outputs), t), nil
	}
}

// result is same with outputs of type out.
func result(allowed func(DType) bool, out DType) typeRule {
	return func(n *Node, in []DType) ([]DType, error) {
		if _, err := common(in, allowed); err != nil {
			return nil, err
		}
		return fill(len(n.Outputs), out), nil
	}
}

// first gives the outputs input 0's type (which must be allowed); the later
// inputs, when listed in rest, must have that type (anyIndex: int32 or int64).
func first(allowed func(DType) bool, rest ...DType) typeRule {
	return func(n *Node, in []DType) ([]DType, error) {
		if len(in) > 0 && in[0] != Undefined && !allowed(in[0]) {
			return nil, fmt.Errorf("input 0 has type %v, which the op does not accept", in[0])
		}
		for i, want := range rest {
			if i+1 >= len(in) || in[i+1] == Undefined {
				continue
			}
			got := in[i+1]
			if want == anyIndex && (got == Int32 || got == Int64) || got == want {
				continue
			}
			w := want.String()
			if want == anyIndex {
				w = "int32 or int64"
			}
			return nil, fmt.Errorf("input %d has type %v, want %s", i+1, got, w)
		}
		var t DType
		if len(in) > 0 {
			t = in[0]
		}
		return fill(len(n.Outputs), t), nil
	}
}

func common(in []DType, allowed func(DType) bool) (DType, error) {
	var t DType
	at := 0
	for i, d := range in {
		if d == Undefined {
			continue
		}
		if !allowed(d) {
			return 0, fmt.Errorf("input %d has type %v, which the op does not accept", i, d)
		}
		if t == Undefined {
			t, at = d, i
		} else if d != t {
			return 0, fmt.Errorf("input %d has type %v, want %v (the type of input %d)", i, d, t, at)
		}
	}
	return t, nil
}

func fill(n int, t DType) []DType {
	out := make([]DType, n)
	for i := range out {
		out[i] = t
	}
	return out
}
