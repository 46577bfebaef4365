package runtime

import (
	"testing"

	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
	"github.com/mhcc-dev/mhcc/runtime/internal/core"
)

// seqRamp is a float32 tensor of the given shape holding 0.5, 1.5, 2.5, …
func seqRamp(shape ...int64) *core.Tensor {
	n := 1
	for _, d := range shape {
		n *= int(d)
	}
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(i) + 0.5
	}
	return core.NewFloat32(shape, v)
}

// unranked declares a typed output of unknown shape (ortrun needs the type).
func unranked(name string, dt core.DType) *onnxpb.ValueInfoProto {
	et := int32(dt)
	return &onnxpb.ValueInfoProto{Name: &name, Type: &onnxpb.TypeProto{
		Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{ElemType: &et}},
	}}
}

func constNode(out string, t *core.Tensor) *onnxpb.NodeProto {
	return node(out, "Constant", nil, []string{out}, aTensor("value", t))
}

// TestSequenceOpsMatchOnnxruntime runs graphs of the sequence ops, ending in
// tensors, in both engines: every split form of SplitToSequence, positions
// (negative, at the end), Erase, Construct, Length and ConcatFromSequence
// with and without new_axis.
func TestSequenceOpsMatchOnnxruntime(t *testing.T) {
	needORT(t)
	x := seqRamp(2, 5, 3)
	xin := tensorInfo("x", core.Float32, sh(2, 5, 3))
	tests := []struct {
		name  string
		nodes []*onnxpb.NodeProto
		outs  []*onnxpb.ValueInfoProto
	}{
		{"split scalar, at -1, length", []*onnxpb.NodeProto{
			constNode("two", i64(sh(), 2)),
			constNode("last", i64(sh(), -1)),
			node("s", "SplitToSequence", []string{"x", "two"}, []string{"seq"}, aInt("axis", 1)),
			node("at", "SequenceAt", []string{"seq", "last"}, []string{"y"}),
			node("len", "SequenceLength", []string{"seq"}, []string{"n"}),
		}, ins(unranked("y", core.Float32), tensorInfo("n", core.Int64, sh()))},
		{"split sizes, erase first, concat", []*onnxpb.NodeProto{
			constNode("sizes", i64(sh(3), 1, 3, 1)),
			constNode("zero", i64(sh(), 0)),
			node("s", "SplitToSequence", []string{"x", "sizes"}, []string{"seq"}, aInt("axis", -2)),
			node("e", "SequenceErase", []string{"seq", "zero"}, []string{"rest"}),
			node("c", "ConcatFromSequence", []string{"rest"}, []string{"y"}, aInt("axis", 1)),
		}, ins(unranked("y", core.Float32))},
		{"split ones without keepdims, stack on a new last axis", []*onnxpb.NodeProto{
			node("s", "SplitToSequence", []string{"x"}, []string{"seq"}, aInt("axis", 1), aInt("keepdims", 0)),
			node("c", "ConcatFromSequence", []string{"seq"}, []string{"y"}, aInt("axis", -1), aInt("new_axis", 1)),
		}, ins(unranked("y", core.Float32))},
		{"construct, insert in the middle and at the end, erase last, stack", []*onnxpb.NodeProto{
			constNode("one", i64(sh(), 1)),
			node("neg", "Neg", []string{"x"}, []string{"nx"}),
			node("sq", "Mul", []string{"x", "x"}, []string{"xx"}),
			node("sc", "SequenceConstruct", []string{"x", "nx"}, []string{"s0"}),
			node("i1", "SequenceInsert", []string{"s0", "xx", "one"}, []string{"s1"}),
			node("i2", "SequenceInsert", []string{"s1", "x"}, []string{"s2"}),
			node("e", "SequenceErase", []string{"s2"}, []string{"s3"}),
			node("c", "ConcatFromSequence", []string{"s3"}, []string{"y"}, aInt("axis", 0), aInt("new_axis", 1)),
			node("len", "SequenceLength", []string{"s3"}, []string{"n"}),
		}, ins(unranked("y", core.Float32), tensorInfo("n", core.Int64, sh()))},
		{"empty, insert int64 at 0, at 0", []*onnxpb.NodeProto{
			constNode("zero", i64(sh(), 0)),
			node("s", "Shape", []string{"x"}, []string{"shape"}),
			node("e", "SequenceEmpty", nil, []string{"s0"}, aInt("dtype", int64(core.Int64))),
			node("i", "SequenceInsert", []string{"s0", "shape", "zero"}, []string{"s1"}),
			node("at", "SequenceAt", []string{"s1", "zero"}, []string{"y"}),
		}, ins(unranked("y", core.Int64))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := graph(tc.nodes, ins(xin), tc.outs)
			diffORT(t, modelProto(17, g), map[string]*core.Tensor{"x": x}, 0, 0)
		})
	}
}

// TestSequenceErrors checks the kernels' preconditions come back as errors
// naming the node, as onnxruntime refuses the same graphs.
func TestSequenceErrors(t *testing.T) {
	xin := tensorInfo("x", core.Float32, sh(2, 3))
	tests := []struct {
		name  string
		nodes []*onnxpb.NodeProto
		want  string
	}{
		{"position past the end", []*onnxpb.NodeProto{
			constNode("p", i64(sh(), 2)),
			node("sc", "SequenceConstruct", []string{"x", "x"}, []string{"s"}),
			node("at", "SequenceAt", []string{"s", "p"}, []string{"y"}),
		}, `runtime: node "at" (SequenceAt): position 2 out of range for a sequence of 2`},
		{"split sizes do not add up", []*onnxpb.NodeProto{
			constNode("p", i64(sh(2), 1, 1)),
			node("s", "SplitToSequence", []string{"x", "p"}, []string{"s0"}, aInt("axis", 1)),
			node("c", "ConcatFromSequence", []string{"s0"}, []string{"y"}, aInt("axis", 1)),
		}, `runtime: node "s" (SplitToSequence): split sizes [1 1] do not add up to dim 3`},
		{"concat of an empty sequence", []*onnxpb.NodeProto{
			node("e", "SequenceEmpty", nil, []string{"s0"}),
			node("c", "ConcatFromSequence", []string{"s0"}, []string{"y"}, aInt("axis", 0)),
		}, `runtime: node "c" (ConcatFromSequence): cannot concatenate an empty sequence`},
		{"insert of another type", []*onnxpb.NodeProto{
			node("e", "SequenceEmpty", nil, []string{"s0"}, aInt("dtype", int64(core.Int64))),
			node("i", "SequenceInsert", []string{"s0", "x"}, []string{"s1"}),
			node("c", "ConcatFromSequence", []string{"s1"}, []string{"y"}, aInt("axis", 0)),
		}, `runtime: node "i" (SequenceInsert): input 1 has type float32, the sequence holds int64`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Decode(encode(t, modelProto(17, graph(tc.nodes, ins(xin), ins(untypedInfo("y"))))))
			if err == nil {
				_, err = m.Run(map[string]*core.Tensor{"x": seqRamp(2, 3)})
			}
			if err == nil || err.Error() != tc.want {
				t.Errorf("got  %v\nwant %s", err, tc.want)
			}
		})
	}
}
