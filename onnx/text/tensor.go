package onnxtext

import (
	"encoding/binary"
	"math"
	"strconv"
	"strings"

	"github.com/mhcc-dev/mhcc/onnx/pb"
	"github.com/mhcc-dev/mhcc/onnx/tensor"
)

// floatLit prints a float the shortest way that reads back to the same
// value at the given precision (32 or 64 bits), always as a float literal of
// the syntax: with a decimal point or an exponent ("1.0", not "1", which the
// parser would read as an integer), or nan, inf, -inf.
func floatLit(v float64, bits int) string {
	switch {
	case math.IsNaN(v):
		return "nan"
	case math.IsInf(v, 1):
		return "inf"
	case math.IsInf(v, -1):
		return "-inf"
	}
	s := strconv.FormatFloat(v, 'g', -1, bits)
	if !strings.ContainsAny(s, ".e") {
		s += ".0"
	}
	return s
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

// tensorValues prints each element of a tensor in the literal syntax that
// onnx's parser reads for its dtype: float literals for float, double and
// complex (real, imaginary, ... as the parser fills float_data/double_data),
// integers for the integer types and bool, the 16-bit patterns as integers
// for float16/bfloat16 and the bytes for 8- and 4-bit types (the parser puts
// them in int32_data), quoted strings for string.
func tensorValues(t *onnxpb.TensorProto) ([]string, error) {
	dt := t.GetDataType()
	if dt == tensor.String {
		strs, err := tensor.Strings(t)
		if err != nil {
			return nil, err
		}
		out := make([]string, len(strs))
		for i, s := range strs {
			out[i] = quote(string(s))
		}
		return out, nil
	}
	data, err := tensor.Raw(t)
	if err != nil {
		return nil, err
	}
	le := binary.LittleEndian
	var out []string
	switch dt {
	case tensor.Float, tensor.Complex64:
		for i := 0; i+4 <= len(data); i += 4 {
			out = append(out, floatLit(float64(math.Float32frombits(le.Uint32(data[i:]))), 32))
		}
	case tensor.Double, tensor.Complex128:
		for i := 0; i+8 <= len(data); i += 8 {
			out = append(out, floatLit(math.Float64frombits(le.Uint64(data[i:])), 64))
		}
	case tensor.Int64:
		for i := 0; i+8 <= len(data); i += 8 {
			out = append(out, itoa(int64(le.Uint64(data[i:]))))
		}
	case tensor.Uint64:
		for i := 0; i+8 <= len(data); i += 8 {
			out = append(out, strconv.FormatUint(le.Uint64(data[i:]), 10))
		}
	case tensor.Int32:
		for i := 0; i+4 <= len(data); i += 4 {
			out = append(out, itoa(int64(int32(le.Uint32(data[i:])))))
		}
	case tensor.Uint32:
		for i := 0; i+4 <= len(data); i += 4 {
			out = append(out, itoa(int64(le.Uint32(data[i:]))))
		}
	case tensor.Int16:
		for i := 0; i+2 <= len(data); i += 2 {
			out = append(out, itoa(int64(int16(le.Uint16(data[i:])))))
		}
	case tensor.Uint16, tensor.Float16, tensor.BFloat16:
		for i := 0; i+2 <= len(data); i += 2 {
			out = append(out, itoa(int64(le.Uint16(data[i:]))))
		}
	case tensor.Int8:
		for _, b := range data {
			out = append(out, itoa(int64(int8(b))))
		}
	default: // uint8, bool, float8 and 4-bit types: the bytes
		for _, b := range data {
			out = append(out, itoa(int64(b)))
		}
	}
	return out, nil
}
