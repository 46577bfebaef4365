package ref

import (
	"math"
	"slices"

	"github.com/mhcc-dev/mhcc/runtime/internal/core"

	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
)

// mhcc's own operators, domain "ai.mhcc" version 1. Targets whose
// accelerator ships a native kernel emit them without a function body; the
// interpreter runs them natively so that such a model can still be checked.

// MhccDomain is the domain of mhcc's operators.
const MhccDomain = "ai.mhcc"

// sinkhorn is ai.mhcc::Sinkhorn (docs/spec.md §2): for each trailing n×n matrix of
// logits [..., n, n],
//
//	comb = softmax(logits, axis=-1) + eps
//	comb = comb / (sum(comb, axis=-2) + eps)      // columns
//	repeat iters-1 times:
//	    comb = comb / (sum(comb, axis=-1) + eps)  // rows
//	    comb = comb / (sum(comb, axis=-2) + eps)  // columns
//
// computed in float32 for float and float16 (float16 widens exactly and the
// result rounds once) and in float64 for double, every operation rounded to
// that precision and every sum taken in index order. Softmax subtracts the
// row's maximum first; exp is math.Exp rounded to the working precision.
func sinkhorn(c *core.Call, in []*core.Tensor) []*core.Tensor {
	x := in[0]
	r := len(x.Shape)
	if r < 2 || x.Shape[r-1] != x.Shape[r-2] {
		core.Failf("logits must have shape [..., n, n], got %v", x.Shape)
	}
	n := int(x.Shape[r-1])
	iters := int(c.Int("iters", 0))
	eps := c.Float("eps", 0)
	switch x.DType {
	case core.Float64:
		v := slices.Clone(x.Elems.([]float64))
		sinkhornMatrices(v, n, iters, eps, math.Exp)
		return []*core.Tensor{{DType: core.Float64, Shape: x.Shape, Elems: v}}
	case core.Float32, core.Float16:
		w := core.Widen(x)
		v := slices.Clone(w.Elems.([]float32))
		sinkhornMatrices(v, n, iters, float32(eps), func(f float32) float32 { return float32(math.Exp(float64(f))) })
		return []*core.Tensor{core.NarrowFloat32(&core.Tensor{DType: core.Float32, Shape: x.Shape, Elems: v}, x.DType)}
	}
	panic(core.ErrType)
}

// sinkhornMatrices runs the Sinkhorn of docs/spec.md §2 in place on each n×n matrix
// of v, in T's precision.
func sinkhornMatrices[T float32 | float64](v []T, n, iters int, eps T, exp func(T) T) {
	if n == 0 {
		return
	}
	cols := func(m []T) {
		for k := 0; k < n; k++ {
			var s T
			for j := 0; j < n; j++ {
				s += m[j*n+k]
			}
			d := s + eps
			for j := 0; j < n; j++ {
				m[j*n+k] /= d
			}
		}
	}
	rows := func(m []T) {
		for j := 0; j < n; j++ {
			row := m[j*n : (j+1)*n]
			var s T
			for _, e := range row {
				s += e
			}
			d := s + eps
			for k := range row {
				row[k] /= d
			}
		}
	}
	for off := 0; off < len(v); off += n * n {
		m := v[off : off+n*n]
		for j := 0; j < n; j++ { // softmax over the last axis, plus eps
			row := m[j*n : (j+1)*n]
			mx := row[0]
			for _, e := range row[1:] {
				mx = max(mx, e)
			}
			var s T
			for k, e := range row {
				row[k] = exp(e - mx)
				s += row[k]
			}
			for k := range row {
				row[k] = row[k]/s + eps
			}
		}
		cols(m)
		for it := 1; it < iters; it++ {
			rows(m)
			cols(m)
		}
	}
}

// checkSinkhorn requires iters (int, ≥ 1) and eps (float, ≥ 0).
func checkSinkhorn(n *core.Node) error {
	it, eps := n.Attrs["iters"], n.Attrs["eps"]
	switch {
	case it == nil:
		return core.Errorf("attribute \"iters\" is required")
	case it.GetType() != onnxpb.AttributeProto_INT:
		return core.Errorf("attribute \"iters\": got %v, want INT", it.GetType())
	case it.GetI() < 1:
		return core.Errorf("attribute \"iters\": got %d, want ≥ 1", it.GetI())
	case eps == nil:
		return core.Errorf("attribute \"eps\" is required")
	case eps.GetType() != onnxpb.AttributeProto_FLOAT:
		return core.Errorf("attribute \"eps\": got %v, want FLOAT", eps.GetType())
	case !(eps.GetF() >= 0) || math.IsInf(float64(eps.GetF()), 0):
		return core.Errorf("attribute \"eps\": got %g, want a finite value ≥ 0", eps.GetF())
	}
	for name := range n.Attrs {
		if name != "iters" && name != "eps" {
			return core.Errorf("unknown attribute %q", name)
		}
	}
	return nil
}

// isSinkhornType: float, double or float16.
func isSinkhornType(t core.DType) bool {
	return t == core.Float32 || t == core.Float64 || t == core.Float16
}
