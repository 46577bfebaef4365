package export

import (
	"fmt"

	"github.com/mhcc-dev/mhcc/ir"
)

// minimalLowerings holds the lowerings of the "minimal" target: every IR op
// of the mlp architecture expressed through the small operator set of
// constrained runtimes, the set onnx-go's Gorgonia backend runs (RATIONALE.md,
// "Why is there a minimal target ...?"). The form obeys what such a backend
// can do, not only which operators it has:
//
//   - every tensor keeps the batch as its first axis and is at most 3-D;
//     arithmetic happens on 2-D [batch, features] views made by Reshape with
//     0 for the batch (no -1: onnx-go infers it wrongly, and no Shape op);
//   - MatMul is 2-D only: every reduction is a MatMul with a constant 0/1
//     matrix on the right (a ones vector for a sum over the last axis), and
//     so is every selection of a part of a row (no Slice, Gather, Split);
//   - broadcasting is 2-D only, a [batch, 1] or [1, k] operand against a
//     [batch, k] one, so weights and constants are reshaped to [1, k];
//   - no node reads the same value twice (onnx-go's graph keeps one edge per
//     pair of nodes): x² is x · Identity(x), copies are Identity nodes;
//   - Softmax gets a positive axis equal to its input's last one, where the
//     opset-11 "flatten to 2-D at axis" rule and opset 13's last-axis rule
//     agree.
//
// The 0/1 constants grow with the model (HCMix's is [n², n·C] per stream),
// so the target is for small models; minimalConst refuses large ones.
var minimalLowerings = map[ir.Op]map[string]expansion{
	ir.OpLinear:       {"minimal": minimalLinear},
	ir.OpAdd:          {"minimal": minimalAdd},
	ir.OpRMSNorm:      {"minimal": minimalRMSNorm},
	ir.OpSiluMLP:      {"minimal": minimalSiluMLP},
	ir.OpHCExpand:     {"minimal": minimalHCExpand},
	ir.OpHCCoeffs:     {"minimal": minimalHCCoeffs},
	ir.OpHCHeadCoeffs: {"minimal": minimalHCHeadCoeffs},
	ir.OpSinkhorn:     {"minimal": minimalSinkhorn},
	ir.OpHCCollapse:   {"minimal": minimalHCCollapse},
	ir.OpHCMix:        {"minimal": minimalHCMix},
}

// minimalConstLimit bounds the values of one 0/1 constant of the minimal
// lowerings (4 Mi float32 values, 16 MiB).
const minimalConstLimit = 1 << 22

// needRank panics (Encode reports it as an error naming the node) unless
// input i of n has one of the ranks the minimal form handles.
func needRank(n *ir.Node, i int, ranks ...int) ir.Shape {
	s := n.Inputs[i].Type.Shape
	for _, r := range ranks {
		if s.Rank() == r {
			return s
		}
	}
	panic(targetErrorf("node %s (%v at %v): the minimal lowering handles [batch, ...] tensors of rank %v, input %d is %v", n.Name, n.Op, n.Pos, ranks, i, s))
}

// lastSize is the size of the last axis of input i of n, which must be known.
func lastSize(n *ir.Node, i int) int64 {
	s := n.Inputs[i].Type.Shape
	d := s[s.Rank()-1]
	if !d.Known() {
		panic(targetErrorf("node %s (%v at %v): input %d has a dynamic last axis %v", n.Name, n.Op, n.Pos, i, s))
	}
	return d.Size
}

// minimalConst returns a float constant of dims filled by set, shared by key;
// it refuses one of more than minimalConstLimit values.
func (e *emitter) minimalConst(key string, dims []int64, set func(v []float64)) string {
	size := int64(1)
	for _, d := range dims {
		size *= d
	}
	if size > minimalConstLimit {
		panic(targetErrorf("node %s (%v at %v): the minimal lowering needs a %v constant (%d values, more than %d); the minimal target is for small models",
			e.node.Name, e.node.Op, e.node.Pos, dims, size, minimalConstLimit))
	}
	v := make([]float64, size)
	set(v)
	return e.floats("minimal."+key, dims, v)
}

func targetErrorf(format string, args ...any) *TargetError {
	return &TargetError{"export: " + fmt.Sprintf(format, args...)}
}

// scalar2 is a [1, 1] constant: it broadcasts against any 2-D tensor.
func (e *emitter) scalar2(v float64) string {
	return e.minimalConst(fmt.Sprintf("%g", v), []int64{1, 1}, func(x []float64) { x[0] = v })
}

// reshape emits Reshape(x, dims); 0 keeps the batch axis.
func (e *emitter) reshape(x string, dims ...int64) string {
	return e.op("Reshape", "", ins(x, e.i64s(dims...)))
}

