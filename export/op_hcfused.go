package export

import (
	"github.com/mhcc-dev/mhcc/ir"
	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
	"github.com/mhcc-dev/mhcc/target"
	"google.golang.org/protobuf/proto"
)

// The fused mHC ops HCCoeffsSinkhorn, HCBoundary and HCCoeffsBoundary (docs/fused-ops.md,
// formed by the pass fuse_hc_boundary). Each IR op has three lowerings:
//
//   - reference: the op's parts written out with the other ops' reference
//     expansions (HCMix for the post-mix, HCCoeffs with the scales folded,
//     Sinkhorn, HCPremix, RMSNorm), in float32 (float64 for verify's
//     reference) behind Casts of a half-precision state;
//   - function: one ai.mhcc node plus a model-local function whose body
//     computes it in opset-17 standard operators for any rank and any n, so
//     onnxruntime without mhcc's custom-op library (ortops/), or any other
//     runtime, runs the body; the fused profile picks it;
//   - custom: the ai.mhcc node alone, for runtimes that ship the kernels.
//
// The ONNX op type depends on whether the previous sublayer's post-mix is
// fused in (inputs y, post), since a function has a fixed signature:
// HCCoeffsSinkhorn (x, fn, base) or HCPostCoeffsSinkhorn (x, fn, base, y,
// post); HCPremixNorm (x, pre, comb, w) -> (normed, mixed) or HCBoundary
// (x, pre, comb, w, y, post) -> (normed, mixed, state). HCCoeffsBoundary
// (x, fn, base, w, y, post) -> (pre, post, comb, normed, mixed, state) is
// the two with the post-mix, merged (one op type).

// FusedOpTypes lists the ai.mhcc op types of the fused lowerings.
var FusedOpTypes = []string{"HCCoeffsSinkhorn", "HCPostCoeffsSinkhorn", "HCPremixNorm", "HCBoundary", "HCCoeffsBoundary", "HCHead", "HCEntry"}

// onnxFloat is the ONNX elem type of float32 (float64 in the reference).
func (e *emitter) onnxFloat() int64 {
	if e.f64 {
		return int64(onnxpb.TensorProto_DOUBLE)
	}
	return int64(onnxpb.TensorProto_FLOAT)
}

// wide returns x as float32 (a Cast unless it is one already, or the graph
// is the float64 reference).
func (e *emitter) wide(x string, dt ir.DType) string {
	if e.f64 || dt == ir.Float32 {
		return x
	}
	return e.op("Cast", "", ins(x), aInt("to", e.onnxFloat()))
}

// narrowTo writes the float32 value computed by write into out, of type dt.
func (e *emitter) narrowTo(out string, dt ir.DType, write func(string)) {
	if e.f64 || dt == ir.Float32 {
		write(out)
		return
	}
	tmp := e.fresh(out + ".f32")
	write(tmp)
	et, err := elemType(dt)
	if err != nil {
		panic(err)
	}
	e.op("Cast", out, ins(tmp), aInt("to", int64(et)))
}

// fusedState returns the float32 state of a fused op: x, or x + post ⊗ y
// when inputs iy, iy+1 are given, and its type.
func (e *emitter) fusedState(n *ir.Node, in []string, iy int) (string, ir.Type) {
	t := ir.Type{DType: ir.Float32, Shape: n.Inputs[0].Type.Shape}
	x := e.wide(in[0], n.Inputs[0].Type.DType)
	if len(in) <= iy || in[iy] == "" {
		return x, t
	}
	y := e.wide(in[iy], n.Inputs[iy].Type.DType)
	yt := ir.Type{DType: ir.Float32, Shape: n.Inputs[iy].Type.Shape}
	mix := &ir.Node{Name: n.Name, Op: ir.OpHCMix, Inputs: []*ir.Value{{Type: t}, {Type: yt}, n.Inputs[iy+1]}}
	s := e.fresh(n.Name + "/state")
	expandHCMix(e, mix, ins(x, y, in[iy+1]), []string{s})
	return s, t
}

