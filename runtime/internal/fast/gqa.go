package fast

import (
	"math"

	"github.com/mhcc-dev/mhcc/runtime/internal/core"
	"github.com/mhcc-dev/mhcc/runtime/internal/ref"
)

// gqaFast is com.microsoft.GroupQueryAttention on float32 (the ort
// target's cached attention), nil for other types. The reference kernel
// (ref/contrib_gqa.go) converts the inputs and the whole cache to float64,
// loops over keys one scalar at a time and converts everything back: on a
// hidden-256 decoder at a 2048-token cache that was 30 ms and 84 MB of
// garbage per decode step, against 10 ms for the same step with the onnx
// target's MatMul/Softmax attention. Here the presents are float32 copies
// (past then new tokens, zeros after, as the reference writes them), and per
// sequence and KV head the group's query rows meet the keys in one float32
// product (the GEMM the MatMuls of the onnx target use), then a float32
// softmax per row (as softmax32: float32 exponentials, a float64 sum), then
// one product with the values. So it computes what the reference does with
// float32 sums instead of float64 ones, as onnxruntime's kernel does
// (internal/crosscheck's TestGroupQueryAttentionMatchesOnnxruntime holds
// it to 1e-5).
func gqaFast(c *core.Call, in []*core.Tensor) []*core.Tensor {
	for i, t := range in {
		if t != nil && (i <= 4 || i == 10) && t.DType != core.Float32 {
			return nil
		}
	}
	g := ref.GQAArgs(c, in)
	b, s, nh, nkv, hd, present := g.B, g.S, g.NH, g.NKV, g.HD, g.Present
	q := in[0].Elems.([]float32)
	kIn, vIn := q, q
	if !g.Packed {
		kIn, vIn = in[1].Elems.([]float32), in[2].Elems.([]float32)
	}
	var pastK, pastV []float32
	if len(in) > 4 && in[3] != nil {
		pastK, pastV = in[3].Elems.([]float32), in[4].Elems.([]float32)
	}
	var bias []float32
	if g.Bias != nil {
		bias = g.Bias.Elems.([]float32)
	}
	pshape := []int64{int64(b), int64(nkv), int64(present), int64(hd)}
	pk, pv := GetF32(core.CheckSizeOf(pshape, 4)), GetF32(core.CheckSizeOf(pshape, 4))
	oshape := []int64{int64(b), int64(s), int64(nh * hd)}
	out := GetF32(core.CheckSizeOf(oshape, 4))
	group := nh / nkv
	pairs := b * nkv
	// One (sequence, KV head) pair: its presents, then its group's queries.
	pair := func(pi int) {
		bi, h := pi/nkv, pi%nkv
		p := g.PastLen[bi]
		base := pi * present * hd
		src := pi * g.PBuf * hd
		dk, dv := pk[base:][:present*hd], pv[base:][:present*hd]
		copy(dk, pastK[src:][:p*hd])
		copy(dv, pastV[src:][:p*hd])
		for si := range s {
			row := (bi*s + si) * g.KVStride
			copy(dk[(p+si)*hd:][:hd], kIn[row+g.KOff+h*hd:][:hd])
			copy(dv[(p+si)*hd:][:hd], vIn[row+g.VOff+h*hd:][:hd])
		}
		clear(dk[(p+s)*hd:])
		clear(dv[(p+s)*hd:])

		rows, keys := group*s, p+s // every query of the group sees at most keys 0..p+s-1
		qb, sc, ob := GetF32(rows*hd), GetF32(rows*keys), GetF32(rows*hd)
		for hg := range group {
			head := h*group + hg
			for si := range s {
				copy(qb[(hg*s+si)*hd:][:hd], q[(bi*s+si)*g.QStride+g.QOff+head*hd:][:hd])
			}
		}
		gemm32(rows, keys, hd, qb, true, dk[:keys*hd], sc)
		scale, softcap := float32(g.Scale), g.Softcap
		for hg := range group {
			head := h*group + hg
			for si := range s {
				line := sc[(hg*s+si)*keys:][:keys]
				first, causal := g.Keys(bi, si)
				clear(line[:first])
				clear(line[causal:])
				xs := line[first:causal]
				for j := range xs {
					x := xs[j] * scale
					if softcap > 0 {
						x = float32(softcap * math.Tanh(float64(x)/softcap))
					}
					if bias != nil {
						x += bias[bi*g.BiasB+head*g.BiasH+si*g.Total+first+j]
					}
					xs[j] = x
				}
				softmaxLine(xs, xs)
			}
		}
		gemm32(rows, hd, keys, sc, false, dv[:keys*hd], ob)
		for hg := range group {
			head := h*group + hg
			for si := range s {
				copy(out[((bi*s+si)*nh+head)*hd:][:hd], ob[(hg*s+si)*hd:][:hd])
			}
		}
		PutF32(qb)
		PutF32(sc)
		PutF32(ob)
	}
	workers := 1
	if pairs > 1 && b*s*nh*(present+s)*hd >= parallelMin*16 {
		workers = Workers()
	}
	ParallelFor(pairs, workers, func(p0, p1 int) {
		for pi := p0; pi < p1; pi++ {
			pair(pi)
		}
	})
	return []*core.Tensor{
		{DType: core.Float32, Shape: oshape, Elems: out},
		{DType: core.Float32, Shape: pshape, Elems: pk},
		{DType: core.Float32, Shape: pshape, Elems: pv},
	}
}

// gemm32 is c = a·b (b given transposed, n×k, if tb) for contiguous
// float32 matrices a m×k, c m×n, on the calling goroutine: the packed GEMM
// where there is a micro-kernel, else gonum's.
func gemm32(m, n, k int, a []float32, tb bool, b, c []float32) {
	ldb := n
	if tb {
		ldb = k
	}
	if SIMDKernel != nil {
		Sgemm(SIMDKernel, m, n, k, a, k, false, b, ldb, tb, c, n, 1)
		return
	}
	if k == 0 {
		clear(c[:m*n])
		return
	}
	matMulGonum32(c[:m*n], a[:m*k], false, b[:k*n], tb, m, k, n)
}
