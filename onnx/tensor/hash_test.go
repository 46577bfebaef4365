package tensor

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/mhcc-dev/mhcc/onnx/pb"
)

func TestHash(t *testing.T) {
	le := binary.LittleEndian
	tests := []struct {
		name string
		t    *onnxpb.TensorProto
		want string
	}{
		{"float raw", raw("w", Float, []int64{2}, le32f(1, 2)), expectHash(Float, []int64{2}, le32f(1, 2))},
		{"float typed", &onnxpb.TensorProto{Name: proto.String("other name"), DataType: proto.Int32(Float), Dims: []int64{2}, FloatData: []float32{1, 2}}, expectHash(Float, []int64{2}, le32f(1, 2))},
		{"scalar", &onnxpb.TensorProto{Name: proto.String(""), DataType: proto.Int32(Float), Dims: nil, FloatData: []float32{3}}, expectHash(Float, nil, le32f(3))},
		{"int64 typed", &onnxpb.TensorProto{Name: proto.String(""), DataType: proto.Int32(Int64), Dims: []int64{1, 2}, Int64Data: []int64{-1, 5}}, expectHash(Int64, []int64{1, 2}, le64(-1, 5))},
		{"int8 typed", &onnxpb.TensorProto{DataType: proto.Int32(Int8), Dims: []int64{2}, Int32Data: []int32{-1, 2}}, expectHash(Int8, []int64{2}, []byte{0xff, 2})},
		{"float16 typed", &onnxpb.TensorProto{DataType: proto.Int32(Float16), Dims: []int64{1}, Int32Data: []int32{0x3c00}}, expectHash(Float16, []int64{1}, []byte{0x00, 0x3c})},
		{"uint32 typed", &onnxpb.TensorProto{DataType: proto.Int32(Uint32), Dims: []int64{1}, Uint64Data: []uint64{7}}, expectHash(Uint32, []int64{1}, le.AppendUint32(nil, 7))},
		{"double typed", &onnxpb.TensorProto{DataType: proto.Int32(Double), Dims: []int64{1}, DoubleData: []float64{0.5}}, expectHash(Double, []int64{1}, le.AppendUint64(nil, math.Float64bits(0.5)))},
		{"int4 typed", &onnxpb.TensorProto{DataType: proto.Int32(22), Dims: []int64{3}, Int32Data: []int32{0x21, 0x03}}, expectHash(22, []int64{3}, []byte{0x21, 0x03})},
		{"string", &onnxpb.TensorProto{DataType: proto.Int32(String), Dims: []int64{2}, StringData: [][]byte{[]byte("ab"), {}}},
			expectHash(String, []int64{2}, append(append(le64(2), "ab"...), le64(0)...))},
		{"empty", raw("", Float, []int64{0, 3}, le32f()), expectHash(Float, []int64{0, 3}, nil)},
	}
	for _, tc := range tests {
		got, err := Hash(tc.t)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.name, got, tc.want)
		}
	}
	// Same data, other shape or dtype: another hash.
	a, _ := Hash(raw("", Float, []int64{2}, le32f(1, 2)))
	b, _ := Hash(raw("", Float, []int64{1, 2}, le32f(1, 2)))
	c, _ := Hash(raw("", Int32, []int64{2}, le32f(1, 2)))
	if a == b || a == c {
		t.Errorf("shape or dtype not hashed: %s %s %s", a, b, c)
	}

	bad := []struct {
		name, want string
		t          *onnxpb.TensorProto
	}{
		{"raw length", "raw_data has 4 bytes, want 8 for float[2]", raw("", Float, []int64{2}, le32f(1))},
		{"typed count", "3 values in float_data, want 2 for float[2]", &onnxpb.TensorProto{Name: proto.String(""), DataType: proto.Int32(Float), Dims: []int64{2}, FloatData: []float32{1, 2, 3}}},
		{"no data", "no data for int64[2]", &onnxpb.TensorProto{DataType: proto.Int32(Int64), Dims: []int64{2}}},
		{"negative dim", "negative dim -1", raw("", Float, []int64{-1}, le32f())},
		{"unknown dtype", "unknown data type 99", raw("", 99, []int64{1}, []byte{1})},
		{"undefined dtype", "unknown data type 0", raw("", 0, []int64{1}, []byte{1})},
	}
	for _, tc := range bad {
		if _, err := Hash(tc.t); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
	ext := &onnxpb.TensorProto{DataType: proto.Int32(Float), Dims: []int64{2}, DataLocation: onnxpb.TensorProto_EXTERNAL.Enum(),
		ExternalData: []*onnxpb.StringStringEntryProto{{Key: proto.String("location"), Value: proto.String("w.bin")}}}
	if _, err := Hash(ext); !errors.Is(err, ErrExternalData) || !strings.Contains(err.Error(), `"location": "w.bin"`) {
		t.Errorf("external: err = %v, want ErrExternalData naming the location", err)
	}
}