// HCCoeffsSinkhorn, reference: the state, HCCoeffs (scales folded into
// fn) and Sinkhorn, each by its own reference expansion.
func expandHCCoeffsSinkhorn(e *emitter, n *ir.Node, in, out []string) {
	s, t := e.fusedState(n, in, 3)
	e.coeffsSinkhornOf(n, s, t, in[1], in[2], out[:3])
}

// coeffsSinkhornOf writes the reference HCCoeffs (fn, base: the ONNX names
// of n's inputs 1 and 2) and Sinkhorn of the float32 state s of type t into
// out (pre, post, comb); n's attributes eps, rms_eps, iters, streams.
func (e *emitter) coeffsSinkhornOf(n *ir.Node, s string, t ir.Type, fn, base string, out []string) {
	a := n.Attrs
	coeffs := &ir.Node{Name: n.Name, Op: ir.OpHCCoeffs, Inputs: []*ir.Value{n.Inputs[2], {Type: t}, n.Inputs[1]},
		Attrs: ir.Attrs{"streams": a.Int("streams"), "eps": a.Float("eps"), "rms_eps": a.Float("rms_eps")}}
	logits := e.fresh(n.Name + "/logits")
	expandHCCoeffsFused(e, coeffs, ins(base, s, fn), []string{out[0], out[1], logits})
	sink := &ir.Node{Name: n.Name, Op: ir.OpSinkhorn, Inputs: []*ir.Value{{Type: n.Outputs[2].Type}},
		Attrs: ir.Attrs{"iters": a.Int("iters"), "eps": a.Float("eps")}}
	expandSinkhorn(e, sink, ins(logits), out[2:3])
}

// HCBoundary, reference: the state, HCPremix and RMSNorm, each by its own
// reference expansion; the outputs narrowed back to x's type.
func expandHCBoundary(e *emitter, n *ir.Node, in, out []string) {
	s, t := e.fusedState(n, in, 4)
	e.boundaryOf(n, s, t, n.Inputs[1], n.Inputs[2], in[1], in[2], in[3], n.Attrs.Float("eps"), out, n.Outputs[2].Uses > 0)
}

// boundaryOf writes the reference HCPremix (pre, comb: values pv, cv named
// pre, comb) and RMSNorm (weight w, n's input 3, epsilon eps) of the
// float32 state s of type t into out (normed, mixed and, if state, the
// state), narrowed to x's type.
func (e *emitter) boundaryOf(n *ir.Node, s string, t ir.Type, pv, cv *ir.Value, pre, comb, w string, eps float64, out []string, state bool) {
	dt := n.Inputs[0].Type.DType
	h := e.fresh(n.Name + "/h")
	premix := &ir.Node{Name: n.Name, Op: ir.OpHCPremix, Inputs: []*ir.Value{{Type: t}, pv, cv}}
	e.narrowTo(out[1], dt, func(mixed string) { expandHCPremix(e, premix, ins(s, pre, comb), []string{h, mixed}) })
	wf := e.wide(w, n.Inputs[3].Type.DType)
	norm := &ir.Node{Name: n.Name, Op: ir.OpRMSNorm, Attrs: ir.Attrs{"eps": eps}}
	e.narrowTo(out[0], dt, func(normed string) { expandRMSNorm(e, norm, ins(h, wf), []string{normed}) })
	if state {
		e.narrowTo(out[2], dt, func(state string) { e.op("Identity", state, ins(s)) })
	}
}

// HCCoeffsBoundary, reference: the state x + post ⊗ y once, then
// HCCoeffsSinkhorn's and HCBoundary's reference expansions of it, the
// boundary reading the coefficients just computed.
func expandHCCoeffsBoundary(e *emitter, n *ir.Node, in, out []string) {
	s, t := e.fusedState(n, in, 4)
	e.coeffsSinkhornOf(n, s, t, in[1], in[2], out[:3])
	e.boundaryOf(n, s, t, n.Outputs[0], n.Outputs[2], out[0], out[2], in[3], n.Attrs.Float("norm_eps"), out[3:], n.Outputs[5].Uses > 0)
}

