package onnxtext

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/mhcc-dev/mhcc/onnx/pb"
)

// ErrExternalData is returned (wrapped) by TensorHash for a tensor whose data
// is stored outside the model file; its values are not read.
var ErrExternalData = errors.New("tensor data is stored externally")

// Element data types (TensorProto.DataType) used below.
const (
	dtFloat      = 1
	dtUint8      = 2
	dtInt8       = 3
	dtUint16     = 4
	dtInt16      = 5
	dtInt32      = 6
	dtInt64      = 7
	dtString     = 8
	dtBool       = 9
	dtFloat16    = 10
	dtDouble     = 11
	dtUint32     = 12
	dtUint64     = 13
	dtComplex64  = 14
	dtComplex128 = 15
	dtBfloat16   = 16
)

// elemBits is the size of one element in raw_data, in bits; 0 for strings
// and unknown types.
func elemBits(dt int32) int {
	switch dt {
	case dtUint8, dtInt8, dtBool, 17, 18, 19, 20:
		return 8
	case dtUint16, dtInt16, dtFloat16, dtBfloat16:
		return 16
	case dtFloat, dtInt32, dtUint32:
		return 32
	case dtInt64, dtDouble, dtUint64, dtComplex64:
		return 64
	case dtComplex128:
		return 128
	case 21, 22, 23: // uint4, int4, float4e2m1: two per byte
		return 4
	}
	return 0
}

