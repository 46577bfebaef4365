package onnxtext

import (
	"encoding/binary"
	"math"

	"github.com/mhcc-dev/mhcc/onnx/pb"
	"github.com/mhcc-dev/mhcc/onnx/tensor"
	"google.golang.org/protobuf/proto"
)

// Builders for hand-made models.

// unknownRank builds a tensor TypeProto without a shape.
func unknownRank(dt int32) *onnxpb.TypeProto {
	return &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(dt)}}}
}

func vi(name string, t *onnxpb.TypeProto) *onnxpb.ValueInfoProto {
	return &onnxpb.ValueInfoProto{Name: proto.String(name), Type: t}
}

func node(op string, in, out []string, attrs ...*onnxpb.AttributeProto) *onnxpb.NodeProto {
	return &onnxpb.NodeProto{OpType: proto.String(op), Input: in, Output: out, Attribute: attrs}
}

func strs(s ...string) []string { return s }

func atype(t onnxpb.AttributeProto_AttributeType) *onnxpb.AttributeProto_AttributeType { return &t }

func aInt(name string, v int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: atype(onnxpb.AttributeProto_INT), I: proto.Int64(v)}
}

func aFloat(name string, v float32) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: atype(onnxpb.AttributeProto_FLOAT), F: proto.Float32(v)}
}

func aString(name, v string) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: atype(onnxpb.AttributeProto_STRING), S: []byte(v)}
}

func aInts(name string, v ...int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: atype(onnxpb.AttributeProto_INTS), Ints: v}
}

func aFloats(name string, v ...float32) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: atype(onnxpb.AttributeProto_FLOATS), Floats: v}
}

func aStrings(name string, v ...string) *onnxpb.AttributeProto {
	a := &onnxpb.AttributeProto{Name: proto.String(name), Type: atype(onnxpb.AttributeProto_STRINGS)}
	for _, s := range v {
		a.Strings = append(a.Strings, []byte(s))
	}
	return a
}

func aTensor(name string, t *onnxpb.TensorProto) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: atype(onnxpb.AttributeProto_TENSOR), T: t}
}

func aGraph(name string, g *onnxpb.GraphProto) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: atype(onnxpb.AttributeProto_GRAPH), G: g}
}

func aRef(name string, typ onnxpb.AttributeProto_AttributeType, ref string) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: atype(typ), RefAttrName: proto.String(ref)}
}

// rawFloats builds a float tensor whose data is in raw_data.
func rawFloats(name string, dims []int64, vals ...float32) *onnxpb.TensorProto {
	var raw []byte
	for _, v := range vals {
		raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(v))
	}
	if raw == nil {
		raw = []byte{}
	}
	return &onnxpb.TensorProto{Name: proto.String(name), DataType: proto.Int32(tensor.Float), Dims: dims, RawData: raw}
}

// typedFloats builds a float tensor whose data is in float_data.
func typedFloats(name string, dims []int64, vals ...float32) *onnxpb.TensorProto {
	return &onnxpb.TensorProto{Name: proto.String(name), DataType: proto.Int32(tensor.Float), Dims: dims, FloatData: vals}
}

func typedInt64s(name string, dims []int64, vals ...int64) *onnxpb.TensorProto {
	return &onnxpb.TensorProto{Name: proto.String(name), DataType: proto.Int32(tensor.Int64), Dims: dims, Int64Data: vals}
}

func rawTensor(name string, dt int32, dims []int64, raw []byte) *onnxpb.TensorProto {
	if raw == nil {
		raw = []byte{}
	}
	return &onnxpb.TensorProto{Name: proto.String(name), DataType: proto.Int32(dt), Dims: dims, RawData: raw}
}

func opset(domain string, v int64) *onnxpb.OperatorSetIdProto {
	return &onnxpb.OperatorSetIdProto{Domain: proto.String(domain), Version: proto.Int64(v)}
}

// model wraps a graph in a model with IR version 8, opset 17 and producer
// "test".
func model(g *onnxpb.GraphProto, fns ...*onnxpb.FunctionProto) *onnxpb.ModelProto {
	return &onnxpb.ModelProto{
		IrVersion:    proto.Int64(8),
		OpsetImport:  []*onnxpb.OperatorSetIdProto{opset("", 17)},
		ProducerName: proto.String("test"),
		Graph:        g,
		Functions:    fns,
	}
}

func le64(vals ...int64) []byte {
	var b []byte
	for _, v := range vals {
		b = binary.LittleEndian.AppendUint64(b, uint64(v))
	}
	return b
}