// fusedPostMix reports whether n (HCCoeffsSinkhorn or HCBoundary) has its
// y and post inputs.
func fusedPostMix(n *ir.Node, in []string) bool {
	iy := 3
	if n.Op == ir.OpHCBoundary {
		iy = 4
	}
	return len(in) > iy+1 && in[iy] != ""
}

// HCCoeffsSinkhorn, lowering "custom": one ai.mhcc node, no body.
func expandHCCoeffsSinkhornCustom(e *emitter, n *ir.Node, in, out []string) {
	opType := "HCCoeffsSinkhorn"
	if fusedPostMix(n, in) {
		opType = "HCPostCoeffsSinkhorn"
	}
	e.add(target.DomainMHCC, opType, in, out, aFloat("eps", n.Attrs.Float("eps")),
		aFloat("rms_eps", n.Attrs.Float("rms_eps")), aInt("iters", n.Attrs.Int("iters")))
}

// HCCoeffsSinkhorn, lowering "function": the custom node plus its
// model-local function (hcCoeffsSinkhornFunction).
func expandHCCoeffsSinkhornFunction(e *emitter, n *ir.Node, in, out []string) {
	if e.f64 {
		panic("export: the function lowering of HCCoeffsSinkhorn has no float64 form")
	}
	post := fusedPostMix(n, in)
	if post {
		e.function(target.DomainMHCC, "HCPostCoeffsSinkhorn", func() *onnxpb.FunctionProto { return hcCoeffsSinkhornFunction(true) })
	} else {
		e.function(target.DomainMHCC, "HCCoeffsSinkhorn", func() *onnxpb.FunctionProto { return hcCoeffsSinkhornFunction(false) })
	}
	expandHCCoeffsSinkhornCustom(e, n, in, out)
}

// HCBoundary, lowering "custom": one ai.mhcc node, no body. Without the
// post-mix the state is x itself (an Identity, written only if read).
func expandHCBoundaryCustom(e *emitter, n *ir.Node, in, out []string) {
	if fusedPostMix(n, in) {
		if n.Outputs[2].Uses == 0 {
			out = []string{out[0], out[1], ""} // the state is optional: unread, it is not written
		}
		e.add(target.DomainMHCC, "HCBoundary", in, out, aFloat("eps", n.Attrs.Float("eps")))
		return
	}
	e.add(target.DomainMHCC, "HCPremixNorm", in[:4], out[:2], aFloat("eps", n.Attrs.Float("eps")))
	if n.Outputs[2].Uses > 0 {
		e.op("Identity", out[2], ins(in[0]))
	}
}

// HCBoundary, lowering "function": the custom node plus its model-local
// function (hcBoundaryFunction).
func expandHCBoundaryFunction(e *emitter, n *ir.Node, in, out []string) {
	if e.f64 {
		panic("export: the function lowering of HCBoundary has no float64 form")
	}
	if fusedPostMix(n, in) {
		e.function(target.DomainMHCC, "HCBoundary", func() *onnxpb.FunctionProto { return hcBoundaryFunction(true) })
	} else {
		e.function(target.DomainMHCC, "HCPremixNorm", func() *onnxpb.FunctionProto { return hcBoundaryFunction(false) })
	}
	expandHCBoundaryCustom(e, n, in, out)
}

// HCCoeffsBoundary, lowering "custom": one ai.mhcc node, no body; the
// state output is "" when nothing reads it.
func expandHCCoeffsBoundaryCustom(e *emitter, n *ir.Node, in, out []string) {
	if n.Outputs[5].Uses == 0 {
		out = append(out[:5:5], "") // the state is optional: unread, it is not written
	}
	a := n.Attrs
	e.add(target.DomainMHCC, "HCCoeffsBoundary", in, out, aFloat("eps", a.Float("eps")), aFloat("rms_eps", a.Float("rms_eps")),
		aInt("iters", a.Int("iters")), aFloat("norm_eps", a.Float("norm_eps")))
}

