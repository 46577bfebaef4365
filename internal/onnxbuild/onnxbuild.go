// Package onnxbuild builds small ONNX models by hand, for tests and for the
// benchmarks' input files: tensor types and value infos, the model around a
// graph, and a chain of unary nodes (cmd/mhcc's hostile cases and
// bench/memfiles' large files).
package onnxbuild

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/mhcc-dev/mhcc/onnx/pb"
)

// Type is a tensor type of element type elem (a TensorProto.DataType, as
// onnx/tensor's constants or the schema's enum) with a shape of dims: an
// int or int64 is a fixed size, a string a symbolic one (dim_param), nil a
// dim with neither. No dims is a scalar's (empty) shape.
func Type[E ~int32](elem E, dims ...any) *onnxpb.TypeProto {
	shape := &onnxpb.TensorShapeProto{}
	for _, d := range dims {
		dim := &onnxpb.TensorShapeProto_Dimension{}
		switch v := d.(type) {
		case int:
			dim.Value = &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: int64(v)}
		case int64:
			dim.Value = &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: v}
		case string:
			dim.Value = &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: v}
		case nil:
		default:
			panic(fmt.Sprintf("onnxbuild: dim %v (%T)", d, d))
		}
		shape.Dim = append(shape.Dim, dim)
	}
	return &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(int32(elem)), Shape: shape}}}
}

// Info is a value named name of Type(elem, dims...).
func Info[E ~int32](name string, elem E, dims ...any) *onnxpb.ValueInfoProto {
	return &onnxpb.ValueInfoProto{Name: proto.String(name), Type: Type(elem, dims...)}
}

// Output is a value named name of element type elem and no shape (rank
// unknown), as a graph output whose shape is left to inference.
func Output[E ~int32](name string, elem E) *onnxpb.ValueInfoProto {
	return &onnxpb.ValueInfoProto{Name: proto.String(name), Type: &onnxpb.TypeProto{
		Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(int32(elem))}},
	}}
}

// Model wraps g in a model of IR version 8 importing opset 17 of the
// default domain, what mhcc's own models declare.
func Model(g *onnxpb.GraphProto) *onnxpb.ModelProto {
	return &onnxpb.ModelProto{
		IrVersion:   proto.Int64(8),
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(17)}},
		Graph:       g,
	}
}

// Chain is a graph of n unnamed op nodes in a row (n ≥ 1): input x:
// float[2], values v0, v1, …, output y: float of unknown shape. The graph
// has no name.
func Chain(n int, op string) *onnxpb.GraphProto {
	nodes := make([]*onnxpb.NodeProto, n)
	prev := "x"
	for i := range nodes {
		out := fmt.Sprintf("v%d", i)
		if i == n-1 {
			out = "y"
		}
		nodes[i] = &onnxpb.NodeProto{OpType: proto.String(op), Input: []string{prev}, Output: []string{out}}
		prev = out
	}
	float := onnxpb.TensorProto_FLOAT
	return &onnxpb.GraphProto{Input: []*onnxpb.ValueInfoProto{Info("x", float, 2)}, Node: nodes, Output: []*onnxpb.ValueInfoProto{Output("y", float)}}
}
