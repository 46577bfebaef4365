package export

import (
	"fmt"

	"github.com/mhcc-dev/mhcc/ir"
)

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

// HCCollapse, lowering "matmul": the weighted collapse as preᵀ·x, one
// batched MatMul, instead of a full-size product and a ReduceSum over the
// stream axis. The sum and mean modes keep the reference.
func expandHCCollapseMatMul(e *emitter, n *ir.Node, in, out []string) {
	if n.Attrs.String("mode") != "weighted" {
		expandHCCollapse(e, n, in, out)
		return
	}
	pre := e.op("Unsqueeze", "", ins(in[1], e.i64s(-2))) // [..., 1, n]
	e.op("Squeeze", out[0], ins(e.op("MatMul", "", ins(pre, in[0])), e.i64s(-2)))
}

// HCCollapse on x [B, n, C] viewed as [B, n·C]: weighted multiplies by pre
// repeated C times (a MatMul) and sums the streams with a MatMul; sum sums
// them; mean divides the sum by n.
func minimalHCCollapse(e *emitter, n *ir.Node, in, out []string) {
	needRank(n, 0, 3)
	s := n.Inputs[0].Type.Shape[1].Size
	c := lastSize(n, 0)
	xf := e.reshape(in[0], 0, s*c)
	switch mode := n.Attrs.String("mode"); mode {
	case "weighted":
		pre := e.rowOf(in[1], needRank(n, 1, 1, 2).Rank(), s)
		w := e.op("MatMul", "", ins(pre, e.repeatEach(s, c)))
		e.op("MatMul", out[0], ins(e.op("Mul", "", ins(xf, w)), e.streamSum(s, c)))
	case "sum":
		e.op("MatMul", out[0], ins(xf, e.streamSum(s, c)))
	case "mean":
		e.op("Div", out[0], ins(e.op("MatMul", "", ins(xf, e.streamSum(s, c))), e.scalar2(float64(s))))
	default:
		panic(fmt.Sprintf("node %s: HCCollapse mode %q has no minimal lowering", n.Name, mode))
	}
}

// repeatEach is the [n, n·c] matrix with (x · M)[:, i·c+j] = x[:, i]: each
// of n values repeated c times.
func (e *emitter) repeatEach(n, c int64) string {
	return e.minimalConst(fmt.Sprintf("repeat.%d.%d", n, c), []int64{n, n * c}, func(v []float64) {
		for i := int64(0); i < n; i++ {
			for j := int64(0); j < c; j++ {
				v[i*n*c+i*c+j] = 1
			}
		}
	})
}
