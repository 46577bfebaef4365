package main

import (
	"fmt"
	"strings"

	"github.com/mhcc-dev/mhcc/compile"
	"github.com/mhcc-dev/mhcc/internal/inputfile"
	"github.com/mhcc-dev/mhcc/model"
	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
	"google.golang.org/protobuf/proto"
)

// loadModel reads an ONNX file, or compiles a model file (.yaml/.yml) for
// target ("" = the default), as fmt and diff take either.
func loadModel(path, target string) (*onnxpb.ModelProto, error) {
	data, err := modelData(path, target)
	if err != nil {
		return nil, err
	}
	return decodeModel(path, data)
}

// modelData is the encoded model loadModel decodes: an ONNX file's bytes
// or a model file's compiled model; a safetensors file is refused.
func modelData(path, target string) ([]byte, error) {
	var data []byte
	if strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml") {
		res, err := compile.Compile(path, compile.Options{Target: target})
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
	if kind := model.BinaryKind(data); kind == "a safetensors weights file" {
		return nil, fmt.Errorf("%s is %s, not an ONNX model or a model file; a model file names it in weights.path", path, kind)
	}
	return data, nil
}

// decodeModel decodes data, read from path, and checks it as loadModel
// says.
func decodeModel(path string, data []byte) (*onnxpb.ModelProto, error) {
	m := &onnxpb.ModelProto{}
	if err := proto.Unmarshal(data, m); err != nil {
		return nil, fmt.Errorf("%s is not an ONNX model: %v", path, err)
	}
	// Protobuf decodes many short byte strings without error; a model has a
	// graph.
	if m.Graph == nil {
		return nil, fmt.Errorf("%s is not an ONNX model: it has no graph (%d bytes)", path, len(data))
	}
	if d := graphDepth(m); d > maxGraphDepth {
		return nil, fmt.Errorf("%s: subgraphs (If, Loop, Scan bodies) nest more than %d deep; mhcc reads at most %d levels", path, maxGraphDepth, maxGraphDepth)
	}
	return m, nil
}

// maxGraphDepth bounds how deep subgraphs may nest in a model that fmt,
// diff and graph read. Their text and comparisons indent or walk each
// level, so work grows with the square of the depth (an If nested 3,000
// deep in a 340 KB file printed for minutes); real models nest a few
// levels. protobuf-go itself stops at 10,000.
const maxGraphDepth = 100

// graphDepth is how deep m's subgraphs nest (1: none), counting up to
// maxGraphDepth+1 and no further, model functions included.
func graphDepth(m *onnxpb.ModelProto) int {
	var walk func(g *onnxpb.GraphProto, d int) int
	walkNodes := func(nodes []*onnxpb.NodeProto, d int) int {
		deepest := d
		for _, n := range nodes {
			for _, a := range n.Attribute {
				gs := a.Graphs
				if a.G != nil {
					gs = append([]*onnxpb.GraphProto{a.G}, gs...)
				}
				for _, g := range gs {
					if deepest = max(deepest, walk(g, d+1)); deepest > maxGraphDepth {
						return deepest
					}
				}
			}
		}
		return deepest
	}
	walk = func(g *onnxpb.GraphProto, d int) int {
		if d > maxGraphDepth {
			return d
		}
		return walkNodes(g.GetNode(), d)
	}
	deepest := walk(m.Graph, 1)
	for _, f := range m.Functions {
		deepest = max(deepest, walkNodes(f.GetNode(), 1))
	}
	return deepest
}
