package export

import "github.com/mhcc-dev/mhcc/ir"

// HCHeadCoeffs: pre = sigmoid(scale·(xf·fnᵀ)·r + base) + eps.
func expandHCHeadCoeffs(e *emitter, n *ir.Node, in, out []string) {
	xf := e.flatState(in[0], n.Inputs[0].Type)
	r := e.op("Reciprocal", "", ins(e.rms(xf, n.Attrs.Float("rms_eps"))))
	mixes := e.op("Mul", "", ins(e.linear(xf, in[1], ""), r))
	arg := e.op("Add", "", ins(e.op("Mul", "", ins(in[3], mixes)), in[2]))
	e.op("Add", out[0], ins(e.op("Sigmoid", "", ins(arg)), e.f32(n.Attrs.Float("eps"))))
}

// HCHeadCoeffs: pre = sigmoid(scale·mixes + base) + eps, scale and base
// viewed as [1, 1] and [1, n].
func minimalHCHeadCoeffs(e *emitter, n *ir.Node, in, out []string) {
	s := n.Attrs.Int("streams")
	mixes := e.mixes(n, 0, in[0], in[1])
	arg := e.op("Add", "", ins(e.op("Mul", "", ins(e.reshape(in[3], 1, 1), mixes)), e.reshape(in[2], 1, s)))
	e.op("Add", out[0], ins(e.op("Sigmoid", "", ins(arg)), e.scalar2(n.Attrs.Float("eps"))))
}
