package ir

import (
	"fmt"
	"strconv"
	"strings"
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

var dtypeNames = [...]string{Invalid: "invalid", Float32: "f32", Float16: "f16", BFloat16: "bf16", Float64: "f64", Int64: "i64", Int32: "i32", Bool: "bool"}

func (d DType) String() string {
	if int(d) < len(dtypeNames) {
		return dtypeNames[d]
	}
	return "dtype(" + strconv.Itoa(int(d)) + ")"
}

// IsFloat reports whether d is a floating-point type.
func (d DType) IsFloat() bool { return d == Float32 || d == Float16 || d == BFloat16 || d == Float64 }

// ParseDType is the inverse of DType.String.
func ParseDType(s string) (DType, bool) {
	for i, n := range dtypeNames {
		if n == s && i != 0 {
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