// HCCoeffsBoundary, lowering "function": the custom node plus its
// model-local function (hcCoeffsBoundaryFunction).
func expandHCCoeffsBoundaryFunction(e *emitter, n *ir.Node, in, out []string) {
	if e.f64 {
		panic("export: the function lowering of HCCoeffsBoundary has no float64 form")
	}
	e.function(target.DomainMHCC, "HCCoeffsBoundary", hcCoeffsBoundaryFunction)
	expandHCCoeffsBoundaryCustom(e, n, in, out)
}

// A bodyBuilder writes the nodes of a function body; values get the names
// given or t<k>.
type bodyBuilder struct {
	nodes []*onnxpb.NodeProto
	k     int
	like  string // the input whose type the T outputs take (CastLike); "" means x
}

// likeName is the input whose type the body's T outputs take.
func (b *bodyBuilder) likeName() string {
	if b.like == "" {
		return "x"
	}
	return b.like
}

func (b *bodyBuilder) op(op string, in []string, attrs ...*onnxpb.AttributeProto) string {
	b.k++
	return b.named(op, "t"+itoa(b.k)+"_"+op, in, attrs...)
}

func (b *bodyBuilder) named(op, out string, in []string, attrs ...*onnxpb.AttributeProto) string {
	b.nodes = append(b.nodes, &onnxpb.NodeProto{Name: proto.String(out), OpType: proto.String(op), Input: in, Output: []string{out}, Attribute: attrs})
	return out
}

func (b *bodyBuilder) ints(v ...int64) string {
	return b.op("Constant", nil, &onnxpb.AttributeProto{Name: proto.String("value_ints"), Type: onnxpb.AttributeProto_INTS.Enum(), Ints: v})
}

func (b *bodyBuilder) float(v float32) string {
	return b.op("Constant", nil, &onnxpb.AttributeProto{Name: proto.String("value_float"), Type: onnxpb.AttributeProto_FLOAT.Enum(), F: proto.Float32(v)})
}

func (b *bodyBuilder) attrFloat(name string) string {
	return b.named("Constant", name, nil, aRef("value_float", onnxpb.AttributeProto_FLOAT, name))
}

func itoa(k int) string {
	s := ""
	for {
		s = string(rune('0'+k%10)) + s
		if k /= 10; k == 0 {
			return s
		}
	}
}

// state writes the body's float32 state: Cast(x), plus post ⊗ y when post.
func (b *bodyBuilder) state(post bool) string {
	xs := b.op("Cast", ins("x"), aInt("to", int64(onnxpb.TensorProto_FLOAT)))
	if !post {
		return xs
	}
	ys := b.op("Cast", ins("y"), aInt("to", int64(onnxpb.TensorProto_FLOAT)))
	outer := b.op("Mul", ins(b.op("Unsqueeze", ins("post", b.ints(-1))), b.op("Unsqueeze", ins(ys, b.ints(-2)))))
	return b.op("Add", ins(xs, outer))
}

func fusedFunction(name string, in, out, attrs []string, b *bodyBuilder, doc string) *onnxpb.FunctionProto {
	return &onnxpb.FunctionProto{
		Name:        proto.String(name),
		Domain:      proto.String(target.DomainMHCC),
		Input:       in,
		Output:      out,
		Attribute:   attrs,
		Node:        b.nodes,
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(Opset)}},
		DocString:   proto.String(doc),
	}
}

// hcCoeffsSinkhornFunction builds ai.mhcc.HCCoeffsSinkhorn(x, fn, base)
// (with post: HCPostCoeffsSinkhorn(x, fn, base, y, post)) -> pre, post,
// comb for any x [..., n, C] of a float type, in float32 (docs/fused-ops.md).
func hcCoeffsSinkhornFunction(post bool) *onnxpb.FunctionProto {
	b := &bodyBuilder{}
	eps, rmsEps := b.attrFloat("eps"), b.attrFloat("rms_eps")
	b.coeffsSinkhorn(b.state(post), eps, rmsEps, "pre", "post_out", "comb")
	inputs, name := []string{"x", "fn", "base"}, "HCCoeffsSinkhorn"
	if post {
		inputs, name = append(inputs, "y", "post"), "HCPostCoeffsSinkhorn"
	}
	return fusedFunction(name, inputs, []string{"pre", "post_out", "comb"}, []string{"eps", "rms_eps", "iters"}, b, coeffsSinkhornDoc)
}

