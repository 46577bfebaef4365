package runtime

import (
	"testing"

	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
	"github.com/mhcc-dev/mhcc/runtime/internal/core"
)

// TestPadCumSumMatchOnnxruntime checks Pad in every mode (negative pads
// crop; axes at opset 18; wrap at 19) and CumSum's four variants against
// onnxruntime.
func TestPadCumSumMatchOnnxruntime(t *testing.T) {
	needORT(t)
	x := seqRamp(2, 3, 4)
	xin := tensorInfo("x", core.Float32, sh(2, 3, 4))
	pads := func(v ...int64) *onnxpb.NodeProto { return constNode("pads", i64(sh(int64(len(v))), v...)) }
	tests := []struct {
		name  string
		opset int64
		nodes []*onnxpb.NodeProto
	}{
		{"constant 0, crop", 13, []*onnxpb.NodeProto{pads(0, 1, -1, 1, 2, 0), node("p", "Pad", []string{"x", "pads"}, []string{"y"})}},
		{"constant value", 13, []*onnxpb.NodeProto{pads(1, 0, 2, 0, 1, 1), constNode("v", f32(sh(), -2.5)),
			node("p", "Pad", []string{"x", "pads", "v"}, []string{"y"})}},
		{"reflect", 13, []*onnxpb.NodeProto{pads(0, 2, 3, 0, 1, 3), node("p", "Pad", []string{"x", "pads"}, []string{"y"}, aStr("mode", "reflect"))}},
		{"edge", 17, []*onnxpb.NodeProto{pads(1, 2, 0, 1, 0, 5), node("p", "Pad", []string{"x", "pads"}, []string{"y"}, aStr("mode", "edge"))}},
		{"axes", 18, []*onnxpb.NodeProto{pads(2, 1, 0, 2), constNode("axes", i64(sh(2), -1, 1)),
			node("p", "Pad", []string{"x", "pads", "", "axes"}, []string{"y"}, aStr("mode", "reflect"))}},
		{"wrap", 19, []*onnxpb.NodeProto{pads(0, 2, 1, 0, 3, 4), node("p", "Pad", []string{"x", "pads"}, []string{"y"}, aStr("mode", "wrap"))}},
		{"cumsum", 14, []*onnxpb.NodeProto{constNode("ax", i64(sh(), 1)), node("c", "CumSum", []string{"x", "ax"}, []string{"y"})}},
		{"cumsum exclusive reverse", 14, []*onnxpb.NodeProto{constNode("ax", i64(sh(1), -1)),
			node("c", "CumSum", []string{"x", "ax"}, []string{"y"}, aInt("exclusive", 1), aInt("reverse", 1))}},
		{"cumsum of int64 positions", 14, []*onnxpb.NodeProto{constNode("ax", i64(sh(), -1)), constNode("one", i64(sh(), 1)),
			node("s", "Shape", []string{"x"}, []string{"shape"}),
			node("o", "ConstantOfShape", []string{"shape"}, []string{"ones"}, aTensor("value", i64(sh(1), 1))),
			node("c", "CumSum", []string{"ones", "ax"}, []string{"pos"}, aInt("exclusive", 1)),
			node("cast", "Cast", []string{"pos"}, []string{"y"}, aInt("to", int64(core.Float32)))}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			diffORT(t, modelProto(tc.opset, graph(tc.nodes, ins(xin), ins(unranked("y", core.Float32)))), map[string]*core.Tensor{"x": x}, 1e-6, 0)
		})
	}
}
