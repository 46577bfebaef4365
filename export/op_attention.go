package export

import (
	"fmt"
	"math"

	"github.com/mhcc-dev/mhcc/ir"
)

// Attention: causal grouped-query attention with RoPE (docs/spec.md §3). Query head
// h = kv·G + g (G = heads/kv_heads) reads kv head kv = h / G: q is viewed as
// [B, KV, G, S, D] and k, v as [B, KV, 1, S, D], so MatMul's broadcasting
// shares each kv head with its G query heads. Without cos and sin (inputs
// 5 and 6 omitted) there is no RoPE; inputs 7 to 10 are the optional biases
// of wq, wk, wv and wo.
func expandAttention(e *emitter, n *ir.Node, in, out []string) {
	h, kv, d := n.Attrs.Int("heads"), n.Attrs.Int("kv_heads"), n.Attrs.Int("head_dim")
	g := h / kv
	x := in[0]
	seq := e.seqLen(x, n.Inputs[0].Type.Shape[1])
	rope := in[5] != ""
	var cos, sin string
	if rope {
		cos, sin = e.ropeRows(in[5], seq), e.ropeRows(in[6], seq)
	}

	q := e.op("Reshape", "", ins(e.linearBias(x, in[1], optIn(in, 7), ""), e.i64s(0, 0, kv, g, d)))
	q = e.op("Transpose", "", ins(q), aInts("perm", 0, 2, 3, 1, 4)) // [B, KV, G, S, D]
	heads := func(w, b string) string {
		t := e.op("Reshape", "", ins(e.linearBias(x, w, b, ""), e.i64s(0, 0, kv, d)))
		t = e.op("Transpose", "", ins(t), aInts("perm", 0, 2, 1, 3)) // [B, KV, S, D]
		return e.op("Unsqueeze", "", ins(t, e.i64s(2)))              // [B, KV, 1, S, D]
	}
	k, v := heads(in[2], optIn(in, 8)), heads(in[3], optIn(in, 9))
	if rope {
		q, k = e.rope(q, cos, sin, d), e.rope(k, cos, sin, d)
	}

	kt := e.op("Transpose", "", ins(k), aInts("perm", 0, 1, 2, 4, 3))
	scores := e.op("Mul", "", ins(e.op("MatMul", "", ins(q, kt)), e.f32(1/math.Sqrt(float64(d)))))
	scores = e.op("Where", "", ins(e.causalMask(seq), e.f32(math.Inf(-1)), scores))
	p := e.op("Softmax", "", ins(scores), aInt("axis", -1))
	o := e.op("MatMul", "", ins(p, v))                              // [B, KV, G, S, D]
	o = e.op("Transpose", "", ins(o), aInts("perm", 0, 3, 1, 2, 4)) // [B, S, KV, G, D]
	o = e.op("Reshape", "", ins(o, e.i64s(0, 0, h*d)))
	e.linearBias(o, in[4], optIn(in, 10), out[0])
}

// maxPositions is the number of positions an attention node's tables hold:
// the rows of cos, or its max_sequence attribute when there is no RoPE.
func maxPositions(n *ir.Node) int64 {
	if n.Inputs[5] != nil {
		return n.Inputs[5].Type.Shape[0].Size
	}
	return n.Attrs.Int("max_sequence")
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

// The attention lowerings "webgpu" (listed in opmap.go's alternatives) are
// the reference computation with the causal (and, with a KV cache, padding)
// mask built from float32 positions instead of int64 Range, Greater,
// Equal, And and Or, which onnxruntime-web's WebGPU execution provider has
// no kernels for and runs on the CPU (bench/webgpu.md).

// positions returns the float32 constant [0, 1, …, rows-1].
func (e *emitter) positions(rows int64) string {
	v := make([]float64, rows)
	for i := range v {
		v[i] = float64(i)
	}
	return e.floats(fmt.Sprintf("positions.%d", rows), []int64{rows}, v)
}

// Attention, lowering "webgpu": the reference (expandAttention) with the
// causal mask as Greater(cols, rows) of float positions sliced from a
// [max_sequence] constant by the sequence length (a Shape, no arithmetic on
// int64). The mask is placed where causalMask finds it.
func expandAttentionWebGPU(e *emitter, n *ir.Node, in, out []string) {
	seq := e.seqLen(in[0], n.Inputs[0].Type.Shape[1])
	if key := "mask:" + seq; e.memo[key] == "" {
		pos := e.slice2(e.positions(maxPositions(n)), e.i64s(0), seq)
		rows := e.op("Unsqueeze", "", ins(pos, e.i64s(1))) // [S, 1]
		cols := e.op("Unsqueeze", "", ins(pos, e.i64s(0))) // [1, S]
		e.memo[key] = e.op("Greater", "", ins(cols, rows))
	}
	expandAttention(e, n, in, out)
}

// slice2 is x[start:end] along axis 0, start and end 1-D int64 tensors.
func (e *emitter) slice2(x, start, end string) string {
	return e.op("Slice", "", ins(x, start, end, e.i64s(0)))
}
