package export

import "github.com/mhcc-dev/mhcc/ir"

// RMSNorm: x / sqrt(mean(x², -1) + eps) · w.
func expandRMSNorm(e *emitter, n *ir.Node, in, out []string) {
	normed := e.op("Div", "", ins(in[0], e.rms(in[0], n.Attrs.Float("eps"))))
	e.op("Mul", out[0], ins(normed, in[1]))
}

// rms returns sqrt(mean(x², -1) + eps) with the last axis kept.
func (e *emitter) rms(x string, eps float64) string {
	sq := e.op("Mul", "", ins(x, x))
	ms := e.op("ReduceMean", "", ins(sq), aInts("axes", -1), aInt("keepdims", 1))
	return e.op("Sqrt", "", ins(e.op("Add", "", ins(ms, e.f32(eps)))))
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

// RMSNorm: x / sqrt(Σx²/C + eps) · w on x [B, C], w viewed as [1, C].
func minimalRMSNorm(e *emitter, n *ir.Node, in, out []string) {
	needRank(n, 0, 2)
	c := lastSize(n, 0)
	normed := e.op("Div", "", ins(in[0], e.minimalRMS(in[0], c, n.Attrs.Float("eps"))))
	e.op("Mul", out[0], ins(normed, e.reshape(in[1], 1, c)))
}
