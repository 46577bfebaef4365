// Package tensor is mhcc's one description of ONNX tensors outside any
// engine: the table of element types (code, name, size, Go type), the
// conversion of a TensorProto's data to and from Go slices, and the
// canonical content hash of a TensorProto (the "sha256:…" that mhcc fmt
// prints and the text goldens and graph diffs compare). The 16-bit float
// conversions live in the subpackage half, the reading of external data
// references in extdata.
//
// It imports only the ONNX schema (onnx/pb): the compiler, the runtime and
// the tools build on it, never the other way round (see RATIONALE.md,
// "Package boundaries: the ONNX layer").
package tensor

import (
	"reflect"
	"strconv"
)

// The element types (TensorProto.DataType codes) that have a name here.
const (
	Undefined      int32 = 0
	Float          int32 = 1
	Uint8          int32 = 2
	Int8           int32 = 3
	Uint16         int32 = 4
	Int16          int32 = 5
	Int32          int32 = 6
	Int64          int32 = 7
	String         int32 = 8
	Bool           int32 = 9
	Float16        int32 = 10
	Double         int32 = 11
	Uint32         int32 = 12
	Uint64         int32 = 13
	Complex64      int32 = 14
	Complex128     int32 = 15
	BFloat16       int32 = 16
	Float8E4M3FN   int32 = 17
	Float8E4M3FNUZ int32 = 18
	Float8E5M2     int32 = 19
	Float8E5M2FNUZ int32 = 20
	Uint4          int32 = 21
	Int4           int32 = 22
	Float4E2M1     int32 = 23
	Float8E8M0     int32 = 24
)

// A DType describes one ONNX element type.
type DType struct {
	Code int32  // TensorProto.DataType
	Name string // numpy's name where numpy has one ("float32", "bfloat16")
	// ONNX is ONNX's own spelling, as its text syntax and onnx.helper write
	// it: Name but for "float" (float32) and "double" (float64).
	ONNX string
	// Bits is the width of one element in raw_data: 4 for the packed 4-bit
	// types (two to a byte), 0 for strings and Undefined.
	Bits int
	// Go is the element type of the slice Values returns (float16 and
	// bfloat16 as their uint16 bit patterns, the 8-bit floats as bytes);
	// nil where Values has none (Undefined, the 4-bit types).
	Go reflect.Type
}

// Size is the width of one element in raw_data in bytes; 0 where it is not
// a whole number of bytes (strings, the 4-bit types, Undefined).
func (d DType) Size() int {
	if d.Bits%8 != 0 {
		return 0
	}
	return d.Bits / 8
}

// IsFloat reports whether d is one of the floating-point types Float64s
// converts (float16, bfloat16, float, double).
func (d DType) IsFloat() bool {
	switch d.Code {
	case Float, Double, Float16, BFloat16:
		return true
	}
	return false
}

func typ[T any]() reflect.Type { return reflect.TypeFor[T]() }

// dtypes is the table, indexed by code.
var dtypes = [...]DType{
	Undefined:      {Undefined, "undefined", "undefined", 0, nil},
	Float:          {Float, "float32", "float", 32, typ[float32]()},
	Uint8:          {Uint8, "uint8", "uint8", 8, typ[uint8]()},
	Int8:           {Int8, "int8", "int8", 8, typ[int8]()},
	Uint16:         {Uint16, "uint16", "uint16", 16, typ[uint16]()},
	Int16:          {Int16, "int16", "int16", 16, typ[int16]()},
	Int32:          {Int32, "int32", "int32", 32, typ[int32]()},
	Int64:          {Int64, "int64", "int64", 64, typ[int64]()},
	String:         {String, "string", "string", 0, typ[[]byte]()},
	Bool:           {Bool, "bool", "bool", 8, typ[bool]()},
	Float16:        {Float16, "float16", "float16", 16, typ[uint16]()},
	Double:         {Double, "float64", "double", 64, typ[float64]()},
	Uint32:         {Uint32, "uint32", "uint32", 32, typ[uint32]()},
	Uint64:         {Uint64, "uint64", "uint64", 64, typ[uint64]()},
	Complex64:      {Complex64, "complex64", "complex64", 64, typ[complex64]()},
	Complex128:     {Complex128, "complex128", "complex128", 128, typ[complex128]()},
	BFloat16:       {BFloat16, "bfloat16", "bfloat16", 16, typ[uint16]()},
	Float8E4M3FN:   {Float8E4M3FN, "float8e4m3fn", "float8e4m3fn", 8, typ[uint8]()},
	Float8E4M3FNUZ: {Float8E4M3FNUZ, "float8e4m3fnuz", "float8e4m3fnuz", 8, typ[uint8]()},
	Float8E5M2:     {Float8E5M2, "float8e5m2", "float8e5m2", 8, typ[uint8]()},
	Float8E5M2FNUZ: {Float8E5M2FNUZ, "float8e5m2fnuz", "float8e5m2fnuz", 8, typ[uint8]()},
	Uint4:          {Uint4, "uint4", "uint4", 4, nil},
	Int4:           {Int4, "int4", "int4", 4, nil},
	Float4E2M1:     {Float4E2M1, "float4e2m1", "float4e2m1", 4, nil},
	Float8E8M0:     {Float8E8M0, "float8e8m0", "float8e8m0", 8, typ[uint8]()},
}

// Lookup returns the table's row for code; false for a code it does not
// know.
func Lookup(code int32) (DType, bool) {
	if code < 0 || int(code) >= len(dtypes) {
		return DType{}, false
	}
	return dtypes[code], true
}

// ByName returns the row whose Name is name ("float32"); false if none.
func ByName(name string) (DType, bool) {
	for _, d := range dtypes {
		if d.Name == name {
			return d, true
		}
	}
	return DType{}, false
}

// Name is the name of code, "dtype(N)" for a code the table does not know.
func Name(code int32) string {
	if d, ok := Lookup(code); ok {
		return d.Name
	}
	return "dtype(" + strconv.Itoa(int(code)) + ")"
}

// Size is the width of one element of type code in raw_data in bytes; 0
// for strings, the 4-bit types and codes the table does not know.
func Size(code int32) int {
	d, _ := Lookup(code)
	return d.Size()
}

// Bits is the width of one element of type code in raw_data in bits; 0
// for strings and codes the table does not know.
func Bits(code int32) int {
	d, _ := Lookup(code)
	return d.Bits
}
