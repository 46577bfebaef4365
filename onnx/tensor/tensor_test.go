package tensor

import (
	"encoding/binary"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/mhcc-dev/mhcc/onnx/pb"
)

// The table agrees with the schema's DataType enum (the ONNX spelling is
// the enum name in lower case) and with itself: each row sits at its code,
// and a row's Go type is as wide as its raw_data element.
func TestTable(t *testing.T) {
	for code, d := range dtypes {
		if d.Code != int32(code) {
			t.Errorf("row %d has code %d", code, d.Code)
		}
		if enum, ok := onnxpb.TensorProto_DataType_name[int32(code)]; ok && strings.ToLower(enum) != d.ONNX {
			t.Errorf("code %d: ONNX name %q, schema says %q", code, d.ONNX, enum)
		}
		if d.Go != nil && d.Code != String && int(d.Go.Size())*8 != d.Bits {
			t.Errorf("%s: Go type %v is %d bytes, raw_data element %d bits", d.Name, d.Go, d.Go.Size(), d.Bits)
		}
		if got, ok := ByName(d.Name); !ok || got.Code != d.Code {
			t.Errorf("ByName(%q) = %v, %v", d.Name, got.Code, ok)
		}
	}
	if Name(99) != "dtype(99)" || Size(99) != 0 || Size(String) != 0 || Size(Int4) != 0 || Size(Double) != 8 {
		t.Error("Name/Size of unknown, string, int4 or double")
	}
}

// Values and Hash do not depend on whether the data is in raw_data or in
// the typed field, for every type with a Go element type.
func TestEncodingsAgree(t *testing.T) {
	le := binary.LittleEndian
	dims := []int64{3}
	cases := []struct {
		dt    int32
		raw   []byte
		typed *onnxpb.TensorProto
	}{
		{Float, le.AppendUint32(le.AppendUint32(le.AppendUint32(nil, math.Float32bits(1.5)), math.Float32bits(-2)), math.Float32bits(float32(math.Inf(1)))),
			&onnxpb.TensorProto{FloatData: []float32{1.5, -2, float32(math.Inf(1))}}},
		{Double, le.AppendUint64(le.AppendUint64(le.AppendUint64(nil, math.Float64bits(0.25)), math.Float64bits(-1)), math.Float64bits(1e300)),
			&onnxpb.TensorProto{DoubleData: []float64{0.25, -1, 1e300}}},
		{Int16, []byte{0xff, 0xff, 2, 0, 0, 0x80}, &onnxpb.TensorProto{Int32Data: []int32{-1, 2, -32768}}},
		{Uint16, []byte{0xff, 0xff, 2, 0, 0, 0x80}, &onnxpb.TensorProto{Int32Data: []int32{65535, 2, 32768}}},
		{Float16, []byte{0, 0x3c, 0, 0xc0, 0, 0x7c}, &onnxpb.TensorProto{Int32Data: []int32{0x3c00, 0xc000, 0x7c00}}},
		{Int8, []byte{0xff, 1, 0x80}, &onnxpb.TensorProto{Int32Data: []int32{-1, 1, -128}}},
		{Bool, []byte{1, 0, 1}, &onnxpb.TensorProto{Int32Data: []int32{1, 0, 1}}},
		{Int32, le.AppendUint32(le.AppendUint32(le.AppendUint32(nil, 7), 0xffffffff), 1<<31), &onnxpb.TensorProto{Int32Data: []int32{7, -1, math.MinInt32}}},
		{Uint32, le.AppendUint32(le.AppendUint32(le.AppendUint32(nil, 7), 0xffffffff), 1<<31), &onnxpb.TensorProto{Uint64Data: []uint64{7, 0xffffffff, 1 << 31}}},
		{Int64, le.AppendUint64(le.AppendUint64(le.AppendUint64(nil, 7), math.MaxUint64), 1<<63), &onnxpb.TensorProto{Int64Data: []int64{7, -1, math.MinInt64}}},
		{Uint64, le.AppendUint64(le.AppendUint64(le.AppendUint64(nil, 7), math.MaxUint64), 1<<63), &onnxpb.TensorProto{Uint64Data: []uint64{7, math.MaxUint64, 1 << 63}}},
	}
	for _, c := range cases {
		raw := &onnxpb.TensorProto{Name: proto.String("a"), DataType: proto.Int32(c.dt), Dims: dims, RawData: c.raw}
		c.typed.Name, c.typed.DataType, c.typed.Dims = proto.String("b"), proto.Int32(c.dt), dims
		vr, err := Values(raw)
		if err != nil {
			t.Fatalf("%s raw: %v", Name(c.dt), err)
		}
		vt, err := Values(c.typed)
		if err != nil {
			t.Fatalf("%s typed: %v", Name(c.dt), err)
		}
		if !reflect.DeepEqual(vr, vt) || reflect.TypeOf(vr).Elem() != dtypes[c.dt].Go {
			t.Errorf("%s: raw %v (%T), typed %v (%T)", Name(c.dt), vr, vr, vt, vt)
		}
		hr, err1 := Hash(raw)
		ht, err2 := Hash(c.typed)
		if err1 != nil || err2 != nil || hr != ht {
			t.Errorf("%s: hashes %s, %s (%v, %v)", Name(c.dt), hr, ht, err1, err2)
		}
	}
}

