package export

import (
	"fmt"

	"github.com/mhcc-dev/mhcc/ir"
)

// The lowerings named "minimal" (one in each op_<op>.go file) make the
// "minimal" target: every IR op of the mlp architecture expressed through
// the small operator set of constrained runtimes, the set onnx-go's Gorgonia
// backend runs (RATIONALE.md, "Why is there a minimal target ...?"). This
// file holds their shared helpers. The form obeys what such a backend can
// do, not only which operators it has:
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
