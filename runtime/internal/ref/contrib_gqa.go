package ref

import (
	"fmt"
	"math"

	"github.com/mhcc-dev/mhcc/runtime/internal/core"
)

// This file holds com.microsoft.GroupQueryAttention, onnxruntime's contrib
// operator for decoder attention with a KV cache (the operator its
// generation tooling builds decoders with). The semantics are those of
// onnxruntime's CPU kernel (contrib_ops/cpu/bert/group_query_attention.cc,
// group_query_attention_helper.h and gqa_attention_base.h):
//
//	inputs   query [B, S, N·H] (or packed [B, S, (N+2·Nkv)·H] with key and value omitted),
//	         key, value [B, S, Nkv·H], past_key, past_value [B, Nkv, P, H] (BNSH, optional),
//	         seqlens_k int32 [B] (total length − 1 per sequence),
//	         total_sequence_length int32 (one element)
//	outputs  output [B, S, N·H], present_key, present_value [B, Nkv, max(T, P), H]
//	attrs    num_heads N, kv_num_heads Nkv, scale (0: 1/sqrt(H)), softcap (0: none),
//	         local_window_size (−1: none), do_rotary (0), smooth_softmax (0)
//
// For sequence b with total length L = seqlens_k[b] + 1 the cache holds
// P_b = L − S tokens (0 for the first prompt, S = T): present[b] is
// past[b][:P_b] followed by the S new keys (values), zero beyond L. Query s
// of head n attends to keys 0..P_b+s of kv head n / (N/Nkv) with
// softmax(scale·q·k) (after softcap·tanh(x/softcap) when softcap > 0; with
// a local window only the last local_window_size of them, its own included:
// onnxruntime 1.30's behaviour, measured by the crosscheck test). As in
// onnxruntime, a chunk of S > 1 tokens on a non-empty cache (S ≠ T) needs
// B = 1, and S must be 1 when it is not a prompt.
//
// attention_bias [B or 1, N or 1, S, T] is added to the scores (after the
// softcap, as onnxruntime does; the crosscheck test has a case with both):
// mhcc's KV-cache graphs hide padding with it. Rotary embedding inside the
// operator (do_rotary, cos_cache, sin_cache, position_ids), head_sink and
// smooth_softmax are not implemented: mhcc applies RoPE in the graph. A
// node using them fails to run with a message naming the input or
// attribute.

// GQA is a GroupQueryAttention call's inputs, checked: the dims, where
// each token's query, key and value rows sit in the inputs, the cache
// lengths per sequence and the attributes. GQAArgs makes it; the reference
// loop (groupQueryAttention) and the Fast engine's float32 form
// (runtime/internal/fast) both start from it.
type GQA struct {
	B, S, NH, NKV, HD int
	Packed            bool
	// Per token, in the input rows: the query's stride, and the key's and
	// value's (the same tensor as the query's when packed); the offsets of
	// the query, key and value within a row.
	QStride, KVStride, QOff, KOff, VOff int
	PBuf, Total, Present                int   // past buffer length, total_sequence_length, present length max(Total, PBuf)
	PastLen                             []int // per sequence: the cached tokens P_b
	Scale, Softcap                      float64
	Window                              int
	// Bias is attention_bias (nil: none); BiasB and BiasH its strides of
	// batch and head, 0 where broadcast.
	Bias         *core.Tensor
	BiasB, BiasH int
}

