package ir

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/mhcc-dev/mhcc/onnx/tensor"
)

// A DType is the element type of a tensor.
type DType uint8

const (
	Invalid DType = iota
	Float32
	Float16
	BFloat16
	Float64
	Int64
	Int32
	Bool
)

// dtypes is the IR's table of element types: each one's name in the text
// IR and its ONNX element type (TensorProto.DataType), whose row in
// onnx/tensor's table gives everything else (size, ONNX name, whether it is
// a float).
var dtypes = [...]struct {
	name string
	onnx int32
}{
	Invalid:  {"invalid", tensor.Undefined},
	Float32:  {"f32", tensor.Float},
	Float16:  {"f16", tensor.Float16},
	BFloat16: {"bf16", tensor.BFloat16},
	Float64:  {"f64", tensor.Double},
	Int64:    {"i64", tensor.Int64},
	Int32:    {"i32", tensor.Int32},
	Bool:     {"bool", tensor.Bool},
}

func (d DType) String() string {
	if int(d) < len(dtypes) {
		return dtypes[d].name
	}
	return "dtype(" + strconv.Itoa(int(d)) + ")"
}

// ONNX is d's ONNX element type (TensorProto.DataType); 0 (undefined) for
// Invalid and unknown values.
func (d DType) ONNX() int32 {
	if int(d) < len(dtypes) {
		return dtypes[d].onnx
	}
	return tensor.Undefined
}

// Size is the width of one element of type d in bytes as ONNX stores it
// (raw_data); 0 for Invalid.
func (d DType) Size() int { return tensor.Size(d.ONNX()) }

// IsFloat reports whether d is a floating-point type.
func (d DType) IsFloat() bool {
	t, _ := tensor.Lookup(d.ONNX())
	return t.IsFloat()
}

// ParseDType is the inverse of DType.String.
func ParseDType(s string) (DType, bool) {
	for i, t := range dtypes {
		if t.name == s && i != 0 {
			return DType(i), true
		}
	}
	return Invalid, false
}

// A Dim is one dimension: a known size, or a symbol (Param) such as "batch"
// that is fixed only when the model runs.
type Dim struct {
	Size  int64  // valid when Param == ""
	Param string // symbolic name; "" for a known size
}

// D returns a known dimension; P a symbolic one.
func D(n int64) Dim       { return Dim{Size: n} }
func P(name string) Dim   { return Dim{Param: name} }
func (d Dim) Known() bool { return d.Param == "" }

func (d Dim) String() string {
	if d.Param != "" {
		return d.Param
	}
	return strconv.FormatInt(d.Size, 10)
}

// A Shape lists the dimensions of a tensor, outermost first. A scalar has an
// empty Shape.
type Shape []Dim

// Dims builds a shape of known sizes.
func Dims(sizes ...int64) Shape {
	s := make(Shape, len(sizes))
	for i, n := range sizes {
		s[i] = D(n)
	}
	return s
}

// Rank is the number of dimensions.
func (s Shape) Rank() int { return len(s) }

// Equal reports whether s and t have the same dims, symbols compared by name.
func (s Shape) Equal(t Shape) bool {
	if len(s) != len(t) {
		return false
	}
	for i := range s {
		if s[i] != t[i] {
			return false
		}
	}
	return true
}

// Sizes returns the known sizes, ok=false if any dim is symbolic.
func (s Shape) Sizes() (sizes []int64, ok bool) {
	sizes = make([]int64, len(s))
	for i, d := range s {
		if !d.Known() {
			return nil, false
		}
		sizes[i] = d.Size
	}
	return sizes, true
}

// NumElements is the product of the sizes, or -1 if a dim is symbolic.
func (s Shape) NumElements() int64 {
	n := int64(1)
	for _, d := range s {
		if !d.Known() {
			return -1
		}
		n *= d.Size
	}
	return n
}

// Clone returns a copy of s.
func (s Shape) Clone() Shape { return append(Shape(nil), s...) }

func (s Shape) String() string {
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = d.String()
	}
	return "[" + strings.Join(parts, ",") + "]"
}

// A Type is a tensor type: element type and shape.
type Type struct {
	DType DType
	Shape Shape
}

// T builds a Type.
func T(dt DType, dims ...Dim) Type { return Type{DType: dt, Shape: Shape(dims)} }

func (t Type) String() string { return t.DType.String() + t.Shape.String() }

// Equal reports whether t and u are the same type.
func (t Type) Equal(u Type) bool { return t.DType == u.DType && t.Shape.Equal(u.Shape) }

// A Tensor is constant data: a weight or a folded constant. Exactly one of
// the slices is used, chosen by DType (F32 also holds f16/bf16 data widened
// exactly; the DType says how it is stored when exported).
type Tensor struct {
	DType DType
	Shape []int64
	F32   []float32
	F64   []float64
	I64   []int64
	// Lazy produces the data on demand when the slices are empty: a
	// streamed weight (stream.go).
	Lazy Source
}

// Len is the number of elements the shape calls for.
func (t *Tensor) Len() int64 {
	n := int64(1)
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// check reports whether the data matches the dtype and shape.
func (t *Tensor) check() error {
	n := t.Len()
	if t.IsLazy() {
		if t.DType != Float32 {
			return fmt.Errorf("streamed constant %v%v: want f32", t.DType, t.Shape)
		}
		return nil
	}
	var got int
	switch t.DType {
	case Float32, Float16, BFloat16:
		got = len(t.F32)
	case Float64:
		got = len(t.F64)
	case Int64, Int32, Bool:
		got = len(t.I64)
	default:
		return fmt.Errorf("unsupported constant dtype %v", t.DType)
	}
	if int64(got) != n {
		return fmt.Errorf("constant %v%v holds %d elements, want %d", t.DType, t.Shape, got, n)
	}
	return nil
}
