package safetensors

import "testing"

// Every DType has an ONNX element type, and so a size.
func TestDTypesHaveONNXTypes(t *testing.T) {
	for _, d := range DTypes {
		if d.ONNX() == 0 || d.Size() == 0 {
			t.Errorf("%s: ONNX type %d, size %d", d, d.ONNX(), d.Size())
		}
	}
	if DType("F4").Size() != 0 {
		t.Error("F4 has a size")
	}
}
