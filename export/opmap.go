package export

import (
	"fmt"
	"math"

	"google.golang.org/protobuf/proto"

	"github.com/mhcc-dev/mhcc/ir"
)

// An expansion writes the ONNX nodes (opset 17, domain ai.onnx) computing one
// IR node. in holds the ONNX names of the node's inputs ("" for an omitted
// one) and out the names its outputs must get.
type expansion func(e *emitter, n *ir.Node, in, out []string)

// opmap is the single table from IR op to its ONNX form. Every expansion is
// the straightforward reading of docs/spec.md §2–3, step by step, in float32: it is
// the reference lowering that optimised lowerings are compared against.
// TestOpmapComplete fails when an IR op has no row.
var opmap = map[ir.Op]expansion{
	ir.OpGather:       expandGather,
	ir.OpLinear:       expandLinear,
	ir.OpAdd:          expandAdd,
	ir.OpRMSNorm:      expandRMSNorm,
	ir.OpAttention:    expandAttention,
	ir.OpSwiGLU:       expandSwiGLU,
	ir.OpSiluMLP:      expandSiluMLP,
	ir.OpHCExpand:     expandHCExpand,
	ir.OpHCCoeffs:     expandHCCoeffs,
	ir.OpHCHeadCoeffs: expandHCHeadCoeffs,
	ir.OpSinkhorn:     expandSinkhorn,
	ir.OpHCCollapse:   expandHCCollapse,
	ir.OpHCMix:        expandHCMix,
	ir.OpHCPremix:     expandHCPremix,
	ir.OpAttentionKV:  expandAttentionKV,
	ir.OpCast:         expandCast,
	ir.OpAddRMSNorm:   expandAddRMSNorm,
}

// AddRMSNorm: s = a + b, then s / sqrt(mean(s², -1) + eps) · w.
func expandAddRMSNorm(e *emitter, n *ir.Node, in, out []string) {
	sum := e.op("Add", out[1], ins(in[0], in[1]))
	normed := e.op("Div", "", ins(sum, e.rms(sum, n.Attrs.Float("eps"))))
	e.op("Mul", out[0], ins(normed, in[2]))
}

// Cast: to the IR type of the output (float64 everything in the reference).
func expandCast(e *emitter, n *ir.Node, in, out []string) {
	dt := n.Outputs[0].Type.DType
	if e.f64 {
		dt = ir.Float64
	}
	et, err := elemType(dt)
	if err != nil {
		panic(err)
	}
	e.op("Cast", out[0], ins(in[0]), aInt("to", int64(et)))
}

// Gather: table[ids] along axis 0.
func expandGather(e *emitter, n *ir.Node, in, out []string) {
	e.op("Gather", out[0], ins(in[0], in[1]), aInt("axis", 0))
}

// linear emits x · wᵀ. The Transpose of a weight is folded by runtimes at
// load time; keeping the weight in its [out, in] layout keeps its name and
// shape those of docs/spec.md §4.
func (e *emitter) linear(x, w, out string) string {
	wt := e.op("Transpose", "", ins(w), aInts("perm", 1, 0))
	return e.op("MatMul", out, ins(x, wt))
}

// Linear: x · wᵀ.
func expandLinear(e *emitter, n *ir.Node, in, out []string) { e.linear(in[0], in[1], out[0]) }

// Add: a + b.
func expandAdd(e *emitter, n *ir.Node, in, out []string) { e.op("Add", out[0], ins(in[0], in[1])) }

// rms returns sqrt(mean(x², -1) + eps) with the last axis kept.
func (e *emitter) rms(x string, eps float64) string {
	sq := e.op("Mul", "", ins(x, x))
	ms := e.op("ReduceMean", "", ins(sq), aInts("axes", -1), aInt("keepdims", 1))
	return e.op("Sqrt", "", ins(e.op("Add", "", ins(ms, e.f32(eps)))))
}

