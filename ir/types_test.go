package ir

import "testing"

// TestDTypeTable: each IR dtype's text name, ONNX element type, size and
// float-ness, spelled out here (the values ONNX's TensorProto.DataType and
// the text IR fix), against what types.go derives from onnx/tensor.
func TestDTypeTable(t *testing.T) {
	for _, c := range []struct {
		dt    DType
		name  string
		onnx  int32 // TensorProto.DataType
		size  int
		float bool
	}{
		{Float32, "f32", 1, 4, true},
		{Float16, "f16", 10, 2, true},
		{BFloat16, "bf16", 16, 2, true},
		{Float64, "f64", 11, 8, true},
		{Int64, "i64", 7, 8, false},
		{Int32, "i32", 6, 4, false},
		{Bool, "bool", 9, 1, false},
	} {
		if c.dt.String() != c.name || c.dt.ONNX() != c.onnx || c.dt.Size() != c.size || c.dt.IsFloat() != c.float {
			t.Errorf("%d: got %s, ONNX %d, size %d, float %v; want %s, %d, %d, %v",
				c.dt, c.dt, c.dt.ONNX(), c.dt.Size(), c.dt.IsFloat(), c.name, c.onnx, c.size, c.float)
		}
		if back, ok := ParseDType(c.name); !ok || back != c.dt {
			t.Errorf("ParseDType(%q) = %v, %v", c.name, back, ok)
		}
	}
	if Invalid.ONNX() != 0 || DType(200).ONNX() != 0 || Invalid.IsFloat() {
		t.Errorf("Invalid/unknown: ONNX %d, %d, float %v", Invalid.ONNX(), DType(200).ONNX(), Invalid.IsFloat())
	}
	if _, ok := ParseDType("invalid"); ok {
		t.Error("ParseDType accepted invalid")
	}
}
