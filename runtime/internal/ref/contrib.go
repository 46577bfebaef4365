package ref

import (
	"math"
	"slices"

	"github.com/mhcc-dev/mhcc/runtime/internal/core"
)

// onnxruntime's contrib operators that mhcc's ort target emits, with the
// semantics of onnxruntime's CPU kernels (onnxruntime/contrib_ops/cpu and
// docs/ContribOperators.md). Like the rest of the interpreter they compute in
// float64 and round each result once, so they agree with onnxruntime to
// within its own float32 rounding. GroupQueryAttention lives in
// contrib_gqa.go.

// MsDomain is onnxruntime's contrib domain.
const MsDomain = "com.microsoft"

// rmsNormRows normalizes each row of v (rows of length inner) in place:
// v ← v / √(mean(v²) + eps) · scale (scale[si[j]] for element j), returning
// each row's 1/√(mean(v²) + eps).
func rmsNormRows(v []float64, inner int, eps float64, sv []float64, si []int) []float64 {
	invs := make([]float64, 0, len(v)/max(inner, 1))
	for o := 0; o+inner <= len(v) && inner > 0; o += inner {
		row := v[o : o+inner]
		var ss float64
		for _, e := range row {
			ss += e * e
		}
		inv := 1 / math.Sqrt(ss/float64(inner)+eps)
		for j, e := range row {
			row[j] = e * inv * sv[si[j]]
		}
		invs = append(invs, inv)
	}
	return invs
}

// simplifiedLayerNorm is SimplifiedLayerNormalization (domain "", which is
// where onnxruntime registers it; version 1): RMSNorm over the dims from axis
// (default −1) on, Y = X / √(mean(X²) + epsilon) · scale, with scale
// broadcasting to those dims and epsilon defaulting to 1e-5. The optional
// second output is 1/√(mean(X²) + epsilon), shaped like X with the normalized
// dims set to 1, of type float: stash_type may only be 1 (float), since
// onnxruntime 1.30 has no CPU kernel with another statistics type.
func simplifiedLayerNorm(c *core.Call, in []*core.Tensor) []*core.Tensor {
	x, scale := in[0], in[1]
	r := len(x.Shape)
	axis := NormAxis(c.Int("axis", -1), r)
	norm := x.Shape[axis:]
	if len(scale.Shape) > len(norm) || !SameShape(BroadcastShapes(scale.Shape, norm), norm) {
		core.Failf("scale of shape %v does not broadcast to %v", scale.Shape, norm)
	}
	xv := x.Float64s()
	invs := rmsNormRows(xv, Product(norm), c.Float("epsilon", 1e-5), scale.Float64s(), expandIndex(scale.Shape, norm))
	outs := []*core.Tensor{core.FromFloat64s(x.DType, x.Shape, xv), nil}
	if c.WantOut(1) {
		stat := slices.Clone(x.Shape)
		for i := axis; i < r; i++ {
			stat[i] = 1
		}
		outs[1] = core.FromFloat64s(core.Float32, stat, invs)
	}
	return outs
}

func checkStashType(n *core.Node) error {
	if a := n.Attrs["stash_type"]; a != nil && a.GetI() != int64(core.Float32) {
		return core.Errorf("attribute \"stash_type\": got %d, want 1 (float; onnxruntime has no CPU kernel for others)", a.GetI())
	}
	return nil
}

func simplifiedLayerNormTypes(n *core.Node, in []core.DType) ([]core.DType, error) {
	t, err := common(in, isFloat)
	if err != nil {
		return nil, err
	}
	return []core.DType{t, core.Float32}, nil
}

