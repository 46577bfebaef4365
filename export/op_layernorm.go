package export

import "github.com/mhcc-dev/mhcc/ir"

// LayerNorm: (x − mean(x)) / sqrt(mean((x − mean(x))²) + eps) · w (+ b),
// over the last axis, written out step by step (the reference).
func expandLayerNorm(e *emitter, n *ir.Node, in, out []string) {
	mean := e.op("ReduceMean", "", ins(in[0]), aInts("axes", -1), aInt("keepdims", 1))
	d := e.op("Sub", "", ins(in[0], mean))
	normed := e.op("Div", "", ins(d, e.rms(d, n.Attrs.Float("eps"))))
	if b := optIn(in, 2); b != "" {
		e.op("Add", out[0], ins(e.op("Mul", "", ins(normed, in[1])), b))
		return
	}
	e.op("Mul", out[0], ins(normed, in[1]))
}

// LayerNorm, lowering "fused": one opset-17 LayerNormalization over the
// last axis (stash_type float32), the kernel every runtime has for it.
func expandLayerNormFused(e *emitter, n *ir.Node, in, out []string) {
	inputs := ins(in[0], in[1])
	if b := optIn(in, 2); b != "" {
		inputs = append(inputs, b)
	}
	e.op("LayerNormalization", out[0], inputs, aInt("axis", -1), aFloat("epsilon", n.Attrs.Float("eps")))
}

// optIn is input i, or "" when it is omitted or past the end.
func optIn(in []string, i int) string {
	if i < len(in) {
		return in[i]
	}
	return ""
}