// TensorHash returns "sha256:" and the 64 hex digits of the SHA-256 of a
// tensor's dtype, shape and data, independent of how the producer encoded
// the data: raw_data or the typed fields (float_data, int32_data, …) give
// the same hash for the same values. The name is not hashed.
//
// The hashed bytes are: data_type as a little-endian uint32; the number of
// dims as a little-endian uint64, then each dim as a little-endian int64;
// then the data in canonical form, which is raw_data's layout (each element
// little-endian at its natural size, 4-bit types packed two to a byte, bool
// one byte, float16/bfloat16 their 16 bits, complex as real then imaginary)
// or, for strings, each element's length as a little-endian uint64 followed
// by its bytes. Values are hashed bit for bit: 0.0 and -0.0, or two NaNs
// with different payloads, hash differently.
//
// The error wraps ErrExternalData for external data, and otherwise says why
// the data does not match the dtype and shape (wrong raw_data length, wrong
// number of typed values, unknown dtype, negative dim).
func TensorHash(t *onnxpb.TensorProto) (string, error) {
	if isExternal(t) {
		return "", fmt.Errorf("%w (%s)", ErrExternalData, externalSummary(t))
	}
	h := sha256.New()
	hashHeader(h, t)
	var buf [8]byte
	if t.GetDataType() == dtString {
		strs, err := stringData(t)
		if err != nil {
			return "", err
		}
		for _, s := range strs {
			binary.LittleEndian.PutUint64(buf[:], uint64(len(s)))
			h.Write(buf[:])
			h.Write(s)
		}
	} else {
		data, err := canonicalData(t)
		if err != nil {
			return "", err
		}
		h.Write(data)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// hashHeader writes what TensorHash hashes before the data: the data type
// and the dims.
func hashHeader(h hash.Hash, t *onnxpb.TensorProto) {
	var buf [8]byte
	binary.LittleEndian.PutUint32(buf[:4], uint32(t.GetDataType()))
	h.Write(buf[:4])
	binary.LittleEndian.PutUint64(buf[:], uint64(len(t.Dims)))
	h.Write(buf[:])
	for _, d := range t.Dims {
		binary.LittleEndian.PutUint64(buf[:], uint64(d))
		h.Write(buf[:])
	}
}

// ExternalTensorHash is TensorHash of t with its data read from r, the
// bytes raw_data would hold (an external data file's section): the hash the
// same tensor has when stored inline. r must give exactly the bytes t's data
// type and dims need; it is read once, in chunks, whatever its size.
func ExternalTensorHash(t *onnxpb.TensorProto, r io.Reader) (string, error) {
	dt := t.GetDataType()
	bits := elemBits(dt)
	if bits == 0 {
		return "", fmt.Errorf("data type %d cannot be stored as raw bytes", dt)
	}
	n, err := numElements(t.Dims)
	if err != nil {
		return "", err
	}
	want := (n*int64(bits) + 7) / 8
	h := sha256.New()
	hashHeader(h, t)
	got, err := io.Copy(h, io.LimitReader(r, want+1))
	if err != nil {
		return "", err
	}
	if got != want {
		return "", fmt.Errorf("%d bytes of data, want %d for %s", got, want, dimsType(dt, t.Dims))
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

func isExternal(t *onnxpb.TensorProto) bool {
	return t.GetDataLocation() == onnxpb.TensorProto_EXTERNAL
}

// externalSummary prints a tensor's external_data entries in the syntax of
// onnx's parser for external data: ["location": "w.bin", "offset": "0"].
func externalSummary(t *onnxpb.TensorProto) string {
	parts := make([]string, len(t.ExternalData))
	for i, e := range t.ExternalData {
		parts[i] = quote(e.GetKey()) + ": " + quote(e.GetValue())
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// numElements is the product of dims (1 for a scalar).
func numElements(dims []int64) (int64, error) {
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

func stringData(t *onnxpb.TensorProto) ([][]byte, error) {
	n, err := numElements(t.Dims)
	if err != nil {
		return nil, err
	}
	if len(t.RawData) > 0 {
		return nil, errors.New("string tensor with raw_data")
	}
	if int64(len(t.StringData)) != n {
		return nil, fmt.Errorf("%d values in string_data, want %d for %s", len(t.StringData), n, dimsType(t.GetDataType(), t.Dims))
	}
	return t.StringData, nil
}

// canonicalData returns a non-string tensor's data in raw_data's layout,
// from raw_data or from the typed field the dtype uses.
func canonicalData(t *onnxpb.TensorProto) ([]byte, error) {
	dt := t.GetDataType()
	bits := elemBits(dt)
	if bits == 0 {
		return nil, fmt.Errorf("unknown data type %d", dt)
	}
	n, err := numElements(t.Dims)
	if err != nil {
		return nil, err
	}
	want := (n*int64(bits) + 7) / 8
	shape := dimsType(dt, t.Dims)
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
	case dtFloat, dtComplex64:
		m := n
		if dt == dtComplex64 {
			m = 2 * n
		}
		if err := count("float_data", len(t.FloatData), m); err != nil {
			return nil, err
		}
		for _, v := range t.FloatData {
			out = le.AppendUint32(out, math.Float32bits(v))
		}
	case dtDouble, dtComplex128:
		m := n
		if dt == dtComplex128 {
			m = 2 * n
		}
		if err := count("double_data", len(t.DoubleData), m); err != nil {
			return nil, err
		}
		for _, v := range t.DoubleData {
			out = le.AppendUint64(out, math.Float64bits(v))
		}
	case dtInt64:
		if err := count("int64_data", len(t.Int64Data), n); err != nil {
			return nil, err
		}
		for _, v := range t.Int64Data {
			out = le.AppendUint64(out, uint64(v))
		}
	case dtUint32, dtUint64:
		if err := count("uint64_data", len(t.Uint64Data), n); err != nil {
			return nil, err
		}
		for _, v := range t.Uint64Data {
			if dt == dtUint32 {
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
	if dt == dtString {
		strs, err := stringData(t)
		if err != nil {
			return nil, err
		}
		out := make([]string, len(strs))
		for i, s := range strs {
			out[i] = quote(string(s))
		}
		return out, nil
	}
	data, err := canonicalData(t)
	if err != nil {
		return nil, err
	}
	le := binary.LittleEndian
	var out []string
	switch dt {
	case dtFloat, dtComplex64:
		for i := 0; i+4 <= len(data); i += 4 {
			out = append(out, floatLit(float64(math.Float32frombits(le.Uint32(data[i:]))), 32))
		}
	case dtDouble, dtComplex128:
		for i := 0; i+8 <= len(data); i += 8 {
			out = append(out, floatLit(math.Float64frombits(le.Uint64(data[i:])), 64))
		}
	case dtInt64:
		for i := 0; i+8 <= len(data); i += 8 {
			out = append(out, itoa(int64(le.Uint64(data[i:]))))
		}
	case dtUint64:
		for i := 0; i+8 <= len(data); i += 8 {
			out = append(out, strconv.FormatUint(le.Uint64(data[i:]), 10))
		}
	case dtInt32:
		for i := 0; i+4 <= len(data); i += 4 {
			out = append(out, itoa(int64(int32(le.Uint32(data[i:])))))
		}
	case dtUint32:
		for i := 0; i+4 <= len(data); i += 4 {
			out = append(out, itoa(int64(le.Uint32(data[i:]))))
		}
	case dtInt16:
		for i := 0; i+2 <= len(data); i += 2 {
			out = append(out, itoa(int64(int16(le.Uint16(data[i:])))))
		}
	case dtUint16, dtFloat16, dtBfloat16:
		for i := 0; i+2 <= len(data); i += 2 {
			out = append(out, itoa(int64(le.Uint16(data[i:]))))
		}
	case dtInt8:
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
