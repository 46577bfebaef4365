package graphdiff

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/mhcc-dev/mhcc/export/onnxpb"
	"github.com/mhcc-dev/mhcc/internal/onnxtext"
)

// External data. An initializer whose bytes live in an external file (ONNX
// external data: location, offset, length) holds only those entries in the
// model, so without the file Compare can only compare where the data is,
// not what it is: two compilations whose weights differ would compare equal.
// ResolveExternal reads the files once and notes each tensor's content hash
// (the hash the same tensor has stored inline), and makes its location
// absolute, so that Compare hashes external tensors by content and, for the
// ones that differ, reads their values to report how many differ.

// contentHashKey is the external_data entry ResolveExternal adds: the
// tensor's content hash. It exists only in memory, for Compare.
const contentHashKey = "mhcc.content_sha256"

// ResolveExternal prepares m, read from a file in dir, for Compare: every
// initializer with external data, in the main graph and in subgraphs, gets
// the hash of its data (streamed, so a file of any size is read once
// without being held in memory) and an absolute location. The error names
// the tensor and the file.
func ResolveExternal(m *onnxpb.ModelProto, dir string) error {
	files := map[string]*os.File{}
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	var walk func(g *onnxpb.GraphProto) error
	walk = func(g *onnxpb.GraphProto) error {
		for _, t := range g.GetInitializer() {
			if t.GetDataLocation() != onnxpb.TensorProto_EXTERNAL {
				continue
			}
			if err := resolveTensor(t, dir, files); err != nil {
				return fmt.Errorf("initializer %q: external data: %w", t.GetName(), err)
			}
		}
		for _, n := range g.GetNode() {
			for _, a := range n.GetAttribute() {
				if a.GetG() != nil {
					if err := walk(a.GetG()); err != nil {
						return err
					}
				}
				for _, sg := range a.GetGraphs() {
					if err := walk(sg); err != nil {
						return err
					}
				}
			}
		}
		return nil
	}
	if m.GetGraph() == nil {
		return nil
	}
	return walk(m.GetGraph())
}

// externalRef is where an external tensor's bytes are.
type externalRef struct {
	path           string
	offset, length int64 // length −1: to the end of the file
}

// parseExternal reads t's external_data entries; dir resolves a relative
// location, which must stay inside it ("" takes an absolute one as is).
func parseExternal(t *onnxpb.TensorProto, dir string) (externalRef, error) {
	ref := externalRef{length: -1}
	var location string
	for _, kv := range t.GetExternalData() {
		switch kv.GetKey() {
		case "location":
			location = kv.GetValue()
		case "offset", "length":
			n, err := strconv.ParseInt(kv.GetValue(), 10, 64)
			if err != nil || n < 0 {
				return ref, fmt.Errorf("%s %q is not a non-negative integer", kv.GetKey(), kv.GetValue())
			}
			if kv.GetKey() == "offset" {
				ref.offset = n
			} else {
				ref.length = n
			}
		}
	}
	if location == "" {
		return ref, errors.New("no location")
	}
	if dir == "" {
		ref.path = location
		return ref, nil
	}
	clean := filepath.Clean(filepath.FromSlash(location))
	if filepath.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, ".."+string(filepath.Separator)) {
		return ref, fmt.Errorf("location %q is not a relative path inside the model's folder", location)
	}
	abs, err := filepath.Abs(filepath.Join(dir, clean))
	if err != nil {
		return ref, err
	}
	ref.path = abs
	return ref, nil
}

// section opens (once per path, in files) the bytes ref points at.
func (ref externalRef) section(files map[string]*os.File) (*io.SectionReader, error) {
	f, ok := files[ref.path]
	if !ok {
		var err error
		if f, err = os.Open(ref.path); err != nil {
			return nil, err // *fs.PathError names the file
		}
		files[ref.path] = f
	}
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	length := ref.length
	if length < 0 {
		length = fi.Size() - ref.offset
	}
	if ref.offset > fi.Size() || length > fi.Size()-ref.offset {
		return nil, fmt.Errorf("%s has %d bytes, the tensor needs bytes %d to %d: the file is short", ref.path, fi.Size(), ref.offset, ref.offset+length)
	}
	return io.NewSectionReader(f, ref.offset, length), nil
}

func resolveTensor(t *onnxpb.TensorProto, dir string, files map[string]*os.File) error {
	ref, err := parseExternal(t, dir)
	if err != nil {
		return err
	}
	r, err := ref.section(files)
	if err != nil {
		return err
	}
	h, err := onnxtext.ExternalTensorHash(t, r)
	if err != nil {
		return fmt.Errorf("%s: %w", ref.path, err)
	}
	for _, kv := range t.GetExternalData() {
		if kv.GetKey() == "location" {
			v := ref.path
			kv.Value = &v
		}
	}
	key := contentHashKey
	t.ExternalData = append(t.ExternalData, &onnxpb.StringStringEntryProto{Key: &key, Value: &h})
	return nil
}

// contentHash is the content hash ResolveExternal noted on t, if any.
func contentHash(t *onnxpb.TensorProto) (string, bool) {
	for _, kv := range t.GetExternalData() {
		if kv.GetKey() == contentHashKey {
			return kv.GetValue(), true
		}
	}
	return "", false
}

// inlined returns t with its data inline: t itself unless ResolveExternal
// resolved it, else a copy whose raw_data is read from its file.
func inlined(t *onnxpb.TensorProto) (*onnxpb.TensorProto, error) {
	if _, ok := contentHash(t); !ok {
		return t, nil
	}
	ref, err := parseExternal(t, "")
	if err != nil {
		return nil, err
	}
	files := map[string]*os.File{}
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	r, err := ref.section(files)
	if err != nil {
		return nil, err
	}
	raw, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	return &onnxpb.TensorProto{Name: t.Name, Dims: t.Dims, DataType: t.DataType, RawData: raw}, nil
}
