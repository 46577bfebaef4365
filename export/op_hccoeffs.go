package export

import (
	"fmt"

	"github.com/mhcc-dev/mhcc/ir"
)

// HCCoeffs (docs/spec.md §2), dynamic:
//
//	xf = flatten(x); r = 1/sqrt(mean(xf²) + rms_eps); mixes = (xf·fnᵀ)·r
//	pre  = sigmoid(scale[0]·mixes[0:n]   + base[0:n])  + eps
//	post = 2·sigmoid(scale[1]·mixes[n:2n] + base[n:2n])
//	logits = reshape(scale[2]·mixes[2n:] + base[2n:], [..., n, n])
//
// static: the same with mixes = 0, so the results have no leading dims.
func expandHCCoeffs(e *emitter, n *ir.Node, in, out []string) {
	s := n.Attrs.Int("streams")
	eps := n.Attrs.Float("eps")
	base := in[0]
	part := func(k int64, src string) string { return e.slice(src, k*s, k*s+s, -1) }
	var preArg, postArg, combArg string
	var lead []int64
	switch len(in) {
	case 1:
		preArg, postArg, combArg = part(0, base), part(1, base), e.slice(base, 2*s, 2*s+s*s, -1)
	case 3: // scale folded into fn (fuse_hc_projection)
		expandHCCoeffsFused(e, n, in, out)
		return
	default:
		x, fn, scale := in[1], in[2], in[3]
		xf := e.flatState(x, n.Inputs[1].Type)
		r := e.op("Reciprocal", "", ins(e.rms(xf, n.Attrs.Float("rms_eps"))))
		mixes := e.op("Mul", "", ins(e.linear(xf, fn, ""), r))
		sc := func(k int64) string { return e.slice(scale, k, k+1, 0) }
		preArg = e.op("Add", "", ins(e.op("Mul", "", ins(sc(0), part(0, mixes))), part(0, base)))
		postArg = e.op("Add", "", ins(e.op("Mul", "", ins(sc(1), part(1, mixes))), part(1, base)))
		combArg = e.op("Add", "", ins(e.op("Mul", "", ins(sc(2), e.slice(mixes, 2*s, 2*s+s*s, -1))), e.slice(base, 2*s, 2*s+s*s, -1)))
		lead = make([]int64, n.Inputs[1].Type.Shape.Rank()-2) // zeros: copy the leading dims
	}
	e.op("Add", out[0], ins(e.op("Sigmoid", "", ins(preArg)), e.f32(eps)))
	e.op("Mul", out[1], ins(e.op("Sigmoid", "", ins(postArg)), e.f32(2)))
	e.op("Reshape", out[2], ins(combArg, e.i64s(append(lead, s, s)...)))
}

// flatState reshapes x [..., n, C] to xf [..., n·C], keeping the leading dims.
func (e *emitter) flatState(x string, t ir.Type) string {
	r := t.Shape.Rank()
	shape := make([]int64, r-1)
	shape[r-2] = t.Shape[r-2].Size * t.Shape[r-1].Size
	return e.op("Reshape", "", ins(x, e.i64s(shape...)))
}

// expandHCCoeffsFused is HCCoeffs with the scales folded into fn: z =
// (xf·r)·fnᵀ + base, the RMS factor applied before the one GEMM (the same
// product, reassociated) in the exact pattern onnxruntime fuses into one
// SimplifiedLayerNormalization pass over the state (see rmsNormalised), and
// one add over the whole [..., 2n+n²] row; then one Split into the pre/post part and the logits,
// one Sigmoid for pre and post together, scaled by [1…1, 2…2] and shifted
// by [eps…eps, 0…0] (exactly sigmoid + eps and 2·sigmoid), and one Split.
func expandHCCoeffsFused(e *emitter, n *ir.Node, in, out []string) {
	s := n.Attrs.Int("streams")
	xf := e.flatState(in[1], n.Inputs[1].Type)
	z := e.op("Add", "", ins(e.linear(e.rmsNormalised(xf, n.Inputs[1].Type, n.Attrs.Float("rms_eps")), in[2], ""), in[0]))
	pp, lg := e.fresh(n.Name+"/prepost"), e.fresh(n.Name+"/logits")
	e.add("", "Split", ins(z, e.i64s(2*s, s*s)), []string{pp, lg}, aInt("axis", -1))
	mul, add := make([]float64, 2*s), make([]float64, 2*s)
	for i := int64(0); i < s; i++ {
		mul[i], mul[s+i], add[i] = 1, 2, n.Attrs.Float("eps")
	}
	key := fmt.Sprintf("%d.%g", s, n.Attrs.Float("eps"))
	sg := e.op("Sigmoid", "", ins(pp))
	sg = e.op("Add", "", ins(e.op("Mul", "", ins(sg, e.floats("hc.prepost.scale."+key, []int64{2 * s}, mul))), e.floats("hc.prepost.shift."+key, []int64{2 * s}, add)))
	e.add("", "Split", ins(sg, e.i64s(s, s)), []string{out[0], out[1]}, aInt("axis", -1))
	lead := make([]int64, n.Inputs[1].Type.Shape.Rank()-2)
	e.op("Reshape", out[2], ins(lg, e.i64s(append(lead, s, s)...)))
}

