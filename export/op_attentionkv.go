package export

import (
	"fmt"
	"math"

	"github.com/mhcc-dev/mhcc/ir"
	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
	"github.com/mhcc-dev/mhcc/target"
	"google.golang.org/protobuf/proto"
)

// AttentionKV: Attention (op_attention.go) over the cached tokens and the new ones.
// The new keys (after RoPE at their positions) and values are appended to
// past_key and past_value along the sequence axis; the results are the
// presents, and the queries attend to all P+S keys under the causal mask
// shifted by P. The positions come from position_ids (input 10), gathered
// per sequence, and padded keys (attention_mask, input 9) are hidden
// (paddedMask), so a left-padded row computes what it computes unpadded.
// (Before attention_mask existed, positions were P..P+S-1 for every row
// and nothing was hidden; that graph was not measurably faster, bench/kvmask.md.)
// Without cos and sin there is no RoPE; inputs 11 to 14 are the optional
// biases of wq, wk, wv and wo.
func expandAttentionKV(e *emitter, n *ir.Node, in, out []string) {
	h, kv, d := n.Attrs.Int("heads"), n.Attrs.Int("kv_heads"), n.Attrs.Int("head_dim")
	g := h / kv
	x := in[0]
	seq := e.seqLen(x, n.Inputs[0].Type.Shape[1])
	past := e.pastLen(in[7], n.Inputs[7].Type.Shape[2])
	total := e.memoOp("total:"+past+":"+seq, "Add", past, seq)
	rope := in[5] != ""
	var cosK, sinK, cosQ, sinQ string
	if rope {
		cos, sin := e.positionRope(in[10], in[5], in[6], n.Inputs[5].Type.Shape[0].Size)                          // [B, S, D]
		cosK, sinK = e.op("Unsqueeze", "", ins(cos, e.i64s(1))), e.op("Unsqueeze", "", ins(sin, e.i64s(1)))       // [B, 1, S, D]
		cosQ, sinQ = e.op("Unsqueeze", "", ins(cos, e.i64s(1, 2))), e.op("Unsqueeze", "", ins(sin, e.i64s(1, 2))) // [B, 1, 1, S, D]
	}
	mask := e.op("Unsqueeze", "", ins(e.paddedMask(past, total, in[9]), e.i64s(1))) // [B, 1, 1, S, T]

	q := e.op("Reshape", "", ins(e.linearBias(x, in[1], optIn(in, 11), ""), e.i64s(0, 0, kv, g, d)))
	q = e.op("Transpose", "", ins(q), aInts("perm", 0, 2, 3, 1, 4)) // [B, KV, G, S, D]
	if rope {
		q = e.rope(q, cosQ, sinQ, d)
	}
	heads := func(w, b string) string {
		t := e.op("Reshape", "", ins(e.linearBias(x, w, b, ""), e.i64s(0, 0, kv, d)))
		return e.op("Transpose", "", ins(t), aInts("perm", 0, 2, 1, 3)) // [B, KV, S, D]
	}
	kNew := heads(in[2], optIn(in, 12))
	if rope {
		kNew = e.rope(kNew, cosK, sinK, d)
	}
	vNew := heads(in[3], optIn(in, 13))
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
	e.linearBias(o, in[4], optIn(in, 14), out[0])
}