// skipSimplifiedLayerNorm is com.microsoft::SkipSimplifiedLayerNormalization:
// s = input + skip (+ bias), output = s / √(mean(s²) + epsilon) · gamma over
// the last axis. input is [B, S, H] or [T, H]; skip has input's shape or
// broadcasts from [S, H] or [1, S, H]; gamma and the optional bias are [H].
// Optional outputs: mean (zeros: RMSNorm does not centre; float, shape of
// input with the last dim 1), inv_std_var (float, same shape) and
// input_skip_bias_sum (s). epsilon defaults to 1e-12, onnxruntime's
// kDefaultSkipLayerNormEpsilon.
func skipSimplifiedLayerNorm(c *core.Call, in []*core.Tensor) []*core.Tensor {
	x, skip, gamma := in[0], in[1], in[2]
	var bias *core.Tensor
	if len(in) > 3 {
		bias = in[3]
	}
	r := len(x.Shape)
	if r != 2 && r != 3 {
		core.Failf("input must have rank 2 or 3, got shape %v", x.Shape)
	}
	h := x.Shape[r-1]
	sr := len(skip.Shape)
	if sr < 2 || sr > r || !SameShape(skip.Shape[sr-2:], x.Shape[r-2:]) || (sr == 3 && skip.Shape[0] != 1 && skip.Shape[0] != x.Shape[0]) {
		core.Failf("skip has shape %v, want %v, [1 %d %d] or [%d %d]", skip.Shape, x.Shape, x.Shape[r-2], h, x.Shape[r-2], h)
	}
	if !SameShape(gamma.Shape, []int64{h}) || bias != nil && !SameShape(bias.Shape, []int64{h}) {
		core.Failf("gamma and bias must have shape [%d]", h)
	}
	xv, sv := x.Float64s(), skip.Float64s()
	for i := range xv {
		xv[i] += sv[i%len(sv)]
	}
	if bias != nil {
		bv := bias.Float64s()
		for i := range xv {
			xv[i] += bv[i%int(h)]
		}
	}
	outs := make([]*core.Tensor, 4)
	if c.WantOut(3) {
		outs[3] = core.FromFloat64s(x.DType, x.Shape, slices.Clone(xv))
	}
	idx := make([]int, h)
	for j := range idx {
		idx[j] = j
	}
	invs := rmsNormRows(xv, int(h), c.Float("epsilon", 1e-12), gamma.Float64s(), idx)
	outs[0] = core.FromFloat64s(x.DType, x.Shape, xv)
	stat := slices.Clone(x.Shape)
	stat[r-1] = 1
	if c.WantOut(1) {
		outs[1] = core.Alloc(core.Float32, stat)
	}
	if c.WantOut(2) {
		outs[2] = core.FromFloat64s(core.Float32, stat, invs)
	}
	return outs
}

func skipSimplifiedLayerNormTypes(n *core.Node, in []core.DType) ([]core.DType, error) {
	t, err := common(in, isRotaryType) // float, float16, bfloat16: the schema has no double
	if err != nil {
		return nil, err
	}
	return []core.DType{t, core.Float32, core.Float32, t}, nil
}

