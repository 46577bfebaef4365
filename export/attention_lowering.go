package export

import (
	"math"

	"github.com/mhcc-dev/mhcc/ir"
	"github.com/mhcc-dev/mhcc/onnx/pb"
	"github.com/mhcc-dev/mhcc/target"
)

// attentionLowerings holds the alternative lowerings of Attention (e.g. the
// onnxruntime contrib operators).
var attentionLowerings = map[ir.Op]map[string]expansion{
	ir.OpAttentionKV: {"gqa": expandAttentionKVGQA},
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
	cos, sin := e.positionRope(in[10], in[5], in[6], n.Inputs[5].Type.Shape[0].Size) // [B, S, D]
	cos = e.op("Unsqueeze", "", ins(cos, e.i64s(2)))                                 // [B, S, 1, D]
	sin = e.op("Unsqueeze", "", ins(sin, e.i64s(2)))
	key := "gqabias:" + past + ":" + total + ":" + in[9]
	bias := e.memo[key]
	if bias == "" {
		bias = e.op("Where", "", ins(e.paddedMask(past, total, in[9]), e.f32(math.Inf(-1)), e.f32(0)))
		e.memo[key] = bias
	}

	// proj returns x·wᵀ as [B, S, heads·D], with RoPE applied per head.
	proj := func(w string, heads int64, rope bool) string {
		t := e.linear(x, w, "")
		if !rope {
			return t
		}
		t = e.op("Reshape", "", ins(t, e.i64s(0, 0, heads, d))) // [B, S, heads, D]
		t = e.rope(t, cos, sin, d)
		return e.op("Reshape", "", ins(t, e.i64s(0, 0, heads*d)))
	}
	q, k, v := proj(in[1], h, true), proj(in[2], kv, true), proj(in[3], kv, false)

	total32 := e.op("Cast", "", ins(total), aInt("to", int64(onnxpb.TensorProto_INT32)))
	batch := e.op("Shape", "", ins(x), aInt("start", 0), aInt("end", 1))
	last := e.op("Sub", "", ins(total, e.i64s(1)))
	seqlens := e.op("Cast", "", ins(e.op("Expand", "", ins(last, batch))), aInt("to", int64(onnxpb.TensorProto_INT32)))

	attn := e.fresh(n.Name + "/GroupQueryAttention")
	gqaIn := ins(q, k, v, in[7], in[8], seqlens, total32, "", "", "", bias) // cos_cache, sin_cache, position_ids omitted
	e.add(target.DomainMicrosoft, "GroupQueryAttention", gqaIn,
		[]string{attn, out[1], out[2]},
		aInt("num_heads", h), aInt("kv_num_heads", kv))
	e.linear(attn, in[4], out[0])
}