// rmsNormalised returns xf / sqrt(mean(xf², -1) + eps) for the flattened
// state xf (type t [..., n, C]) written as Pow(x, 2), ReduceMean, Add, Sqrt,
// Div and a Mul by ones: the pattern onnxruntime's SimplifiedLayerNormFusion
// turns into one SimplifiedLayerNormalization kernel (a single pass over
// the state; its ReduceSumSquare alone measured 1 ms of the 1.1 ms of an
// [256, 4096] coefficient path, bench/ortprofile), and plain standard
// operators for every other runtime.
func (e *emitter) rmsNormalised(xf string, t ir.Type, eps float64) string {
	r := t.Shape.Rank()
	m := t.Shape[r-2].Size * t.Shape[r-1].Size
	ones := make([]float64, m)
	for i := range ones {
		ones[i] = 1
	}
	sq := e.op("Pow", "", ins(xf, e.f32(2)))
	ms := e.op("ReduceMean", "", ins(sq), aInts("axes", -1), aInt("keepdims", 1))
	rms := e.op("Sqrt", "", ins(e.op("Add", "", ins(ms, e.f32(eps)))))
	return e.op("Mul", "", ins(e.op("Div", "", ins(xf, rms)), e.floats(fmt.Sprintf("ones.%d", m), []int64{m}, ones)))
}

// rmsSumSquare returns sqrt(Σx²/m + eps) over the last axis (size m, from
// the flattened state type t [..., n, C]: m = n·C) with one ReduceSumSquare
// over the big tensor, where rms's Mul and ReduceMean make two passes; the
// division by m and the rest work on one value per token.
func (e *emitter) rmsSumSquare(xf string, t ir.Type, eps float64) string {
	r := t.Shape.Rank()
	m := t.Shape[r-2].Size * t.Shape[r-1].Size
	ss := e.op("ReduceSumSquare", "", ins(xf), aInts("axes", -1), aInt("keepdims", 1))
	ms := e.op("Div", "", ins(ss, e.f32(float64(m))))
	return e.op("Sqrt", "", ins(e.op("Add", "", ins(ms, e.f32(eps)))))
}

// HCCoeffs: arg = scale·mixes + base over the whole [B, 2n+n²] row (scale
// spread over it by a MatMul; static mHC: arg = base as [1, 2n+n²]), then
// pre, post and the logits each selected by a MatMul with a 0/1 matrix.
func minimalHCCoeffs(e *emitter, n *ir.Node, in, out []string) {
	s := n.Attrs.Int("streams")
	m := s*s + 2*s
	base := e.reshape(in[0], 1, m)
	arg := base
	dynamic := len(in) > 1 // inputs base, x, fn[, scale]
	preOut, postOut := "", ""
	switch {
	case len(in) == 3: // scale folded into fn (fuse_hc_projection)
		arg = e.op("Add", "", ins(e.mixes(n, 1, in[1], in[2]), base))
		preOut, postOut = out[0], out[1]
	case dynamic:
		scale := e.op("MatMul", "", ins(e.reshape(in[3], 1, 3), e.spread(s)))
		arg = e.op("Add", "", ins(e.op("Mul", "", ins(scale, e.mixes(n, 1, in[1], in[2]))), base))
		preOut, postOut = out[0], out[1]
	}
	part := func(from, k int64) string { return e.op("MatMul", "", ins(arg, e.selectCols(m, from, k))) }
	pre := e.op("Add", preOut, ins(e.op("Sigmoid", "", ins(part(0, s))), e.scalar2(n.Attrs.Float("eps"))))
	post := e.op("Mul", postOut, ins(e.op("Sigmoid", "", ins(part(s, s))), e.scalar2(2)))
	logits := part(2*s, s*s)
	if dynamic {
		e.op("Reshape", out[2], ins(logits, e.i64s(0, s, s)))
		return
	}
	// Static mHC: the coefficients have no batch axis.
	e.op("Reshape", out[0], ins(pre, e.i64s(s)))
	e.op("Reshape", out[1], ins(post, e.i64s(s)))
	e.op("Reshape", out[2], ins(logits, e.i64s(s, s)))
}

// spread is the [3, 2n+n²] matrix that lays scale [1, 3] over the mixes:
// scale[0] over the n pre entries, scale[1] over the n post entries, scale[2]
// over the n² mixing logits.
func (e *emitter) spread(n int64) string {
	m := n*n + 2*n
	return e.minimalConst(fmt.Sprintf("spread.%d", n), []int64{3, m}, func(v []float64) {
		for j := int64(0); j < m; j++ {
			row := min(j/n, 2)
			v[row*m+j] = 1
		}
	})
}

// mixes returns (xf·fnᵀ)·r [B, k] for the state x [B, n, C] (input xi of
// n): xf its [B, n·C] view and r = 1/sqrt(mean(xf²) + rms_eps).
func (e *emitter) mixes(n *ir.Node, xi int, x, fn string) string {
	needRank(n, xi, 3)
	nc := n.Attrs.Int("streams") * lastSize(n, xi)
	xf := e.reshape(x, 0, nc)
	r := e.op("Div", "", ins(e.scalar2(1), e.minimalRMS(xf, nc, n.Attrs.Float("rms_eps"))))
	return e.op("Mul", "", ins(e.linear(xf, fn, ""), r))
}