// rotaryEmbedding is com.microsoft::RotaryEmbedding (RoPE) as onnxruntime's
// CPU kernel computes it. input is [B, S, N·H] or [B, N, S, H]; cos_cache and
// sin_cache are [max_positions, R/2], R the rotary dim (attribute
// rotary_embedding_dim, which needs num_heads; default H, then H = 2·width of
// the cache); position_ids is one start position p (position p+s) or [B, S].
// For each head vector x and position p, element i < R is
//
//	non-interleaved: x[i]·cos[p, i mod R/2] ∓ x[(i + R/2) mod R]·sin[p, i mod R/2]  (− for i < R/2)
//	interleaved:     x[i]·cos[p, i/2] ∓ x[i ± 1]·sin[p, i/2]  (− for even i, pairing i with i+1)
//
// and elements from R on are copied. scale only matters to onnxruntime when
// it grows the cache, which the CPU kernel does not do; is_packed_batching
// (ragged batches) is not supported.
func rotaryEmbedding(c *core.Call, in []*core.Tensor) []*core.Tensor {
	x, pos, cosT, sinT := in[0], in[1], in[2], in[3]
	rank := len(x.Shape)
	if rank != 3 && rank != 4 {
		core.Failf("input must have rank 3 or 4, got shape %v", x.Shape)
	}
	if len(cosT.Shape) != 2 || !SameShape(cosT.Shape, sinT.Shape) {
		core.Failf("cos_cache and sin_cache must have the same 2-D shape, got %v and %v", cosT.Shape, sinT.Shape)
	}
	b, s := int(x.Shape[0]), int(x.Shape[1])
	hidden := int(x.Shape[2])
	if rank == 4 {
		s, hidden = int(x.Shape[2]), int(x.Shape[1]*x.Shape[3])
	}
	numHeads := int(c.Int("num_heads", 0))
	rot := int(c.Int("rotary_embedding_dim", 0))
	maxPos, width := int(cosT.Shape[0]), int(cosT.Shape[1])
	var headSize int
	switch {
	case rot > 0 && numHeads <= 0:
		core.Failf("num_heads must be given with rotary_embedding_dim")
	case rot > 0:
		if hidden%numHeads != 0 {
			core.Failf("hidden size %d is not a multiple of num_heads %d", hidden, numHeads)
		}
		headSize = hidden / numHeads
	default:
		headSize = 2 * width
		rot = headSize
	}
	if headSize == 0 || hidden%headSize != 0 {
		core.Failf("hidden size %d is not a multiple of the head size %d", hidden, headSize)
	}
	if numHeads <= 0 {
		numHeads = hidden / headSize
	}
	if rank == 4 && (int(x.Shape[1]) != numHeads || int(x.Shape[3]) != headSize) {
		core.Failf("input [B, N, S, H] of shape %v does not have %d heads of size %d", x.Shape, numHeads, headSize)
	}
	if rot > headSize || rot%2 != 0 || width != rot/2 {
		core.Failf("rotary dim %d must be even, at most the head size %d and twice the cache width %d", rot, headSize, width)
	}
	positions := pos.Int64s()
	perToken := false
	switch {
	case len(positions) == 1 && len(pos.Shape) <= 1:
	case SameShape(pos.Shape, []int64{int64(b), int64(s)}):
		perToken = true
	default:
		core.Failf("position_ids must have one element or shape [%d %d], got %v", b, s, pos.Shape)
	}
	headStride, seqStride, batchStride := headSize, numHeads*headSize, s*numHeads*headSize
	if rank == 4 {
		seqStride, headStride, batchStride = headSize, s*headSize, numHeads*s*headSize
	}
	interleaved := c.Int("interleaved", 0) == 1
	xv, cv, sv := x.Float64s(), cosT.Float64s(), sinT.Float64s()
	out := slices.Clone(xv)
	half := rot / 2
	for bi := 0; bi < b; bi++ {
		for si := 0; si < s; si++ {
			p := positions[0] + int64(si)
			if perToken {
				p = positions[bi*s+si]
			}
			if p < 0 || p >= int64(maxPos) {
				core.Failf("position %d (batch %d, token %d) is outside the cache's %d positions", p, bi, si, maxPos)
			}
			cr, sr := cv[int(p)*half:], sv[int(p)*half:]
			for n := 0; n < numHeads; n++ {
				off := bi*batchStride + si*seqStride + n*headStride
				v, o := xv[off:off+headSize], out[off:off+headSize]
				for i := 0; i < rot; i++ {
					var k, j int
					sign := 1.0
					if interleaved {
						k = i / 2
						if i%2 == 0 {
							j, sign = i+1, -1
						} else {
							j = i - 1
						}
					} else {
						k, j = i%half, (i+half)%rot
						if i < half {
							sign = -1
						}
					}
					o[i] = v[i]*cr[k] + sign*v[j]*sr[k]
				}
			}
		}
	}
	return []*core.Tensor{core.FromFloat64s(x.DType, x.Shape, out)}
}

func checkRotary(n *core.Node) error {
	if a := n.Attrs["is_packed_batching"]; a != nil && a.GetI() != 0 {
		return core.Errorf("is_packed_batching=1 (ragged batches) is not supported")
	}
	if a := n.Attrs["interleaved"]; a != nil && a.GetI() != 0 && a.GetI() != 1 {
		return core.Errorf("attribute \"interleaved\": got %d, want 0 or 1", a.GetI())
	}
	return nil
}

func rotaryTypes(n *core.Node, in []core.DType) ([]core.DType, error) {
	t, err := common([]core.DType{in[0], core.Undefined, in[2], in[3]}, isRotaryType)
	if err != nil {
		return nil, err
	}
	if in[1] != core.Undefined && in[1] != core.Int64 {
		return nil, core.Errorf("input 1 (position_ids) has type %v, want int64", in[1])
	}
	return []core.DType{t}, nil
}

// isRotaryType: float, float16 or bfloat16, as onnxruntime's schemas for
// RotaryEmbedding and SkipSimplifiedLayerNormalization allow.
func isRotaryType(t core.DType) bool {
	return t == core.Float32 || t == core.Float16 || t == core.BFloat16
}
