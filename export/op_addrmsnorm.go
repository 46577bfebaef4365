package export

import (
	"github.com/mhcc-dev/mhcc/ir"
	"github.com/mhcc-dev/mhcc/target"
)

// AddRMSNorm: s = a + b, then s / sqrt(mean(s², -1) + eps) · w.
func expandAddRMSNorm(e *emitter, n *ir.Node, in, out []string) {
	sum := e.op("Add", out[1], ins(in[0], in[1]))
	normed := e.op("Div", "", ins(sum, e.rms(sum, n.Attrs.Float("eps"))))
	e.op("Mul", out[0], ins(normed, in[2]))
}

// AddRMSNorm, lowering "skip": onnxruntime's contrib operator
// com.microsoft.SkipSimplifiedLayerNormalization(input, skip, gamma), whose
// first output is the normalised sum and fourth the sum itself.
func expandAddRMSNormSkip(e *emitter, n *ir.Node, in, out []string) {
	e.add(target.DomainMicrosoft, "SkipSimplifiedLayerNormalization", ins(in[0], in[1], in[2]), []string{out[0], "", "", out[1]},
		aFloat("epsilon", n.Attrs.Float("eps")))
}