func TestNumbers(t *testing.T) {
	f16 := &onnxpb.TensorProto{DataType: proto.Int32(Float16), Dims: []int64{2}, Int32Data: []int32{0x3c00, 0xc000}}
	bf16 := &onnxpb.TensorProto{DataType: proto.Int32(BFloat16), Dims: []int64{2}, RawData: []byte{0x80, 0x3f, 0x00, 0xc0}}
	for _, tc := range []*onnxpb.TensorProto{f16, bf16} {
		if f, err := Float64s(tc); err != nil || !reflect.DeepEqual(f, []float64{1, -2}) {
			t.Errorf("%s: %v, %v; want [1 -2]", Name(tc.GetDataType()), f, err)
		}
		if _, err := Int64s(tc); err == nil {
			t.Errorf("Int64s of %s: no error", Name(tc.GetDataType()))
		}
	}
	b := &onnxpb.TensorProto{DataType: proto.Int32(Bool), Dims: []int64{3}, Int32Data: []int32{1, 0, 1}}
	if i, err := Int64s(b); err != nil || !reflect.DeepEqual(i, []int64{1, 0, 1}) {
		t.Errorf("bool: %v, %v", i, err)
	}
	if f, err := Float64s(b); err != nil || !reflect.DeepEqual(f, []float64{1, 0, 1}) {
		t.Errorf("bool as float: %v, %v", f, err)
	}
	s := &onnxpb.TensorProto{DataType: proto.Int32(String), Dims: []int64{1}, StringData: [][]byte{[]byte("x")}}
	if _, err := Float64s(s); err == nil {
		t.Error("Float64s of a string tensor: no error")
	}
	short := &onnxpb.TensorProto{DataType: proto.Int32(Float), Dims: []int64{2, 3}, RawData: make([]byte, 20)}
	if _, err := Values(short); err == nil || err.Error() != "raw_data has 20 bytes, want 24 for float[2,3]" {
		t.Errorf("short raw_data: %v", err)
	}
	ext := &onnxpb.TensorProto{DataType: proto.Int32(Float), Dims: []int64{1}, DataLocation: onnxpb.TensorProto_EXTERNAL.Enum(),
		ExternalData: []*onnxpb.StringStringEntryProto{{Key: proto.String("location"), Value: proto.String(`w"x.bin`)}}}
	if _, err := Hash(ext); !errors.Is(err, ErrExternalData) || !strings.Contains(err.Error(), `["location": "w\"x.bin"]`) {
		t.Errorf("external: %v", err)
	}
}

// FromInt64s gives each integer type a slice of the table's Go type,
// wrapping as a Go conversion does, and refuses the other types.
func TestFromInt64s(t *testing.T) {
	for _, code := range []int32{Int8, Int16, Int32, Int64, Uint8, Uint16, Uint32, Uint64} {
		v, err := FromInt64s(code, []int64{0, 7, -1})
		d, _ := Lookup(code)
		if err != nil || reflect.TypeOf(v).Elem() != d.Go {
			t.Errorf("%s: %T, %v", d.Name, v, err)
			continue
		}
		if got := reflect.ValueOf(v).Index(1); got.Convert(reflect.TypeFor[int64]()).Int() != 7 {
			t.Errorf("%s: element 1 is %v, want 7", d.Name, got)
		}
	}
	if v, _ := FromInt64s(Int8, []int64{300}); v.([]int8)[0] != 44 {
		t.Errorf("int8(300) = %v, want 44", v)
	}
	if v, _ := FromInt64s(Uint8, []int64{-1}); v.([]uint8)[0] != 255 {
		t.Errorf("uint8(-1) = %v, want 255", v)
	}
	for _, code := range []int32{Bool, Float, Float16, Double, String, 99} {
		if _, err := FromInt64s(code, []int64{1}); err == nil {
			t.Errorf("%s: no error", Name(code))
		}
	}
}
