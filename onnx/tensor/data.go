package tensor

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/mhcc-dev/mhcc/onnx/pb"
	"github.com/mhcc-dev/mhcc/onnx/tensor/half"
)

// ErrExternalData is returned (wrapped) for a tensor whose data is stored
// outside the model file; its values are not read.
var ErrExternalData = errors.New("tensor data is stored externally")

// IsExternal reports whether t's data_location is EXTERNAL.
func IsExternal(t *onnxpb.TensorProto) bool {
	return t.GetDataLocation() == onnxpb.TensorProto_EXTERNAL
}

// ExternalSummary prints a tensor's external_data entries in the syntax of
// onnx's parser for external data: ["location": "w.bin", "offset": "0"].
func ExternalSummary(t *onnxpb.TensorProto) string {
	parts := make([]string, len(t.ExternalData))
	for i, e := range t.ExternalData {
		parts[i] = Quote(e.GetKey()) + ": " + Quote(e.GetValue())
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// Quote prints a string literal of onnx's text syntax: the bytes between
// double quotes, with '"' and '\' escaped by a backslash, the only escapes
// onnx's parser knows (every other byte, newlines included, stands for
// itself). ExternalSummary and onnx/text print strings with it.
func Quote(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
	return b.String()
}

// Describe prints a dtype and dims in ONNX's text syntax, as error messages
// here name a tensor: "float[24,128]", or "float" for a scalar.
func Describe(code int32, dims []int64) string {
	name := "dtype" + strconv.Itoa(int(code))
	if d, ok := Lookup(code); ok {
		name = d.ONNX
	}
	if len(dims) == 0 {
		return name
	}
	parts := make([]string, len(dims))
	for i, d := range dims {
		parts[i] = strconv.FormatInt(d, 10)
	}
	return name + "[" + strings.Join(parts, ",") + "]"
}

// NumElements is the product of dims (1 for a scalar). It fails for a
// negative dim and for more than 2^40 elements.
func NumElements(dims []int64) (int64, error) {
	n := int64(1)
	for _, d := range dims {
		if d < 0 {
			return 0, fmt.Errorf("negative dim %d", d)
		}
		if d != 0 && n > math.MaxInt32*int64(1024)/d {
			return 0, fmt.Errorf("%d elements is too many", n)
		}
		n *= d
	}
	return n, nil
}

// Strings returns a string tensor's elements (string_data), checked
// against its dims.
func Strings(t *onnxpb.TensorProto) ([][]byte, error) {
	n, err := NumElements(t.Dims)
	if err != nil {
		return nil, err
	}
	if len(t.RawData) > 0 {
		return nil, errors.New("string tensor with raw_data")
	}
	if int64(len(t.StringData)) != n {
		return nil, fmt.Errorf("%d values in string_data, want %d for %s", len(t.StringData), n, Describe(t.GetDataType(), t.Dims))
	}
	return t.StringData, nil
}

// Raw returns a non-string tensor's data in raw_data's layout (each element
// little-endian at its natural size, 4-bit types packed two to a byte, bool
// one byte, float16/bfloat16 their 16 bits, complex as real then
// imaginary), from raw_data or from the typed field the dtype uses, checked
// against the dtype and dims. It returns raw_data itself when t has it.
// External data is not read: such a tensor has no data here.
func Raw(t *onnxpb.TensorProto) ([]byte, error) {
	dt := t.GetDataType()
	bits := Bits(dt)
	if bits == 0 {
		return nil, fmt.Errorf("unknown data type %d", dt)
	}
	n, err := NumElements(t.Dims)
	if err != nil {
		return nil, err
	}
	want := (n*int64(bits) + 7) / 8
	shape := Describe(dt, t.Dims)
	if t.RawData != nil {
		if int64(len(t.RawData)) != want {
			return nil, fmt.Errorf("raw_data has %d bytes, want %d for %s", len(t.RawData), want, shape)
		}
		return t.RawData, nil
	}
	out := make([]byte, 0, want)
	count := func(field string, got int, wantN int64) error {
		if int64(got) != wantN {
			if got == 0 && field != "" && !hasAnyData(t) {
				return fmt.Errorf("no data for %s", shape)
			}
			return fmt.Errorf("%d values in %s, want %d for %s", got, field, wantN, shape)
		}
		return nil
	}
	le := binary.LittleEndian
	switch dt {
	case Float, Complex64:
		m := n
		if dt == Complex64 {
			m = 2 * n
		}
		if err := count("float_data", len(t.FloatData), m); err != nil {
			return nil, err
		}
		for _, v := range t.FloatData {
			out = le.AppendUint32(out, math.Float32bits(v))
		}
	case Double, Complex128:
		m := n
		if dt == Complex128 {
			m = 2 * n
		}
		if err := count("double_data", len(t.DoubleData), m); err != nil {
			return nil, err
		}
		for _, v := range t.DoubleData {
			out = le.AppendUint64(out, math.Float64bits(v))
		}
	case Int64:
		if err := count("int64_data", len(t.Int64Data), n); err != nil {
			return nil, err
		}
		for _, v := range t.Int64Data {
			out = le.AppendUint64(out, uint64(v))
		}
	case Uint32, Uint64:
		if err := count("uint64_data", len(t.Uint64Data), n); err != nil {
			return nil, err
		}
		for _, v := range t.Uint64Data {
			if dt == Uint32 {
				out = le.AppendUint32(out, uint32(v))
			} else {
				out = le.AppendUint64(out, v)
			}
		}
	default: // int32_data: one element per value, or one packed byte for 4-bit types
		m := n
		if bits == 4 {
			m = want
		}
		if err := count("int32_data", len(t.Int32Data), m); err != nil {
			return nil, err
		}
		for _, v := range t.Int32Data {
			switch bits {
			case 4, 8:
				out = append(out, byte(v))
			case 16:
				out = le.AppendUint16(out, uint16(v))
			default:
				out = le.AppendUint32(out, uint32(v))
			}
		}
	}
	return out, nil
}

func hasAnyData(t *onnxpb.TensorProto) bool {
	return len(t.FloatData)+len(t.DoubleData)+len(t.Int32Data)+len(t.Int64Data)+len(t.Uint64Data)+len(t.StringData) > 0
}

// Values returns t's elements as a Go slice of the table's Go type for its
// dtype ([]float32, []uint16 bit patterns for float16 and bfloat16, []bool,
// [][]byte for strings, …), a fresh slice whatever the encoding. It fails
// for external data, data that does not match the dtype and dims, and the
// 4-bit types.
func Values(t *onnxpb.TensorProto) (any, error) {
	dt := t.GetDataType()
	if IsExternal(t) {
		return nil, fmt.Errorf("%w (%s)", ErrExternalData, ExternalSummary(t))
	}
	if dt == String {
		s, err := Strings(t)
		return append([][]byte{}, s...), err
	}
	if d, ok := Lookup(dt); ok && d.Go == nil && d.Bits > 0 {
		return nil, fmt.Errorf("%s has no Go element type", d.Name)
	}
	raw, err := Raw(t)
	if err != nil {
		return nil, err
	}
	return decode(dt, raw), nil
}

func decode(dt int32, raw []byte) any {
	le := binary.LittleEndian
	switch dt {
	case Float:
		return each(raw, 4, func(b []byte) float32 { return math.Float32frombits(le.Uint32(b)) })
	case Double:
		return each(raw, 8, func(b []byte) float64 { return math.Float64frombits(le.Uint64(b)) })
	case Uint16, Float16, BFloat16:
		return each(raw, 2, le.Uint16)
	case Int16:
		return each(raw, 2, func(b []byte) int16 { return int16(le.Uint16(b)) })
	case Int32:
		return each(raw, 4, func(b []byte) int32 { return int32(le.Uint32(b)) })
	case Uint32:
		return each(raw, 4, le.Uint32)
	case Int64:
		return each(raw, 8, func(b []byte) int64 { return int64(le.Uint64(b)) })
	case Uint64:
		return each(raw, 8, le.Uint64)
	case Int8:
		return each(raw, 1, func(b []byte) int8 { return int8(b[0]) })
	case Bool:
		return each(raw, 1, func(b []byte) bool { return b[0] != 0 })
	case Complex64:
		return each(raw, 8, func(b []byte) complex64 {
			return complex(math.Float32frombits(le.Uint32(b)), math.Float32frombits(le.Uint32(b[4:])))
		})
	case Complex128:
		return each(raw, 16, func(b []byte) complex128 {
			return complex(math.Float64frombits(le.Uint64(b)), math.Float64frombits(le.Uint64(b[8:])))
		})
	}
	return append([]uint8{}, raw...) // uint8 and the 8-bit floats
}

func each[T any](raw []byte, size int, f func([]byte) T) []T {
	out := make([]T, len(raw)/size)
	for i := range out {
		out[i] = f(raw[size*i:])
	}
	return out
}

// Float64s returns t's elements converted to float64: the float types
// (float16 and bfloat16 widened exactly), the integer types and bool (0 or
// 1). Other types (strings, complex, 8- and 4-bit floats) are an error.
func Float64s(t *onnxpb.TensorProto) ([]float64, error) {
	v, err := numeric(t)
	if err != nil {
		return nil, err
	}
	switch d := v.(type) {
	case []float32:
		return conv(d, func(x float32) float64 { return float64(x) }), nil
	case []float64:
		return d, nil
	case []uint16:
		switch t.GetDataType() {
		case Float16:
			return conv(d, func(x uint16) float64 { return float64(half.Float16ToFloat32(x)) }), nil
		case BFloat16:
			return conv(d, func(x uint16) float64 { return float64(half.BFloat16ToFloat32(x)) }), nil
		}
	}
	i, err := Int64s(t)
	return conv(i, func(x int64) float64 { return float64(x) }), err
}

// Int64s returns the elements of an integer or bool tensor (bool as 0 or
// 1, uint64 wrapping) as int64. Other types are an error.
func Int64s(t *onnxpb.TensorProto) ([]int64, error) {
	v, err := numeric(t)
	if err != nil {
		return nil, err
	}
	switch d := v.(type) {
	case []int8:
		return conv(d, func(x int8) int64 { return int64(x) }), nil
	case []int16:
		return conv(d, func(x int16) int64 { return int64(x) }), nil
	case []int32:
		return conv(d, func(x int32) int64 { return int64(x) }), nil
	case []int64:
		return d, nil
	case []uint8:
		return conv(d, func(x uint8) int64 { return int64(x) }), nil
	case []uint16:
		if t.GetDataType() == Uint16 {
			return conv(d, func(x uint16) int64 { return int64(x) }), nil
		}
	case []uint32:
		return conv(d, func(x uint32) int64 { return int64(x) }), nil
	case []uint64:
		return conv(d, func(x uint64) int64 { return int64(x) }), nil
	case []bool:
		return conv(d, func(x bool) int64 {
			if x {
				return 1
			}
			return 0
		}), nil
	}
	return nil, fmt.Errorf("%s is not an integer type", Name(t.GetDataType()))
}

// FromInt64s converts v to a slice of the table's Go type for the integer
// type code ([]int8 … []uint64), each value converted as a Go conversion
// does (wrapping what the type cannot hold); for int64 it is v itself. It
// is Int64s' inverse and fails for non-integer types, bool included.
func FromInt64s(code int32, v []int64) (any, error) {
	switch code {
	case Int64:
		return v, nil
	case Int32:
		return conv(v, func(x int64) int32 { return int32(x) }), nil
	case Int16:
		return conv(v, func(x int64) int16 { return int16(x) }), nil
	case Int8:
		return conv(v, func(x int64) int8 { return int8(x) }), nil
	case Uint64:
		return conv(v, func(x int64) uint64 { return uint64(x) }), nil
	case Uint32:
		return conv(v, func(x int64) uint32 { return uint32(x) }), nil
	case Uint16:
		return conv(v, func(x int64) uint16 { return uint16(x) }), nil
	case Uint8:
		return conv(v, func(x int64) uint8 { return uint8(x) }), nil
	}
	return nil, fmt.Errorf("%s is not an integer type", Name(code))
}

// numeric is Values for the types Float64s and Int64s convert.
func numeric(t *onnxpb.TensorProto) (any, error) {
	switch dt := t.GetDataType(); dt {
	case Float, Double, Float16, BFloat16, Bool, Int8, Int16, Int32, Int64, Uint8, Uint16, Uint32, Uint64:
	default:
		return nil, fmt.Errorf("%s has no numeric conversion", Name(dt))
	}
	return Values(t)
}

func conv[S, D any](s []S, f func(S) D) []D {
	out := make([]D, len(s))
	for i, v := range s {
		out[i] = f(v)
	}
	return out
}

// SliceLen is the length of data when it is a slice of one of the element
// types the codecs store ([]float32, []float64, []uint16, the signed and
// unsigned integers, []bool); -1 for anything else.
func SliceLen(data any) int {
	switch d := data.(type) {
	case []float32:
		return len(d)
	case []float64:
		return len(d)
	case []uint16:
		return len(d)
	case []int8:
		return len(d)
	case []int16:
		return len(d)
	case []int32:
		return len(d)
	case []int64:
		return len(d)
	case []uint8:
		return len(d)
	case []uint32:
		return len(d)
	case []uint64:
		return len(d)
	case []bool:
		return len(d)
	}
	return -1
}