const coeffsSinkhornDoc = "mHC coefficients and Sinkhorn of one sublayer (docs/fused-ops.md): the state s = x (+ post⊗y), float32; " +
	"z = (sf·r)·fnᵀ + base with r = 1/sqrt(mean(sf²)+rms_eps); pre = sigmoid(z[0:n]) + eps, post = 2·sigmoid(z[n:2n]), " +
	"comb = Sinkhorn(z[2n:] as n×n, iters, eps) (docs/spec.md §2)."

// coeffsSinkhorn writes the coefficients of the float32 state xs (the
// body's inputs fn and base, attribute iters; eps and rmsEps the values of
// the attributes) into the values named pre, post and comb.
func (b *bodyBuilder) coeffsSinkhorn(xs, eps, rmsEps, pre, post, comb string) {
	lead := b.op("Shape", ins(xs), aInt("end", -2))
	n := b.op("Shape", ins(xs), aInt("start", -2), aInt("end", -1))
	xf := b.op("Reshape", ins(xs, b.op("Concat", ins(lead, b.ints(-1)), aInt("axis", 0))))
	ms := b.op("ReduceMean", ins(b.op("Mul", ins(xf, xf))), aInts("axes", -1), aInt("keepdims", 1))
	r := b.op("Reciprocal", ins(b.op("Sqrt", ins(b.op("Add", ins(ms, rmsEps))))))
	fnT := b.op("Transpose", ins("fn"), aInts("perm", 1, 0))
	z := b.op("Add", ins(b.op("MatMul", ins(b.op("Mul", ins(xf, r)), fnT)), "base"))
	n2 := b.op("Add", ins(n, n))
	axis, zero := b.ints(-1), b.ints(0)
	sg := b.op("Sigmoid", ins(b.op("Slice", ins(z, zero, n2, axis))))
	b.named("Add", pre, ins(b.op("Slice", ins(sg, zero, n, axis)), eps))
	b.named("Mul", post, ins(b.op("Slice", ins(sg, n, n2, axis)), b.float(2)))
	lg := b.op("Slice", ins(z, n2, b.ints(1<<62), axis))
	logits := b.op("Reshape", ins(lg, b.op("Concat", ins(lead, n, n), aInt("axis", 0))))
	// The Sinkhorn, as in sinkhornFunction: softmax + eps, columns, then a
	// Loop of iters-1 rows-and-columns steps.
	iters := b.named("Constant", "iters", nil, aRef("value_int", onnxpb.AttributeProto_INT, "iters"))
	rowAxis, colAxis := b.ints(-1), b.ints(-2)
	norm := func(b *bodyBuilder, c, axis string) string {
		sum := b.op("ReduceSum", ins(c, axis), aInt("keepdims", 1))
		return b.op("Div", ins(c, b.op("Add", ins(sum, eps))))
	}
	c1 := norm(b, b.op("Add", ins(b.op("Softmax", ins(logits), aInt("axis", -1)), eps)), colAxis)
	trip := b.op("Sub", ins(iters, b.op("Constant", nil, &onnxpb.AttributeProto{Name: proto.String("value_int"), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(1)})))
	lb := &bodyBuilder{k: 1000}
	condOut := lb.named("Identity", "body_cond_out", ins("body_cond"))
	cOut := lb.named("Identity", "body_c_out", ins(norm(lb, norm(lb, "body_c", rowAxis), colAxis)))
	body := sinkhornLoopBody(lb.nodes, condOut, cOut)
	b.nodes = append(b.nodes, &onnxpb.NodeProto{Name: proto.String("loop"), OpType: proto.String("Loop"),
		Input: ins(trip, "", c1), Output: []string{comb}, Attribute: []*onnxpb.AttributeProto{aGraph("body", body)}})
}