// AttentionKV as onnxruntime's com.microsoft.GroupQueryAttention (CPU kernel
// since onnxruntime 1.17), the operator its generation tooling builds
// decoders with. The cache conventions are GroupQueryAttention's own:
// past_key / past_value [B, kv_heads, P, D] (BNSH) in, present_key /
// present_value [B, kv_heads, P+S, D] out, new keys and values appended at
// position P of each sequence; seqlens_k [B] int32 = T - 1 and
// total_sequence_length int32 = T = P + S are computed in the graph from
// the input shapes. Padding (attention_mask, left-padded as transformers.js
// sends it) goes in as the operator's attention_bias, 0 or −inf per key;
// positions (position_ids) pick the RoPE rows. The operator computes softmax(q·kᵀ/sqrt(D)) causally over the
// P + S keys, query head h reading kv head h / (heads/kv_heads), as docs/spec.md §3.
//
// RoPE is applied in the graph (as in the reference, docs/spec.md's rotate-half on
// the duplicated cos/sin tables) rather than with do_rotary: do_rotary needs
// head_dim to be a multiple of 16, and keeping RoPE outside keeps the one
// definition of positions (P..P+S-1, from the cache length) that the
// reference lowering uses, so both give the same presents.
//
// Where onnxruntime's kernel refuses the shapes — head_dim not a multiple of
// 8 (CheckInputs) — the node keeps the reference lowering. onnxruntime
// also refuses a chunk of new > 1 tokens on a non-empty cache unless the
// batch is 1 ("subsequent prompt"); that is a run-time condition the graph
// cannot route around, so it is documented (README, KV-cache graphs).
func expandAttentionKVGQA(e *emitter, n *ir.Node, in, out []string) {
	h, kv, d := n.Attrs.Int("heads"), n.Attrs.Int("kv_heads"), n.Attrs.Int("head_dim")
	if d%8 != 0 || e.f64 {
		// GroupQueryAttention has float and float16 kernels only; the
		// float64 verification reference keeps the reference lowering too.
		expandAttentionKV(e, n, in, out)
		return
	}
	x := in[0]
	seq := e.seqLen(x, n.Inputs[0].Type.Shape[1])
	past := e.pastLen(in[7], n.Inputs[7].Type.Shape[2])
	// Positions from position_ids; padding as an additive attention_bias
	// [B, 1, S, T] (0 or −inf, paddedMask). seqlens_k stays T − 1 for
	// every row: the cache is left-padded, all rows T slots long, which
	// is the layout GroupQueryAttention assumes when every sequence is
	// full; its own per-row lengths would mean right padding, which is
	// not what transformers.js or the kvcache session send.
	total := e.memoOp("total:"+past+":"+seq, "Add", past, seq)
	var cos, sin string
	if in[5] != "" { // else no RoPE
		cos, sin = e.positionRope(in[10], in[5], in[6], n.Inputs[5].Type.Shape[0].Size) // [B, S, D]
		cos = e.op("Unsqueeze", "", ins(cos, e.i64s(2)))                                // [B, S, 1, D]
		sin = e.op("Unsqueeze", "", ins(sin, e.i64s(2)))
	}
	key := "gqabias:" + past + ":" + total + ":" + in[9]
	bias := e.memo[key]
	if bias == "" {
		bias = e.op("Where", "", ins(e.paddedMask(past, total, in[9]), e.f32(math.Inf(-1)), e.f32(0)))
		e.memo[key] = bias
	}

	// proj returns x·wᵀ as [B, S, heads·D], with RoPE applied per head.
	proj := func(w, b string, heads int64, rope bool) string {
		t := e.linearBias(x, w, b, "")
		if !rope || cos == "" {
			return t
		}
		t = e.op("Reshape", "", ins(t, e.i64s(0, 0, heads, d))) // [B, S, heads, D]
		t = e.rope(t, cos, sin, d)
		return e.op("Reshape", "", ins(t, e.i64s(0, 0, heads*d)))
	}
	q, k, v := proj(in[1], optIn(in, 11), h, true), proj(in[2], optIn(in, 12), kv, true), proj(in[3], optIn(in, 13), kv, false)

	total32 := e.op("Cast", "", ins(total), aInt("to", int64(onnxpb.TensorProto_INT32)))
	batch := e.op("Shape", "", ins(x), aInt("start", 0), aInt("end", 1))
	last := e.op("Sub", "", ins(total, e.i64s(1)))
	seqlens := e.op("Cast", "", ins(e.op("Expand", "", ins(last, batch))), aInt("to", int64(onnxpb.TensorProto_INT32)))

	attn := e.fresh(n.Name + "/GroupQueryAttention")
	gqaIn := ins(q, k, v, in[7], in[8], seqlens, total32, "", "", "", bias) // cos_cache, sin_cache, position_ids omitted
	e.add(target.DomainMicrosoft, "GroupQueryAttention", gqaIn,
		[]string{attn, out[1], out[2]},
		aInt("num_heads", h), aInt("kv_num_heads", kv))
	e.linearBias(attn, in[4], optIn(in, 14), out[0])
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

// AttentionKV, lowering "webgpu": the reference (expandAttentionKV) with
// the total length T read from attention_mask's shape rather than added up
// (P + S), and the mask paddedMask computes made of float32 ops: with rows
// the positions P…T-1 of the queries, cols 0…T-1 of the keys, d = cols -
// rows and pad = 1 where attention_mask is 0 (a Gather from [1, 0]), a key
// is hidden where max(d, -pad·d) > 0: d > 0 (causal) or, for a padded key,
// d ≠ 0 (every key but the query's own slot). attention_mask must hold 0
// and 1 only (the Gather fails on other values).
func expandAttentionKVWebGPU(e *emitter, n *ir.Node, in, out []string) {
	seq := e.seqLen(in[0], n.Inputs[0].Type.Shape[1])
	past := e.pastLen(in[7], n.Inputs[7].Type.Shape[2])
	// pad [B, T] is float32, and T is read from its Shape: a Shape of the
	// int64 attention_mask itself runs on the CPU.
	padKey := "webgpu.pad:" + in[9]
	pad := e.memo[padKey]
	if pad == "" {
		pad = e.op("Gather", "", ins(e.floats("pad.of.mask", []int64{2}, []float64{1, 0}), in[9]), aInt("axis", 0))
		e.memo[padKey] = pad
	}
	totalKey := "total:" + past + ":" + seq
	total := e.memo[totalKey]
	if total == "" {
		total = e.dimLen(pad, n.Inputs[9].Type.Shape[1], 1)
		e.memo[totalKey] = total
	}
	if key := "paddedmask:" + past + ":" + total + ":" + in[9]; e.memo[key] == "" {
		pos := e.positions(maxPositions(n))
		rows := e.op("Unsqueeze", "", ins(e.slice2(pos, past, total), e.i64s(1)))      // [S, 1]
		cols := e.op("Unsqueeze", "", ins(e.slice2(pos, e.i64s(0), total), e.i64s(0))) // [1, T]
		d := e.op("Sub", "", ins(cols, rows))                                          // [S, T]
		pad := e.op("Unsqueeze", "", ins(pad, e.i64s(1, 2)))                           // [B, 1, 1, T]
		hide := e.op("Max", "", ins(d, e.op("Mul", "", ins(pad, e.op("Neg", "", ins(d))))))
		e.memo[key] = e.op("Greater", "", ins(hide, e.floats("half", []int64{1}, []float64{0.5})))
	}
	expandAttentionKV(e, n, in, out)
}