// TestHashReader: the hash of a tensor whose bytes come from a
// reader (an external data file) is the Hash of the same tensor
// inline, computed independently by expectHash; a reader with too few or
// too many bytes, or a string tensor, is an error.
func TestHashReader(t *testing.T) {
	le := binary.LittleEndian
	cases := []struct {
		name string
		t    *onnxpb.TensorProto
		data []byte
	}{
		{"float", &onnxpb.TensorProto{DataType: proto.Int32(Float), Dims: []int64{2}}, le32f(1, 2)},
		{"int64", &onnxpb.TensorProto{DataType: proto.Int32(Int64), Dims: []int64{1, 2}}, le64(-1, 5)},
		{"float16", &onnxpb.TensorProto{DataType: proto.Int32(Float16), Dims: []int64{1}}, []byte{0x00, 0x3c}},
		{"int4", &onnxpb.TensorProto{DataType: proto.Int32(22), Dims: []int64{3}}, []byte{0x21, 0x03}},
		{"empty", &onnxpb.TensorProto{DataType: proto.Int32(Double), Dims: []int64{0}}, nil},
	}
	for _, c := range cases {
		got, err := HashReader(c.t, bytes.NewReader(c.data))
		if want := expectHash(c.t.GetDataType(), c.t.GetDims(), c.data); err != nil || got != want {
			t.Errorf("%s: %s, %v; want %s", c.name, got, err, want)
		}
	}
	f2 := &onnxpb.TensorProto{DataType: proto.Int32(Float), Dims: []int64{2}}
	for _, data := range [][]byte{le32f(1), le32f(1, 2, 3), le.AppendUint16(nil, 1)} {
		if _, err := HashReader(f2, bytes.NewReader(data)); err == nil || !strings.Contains(err.Error(), "want 8 for float[2]") {
			t.Errorf("%d bytes for float[2]: error %v", len(data), err)
		}
	}
	if _, err := HashReader(&onnxpb.TensorProto{DataType: proto.Int32(String), Dims: []int64{1}}, bytes.NewReader(nil)); err == nil {
		t.Error("a string tensor from raw bytes: no error")
	}
}

// expectHash computes Hash's documented digest independently: dtype
// (uint32 LE), rank (uint64 LE), dims (int64 LE), then the canonical data.
func expectHash(dt int32, dims []int64, data []byte) string {
	var b []byte
	b = binary.LittleEndian.AppendUint32(b, uint32(dt))
	b = binary.LittleEndian.AppendUint64(b, uint64(len(dims)))
	for _, d := range dims {
		b = binary.LittleEndian.AppendUint64(b, uint64(d))
	}
	b = append(b, data...)
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func le32f(vals ...float32) []byte {
	var b []byte
	for _, v := range vals {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	return b
}

func le64(vals ...int64) []byte {
	var b []byte
	for _, v := range vals {
		b = binary.LittleEndian.AppendUint64(b, uint64(v))
	}
	return b
}

// raw is a tensor with the given raw_data (empty, not absent, for nil).
func raw(name string, dt int32, dims []int64, data []byte) *onnxpb.TensorProto {
	return &onnxpb.TensorProto{Name: proto.String(name), DataType: proto.Int32(dt), Dims: dims, RawData: append([]byte{}, data...)}
}
