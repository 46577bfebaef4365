package export

import (
	"fmt"

	"github.com/mhcc-dev/mhcc/ir"
)

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

// HCMix, lowering "concat_matmul": x' = [combᵀ | post] · [x; y], one
// batched MatMul over the state with y appended as an extra stream, instead
// of combᵀ·x, post ⊗ y and their sum as three full-size tensors. (With the
// mix already done by HCPremix, only post ⊗ y + x is left: the reference.)
func expandHCMixConcatMatMul(e *emitter, n *ir.Node, in, out []string) {
	if len(in) < 4 || in[3] == "" {
		expandHCMix(e, n, in, out)
		return
	}
	combT := e.transposeLast(in[3], n.Inputs[3].Type.Shape.Rank())
	post := e.op("Unsqueeze", "", ins(in[2], e.i64s(-1))) // [..., n, 1]
	w := e.op("Concat", "", ins(combT, post), aInt("axis", -1))
	y := e.op("Unsqueeze", "", ins(in[1], e.i64s(-2))) // [..., 1, C]
	state := e.op("Concat", "", ins(in[0], y), aInt("axis", -2))
	e.op("MatMul", out[0], ins(w, state))
}

// HCMix: x'[k] = post[k]·y + Σ_j comb[j,k]·x[j], one output stream k at a
// time on [B, ·] views: column k of comb repeated C times (a MatMul) times
// x [B, n·C], summed over the streams (a MatMul), plus post[k] (a MatMul
// selecting it) times y; the n streams concatenated and viewed as [B, n, C].
func minimalHCMix(e *emitter, n *ir.Node, in, out []string) {
	needRank(n, 0, 3)
	s := n.Inputs[0].Type.Shape[1].Size
	c := lastSize(n, 0)
	xf := e.reshape(in[0], 0, s*c)
	post := e.rowOf(in[2], needRank(n, 2, 1, 2).Rank(), s)
	if len(in) < 4 || in[3] == "" {
		// x is already mixed (fuse_stream_mix): x'[k] = post[k]·y + x[k].
		streams := make([]string, s)
		for k := int64(0); k < s; k++ {
			xk := e.op("MatMul", "", ins(xf, e.selectCols(s*c, k*c, c)))
			pk := e.op("MatMul", "", ins(post, e.selectCols(s, k, 1)))
			streams[k] = e.op("Add", "", ins(e.op("Mul", "", ins(pk, in[1])), xk))
		}
		e.op("Reshape", out[0], ins(e.op("Concat", "", streams, aInt("axis", 1)), e.i64s(0, s, c)))
		return
	}
	lead := int64(1) // static mHC: one matrix, no batch
	if needRank(n, 3, 2, 3).Rank() == 3 {
		lead = 0
	}
	comb := e.reshape(in[3], lead, s*s)
	sum := e.streamSum(s, c)
	streams := make([]string, s)
	for k := int64(0); k < s; k++ {
		ck := e.op("MatMul", "", ins(comb, e.combColumn(s, c, k)))
		mixed := e.op("MatMul", "", ins(e.op("Mul", "", ins(ck, xf)), sum))
		pk := e.op("MatMul", "", ins(post, e.selectCols(s, k, 1)))
		streams[k] = e.op("Add", "", ins(e.op("Mul", "", ins(pk, in[1])), mixed))
	}
	e.op("Reshape", out[0], ins(e.op("Concat", "", streams, aInt("axis", 1)), e.i64s(0, s, c)))
}

// combColumn is the [n², n·c] matrix with (comb · M)[:, j·c+i] = comb[:, j·n+k]:
// column k of each flattened n×n matrix, each entry repeated c times.
func (e *emitter) combColumn(n, c, k int64) string {
	return e.minimalConst(fmt.Sprintf("combcol.%d.%d.%d", n, c, k), []int64{n * n, n * c}, func(v []float64) {
		for j := int64(0); j < n; j++ {
			for i := int64(0); i < c; i++ {
				v[(j*n+k)*n*c+j*c+i] = 1
			}
		}
	})
}
