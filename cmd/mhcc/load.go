package main

import (
	"fmt"
	"strings"

	"github.com/mhcc-dev/mhcc/export/onnxpb"
	"github.com/mhcc-dev/mhcc/internal/build"
	"github.com/mhcc-dev/mhcc/internal/inputfile"
	"github.com/mhcc-dev/mhcc/ir"
	"google.golang.org/protobuf/proto"
)

// loadModel reads an ONNX file, or compiles a model file (.yaml/.yml) for
// target ("" = the default), as fmt and diff take either.
func loadModel(path, target string) (*onnxpb.ModelProto, error) {
	var data []byte
	if strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml") {
		res, err := build.Compile(path, build.Options{Target: target})
		if err != nil {
			return nil, err
		}
		data = res.ONNX
	} else {
		var err error
		if data, err = inputfile.ReadFile(path, inputfile.MaxModelBytes, "an ONNX model file"); err != nil {
			return nil, err
		}
	}
	if kind := ir.BinaryKind(data); kind == "a safetensors weights file" {
		return nil, fmt.Errorf("%s is %s, not an ONNX model or a model file; a model file names it in weights.path", path, kind)
	}
	m := &onnxpb.ModelProto{}
	if err := proto.Unmarshal(data, m); err != nil {
		return nil, fmt.Errorf("%s is not an ONNX model: %v", path, err)
	}
	// Protobuf decodes many short byte strings without error; a model has a
	// graph.
	if m.Graph == nil {
		return nil, fmt.Errorf("%s is not an ONNX model: it has no graph (%d bytes)", path, len(data))
	}
	return m, nil
}
