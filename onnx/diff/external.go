package graphdiff

import (
	"fmt"
	"io"
	"path/filepath"

	"google.golang.org/protobuf/proto"

	"github.com/mhcc-dev/mhcc/onnx/pb"
	"github.com/mhcc-dev/mhcc/onnx/tensor"
	"github.com/mhcc-dev/mhcc/onnx/tensor/extdata"
	"github.com/mhcc-dev/mhcc/onnx/text"
)

// External data. An initializer whose bytes live in an external file (ONNX
// external data: location, offset, length) holds only those entries in the
// model, so without the file Compare can only compare where the data is,
// not what it is: two compilations whose weights differ would compare equal.
// ResolveExternal reads the files once and notes on each tensor its content
// hash (the hash the same tensor has stored inline) and its folder, so that
// Compare hashes external tensors by content and, for the ones that differ,
// reads their values to report how many differ.

// contentHashKey and dirKey are the external_data entries ResolveExternal
// adds: the tensor's content hash (under the key the text parser uses for
// the same purpose) and the folder its location is relative to. They exist
// only in memory, for Compare.
const (
	contentHashKey = onnxtext.ContentHashKey
	dirKey         = "mhcc.dir"
)

// ResolveExternal prepares m, read from a file in dir, for Compare: every
// initializer with external data, in the main graph and in subgraphs, gets
// the hash of its data (streamed, so a file of any size is read once
// without being held in memory) and the folder to read it from again. The
// error names the tensor and the file.
func ResolveExternal(m *onnxpb.ModelProto, dir string) error {
	var files extdata.Files
	defer files.Close()
	var walk func(g *onnxpb.GraphProto) error
	walk = func(g *onnxpb.GraphProto) error {
		for _, t := range g.GetInitializer() {
			if t.GetDataLocation() != onnxpb.TensorProto_EXTERNAL {
				continue
			}
			if err := resolveTensor(t, dir, &files); err != nil {
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

func resolveTensor(t *onnxpb.TensorProto, dir string, files *extdata.Files) error {
	ref, err := extdata.Parse(t, dir, false)
	if err != nil {
		return err
	}
	r, err := files.Section(ref)
	if err != nil {
		return err
	}
	h, err := tensor.HashReader(t, r)
	if err != nil {
		return fmt.Errorf("%s: %w", ref.Path, err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	t.ExternalData = append(t.ExternalData,
		&onnxpb.StringStringEntryProto{Key: proto.String(contentHashKey), Value: proto.String(h)},
		&onnxpb.StringStringEntryProto{Key: proto.String(dirKey), Value: proto.String(abs)})
	return nil
}

// externalEntry is the value of t's external_data key, if it has one.
func externalEntry(t *onnxpb.TensorProto, key string) (string, bool) {
	for _, kv := range t.GetExternalData() {
		if kv.GetKey() == key {
			return kv.GetValue(), true
		}
	}
	return "", false
}

// contentHash is the content hash ResolveExternal noted on t, if any.
func contentHash(t *onnxpb.TensorProto) (string, bool) { return externalEntry(t, contentHashKey) }

// inlined returns t with its data inline: t itself unless ResolveExternal
// resolved it, else a copy whose raw_data is read from its file.
func inlined(t *onnxpb.TensorProto) (*onnxpb.TensorProto, error) {
	dir, ok := externalEntry(t, dirKey)
	if !ok {
		return t, nil
	}
	ref, err := extdata.Parse(t, dir, false)
	if err != nil {
		return nil, err
	}
	var files extdata.Files
	defer files.Close()
	r, err := files.Section(ref)
	if err != nil {
		return nil, err
	}
	raw, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	return &onnxpb.TensorProto{Name: t.Name, Dims: t.Dims, DataType: t.DataType, RawData: raw}, nil
}
