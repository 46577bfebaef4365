package safetensors

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

// DTypes lists every supported element type, in the reference's order.
var DTypes = []DType{Bool, U8, I8, F8E5M2, F8E4M3, F8E8M0, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64}

// Size returns the number of bytes per element, 0 if d is unknown.
func (d DType) Size() int {
	switch d {
	case Bool, U8, I8, F8E5M2, F8E4M3, F8E8M0:
		return 1
	case I16, U16, F16, BF16:
		return 2
	case I32, U32, F32:
		return 4
	case I64, U64, F64:
		return 8
	}
	return 0
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
