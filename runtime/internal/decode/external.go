package decode

import (
	"fmt"
	"io"

	"github.com/mhcc-dev/mhcc/runtime/internal/core"

	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
	"github.com/mhcc-dev/mhcc/onnx/tensor/extdata"
)

// ExternalFiles reads the external data of one model, whose file is in dir.
type ExternalFiles struct {
	Dir   string
	Files extdata.Files
}

// tensor decodes initializer p, reading its data from an external file if
// it has one. Without x (Decode), external data is an error from FromProto.
func (x *ExternalFiles) tensor(p *onnxpb.TensorProto) (*core.Tensor, error) {
	if x == nil || p.GetDataLocation() != onnxpb.TensorProto_EXTERNAL {
		return core.FromProto(p)
	}
	raw, err := x.read(p)
	if err != nil {
		return nil, fmt.Errorf("runtime: tensor %q: external data: %w", p.GetName(), err)
	}
	return core.FromProto(&onnxpb.TensorProto{Name: p.Name, Dims: p.Dims, DataType: p.DataType, RawData: raw})
}

// read returns p's bytes, checking that they fit its dims and data type
// before it allocates them (a lying length must not allocate a huge buffer).
func (x *ExternalFiles) read(p *onnxpb.TensorProto) ([]byte, error) {
	ref, err := extdata.Parse(p, x.Dir, true)
	if err != nil {
		return nil, err
	}
	sec, err := x.Files.Section(ref)
	if err != nil {
		return nil, err
	}
	want, err := core.NumElements(p.GetDims())
	if err != nil {
		return nil, err
	}
	dt := core.DType(p.GetDataType())
	if !dt.Supported() {
		return nil, fmt.Errorf("unsupported element type %v", dt)
	}
	if length := sec.Size(); int64(want)*int64(dt.Size()) != length {
		return nil, fmt.Errorf("length %d, but shape %v of %v needs %d bytes", length, p.GetDims(), dt, int64(want)*int64(dt.Size()))
	}
	raw := make([]byte, sec.Size())
	if _, err := io.ReadFull(sec, raw); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("reading %s at %d: %w", ref.Path, ref.Offset, err)
	}
	return raw, nil
}