// RMSNorm: x / sqrt(mean(x², -1) + eps) · w.
func expandRMSNorm(e *emitter, n *ir.Node, in, out []string) {
	normed := e.op("Div", "", ins(in[0], e.rms(in[0], n.Attrs.Float("eps"))))
	e.op("Mul", out[0], ins(normed, in[1]))
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

// silu(x) = x · sigmoid(x) (opset 17 has no Silu).
func (e *emitter) silu(x string) string {
	return e.op("Mul", "", ins(x, e.op("Sigmoid", "", ins(x))))
}

// SwiGLU: (silu(x·w1ᵀ) * (x·w3ᵀ)) · w2ᵀ.
func expandSwiGLU(e *emitter, n *ir.Node, in, out []string) {
	a := e.silu(e.linear(in[0], in[1], ""))
	b := e.linear(in[0], in[2], "")
	e.linear(e.op("Mul", "", ins(a, b)), in[3], out[0])
}

// SiluMLP: silu(x·w1ᵀ) · w2ᵀ.
func expandSiluMLP(e *emitter, n *ir.Node, in, out []string) {
	e.linear(e.silu(e.linear(in[0], in[1], "")), in[2], out[0])
}

// transposeLast emits x with its last two of rank axes exchanged (combᵀ).
func (e *emitter) transposeLast(x string, rank int) string {
	perm := make([]int64, rank)
	for i := range perm {
		perm[i] = int64(i)
	}
	perm[rank-2], perm[rank-1] = perm[rank-1], perm[rank-2]
	return e.op("Transpose", "", ins(x), aInts("perm", perm...))
}

// slice returns x[..., start:end] along axis.
func (e *emitter) slice(x string, start, end, axis int64) string {
	return e.op("Slice", "", ins(x, e.i64s(start), e.i64s(end), e.i64s(axis)))
}

// seqLen returns the sequence length of x [B, S, C] as a 1-D int64 tensor of
// one element: a constant when S is known, else Shape(x)[1:2], computed once.
func (e *emitter) seqLen(x string, s ir.Dim) string { return e.dimLen(x, s, 1) }

// dimLen returns dim d of x (its axis axis) as a 1-D int64 tensor of one
// element: a constant when d is known, else Shape(x)[axis:axis+1], emitted
// once per symbol.
func (e *emitter) dimLen(x string, d ir.Dim, axis int64) string {
	if d.Known() {
		return e.i64s(d.Size)
	}
	key := fmt.Sprintf("dim:%s:%d", d.Param, axis)
	if v, ok := e.memo[key]; ok {
		return v
	}
	v := e.op("Shape", "", ins(x), aInt("start", axis), aInt("end", axis+1))
	e.memo[key] = v
	return v
}

// ropeRows returns table[0:S] for the positions 0..S-1, computed once per table.
func (e *emitter) ropeRows(table, seq string) string {
	key := "rope:" + table + ":" + seq
	if v, ok := e.memo[key]; ok {
		return v
	}
	v := e.op("Slice", "", ins(table, e.i64s(0), seq, e.i64s(0)))
	e.memo[key] = v
	return v
}

// causalMask returns a bool [S, S] that is true where key position > query
// position (the entries to hide), computed once.
func (e *emitter) causalMask(seq string) string {
	key := "mask:" + seq
	if v, ok := e.memo[key]; ok {
		return v
	}
	s := e.op("Squeeze", "", ins(seq, e.i64s(0)))
	pos := e.op("Range", "", ins(e.i64(0), s, e.i64(1)))
	rows := e.op("Unsqueeze", "", ins(pos, e.i64s(1))) // [S, 1] query positions
	cols := e.op("Unsqueeze", "", ins(pos, e.i64s(0))) // [1, S] key positions
	v := e.op("Greater", "", ins(cols, rows))
	e.memo[key] = v
	return v
}

// rope applies the rotary embedding to t [..., S, D]: t·cos + rot(t)·sin with
// rot(t) = [-t₂, t₁], t₁ and t₂ the halves of the last axis.
func (e *emitter) rope(t, cos, sin string, d int64) string {
	t1 := e.slice(t, 0, d/2, -1)
	t2 := e.slice(t, d/2, d, -1)
	rot := e.op("Concat", "", ins(e.op("Neg", "", ins(t2)), t1), aInt("axis", -1))
	return e.op("Add", "", ins(e.op("Mul", "", ins(t, cos)), e.op("Mul", "", ins(rot, sin))))
}

// Attention: causal grouped-query attention with RoPE (docs/spec.md §3). Query head
// h = kv·G + g (G = heads/kv_heads) reads kv head kv = h / G: q is viewed as
// [B, KV, G, S, D] and k, v as [B, KV, 1, S, D], so MatMul's broadcasting
// shares each kv head with its G query heads.
func expandAttention(e *emitter, n *ir.Node, in, out []string) {
	h, kv, d := n.Attrs.Int("heads"), n.Attrs.Int("kv_heads"), n.Attrs.Int("head_dim")
	g := h / kv
	x := in[0]
	seq := e.seqLen(x, n.Inputs[0].Type.Shape[1])
	cos, sin := e.ropeRows(in[5], seq), e.ropeRows(in[6], seq)

	q := e.op("Reshape", "", ins(e.linear(x, in[1], ""), e.i64s(0, 0, kv, g, d)))
	q = e.op("Transpose", "", ins(q), aInts("perm", 0, 2, 3, 1, 4)) // [B, KV, G, S, D]
	heads := func(w string) string {
		t := e.op("Reshape", "", ins(e.linear(x, w, ""), e.i64s(0, 0, kv, d)))
		t = e.op("Transpose", "", ins(t), aInts("perm", 0, 2, 1, 3)) // [B, KV, S, D]
		return e.op("Unsqueeze", "", ins(t, e.i64s(2)))              // [B, KV, 1, S, D]
	}
	k, v := heads(in[2]), heads(in[3])
	q, k = e.rope(q, cos, sin, d), e.rope(k, cos, sin, d)

	kt := e.op("Transpose", "", ins(k), aInts("perm", 0, 1, 2, 4, 3))
	scores := e.op("Mul", "", ins(e.op("MatMul", "", ins(q, kt)), e.f32(1/math.Sqrt(float64(d)))))
	scores = e.op("Where", "", ins(e.causalMask(seq), e.f32(math.Inf(-1)), scores))
	p := e.op("Softmax", "", ins(scores), aInt("axis", -1))
	o := e.op("MatMul", "", ins(p, v))                              // [B, KV, G, S, D]
	o = e.op("Transpose", "", ins(o), aInts("perm", 0, 3, 1, 2, 4)) // [B, S, KV, G, D]
	o = e.op("Reshape", "", ins(o, e.i64s(0, 0, h*d)))
	e.linear(o, in[4], out[0])
}

// HCExpand: repeat x [..., C] into n streams [..., n, C].
func expandHCExpand(e *emitter, n *ir.Node, in, out []string) {
	s := n.Attrs.Int("streams")
	rank := int64(n.Outputs[0].Type.Shape.Rank())
	shape := make([]int64, rank)
	for i := range shape {
		shape[i] = 1
	}
	shape[rank-2] = s
	u := e.op("Unsqueeze", "", ins(in[0], e.i64s(-2)))
	e.op("Expand", out[0], ins(u, e.i64s(shape...)))
}

// flatState reshapes x [..., n, C] to xf [..., n·C], keeping the leading dims.
func (e *emitter) flatState(x string, t ir.Type) string {
	r := t.Shape.Rank()
	shape := make([]int64, r-1)
	shape[r-2] = t.Shape[r-2].Size * t.Shape[r-1].Size
	return e.op("Reshape", "", ins(x, e.i64s(shape...)))
}

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

// HCHeadCoeffs: pre = sigmoid(scale·(xf·fnᵀ)·r + base) + eps.
func expandHCHeadCoeffs(e *emitter, n *ir.Node, in, out []string) {
	xf := e.flatState(in[0], n.Inputs[0].Type)
	r := e.op("Reciprocal", "", ins(e.rms(xf, n.Attrs.Float("rms_eps"))))
	mixes := e.op("Mul", "", ins(e.linear(xf, in[1], ""), r))
	arg := e.op("Add", "", ins(e.op("Mul", "", ins(in[3], mixes)), in[2]))
	e.op("Add", out[0], ins(e.op("Sigmoid", "", ins(arg)), e.f32(n.Attrs.Float("eps"))))
}

// Sinkhorn (docs/spec.md §2): c = softmax(logits, -1) + eps; c /= colsum(c) + eps;
// then iters-1 times: c /= rowsum(c) + eps; c /= colsum(c) + eps.
func expandSinkhorn(e *emitter, n *ir.Node, in, out []string) {
	iters := n.Attrs.Int("iters")
	eps := e.f32(n.Attrs.Float("eps"))
	normalise := func(c string, axis int64, name string) string {
		sum := e.op("ReduceSum", "", ins(c, e.i64s(axis)), aInt("keepdims", 1))
		return e.op("Div", name, ins(c, e.op("Add", "", ins(sum, eps))))
	}
	c := e.op("Add", "", ins(e.op("Softmax", "", ins(in[0]), aInt("axis", -1)), eps))
	for i := int64(1); i <= iters; i++ {
		if i > 1 {
			c = normalise(c, -1, "")
		}
		name := ""
		if i == iters {
			name = out[0]
		}
		c = normalise(c, -2, name)
	}
}

// HCCollapse: Σ_i pre[i]·x[i] (weighted), Σ_i x[i] (sum) or the mean.
func expandHCCollapse(e *emitter, n *ir.Node, in, out []string) {
	switch n.Attrs.String("mode") {
	case "weighted":
		w := e.op("Unsqueeze", "", ins(in[1], e.i64s(-1))) // [..., n, 1]
		e.op("ReduceSum", out[0], ins(e.op("Mul", "", ins(in[0], w)), e.i64s(-2)), aInt("keepdims", 0))
	case "sum":
		e.op("ReduceSum", out[0], ins(in[0], e.i64s(-2)), aInt("keepdims", 0))
	case "mean":
		e.op("ReduceMean", out[0], ins(in[0]), aInts("axes", -2), aInt("keepdims", 0))
	}
}

// HCMix: x'[k] = post[k]·y + Σ_j comb[j,k]·x[j], i.e. combᵀ·x plus the outer
// product of post and y.
func expandHCMix(e *emitter, n *ir.Node, in, out []string) {
	post := e.op("Unsqueeze", "", ins(in[2], e.i64s(-1))) // [..., n, 1]
	y := e.op("Unsqueeze", "", ins(in[1], e.i64s(-2)))    // [..., 1, C]
	if len(in) < 4 || in[3] == "" {
		e.op("Add", out[0], ins(e.op("Mul", "", ins(post, y)), in[0]))
		return
	}
	combT := e.transposeLast(in[3], n.Inputs[3].Type.Shape.Rank())
	mixed := e.op("MatMul", "", ins(combT, in[0]))
	e.op("Add", out[0], ins(e.op("Mul", "", ins(post, y)), mixed))
}

// HCPremix: W = [preᵀ; combᵀ] ([..., n+1, n]) times x ([..., n, C]) in one
// MatMul, which reads x once for both the collapse h (row 0) and the mixed
// streams combᵀ·x (rows 1..n).
func expandHCPremix(e *emitter, n *ir.Node, in, out []string) {
	pre := e.op("Unsqueeze", "", ins(in[1], e.i64s(-2))) // [..., 1, n]
	combT := e.transposeLast(in[2], n.Inputs[2].Type.Shape.Rank())
	w := e.op("Concat", "", ins(pre, combT), aInt("axis", -2))
	both := e.op("MatMul", "", ins(w, in[0])) // [..., n+1, C]
	s := n.Inputs[0].Type.Shape[n.Inputs[0].Type.Shape.Rank()-2].Size
	h := e.fresh(n.Name + "/h")
	e.add("", "Split", ins(both, e.i64s(1, s)), []string{h, out[1]}, aInt("axis", -2))
	e.op("Squeeze", out[0], ins(h, e.i64s(-2)))
}

// pastLen returns the cached length P of past [B, KV, P, D] as a 1-D int64
// tensor of one element, computed once per symbol.
func (e *emitter) pastLen(past string, p ir.Dim) string { return e.dimLen(past, p, 2) }

// cacheMask returns, computed once, the bool [S, T] mask that is true where
// key position j > query position P + i (the entries to hide; every cached
// key is visible).
func (e *emitter) cacheMask(past, total string) string {
	key := "cachemask:" + past + ":" + total
	if v, ok := e.memo[key]; ok {
		return v
	}
	p := e.op("Squeeze", "", ins(past, e.i64s(0)))
	t := e.op("Squeeze", "", ins(total, e.i64s(0)))
	rows := e.op("Unsqueeze", "", ins(e.op("Range", "", ins(p, t, e.i64(1))), e.i64s(1)))        // [S, 1] query positions
	cols := e.op("Unsqueeze", "", ins(e.op("Range", "", ins(e.i64(0), t, e.i64(1))), e.i64s(0))) // [1, T] key positions
	mask := e.op("Greater", "", ins(cols, rows))
	e.memo[key] = mask
	return mask
}

// memoOp emits opType(inputs...) once per key.
func (e *emitter) memoOp(key, opType string, inputs ...string) string {
	if v, ok := e.memo[key]; ok {
		return v
	}
	v := e.op(opType, "", inputs)
	e.memo[key] = v
	return v
}

// positionRope returns, computed once per table pair, the RoPE rows of the
// new tokens gathered by position_ids [B, S]: cos and sin [B, S, D]. The
// Gather nodes are named for the limit, so a position past the tables
// (inputs.max_sequence) fails in any runtime with a message that says so
// rather than with a broadcast error further on.
func (e *emitter) positionRope(positions, cos, sin string, rows int64) (cosRows, sinRows string) {
	key := "posrope:" + positions + ":" + cos + ":" + sin
	if v, ok := e.memo[key+":cos"]; ok {
		return v, e.memo[key+":sin"]
	}
	gather := func(table string) string {
		out := e.fresh(e.node.Name + "/rope_rows")
		n := e.add("", "Gather", ins(table, positions), []string{out}, aInt("axis", 0))
		n.Name = proto.String(fmt.Sprintf("%s: position_ids must be in [0, %d) (inputs.max_sequence)", table, rows))
		return out
	}
	cosRows, sinRows = gather(cos), gather(sin)
	e.memo[key+":cos"], e.memo[key+":sin"] = cosRows, sinRows
	return cosRows, sinRows
}

// paddedMask returns, computed once, the bool [B, 1, S, T] mask of the
// entries to hide for attention_mask [B, T]: the causal mask shifted by P
// (cacheMask), and every key whose mask is 0 — except the query's own
// slot, so that a padding query (which sees only padding) still has one
// key and its softmax no NaN: a NaN there would reach the cache, and 0·NaN
// is NaN in every later product over the padded slots.
func (e *emitter) paddedMask(past, total, mask string) string {
	key := "paddedmask:" + past + ":" + total + ":" + mask
	if v, ok := e.memo[key]; ok {
		return v
	}
	causal := e.cacheMask(past, total) // [S, T]
	p := e.op("Squeeze", "", ins(past, e.i64s(0)))
	t := e.op("Squeeze", "", ins(total, e.i64s(0)))
	rows := e.op("Unsqueeze", "", ins(e.op("Range", "", ins(p, t, e.i64(1))), e.i64s(1)))        // [S, 1]
	cols := e.op("Unsqueeze", "", ins(e.op("Range", "", ins(e.i64(0), t, e.i64(1))), e.i64s(0))) // [1, T]
	notSelf := e.op("Not", "", ins(e.op("Equal", "", ins(cols, rows))))                          // [S, T]
	pad := e.op("Equal", "", ins(mask, e.i64(0)))                                                // [B, T]
	pad = e.op("Unsqueeze", "", ins(pad, e.i64s(1, 2)))                                          // [B, 1, 1, T]
	hide := e.op("Or", "", ins(causal, e.op("And", "", ins(pad, notSelf))))                      // [B, 1, S, T]
	e.memo[key] = hide
	return hide
}

// AttentionKV: Attention (above) over the cached tokens and the new ones.
// The new keys (after RoPE at their positions) and values are appended to
// past_key and past_value along the sequence axis; the results are the
// presents, and the queries attend to all P+S keys under the causal mask
// shifted by P. The positions come from position_ids (input 10), gathered
// per sequence, and padded keys (attention_mask, input 9) are hidden
// (paddedMask), so a left-padded row computes what it computes unpadded.
// (Before attention_mask existed, positions were P..P+S-1 for every row
// and nothing was hidden; that graph was not measurably faster, bench/kvmask.md.)
func expandAttentionKV(e *emitter, n *ir.Node, in, out []string) {
	h, kv, d := n.Attrs.Int("heads"), n.Attrs.Int("kv_heads"), n.Attrs.Int("head_dim")
	g := h / kv
	x := in[0]
	seq := e.seqLen(x, n.Inputs[0].Type.Shape[1])
	past := e.pastLen(in[7], n.Inputs[7].Type.Shape[2])
	total := e.memoOp("total:"+past+":"+seq, "Add", past, seq)
	cos, sin := e.positionRope(in[10], in[5], in[6], n.Inputs[5].Type.Shape[0].Size)                           // [B, S, D]
	cosK, sinK := e.op("Unsqueeze", "", ins(cos, e.i64s(1))), e.op("Unsqueeze", "", ins(sin, e.i64s(1)))       // [B, 1, S, D]
	cosQ, sinQ := e.op("Unsqueeze", "", ins(cos, e.i64s(1, 2))), e.op("Unsqueeze", "", ins(sin, e.i64s(1, 2))) // [B, 1, 1, S, D]
	mask := e.op("Unsqueeze", "", ins(e.paddedMask(past, total, in[9]), e.i64s(1)))                            // [B, 1, 1, S, T]

	q := e.op("Reshape", "", ins(e.linear(x, in[1], ""), e.i64s(0, 0, kv, g, d)))
	q = e.op("Transpose", "", ins(q), aInts("perm", 0, 2, 3, 1, 4)) // [B, KV, G, S, D]
	q = e.rope(q, cosQ, sinQ, d)
	heads := func(w string) string {
		t := e.op("Reshape", "", ins(e.linear(x, w, ""), e.i64s(0, 0, kv, d)))
		return e.op("Transpose", "", ins(t), aInts("perm", 0, 2, 1, 3)) // [B, KV, S, D]
	}
	kNew := e.rope(heads(in[2]), cosK, sinK, d)
	vNew := heads(in[3])
	k := e.op("Concat", out[1], ins(in[7], kNew), aInt("axis", 2)) // [B, KV, T, D]
	v := e.op("Concat", out[2], ins(in[8], vNew), aInt("axis", 2))
	k = e.op("Unsqueeze", "", ins(k, e.i64s(2))) // [B, KV, 1, T, D]
	v = e.op("Unsqueeze", "", ins(v, e.i64s(2)))

	kt := e.op("Transpose", "", ins(k), aInts("perm", 0, 1, 2, 4, 3))
	scores := e.op("Mul", "", ins(e.op("MatMul", "", ins(q, kt)), e.f32(1/math.Sqrt(float64(d)))))
	scores = e.op("Where", "", ins(mask, e.f32(math.Inf(-1)), scores))
	p := e.op("Softmax", "", ins(scores), aInt("axis", -1))
	o := e.op("MatMul", "", ins(p, v))                              // [B, KV, G, S, D]
	o = e.op("Transpose", "", ins(o), aInts("perm", 0, 3, 1, 2, 4)) // [B, S, KV, G, D]
	o = e.op("Reshape", "", ins(o, e.i64s(0, 0, h*d)))
	e.linear(o, in[4], out[0])
}