// GQAArgs checks a GroupQueryAttention call's inputs and attributes (the
// failures name what is wrong, as onnxruntime's checks do).
func GQAArgs(c *core.Call, in []*core.Tensor) *GQA {
	arg := func(i int) *core.Tensor {
		if i < len(in) {
			return in[i]
		}
		return nil
	}
	for i, name := range map[int]string{7: "cos_cache", 8: "sin_cache", 9: "position_ids", 11: "head_sink"} {
		if arg(i) != nil {
			core.Failf("GroupQueryAttention: input %s is not implemented (mhcc applies RoPE in the graph)", name)
		}
	}
	if c.Int("do_rotary", 0) != 0 {
		core.Failf("GroupQueryAttention: do_rotary=1 is not implemented (mhcc applies RoPE in the graph)")
	}
	if c.Int("smooth_softmax", 0) != 0 {
		core.Failf("GroupQueryAttention: smooth_softmax=1 is not implemented")
	}
	nh, nkv := int(c.Int("num_heads", 0)), int(c.Int("kv_num_heads", 0))
	if nh <= 0 || nkv <= 0 || nh%nkv != 0 {
		core.Failf("GroupQueryAttention: num_heads %d and kv_num_heads %d: want positive, num_heads a multiple of kv_num_heads", nh, nkv)
	}
	query, key, value := in[0], arg(1), arg(2)
	if len(query.Shape) != 3 {
		core.Failf("GroupQueryAttention: query has shape %v, want [batch, sequence, hidden]", query.Shape)
	}
	b, s := int(query.Shape[0]), int(query.Shape[1])
	packed := key == nil
	if packed != (value == nil) {
		core.Failf("GroupQueryAttention: key and value must be both present or both absent (packed QKV)")
	}
	var hd int
	if packed {
		hd = int(query.Shape[2]) / (nh + 2*nkv)
	} else {
		hd = int(query.Shape[2]) / nh
		for _, t := range []*core.Tensor{key, value} {
			if len(t.Shape) != 3 || int(t.Shape[0]) != b || int(t.Shape[1]) != s || int(t.Shape[2]) != nkv*hd {
				core.Failf("GroupQueryAttention: key/value have shape %v, want [%d, %d, %d]", t.Shape, b, s, nkv*hd)
			}
		}
	}
	if hd == 0 || hd%8 != 0 {
		core.Failf("GroupQueryAttention: head size %d, want a multiple of 8 (as onnxruntime)", hd)
	}

	pastK, pastV := arg(3), arg(4)
	if (pastK == nil) != (pastV == nil) {
		core.Failf("GroupQueryAttention: past_key and past_value must be both present or both absent")
	}
	pBuf := 0
	if pastK != nil {
		want := []int64{int64(b), int64(nkv), -1, int64(hd)}
		for _, t := range []*core.Tensor{pastK, pastV} {
			if len(t.Shape) != 4 || t.Shape[0] != want[0] || t.Shape[1] != want[1] || t.Shape[3] != want[3] || t.Shape[2] != pastK.Shape[2] {
				core.Failf("GroupQueryAttention: past_key/past_value have shapes %v and %v, want [%d, %d, P, %d]", pastK.Shape, pastV.Shape, b, nkv, hd)
			}
		}
		pBuf = int(pastK.Shape[2])
	}
	seqlens := arg(5)
	totalT := arg(6)
	if seqlens == nil || totalT == nil {
		core.Failf("GroupQueryAttention: seqlens_k and total_sequence_length are required")
	}
	if seqlens.Len() != b {
		core.Failf("GroupQueryAttention: seqlens_k has %d elements, want the batch size %d", seqlens.Len(), b)
	}
	if totalT.Len() != 1 {
		core.Failf("GroupQueryAttention: total_sequence_length has %d elements, want 1", totalT.Len())
	}
	total := int(totalT.Int64s()[0])
	present := max(total, pBuf)
	subsequent := s > 1 && s != total
	if subsequent && b != 1 {
		core.Failf("GroupQueryAttention: batch_size must be 1 when sequence_length > 1 and past context is given")
	}
	firstPrompt := !subsequent && s == total
	if !subsequent && !firstPrompt && s != 1 {
		core.Failf("GroupQueryAttention: sequence_length shall be 1 when it is not prompt")
	}

	g := &GQA{B: b, S: s, NH: nh, NKV: nkv, HD: hd, Packed: packed, PBuf: pBuf, Total: total, Present: present}
	g.Scale = c.Float("scale", 0)
	if g.Scale == 0 {
		g.Scale = 1 / math.Sqrt(float64(hd))
	}
	g.Softcap = c.Float("softcap", 0)
	g.Window = int(c.Int("local_window_size", -1))
	if t := arg(10); t != nil {
		sh := t.Shape
		if len(sh) != 4 || (sh[0] != 1 && sh[0] != int64(b)) || (sh[1] != 1 && sh[1] != int64(nh)) || sh[2] != int64(s) || sh[3] != int64(total) {
			core.Failf("GroupQueryAttention: attention_bias has shape %v, want [%d or 1, %d or 1, %d, %d]", sh, b, nh, s, total)
		}
		g.Bias = t
		if sh[0] != 1 {
			g.BiasB = int(sh[1]) * s * total
		}
		if sh[1] != 1 {
			g.BiasH = s * total
		}
	}
	g.QStride, g.KVStride = nh*hd, nkv*hd
	if packed {
		g.QStride = (nh + 2*nkv) * hd
		g.KVStride = g.QStride
		g.KOff, g.VOff = nh*hd, (nh+nkv)*hd
	}
	lens := seqlens.Int64s()
	g.PastLen = make([]int, b)
	for bi := range b {
		l := int(lens[bi]) + 1
		p := 0
		if !firstPrompt {
			p = l - s
		}
		if p < 0 || p > pBuf || p+s > present {
			core.Failf("GroupQueryAttention: sequence %d: seqlens_k %d gives %d cached tokens, want 0..%d with room for %d new in %d", bi, lens[bi], p, pBuf, s, present)
		}
		g.PastLen[bi] = p
	}
	return g
}

