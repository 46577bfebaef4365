package runtime

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/mhcc-dev/mhcc/export/onnxpb"
)

// DecodeDir is Decode for a model whose initializers may keep their data in
// external files (ONNX external data: location, offset, length), which are
// read relative to dir, the model file's folder. [Load] uses it. Each
// external tensor is read and decoded on its own, so the raw bytes of only
// one are in memory at a time.
func DecodeDir(data []byte, dir string) (*Model, error) {
	var mp onnxpb.ModelProto
	if err := proto.Unmarshal(data, &mp); err != nil {
		return nil, fmt.Errorf("runtime: decode model: %w", err)
	}
	ext := &externalFiles{dir: dir, files: map[string]*os.File{}}
	defer ext.close()
	return decodeModel(&mp, ext, true) // mp is ours: its initializers can go as they are decoded
}

// externalFiles opens the data files of one model, each once.
type externalFiles struct {
	dir   string
	files map[string]*os.File
}

func (x *externalFiles) close() {
	for _, f := range x.files {
		f.Close()
	}
}

// tensor decodes initializer p, reading its data from an external file if
// it has one. Without x (Decode), external data is an error from FromProto.
func (x *externalFiles) tensor(p *onnxpb.TensorProto) (*Tensor, error) {
	if x == nil || p.GetDataLocation() != onnxpb.TensorProto_EXTERNAL {
		return FromProto(p)
	}
	raw, err := readExternalTensor(p, x.dir, x.files)
	if err != nil {
		return nil, fmt.Errorf("runtime: tensor %q: external data: %w", p.GetName(), err)
	}
	return FromProto(&onnxpb.TensorProto{Name: p.Name, Dims: p.Dims, DataType: p.DataType, RawData: raw})
}

func readExternalTensor(p *onnxpb.TensorProto, dir string, files map[string]*os.File) ([]byte, error) {
	var location string
	offset, length := int64(0), int64(-1)
	for _, kv := range p.GetExternalData() {
		switch kv.GetKey() {
		case "location":
			location = kv.GetValue()
		case "offset", "length":
			n, err := strconv.ParseInt(kv.GetValue(), 10, 64)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("%s %q is not a non-negative integer", kv.GetKey(), kv.GetValue())
			}
			if kv.GetKey() == "offset" {
				offset = n
			} else {
				length = n
			}
		case "checksum":
			// optional SHA-1 of the data; not checked
		default:
			return nil, fmt.Errorf("unknown key %q", kv.GetKey())
		}
	}
	if location == "" {
		return nil, fmt.Errorf("no location")
	}
	clean := filepath.Clean(filepath.FromSlash(location))
	if filepath.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, ".."+string(filepath.Separator)) {
		return nil, fmt.Errorf("location %q is not a relative path inside the model's folder", location)
	}
	path := filepath.Join(dir, clean)
	f, ok := files[path]
	if !ok {
		var err error
		if f, err = os.Open(path); err != nil {
			return nil, err // *fs.PathError names the file
		}
		files[path] = f
	}
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := fi.Size()
	if length < 0 {
		length = size - offset
	}
	if offset > size || length > size-offset {
		return nil, fmt.Errorf("%s has %d bytes, the tensor needs bytes %d to %d (offset %d, length %d): the file is short", path, size, offset, offset+length, offset, length)
	}
	// The length must fit the tensor; FromProto checks it against the
	// dims, but it must not allocate a huge buffer for a lying length.
	want, err := numElements(p.GetDims())
	if err != nil {
		return nil, err
	}
	dt := DType(p.GetDataType())
	if !dt.Supported() {
		return nil, fmt.Errorf("unsupported element type %v", dt)
	}
	if int64(want)*int64(dt.size()) != length {
		return nil, fmt.Errorf("length %d, but shape %v of %v needs %d bytes", length, p.GetDims(), dt, int64(want)*int64(dt.size()))
	}
	raw := make([]byte, length)
	if _, err := f.ReadAt(raw, offset); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("reading %s at %d: %w", path, offset, err)
	}
	return raw, nil
}
