package safetensors

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/mhcc-dev/mhcc/onnx/tensor/half"
)

// StreamFloat32 reads the floating-point tensor called name in chunks of at
// most chunk elements and calls fn with each, converted to float32 as
// ReadFloat32 does (F16 and BF16 widened exactly, F64 rounded). The slice is
// reused between calls: fn must not keep it. Memory use is one chunk,
// whatever the tensor's size.
func (f *File) StreamFloat32(name string, chunk int, fn func([]float32) error) error {
	t, err := f.info(name)
	if err != nil {
		return err
	}
	size := int64(t.DType.Size())
	var dec func(dst []float32, src []byte)
	switch t.DType {
	case F32:
		dec = func(dst []float32, src []byte) {
			for i := range dst {
				dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
			}
		}
	case F16:
		dec = func(dst []float32, src []byte) {
			for i := range dst {
				dst[i] = half.Float16ToFloat32(binary.LittleEndian.Uint16(src[2*i:]))
			}
		}
	case BF16:
		dec = func(dst []float32, src []byte) {
			for i := range dst {
				dst[i] = half.BFloat16ToFloat32(binary.LittleEndian.Uint16(src[2*i:]))
			}
		}
	case F64:
		dec = func(dst []float32, src []byte) {
			for i := range dst {
				dst[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(src[8*i:])))
			}
		}
	default:
		return f.errorf(name, "dtype %s cannot be read as float32", t.DType)
	}
	if chunk < 1 {
		chunk = 1
	}
	n := t.NumElements()
	per := min(int64(chunk), n)
	buf := make([]byte, per*size)
	out := make([]float32, per)
	for done := int64(0); done < n; {
		k := min(per, n-done)
		off := f.dataStart + t.Begin + done*size
		if err := f.readFull(buf[:k*size], off); err != nil {
			return &Error{Path: f.path, Tensor: name, Msg: fmt.Sprintf("reading %d bytes at file offset %d", k*size, off), Err: err}
		}
		dec(out[:k], buf[:k*size])
		if err := fn(out[:k]); err != nil {
			return err
		}
		done += k
	}
	return nil
}
