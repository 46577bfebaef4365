package runtime

import (
	"testing"

	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
	"github.com/mhcc-dev/mhcc/runtime/internal/core"
)

// TestOpset18FormsMatchOnnxruntime covers the opset-18 forms torch's dynamo
// exporter writes (torch 1.13 has none, so the graphs are made here): the
// reductions with axes as an input (and noop_with_empty_axes), Split with
// num_outputs (an uneven last chunk), and the Llama-style RMSNorm and mHC
// Sinkhorn half-step built from them. Checked against onnxruntime 1.30.
func TestOpset18FormsMatchOnnxruntime(t *testing.T) {
	needORT(t)
	x := seqRamp(2, 7, 4)
	for i, v := range x.Float32s() {
		x.Float32s()[i] = v*0.37 - float32(i%5) // signs and a spread
	}
	xin := tensorInfo("x", core.Float32, sh(2, 7, 4))
	axes := func(name string, v ...int64) *onnxpb.NodeProto { return constNode(name, i64(sh(int64(len(v))), v...)) }
	tests := []struct {
		name  string
		nodes []*onnxpb.NodeProto
		outs  []*onnxpb.ValueInfoProto
	}{
		{"ReduceMean, ReduceSum, ReduceMax with axes inputs", []*onnxpb.NodeProto{
			axes("last", -1), axes("mid", 1), axes("two", 0, 2),
			node("m", "ReduceMean", []string{"x", "last"}, []string{"mean"}),
			node("s", "ReduceSum", []string{"x", "mid"}, []string{"sum"}, aInt("keepdims", 0)),
			node("M", "ReduceMax", []string{"x", "two"}, []string{"max"}),
			node("ss", "ReduceSumSquare", []string{"x", "last"}, []string{"sumsq"}, aInt("keepdims", 0)),
			node("l2", "ReduceL2", []string{"x", "mid"}, []string{"l2"}),
		}, ins(unranked("mean", core.Float32), unranked("sum", core.Float32), unranked("max", core.Float32), unranked("sumsq", core.Float32), unranked("l2", core.Float32))},
		{"empty axes: all, or nothing with noop_with_empty_axes", []*onnxpb.NodeProto{
			constNode("none", i64(sh(0))),
			node("all", "ReduceSum", []string{"x", "none"}, []string{"total"}),
			node("noop", "ReduceMean", []string{"x", "none"}, []string{"same"}, aInt("noop_with_empty_axes", 1)),
			node("omitted", "ReduceMax", []string{"x"}, []string{"max"}, aInt("keepdims", 0)),
		}, ins(unranked("total", core.Float32), unranked("same", core.Float32), tensorInfo("max", core.Float32, sh()))},
		{"Split num_outputs, uneven", []*onnxpb.NodeProto{
			node("sp", "Split", []string{"x"}, []string{"a", "b", "c"}, aInt("axis", 1), aInt("num_outputs", 3)),
		}, ins(unranked("a", core.Float32), unranked("b", core.Float32), unranked("c", core.Float32))},
		{"RMSNorm and a Sinkhorn half-step", []*onnxpb.NodeProto{
			axes("last", -1), axes("rows", -2),
			constNode("two", f32(sh(), 2)), constNode("eps", f32(sh(), 1e-6)),
			node("p", "Pow", []string{"x", "two"}, []string{"sq"}),
			node("m", "ReduceMean", []string{"sq", "last"}, []string{"ms"}),
			node("a", "Add", []string{"ms", "eps"}, []string{"mse"}),
			node("r", "Sqrt", []string{"mse"}, []string{"rms"}),
			node("d", "Div", []string{"x", "rms"}, []string{"normed"}),
			node("e", "Exp", []string{"normed"}, []string{"pos"}),
			node("cs", "ReduceSum", []string{"pos", "rows"}, []string{"colsum"}),
			node("ce", "Add", []string{"colsum", "eps"}, []string{"den"}),
			node("h", "Div", []string{"pos", "den"}, []string{"half"}),
		}, ins(unranked("normed", core.Float32), unranked("half", core.Float32))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			diffORT(t, modelProto(18, graph(tc.nodes, ins(xin), tc.outs)), map[string]*core.Tensor{"x": x}, 1e-6, 1e-6)
		})
	}
}