// hcBoundaryFunction builds ai.mhcc.HCBoundary(x, pre, comb, w, y, post)
// -> normed, mixed, state (without post: HCPremixNorm(x, pre, comb, w) ->
// normed, mixed) for any x [..., n, C] of a float type, accumulating in
// float32; outputs have x's type (docs/fused-ops.md).
func hcBoundaryFunction(post bool) *onnxpb.FunctionProto {
	b := &bodyBuilder{}
	eps := b.attrFloat("eps")
	xs := b.state(post)
	b.boundary(xs, eps, "pre", "comb", "normed", "mixed")
	inputs, outputs, name := []string{"x", "pre", "comb", "w"}, []string{"normed", "mixed"}, "HCPremixNorm"
	if post {
		b.named("CastLike", "state", ins(xs, "x"))
		inputs, outputs, name = append(inputs, "y", "post"), append(outputs, "state"), "HCBoundary"
	}
	return fusedFunction(name, inputs, outputs, []string{"eps"}, b, boundaryDoc)
}

const boundaryDoc = "mHC layer boundary (docs/fused-ops.md): the state s = x (+ post⊗y), float32; h = Σ_i pre[i]·s[i]; " +
	"normed = h / sqrt(mean(h²) + eps) · w; mixed[k] = Σ_j comb[j,k]·s[j]; outputs in x's type."

// boundary writes the collapse of the float32 state xs with pre, its
// RMSNorm (epsilon eps, the body's input w) and the mixing with comb into
// the values named normed and mixed, of the body's x's type.
func (b *bodyBuilder) boundary(xs, eps, pre, comb, normedOut, mixedOut string) {
	h := b.op("ReduceSum", ins(b.op("Mul", ins(b.op("Unsqueeze", ins(pre, b.ints(-1))), xs)), b.ints(-2)), aInt("keepdims", 0))
	prod := b.op("Mul", ins(b.op("Unsqueeze", ins(comb, b.ints(-1))), b.op("Unsqueeze", ins(xs, b.ints(-2)))))
	mixed := b.op("ReduceSum", ins(prod, b.ints(-3)), aInt("keepdims", 0))
	ms := b.op("ReduceMean", ins(b.op("Mul", ins(h, h))), aInts("axes", -1), aInt("keepdims", 1))
	w := b.op("Cast", ins("w"), aInt("to", int64(onnxpb.TensorProto_FLOAT)))
	normed := b.op("Mul", ins(b.op("Div", ins(h, b.op("Sqrt", ins(b.op("Add", ins(ms, eps)))))), w))
	b.named("CastLike", normedOut, ins(normed, b.likeName()))
	b.named("CastLike", mixedOut, ins(mixed, b.likeName()))
}

// hcCoeffsBoundaryFunction builds ai.mhcc.HCCoeffsBoundary(x, fn, base, w,
// y, post) -> pre, post, comb, normed, mixed, state: the state s = x +
// post ⊗ y once, in float32, then HCPostCoeffsSinkhorn's and HCBoundary's
// bodies on it, the boundary reading the coefficients just computed
// (docs/fused-ops.md).
func hcCoeffsBoundaryFunction() *onnxpb.FunctionProto {
	b := &bodyBuilder{}
	eps, rmsEps, normEps := b.attrFloat("eps"), b.attrFloat("rms_eps"), b.attrFloat("norm_eps")
	xs := b.state(true)
	b.coeffsSinkhorn(xs, eps, rmsEps, "pre", "post_out", "comb")
	b.boundary(xs, normEps, "pre", "comb", "normed", "mixed")
	b.named("CastLike", "state", ins(xs, "x"))
	return fusedFunction("HCCoeffsBoundary", []string{"x", "fn", "base", "w", "y", "post"},
		[]string{"pre", "post_out", "comb", "normed", "mixed", "state"}, []string{"eps", "rms_eps", "iters", "norm_eps"}, b,
		"mHC coefficients, Sinkhorn and layer boundary of one sublayer after the first (docs/fused-ops.md): the state s = x + post⊗y, "+
			"float32, once; pre, post, comb as HCPostCoeffsSinkhorn (eps, rms_eps, iters); normed, mixed, state as HCBoundary "+
			"with pre and comb (norm_eps); normed, mixed, state in x's type.")
}