// Keys returns the first and one past the last key query si of sequence bi
// attends to: the causal prefix, cut to the local window if there is one.
func (g *GQA) Keys(bi, si int) (first, causal int) {
	causal = g.PastLen[bi] + si + 1 // keys 0..causal-1
	if g.Window > 0 && causal > g.Window {
		first = causal - g.Window // onnxruntime 1.30: the last window keys, the query's own included
	}
	return first, causal
}

// groupQueryAttention is the reference loop above, in float64.
func groupQueryAttention(c *core.Call, in []*core.Tensor) []*core.Tensor {
	g := GQAArgs(c, in)
	b, s, nh, nkv, hd, present, pBuf := g.B, g.S, g.NH, g.NKV, g.HD, g.Present, g.PBuf
	scale, softcap, total := g.Scale, g.Softcap, g.Total
	var bias []float64
	if g.Bias != nil {
		bias = g.Bias.Float64s()
	}
	biasB, biasH := g.BiasB, g.BiasH

	// q, k, v as [B, heads, S, H] float64 views of the BSNH inputs.
	qv := in[0].Float64s()
	var kv, vv []float64
	qStride, kvStride, qOff, kOff, vOff := g.QStride, g.KVStride, g.QOff, g.KOff, g.VOff
	if g.Packed {
		kv, vv = qv, qv
	} else {
		kv, vv = in[1].Float64s(), in[2].Float64s()
	}
	at := func(data []float64, stride, off, bi, si, head, d int) float64 {
		return data[(bi*s+si)*stride+off+head*hd+d]
	}

	// The presents: past[:P_b], then the new tokens, zeros after.
	pk := make([]float64, b*nkv*present*hd)
	pv := make([]float64, b*nkv*present*hd)
	var pkv, pvv []float64
	if len(in) > 4 && in[3] != nil { // past_key and past_value (GQAArgs checked both or neither)
		pkv, pvv = in[3].Float64s(), in[4].Float64s()
	}
	for bi := range b {
		p := g.PastLen[bi]
		for h := range nkv {
			dst := (bi*nkv + h) * present * hd
			src := (bi*nkv + h) * pBuf * hd
			copy(pk[dst:dst+p*hd], pkv[src:src+p*hd])
			copy(pv[dst:dst+p*hd], pvv[src:src+p*hd])
			for si := range s {
				for d := range hd {
					pk[dst+(p+si)*hd+d] = at(kv, kvStride, kOff, bi, si, h, d)
					pv[dst+(p+si)*hd+d] = at(vv, kvStride, vOff, bi, si, h, d)
				}
			}
		}
	}

	out := make([]float64, b*s*nh*hd)
	group := nh / nkv
	scores := make([]float64, present)
	for bi := range b {
		for h := range nh {
			kvh := h / group
			base := (bi*nkv + kvh) * present * hd
			for si := range s {
				first, causal := g.Keys(bi, si)
				mx := math.Inf(-1)
				for j := first; j < causal; j++ {
					var dot float64
					for d := range hd {
						dot += at(qv, qStride, qOff, bi, si, h, d) * pk[base+j*hd+d]
					}
					x := dot * scale
					if softcap > 0 {
						x = softcap * math.Tanh(x/softcap)
					}
					if bias != nil {
						x += bias[bi*biasB+h*biasH+si*total+j]
					}
					scores[j] = x
					mx = math.Max(mx, x)
				}
				var sum float64
				for j := first; j < causal; j++ {
					scores[j] = math.Exp(scores[j] - mx)
					sum += scores[j]
				}
				o := out[((bi*s+si)*nh+h)*hd:][:hd]
				for j := first; j < causal; j++ {
					p := scores[j] / sum
					for d := range hd {
						o[d] += p * pv[base+j*hd+d]
					}
				}
			}
		}
	}
	dt := in[0].DType
	pshape := []int64{int64(b), int64(nkv), int64(present), int64(hd)}
	return []*core.Tensor{
		core.FromFloat64s(dt, []int64{int64(b), int64(s), int64(nh * hd)}, out),
		core.FromFloat64s(dt, pshape, pk),
		core.FromFloat64s(dt, pshape, pv),
	}
}

// gqaTypes: query, key, value, past_key, past_value share a float type (the
// outputs'); seqlens_k and total_sequence_length are int32.
func gqaTypes(n *core.Node, in []core.DType) ([]core.DType, error) {
	t, err := common(in[:min(len(in), 5)], isFloat)
	if err != nil {
		return nil, err
	}
	if len(in) > 10 && in[10] != core.Undefined && in[10] != t {
		return nil, fmt.Errorf("attention_bias has type %v, want %v (the query's)", in[10], t)
	}
	for i := 5; i <= 6 && i < len(in); i++ {
		if in[i] != core.Undefined && in[i] != core.Int32 {
			return nil, fmt.Errorf("input %d has type %v, want int32", i, in[i])
		}
	}
	return fill(len(n.Outputs), t), nil
}