// rowOf views a 1-D [k] tensor (a weight, or a coefficient without batch) as
// [1, k], and leaves a [batch, k] one as it is.
func (e *emitter) rowOf(x string, rank int, k int64) string {
	if rank == 1 {
		return e.reshape(x, 1, k)
	}
	return x
}

// ones is the [k, 1] ones vector: x · ones sums the last axis of x [B, k].
func (e *emitter) ones(k int64) string {
	return e.minimalConst(fmt.Sprintf("ones.%d", k), []int64{k, 1}, func(v []float64) {
		for i := range v {
			v[i] = 1
		}
	})
}

// selectCols is the [m, k] matrix with x · M = x[:, from:from+k].
func (e *emitter) selectCols(m, from, k int64) string {
	return e.minimalConst(fmt.Sprintf("select.%d.%d.%d", m, from, k), []int64{m, k}, func(v []float64) {
		for i := int64(0); i < k; i++ {
			v[(from+i)*k+i] = 1
		}
	})
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

// streamSum is the [n·c, c] matrix with (x · M)[:, j] = Σ_i x[:, i·c+j]: the
// sum over the streams of a flattened [B, n, c] state.
func (e *emitter) streamSum(n, c int64) string {
	return e.minimalConst(fmt.Sprintf("streamsum.%d.%d", n, c), []int64{n * c, c}, func(v []float64) {
		for i := int64(0); i < n; i++ {
			for j := int64(0); j < c; j++ {
				v[(i*c+j)*c+j] = 1
			}
		}
	})
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

// spread is the [3, 2n+n²] matrix that lays scale [1, 3] over the mixes:
// scale[0] over the n pre entries, scale[1] over the n post entries, scale[2]
// over the n² mixing logits.
func (e *emitter) spread(n int64) string {
	m := n*n + 2*n
	return e.minimalConst(fmt.Sprintf("spread.%d", n), []int64{3, m}, func(v []float64) {
		for j := int64(0); j < m; j++ {
			row := min(j/n, 2)
			v[row*m+j] = 1
		}
	})
}

// square emits x · x; the second operand is an Identity of x, so no node
// reads one value twice.
func (e *emitter) square(x string) string {
	return e.op("Mul", "", ins(x, e.op("Identity", "", ins(x))))
}

// minimalRMS returns sqrt(mean(x², -1) + eps) [B, 1] for x [B, k], the sum
// as a MatMul with a ones vector.
func (e *emitter) minimalRMS(x string, k int64, eps float64) string {
	sum := e.op("MatMul", "", ins(e.square(x), e.ones(k)))
	ms := e.op("Div", "", ins(sum, e.scalar2(float64(k))))
	return e.op("Sqrt", "", ins(e.op("Add", "", ins(ms, e.scalar2(eps)))))
}

// Linear: x · wᵀ on x [B, in].
func minimalLinear(e *emitter, n *ir.Node, in, out []string) {
	needRank(n, 0, 2)
	e.linear(in[0], in[1], out[0])
}

// Add: a + b, both [B, C].
func minimalAdd(e *emitter, n *ir.Node, in, out []string) {
	needRank(n, 0, 2)
	e.op("Add", out[0], ins(in[0], in[1]))
}

// RMSNorm: x / sqrt(Σx²/C + eps) · w on x [B, C], w viewed as [1, C].
func minimalRMSNorm(e *emitter, n *ir.Node, in, out []string) {
	needRank(n, 0, 2)
	c := lastSize(n, 0)
	normed := e.op("Div", "", ins(in[0], e.minimalRMS(in[0], c, n.Attrs.Float("eps"))))
	e.op("Mul", out[0], ins(normed, e.reshape(in[1], 1, c)))
}

// SiluMLP: silu(x·w1ᵀ) · w2ᵀ on x [B, C].
func minimalSiluMLP(e *emitter, n *ir.Node, in, out []string) {
	needRank(n, 0, 2)
	e.linear(e.silu(e.linear(in[0], in[1], "")), in[2], out[0])
}

// HCExpand: x [B, C] concatenated n times (x and n-1 Identity copies) to
// [B, n·C], viewed as [B, n, C].
func minimalHCExpand(e *emitter, n *ir.Node, in, out []string) {
	needRank(n, 0, 2)
	s, c := n.Attrs.Int("streams"), lastSize(n, 0)
	copies := []string{in[0]}
	for i := int64(1); i < s; i++ {
		copies = append(copies, e.op("Identity", "", ins(in[0])))
	}
	cat := e.op("Concat", "", copies, aInt("axis", 1))
	e.op("Reshape", out[0], ins(cat, e.i64s(0, s, c)))
}

// mixes returns (xf·fnᵀ)·r [B, k] for the state x [B, n, C] (input xi of
// n): xf its [B, n·C] view and r = 1/sqrt(mean(xf²) + rms_eps).
func (e *emitter) mixes(n *ir.Node, xi int, x, fn string) string {
	needRank(n, xi, 3)
	nc := n.Attrs.Int("streams") * lastSize(n, xi)
	xf := e.reshape(x, 0, nc)
	r := e.op("Div", "", ins(e.scalar2(1), e.minimalRMS(xf, nc, n.Attrs.Float("rms_eps"))))
	return e.op("Mul", "", ins(e.linear(xf, fn, ""), r))
}

// HCCoeffs: arg = scale·mixes + base over the whole [B, 2n+n²] row (scale
// spread over it by a MatMul; static mHC: arg = base as [1, 2n+n²]), then
// pre, post and the logits each selected by a MatMul with a 0/1 matrix.
func minimalHCCoeffs(e *emitter, n *ir.Node, in, out []string) {
	s := n.Attrs.Int("streams")
	m := s*s + 2*s
	base := e.reshape(in[0], 1, m)
	arg := base
	dynamic := len(in) > 1 // inputs base, x, fn[, scale]
	preOut, postOut := "", ""
	switch {
	case len(in) == 3: // scale folded into fn (fuse_hc_projection)
		arg = e.op("Add", "", ins(e.mixes(n, 1, in[1], in[2]), base))
		preOut, postOut = out[0], out[1]
	case dynamic:
		scale := e.op("MatMul", "", ins(e.reshape(in[3], 1, 3), e.spread(s)))
		arg = e.op("Add", "", ins(e.op("Mul", "", ins(scale, e.mixes(n, 1, in[1], in[2]))), base))
		preOut, postOut = out[0], out[1]
	}
	part := func(from, k int64) string { return e.op("MatMul", "", ins(arg, e.selectCols(m, from, k))) }
	pre := e.op("Add", preOut, ins(e.op("Sigmoid", "", ins(part(0, s))), e.scalar2(n.Attrs.Float("eps"))))
	post := e.op("Mul", postOut, ins(e.op("Sigmoid", "", ins(part(s, s))), e.scalar2(2)))
	logits := part(2*s, s*s)
	if dynamic {
		e.op("Reshape", out[2], ins(logits, e.i64s(0, s, s)))
		return
	}
	// Static mHC: the coefficients have no batch axis.
	e.op("Reshape", out[0], ins(pre, e.i64s(s)))
	e.op("Reshape", out[1], ins(post, e.i64s(s)))
	e.op("Reshape", out[2], ins(logits, e.i64s(s, s)))
}

// HCHeadCoeffs: pre = sigmoid(scale·mixes + base) + eps, scale and base
// viewed as [1, 1] and [1, n].
func minimalHCHeadCoeffs(e *emitter, n *ir.Node, in, out []string) {
	s := n.Attrs.Int("streams")
	mixes := e.mixes(n, 0, in[0], in[1])
	arg := e.op("Add", "", ins(e.op("Mul", "", ins(e.reshape(in[3], 1, 1), mixes)), e.reshape(in[2], 1, s)))
	e.op("Add", out[0], ins(e.op("Sigmoid", "", ins(arg)), e.scalar2(n.Attrs.Float("eps"))))
}

// Sinkhorn: softmax over the last axis (axis = rank-1), then the n×n
// matrices flattened to [B, n²] (static mHC: [1, n²]) and each half-iteration
// c / (c·M + eps) with the 0/1 row-sum or column-sum matrix M of the "gemm"
// lowering, as MatMul, Add and Div.
func minimalSinkhorn(e *emitter, n *ir.Node, in, out []string) {
	shape := needRank(n, 0, 2, 3)
	r := int64(shape.Rank())
	s := lastSize(n, 0)
	eps := e.scalar2(n.Attrs.Float("eps"))
	lead := int64(1) // static mHC: one matrix, no batch
	if r == 3 {
		lead = 0
	}
	sm := e.op("Softmax", "", ins(in[0]), aInt("axis", r-1))
	c := e.op("Add", "", ins(e.reshape(sm, lead, s*s), eps))
	rows, cols := e.sumMatrices(s)
	norm := func(c, m string) string {
		return e.op("Div", "", ins(c, e.op("Add", "", ins(e.op("MatMul", "", ins(c, m)), eps))))
	}
	for i := int64(1); i <= n.Attrs.Int("iters"); i++ {
		if i > 1 {
			c = norm(c, rows)
		}
		c = norm(c, cols)
	}
	if r == 3 {
		e.op("Reshape", out[0], ins(c, e.i64s(0, s, s)))
	} else {
		e.op("Reshape", out[0], ins(c, e.i64s(s, s)))
	}
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
