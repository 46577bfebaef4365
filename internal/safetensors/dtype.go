package safetensors

import "github.com/mhcc-dev/mhcc/onnx/tensor"

// DType is a safetensors element type, spelled as in the file header.
type DType string

// The element types this package reads and writes. Their spellings and sizes
// are those of the reference implementation (huggingface/safetensors).
const (
	Bool   DType = "BOOL"
	U8     DType = "U8"
	I8     DType = "I8"
	F8E5M2 DType = "F8_E5M2"
	F8E4M3 DType = "F8_E4M3"
	F8E8M0 DType = "F8_E8M0"
	I16    DType = "I16"
	U16    DType = "U16"
	F16    DType = "F16"
	BF16   DType = "BF16"
	I32    DType = "I32"
	U32    DType = "U32"
	F32    DType = "F32"
	F64    DType = "F64"
	I64    DType = "I64"
	U64    DType = "U64"
)

// dtypes pairs each supported element type, in the reference's order,
// with its ONNX element type (F8_E4M3 is torch's and ONNX's float8
// e4m3fn); onnx/tensor's table gives its size.
var dtypes = []struct {
	d    DType
	onnx int32
}{
	{Bool, tensor.Bool}, {U8, tensor.Uint8}, {I8, tensor.Int8},
	{F8E5M2, tensor.Float8E5M2}, {F8E4M3, tensor.Float8E4M3FN}, {F8E8M0, tensor.Float8E8M0},
	{I16, tensor.Int16}, {U16, tensor.Uint16}, {F16, tensor.Float16}, {BF16, tensor.BFloat16},
	{I32, tensor.Int32}, {U32, tensor.Uint32}, {F32, tensor.Float},
	{F64, tensor.Double}, {I64, tensor.Int64}, {U64, tensor.Uint64},
}

// DTypes lists every supported element type, in the reference's order.
var DTypes = func() []DType {
	out := make([]DType, len(dtypes))
	for i, r := range dtypes {
		out[i] = r.d
	}
	return out
}()

var onnxCodes = func() map[DType]int32 {
	m := map[DType]int32{}
	for _, r := range dtypes {
		m[r.d] = r.onnx
	}
	return m
}()

// ONNX returns the ONNX TensorProto.DataType of d, 0 if d is unknown.
func (d DType) ONNX() int32 { return onnxCodes[d] }

// Size returns the number of bytes per element, 0 if d is unknown.
func (d DType) Size() int {
	code, ok := onnxCodes[d]
	if !ok {
		return 0
	}
	return tensor.Size(code)
}

// subByte reports whether d is one of the reference's packed sub-byte types,
// which this package does not support (their size is not a whole number of
// bytes, so neither Size nor the element-wise readers can describe them).
func (d DType) subByte() bool {
	switch d {
	case "F4", "F6_E2M3", "F6_E3M2":
		return true
	}
	return false
}
