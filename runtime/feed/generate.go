package feed

import (
	"fmt"
	"math"
	"slices"
	"strings"

	mhrt "github.com/mhcc-dev/mhcc/runtime"
)

// MaxElements bounds a generated input, as the runtime bounds its tensors.
const MaxElements = 1 << 30

// A GenerateError says why an input cannot be generated. The caller may
// add what its user can do (give the input, lower the dims).
type GenerateError struct {
	Input  string
	Reason GenerateReason
	Shape  []int64 // TooLarge, OverBudget
	Need   int64   // OverBudget: bytes
	err    string
}

// A GenerateReason classifies a GenerateError.
type GenerateReason int

const (
	NoShape    GenerateReason = iota // the input's shape is not declared
	NoDType                          // the input's element type is not declared
	BadDType                         // values of the element type cannot be generated
	TooLarge                         // more than MaxElements elements
	OverBudget                       // past the runtime's memory budget (mhrt.MaxBytes)
)

func (e *GenerateError) Error() string { return e.err }

// Generate makes input v from the seed (see the package comment), binding
// its unbound symbolic dims to 1 (see Shape), and records it in Inputs and
// Sources.
func (f *Feed) Generate(v mhrt.ValueInfo) (*mhrt.Tensor, error) {
	fail := func(r GenerateReason, format string, args ...any) error {
		return &GenerateError{Input: v.Name, Reason: r, err: fmt.Sprintf(format, args...)}
	}
	if !v.Ranked {
		return nil, fail(NoShape, "input %q has no declared shape, so it cannot be generated", v.Name)
	}
	if v.DType == mhrt.Undefined {
		return nil, fail(NoDType, "input %q has no declared element type, so it cannot be generated", v.Name)
	}
	shape := f.Shape(v)
	n := int64(1)
	for _, d := range shape {
		if d > 0 && n > MaxElements/d {
			e := fail(TooLarge, "input %q: shape %v has more than %d elements", v.Name, shape, MaxElements).(*GenerateError)
			e.Shape = shape
			return nil, e
		}
		n *= d
	}
	// Generating holds the values as float64 or int64 next to the tensor.
	if need := n * int64(8+v.DType.Size()); need > mhrt.MaxBytes() {
		e := fail(OverBudget, "input %q: shape %v needs %s to generate, past the memory budget of %s",
			v.Name, shape, mhrt.FormatBytes(need), mhrt.FormatBytes(mhrt.MaxBytes())).(*GenerateError)
		e.Shape, e.Need = shape, need
		return nil, e
	}

	g := NewRand(f.Seed, streamOf(v.Name)) // one stream per input: files for others do not shift it
	count := int(n)
	var t *mhrt.Tensor
	var err error
	var source string
	mask := strings.Contains(strings.ToLower(v.Name), "mask")
	switch {
	case v.DType.IsFloat():
		if mask {
			t, err = FromInt64s(v.DType, shape, slices.Repeat([]int64{1}, count))
			source = "all ones (a mask)"
			break
		}
		x := make([]float64, count)
		for i := range x {
			x[i] = g.Normal()
		}
		t, err = FromFloat64s(v.DType, shape, x)
		source = fmt.Sprintf("random N(0, 1), seed %d", f.Seed)
	case v.DType == mhrt.Bool:
		b := make([]bool, count)
		for i := range b {
			b[i] = mask || g.Bit()
		}
		t, err = mhrt.New(mhrt.Bool, shape, b)
		source = fmt.Sprintf("random true/false, seed %d", f.Seed)
		if mask {
			source = "all true (a mask)"
		}
	case v.DType.IsInt():
		vals := make([]int64, count)
		if mask {
			for i := range vals {
				vals[i] = 1
			}
			source = "all ones (a mask)"
		} else {
			hi, from, ok := EmbeddingRows(f.graph, v.Name)
			if !ok {
				hi = 100
			}
			if top := intMax(v.DType); hi-1 > top {
				hi = top + 1
			}
			for i := range vals {
				vals[i] = int64(g.IntN(uint64(hi)))
			}
			if ok {
				source = fmt.Sprintf("random ids in [0, %d) (rows of %s), seed %d", hi, from, f.Seed)
			} else {
				source = fmt.Sprintf("random in [0, %d), seed %d", hi, f.Seed)
			}
		}
		t, err = FromInt64s(v.DType, shape, vals)
	default:
		return nil, fail(BadDType, "input %q: cannot generate %v values", v.Name, v.DType)
	}
	if err != nil {
		return nil, fmt.Errorf("input %q: %w", v.Name, err)
	}
	f.Inputs[v.Name] = t
	f.Sources[v.Name] = source
	return t, nil
}

// intMax is the largest value of an integer type, capped at MaxInt64.
func intMax(dt mhrt.DType) int64 {
	switch dt {
	case mhrt.Int8:
		return math.MaxInt8
	case mhrt.Uint8:
		return math.MaxUint8
	case mhrt.Int16:
		return math.MaxInt16
	case mhrt.Uint16:
		return math.MaxUint16
	case mhrt.Int32:
		return math.MaxInt32
	case mhrt.Uint32:
		return math.MaxUint32
	}
	return math.MaxInt64
}
