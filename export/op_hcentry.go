package export

import (
	"github.com/mhcc-dev/mhcc/ir"
	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
	"github.com/mhcc-dev/mhcc/target"
)

// HCEntry (docs/fused-ops.md, formed by the pass fuse_hc_boundary): the
// start of an mHC model, the embedding e repeated into n streams (HCExpand)
// and the first sublayer's HCCoeffsSinkhorn and HCBoundary (no post-mix) of
// that state, as one op. Inputs e, fn, base, w; outputs pre, post, comb,
// normed, mixed. Its three lowerings are those of the other fused ops
// (op_hcfused.go).

// HCEntry, reference: HCExpand, then HCCoeffsSinkhorn's and HCBoundary's
// reference expansions of the float32 state (float64 in verify's
// reference); the T outputs narrowed back to e's type.
func expandHCEntry(e *emitter, n *ir.Node, in, out []string) {
	dt := n.Inputs[0].Type.DType
	xt := ir.Type{DType: dt, Shape: n.Outputs[4].Type.Shape}
	streams := e.fresh(n.Name + "/streams")
	expandHCExpand(e, &ir.Node{Name: n.Name, Op: ir.OpHCExpand, Attrs: ir.Attrs{"streams": n.Attrs.Int("streams")}, Outputs: []*ir.Value{{Type: xt}}},
		ins(in[0]), []string{streams})
	s := e.wide(streams, dt)
	t := ir.Type{DType: ir.Float32, Shape: xt.Shape}
	e.coeffsSinkhornOf(n, s, t, in[1], in[2], out[:3])
	e.boundaryOf(n, s, t, n.Outputs[0], n.Outputs[2], out[0], out[2], in[3], n.Attrs.Float("norm_eps"), out[3:], false)
}

// HCEntry, lowering "custom": one ai.mhcc node, no body.
func expandHCEntryCustom(e *emitter, n *ir.Node, in, out []string) {
	a := n.Attrs
	e.add(target.DomainMHCC, "HCEntry", in, out, aInt("streams", a.Int("streams")), aFloat("eps", a.Float("eps")),
		aFloat("rms_eps", a.Float("rms_eps")), aInt("iters", a.Int("iters")), aFloat("norm_eps", a.Float("norm_eps")))
}

// HCEntry, lowering "function": the custom node plus its model-local
// function (hcEntryFunction).
func expandHCEntryFunction(e *emitter, n *ir.Node, in, out []string) {
	if e.f64 {
		panic("export: the function lowering of HCEntry has no float64 form")
	}
	e.function(target.DomainMHCC, "HCEntry", hcEntryFunction)
	expandHCEntryCustom(e, n, in, out)
}

// hcEntryFunction builds ai.mhcc.HCEntry(e, fn, base, w) -> pre, post,
// comb, normed, mixed for any e [..., C] of a float type: the state x = e
// repeated into streams (the attribute) in float32, then HCCoeffsSinkhorn's
// and HCPremixNorm's bodies on it, the boundary reading the coefficients
// just computed; normed and mixed in e's type (docs/fused-ops.md).
func hcEntryFunction() *onnxpb.FunctionProto {
	b := &bodyBuilder{like: "e"}
	eps, rmsEps, normEps := b.attrFloat("eps"), b.attrFloat("rms_eps"), b.attrFloat("norm_eps")
	es := b.op("Cast", ins("e"), aInt("to", int64(onnxpb.TensorProto_FLOAT)))
	n := b.named("Constant", "streams", nil, aRef("value_int", onnxpb.AttributeProto_INT, "streams"))
	shape := b.op("Concat", ins(b.op("Shape", ins(es), aInt("end", -1)), b.op("Unsqueeze", ins(n, b.ints(0))), b.op("Shape", ins(es), aInt("start", -1))),
		aInt("axis", 0))
	xs := b.op("Expand", ins(b.op("Unsqueeze", ins(es, b.ints(-2))), shape))
	b.coeffsSinkhorn(xs, eps, rmsEps, "pre", "post_out", "comb")
	b.boundary(xs, normEps, "pre", "comb", "normed", "mixed")
	return fusedFunction("HCEntry", []string{"e", "fn", "base", "w"}, []string{"pre", "post_out", "comb", "normed", "mixed"},
		[]string{"streams", "eps", "rms_eps", "iters", "norm_eps"}, b,
		"mHC model entry (docs/fused-ops.md): the state x = e repeated into streams (the attribute), float32; pre, post, comb "+
			"as HCCoeffsSinkhorn of x (eps, rms_eps, iters); normed, mixed as HCPremixNorm of x with pre and comb (norm_eps); "+
			"normed and mixed in e's type.")
}
