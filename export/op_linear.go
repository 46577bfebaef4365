package export

import "github.com/mhcc-dev/mhcc/ir"

// linear emits x · wᵀ. The Transpose of a weight is folded by runtimes at
// load time; keeping the weight in its [out, in] layout keeps its name and
// shape those of docs/spec.md §4.
func (e *emitter) linear(x, w, out string) string {
	wt := e.op("Transpose", "", ins(w), aInts("perm", 1, 0))
	return e.op("MatMul", out, ins(x, wt))
}

// Linear: x · wᵀ.
func expandLinear(e *emitter, n *ir.Node, in, out []string) { e.linear(in[0], in[1], out[0]) }

// Linear: x · wᵀ on x [B, in].
func minimalLinear(e *emitter, n *ir.Node, in, out []string) {
	needRank(n, 0, 2)
	e.linear(in[0], in[1], out[0])
}
