package export

import (
	"github.com/mhcc-dev/mhcc/ir"
	"github.com/mhcc-dev/mhcc/target"
)

// normLowerings holds alternative lowerings of RMSNorm.
var normLowerings = map[ir.Op]map[string]expansion{
	ir.OpRMSNorm:    {"fusable": expandRMSNormFusable},
	ir.OpAddRMSNorm: {"skip": expandAddRMSNormSkip},
}

// AddRMSNorm, lowering "skip": onnxruntime's contrib operator
// com.microsoft.SkipSimplifiedLayerNormalization(input, skip, gamma), whose
// first output is the normalised sum and fourth the sum itself.
func expandAddRMSNormSkip(e *emitter, n *ir.Node, in, out []string) {
	e.add(target.DomainMicrosoft, "SkipSimplifiedLayerNormalization", ins(in[0], in[1], in[2]), []string{out[0], "", "", out[1]},
		aFloat("epsilon", n.Attrs.Float("eps")))
}

// RMSNorm, lowering "fusable": x / sqrt(mean(x^2, -1) + eps) * w written
// with Pow(x, 2), Div and the weight last, the exact pattern onnxruntime's
// SimplifiedLayerNormFusion rewrites into its SimplifiedLayerNormalization
// kernel at load time. The model keeps standard operators only (the onnx
// checker rejects SimplifiedLayerNormalization in the ai.onnx domain, where
// onnxruntime registers it), and every runtime computes the same values.
func expandRMSNormFusable(e *emitter, n *ir.Node, in, out []string) {
	sq := e.op("Pow", "", ins(in[0], e.f32(2)))
	ms := e.op("ReduceMean", "", ins(sq), aInts("axes", -1), aInt("keepdims", 1))
	rms := e.op("Sqrt", "", ins(e.op("Add", "", ins(ms, e.f32(n.Attrs.Float("eps"))))))
	e.op("Mul", out[0], ins(e.op("Div", "", ins(in[0], rms)), in[1]))
}
