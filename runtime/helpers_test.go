package runtime

import (
	"fmt"
	"testing"

	"github.com/mhcc-dev/mhcc/runtime/internal/core"

	"google.golang.org/protobuf/proto"

	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
)

// Builders for small ONNX models in tests.

func aInt(name string, v int64) *onnxpb.AttributeProto {
	t := onnxpb.AttributeProto_INT
	return &onnxpb.AttributeProto{Name: &name, Type: &t, I: &v}
}

func aInts(name string, v ...int64) *onnxpb.AttributeProto {
	t := onnxpb.AttributeProto_INTS
	return &onnxpb.AttributeProto{Name: &name, Type: &t, Ints: v}
}

func aFloat(name string, v float32) *onnxpb.AttributeProto {
	t := onnxpb.AttributeProto_FLOAT
	return &onnxpb.AttributeProto{Name: &name, Type: &t, F: &v}
}

func aStr(name, v string) *onnxpb.AttributeProto {
	t := onnxpb.AttributeProto_STRING
	return &onnxpb.AttributeProto{Name: &name, Type: &t, S: []byte(v)}
}

func aTensor(name string, v *core.Tensor) *onnxpb.AttributeProto {
	t := onnxpb.AttributeProto_TENSOR
	return &onnxpb.AttributeProto{Name: &name, Type: &t, T: v.Proto("")}
}

func tensorInfo(name string, dt core.DType, shape []int64) *onnxpb.ValueInfoProto {
	et := int32(dt)
	sh := &onnxpb.TensorShapeProto{}
	for _, d := range shape {
		sh.Dim = append(sh.Dim, &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: d}})
	}
	return &onnxpb.ValueInfoProto{Name: &name, Type: &onnxpb.TypeProto{
		Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{ElemType: &et, Shape: sh}},
	}}
}

func untypedInfo(name string) *onnxpb.ValueInfoProto { return &onnxpb.ValueInfoProto{Name: &name} }

func node(name, op string, in, out []string, attrs ...*onnxpb.AttributeProto) *onnxpb.NodeProto {
	return &onnxpb.NodeProto{Name: &name, OpType: &op, Input: in, Output: out, Attribute: attrs}
}

func modelProto(opset int64, g *onnxpb.GraphProto) *onnxpb.ModelProto {
	ir := int64(8)
	dom := ""
	return &onnxpb.ModelProto{
		IrVersion:   &ir,
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Domain: &dom, Version: &opset}},
		Graph:       g,
	}
}

func encode(t testing.TB, m *onnxpb.ModelProto) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// runOp builds a one-node model of op at opset with inputs x0, x1, … (a nil
// tensor becomes an omitted input) and nOut outputs, decodes and runs it.
func runOp(t testing.TB, opset int64, op string, attrs []*onnxpb.AttributeProto, nOut int, ins ...*core.Tensor) ([]*core.Tensor, error) {
	t.Helper()
	return runOpOn(t, core.Fast, opset, op, attrs, nOut, ins...)
}

// runOpOn is runOp under engine e.
func runOpOn(t testing.TB, e core.Engine, opset int64, op string, attrs []*onnxpb.AttributeProto, nOut int, ins ...*core.Tensor) ([]*core.Tensor, error) {
	t.Helper()
	g := &onnxpb.GraphProto{}
	var inNames, outNames []string
	feeds := map[string]*core.Tensor{}
	for i, x := range ins {
		if x == nil {
			inNames = append(inNames, "")
			continue
		}
		name := fmt.Sprintf("x%d", i)
		inNames = append(inNames, name)
		g.Input = append(g.Input, tensorInfo(name, x.DType, x.Shape))
		feeds[name] = x
	}
	for i := 0; i < nOut; i++ {
		name := fmt.Sprintf("y%d", i)
		outNames = append(outNames, name)
		g.Output = append(g.Output, untypedInfo(name))
	}
	g.Node = []*onnxpb.NodeProto{node("n", op, inNames, outNames, attrs...)}
	m, err := Decode(encode(t, modelProto(opset, g)))
	if err != nil {
		return nil, err
	}
	res, err := m.RunWith(feeds, core.RunOptions{Engine: e})
	if err != nil {
		return nil, err
	}
	outs := make([]*core.Tensor, nOut)
	for i := range outs {
		outs[i] = res[fmt.Sprintf("y%d", i)]
	}
	return outs, nil
}

func f32(shape []int64, v ...float32) *core.Tensor { return core.NewFloat32(shape, v) }
func i64(shape []int64, v ...int64) *core.Tensor   { return core.NewInt64(shape, v) }
func sh(dims ...int64) []int64                     { return dims }
