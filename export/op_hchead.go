package export

import (
	"github.com/mhcc-dev/mhcc/ir"
	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
	"github.com/mhcc-dev/mhcc/target"
)

// HCHead (docs/fused-ops.md, formed by the pass fuse_hc_boundary): the end
// of an mHC model, the last sublayer's post-mix s = x + post ⊗ y, the
// head's coefficients pre of s, the collapse Σ_i pre[i]·s[i] and the final
// RMSNorm, as one op. Inputs x, fn, base, scale, w, y, post; outputs
// normed and the state s (optional). Its three lowerings are those of the
// other fused ops (op_hcfused.go).

// HCHead, reference: the state, HCHeadCoeffs, the weighted HCCollapse and
// RMSNorm, each by its own reference expansion, in float32 (float64 in
// verify's reference); the outputs narrowed back to x's type.
func expandHCHead(e *emitter, n *ir.Node, in, out []string) {
	s, t := e.fusedState(n, in, 5)
	a := n.Attrs
	dt := n.Inputs[0].Type.DType
	pre := e.fresh(n.Name + "/pre")
	coeffs := &ir.Node{Name: n.Name, Op: ir.OpHCHeadCoeffs, Inputs: []*ir.Value{{Type: t}, n.Inputs[1], n.Inputs[2], n.Inputs[3]},
		Attrs: ir.Attrs{"streams": a.Int("streams"), "eps": a.Float("eps"), "rms_eps": a.Float("rms_eps")}}
	expandHCHeadCoeffs(e, coeffs, ins(s, in[1], in[2], in[3]), []string{pre})
	h := e.fresh(n.Name + "/h")
	expandHCCollapse(e, &ir.Node{Name: n.Name, Op: ir.OpHCCollapse, Attrs: ir.Attrs{"mode": "weighted"}}, ins(s, pre), []string{h})
	wf := e.wide(in[4], n.Inputs[4].Type.DType)
	norm := &ir.Node{Name: n.Name, Op: ir.OpRMSNorm, Attrs: ir.Attrs{"eps": a.Float("norm_eps")}}
	e.narrowTo(out[0], dt, func(normed string) { expandRMSNorm(e, norm, ins(h, wf), []string{normed}) })
	if n.Outputs[1].Uses > 0 {
		e.narrowTo(out[1], dt, func(state string) { e.op("Identity", state, ins(s)) })
	}
}

// HCHead, lowering "custom": one ai.mhcc node, no body; the state output
// is "" when nothing reads it.
func expandHCHeadCustom(e *emitter, n *ir.Node, in, out []string) {
	if n.Outputs[1].Uses == 0 {
		out = []string{out[0], ""} // the state is optional: unread, it is not written
	}
	a := n.Attrs
	e.add(target.DomainMHCC, "HCHead", in, out, aFloat("eps", a.Float("eps")), aFloat("rms_eps", a.Float("rms_eps")),
		aFloat("norm_eps", a.Float("norm_eps")))
}

// HCHead, lowering "function": the custom node plus its model-local
// function (hcHeadFunction).
func expandHCHeadFunction(e *emitter, n *ir.Node, in, out []string) {
	if e.f64 {
		panic("export: the function lowering of HCHead has no float64 form")
	}
	e.function(target.DomainMHCC, "HCHead", hcHeadFunction)
	expandHCHeadCustom(e, n, in, out)
}

// hcHeadFunction builds ai.mhcc.HCHead(x, fn, base, scale, w, y, post) ->
// normed, state for any x [..., n, C] of a float type: the state s = x +
// post ⊗ y in float32, pre = sigmoid(scale·((sf·fnᵀ)·r) + base) + eps with
// r = 1/sqrt(mean(sf²) + rms_eps), h = Σ_i pre[i]·s[i], normed =
// RMSNorm(h, w) with norm_eps; outputs in x's type (docs/fused-ops.md).
func hcHeadFunction() *onnxpb.FunctionProto {
	b := &bodyBuilder{}
	eps, rmsEps, normEps := b.attrFloat("eps"), b.attrFloat("rms_eps"), b.attrFloat("norm_eps")
	xs := b.state(true)
	lead := b.op("Shape", ins(xs), aInt("end", -2))
	xf := b.op("Reshape", ins(xs, b.op("Concat", ins(lead, b.ints(-1)), aInt("axis", 0))))
	ms := b.op("ReduceMean", ins(b.op("Mul", ins(xf, xf))), aInts("axes", -1), aInt("keepdims", 1))
	r := b.op("Reciprocal", ins(b.op("Sqrt", ins(b.op("Add", ins(ms, rmsEps))))))
	mixes := b.op("Mul", ins(b.op("MatMul", ins(xf, b.op("Transpose", ins("fn"), aInts("perm", 1, 0)))), r))
	z := b.op("Add", ins(b.op("Mul", ins("scale", mixes)), "base"))
	pre := b.op("Add", ins(b.op("Sigmoid", ins(z)), eps))
	h := b.op("ReduceSum", ins(b.op("Mul", ins(b.op("Unsqueeze", ins(pre, b.ints(-1))), xs)), b.ints(-2)), aInt("keepdims", 0))
	hs := b.op("ReduceMean", ins(b.op("Mul", ins(h, h))), aInts("axes", -1), aInt("keepdims", 1))
	w := b.op("Cast", ins("w"), aInt("to", int64(onnxpb.TensorProto_FLOAT)))
	normed := b.op("Mul", ins(b.op("Div", ins(h, b.op("Sqrt", ins(b.op("Add", ins(hs, normEps)))))), w))
	b.named("CastLike", "normed", ins(normed, "x"))
	b.named("CastLike", "state", ins(xs, "x"))
	return fusedFunction("HCHead", []string{"x", "fn", "base", "scale", "w", "y", "post"}, []string{"normed", "state"},
		[]string{"eps", "rms_eps", "norm_eps"}, b,
		"mHC model head (docs/fused-ops.md): the last sublayer's post-mix s = x + post⊗y, float32; "+
			"pre = sigmoid(scale·((sf·fnᵀ)·r) + base) + eps with r = 1/sqrt(mean(sf²)+rms_eps); h = Σ_i pre[i]·s[i]; "+
			"normed = h / sqrt(mean(h²) + norm_eps) · w; normed and state in x's type.")
}
