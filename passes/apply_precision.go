package passes

import (
	"fmt"

	"github.com/mhcc-dev/mhcc/ir"
	"github.com/mhcc-dev/mhcc/onnx/tensor/half"
)

// ApplyPrecision gives the graph the target's precision (--precision or the
// profile's): with fp16 or bf16 the graph inputs, the weights and every
// activation of the model path become that type, while the mHC coefficient
// path — the projection of the state, its RMS, the sigmoids and the Sinkhorn
// iterations — stays float32 whatever the precision (docs/spec.md §2: in half
// precision the Sinkhorn row sums drift by 100× and more). Casts mark the
// boundaries: the state is widened before each HCCoeffs / HCHeadCoeffs, and
// the coefficients are narrowed where the streams are collapsed and mixed.
var ApplyPrecision = &Pass{
	Name:     "apply_precision",
	Doc:      "give the model path the target's precision (fp16/bf16), keeping the mHC coefficient path float32",
	Required: true, // the precision is part of the target, not an optimisation
	Run: func(g *ir.Graph, cx *Context) (bool, error) {
		var dt ir.DType
		switch cx.Precision {
		case "", "fp32":
			return false, nil
		case "fp16":
			dt = ir.Float16
		case "bf16":
			dt = ir.BFloat16
		default:
			return false, fmt.Errorf("precision %q: want fp32, fp16 or bf16", cx.Precision)
		}
		readers := map[*ir.Value][]*ir.Node{}
		for _, n := range g.Nodes {
			for _, v := range n.Inputs {
				if v != nil {
					readers[v] = append(readers[v], n)
				}
			}
		}
		for _, v := range g.Inputs {
			if v.Type.DType == ir.Float32 {
				v.Type.DType = dt
				cx.Fire("input")
			}
		}
		for _, c := range g.Consts {
			if c.Type.DType != ir.Float32 || onlyCoefficientPath(c, readers[c]) {
				continue
			}
			c.Type.DType, c.Const = dt, narrow(c.Const, dt)
			cx.Fire("weight")
		}
		// Widen the state where the coefficients read it. One Reinfer first
		// gives every state its narrowed type; a Cast changes no type but
		// its own output's.
		if err := g.Reinfer(); err != nil {
			return true, err
		}
		widened := map[*ir.Value]*ir.Value{}
		for _, n := range append([]*ir.Node(nil), g.Nodes...) {
			slot := -1
			switch n.Op {
			case ir.OpHCCoeffs:
				if len(n.Inputs) > 1 {
					slot = 1
				}
			case ir.OpHCHeadCoeffs:
				slot = 0
			}
			if slot < 0 {
				continue
			}
			if err := castInput(g, n, slot, ir.Float32, widened); err != nil {
				return true, nodeError(n, "%v", err)
			}
			cx.Fire("widen_state")
		}
		if err := g.Reinfer(); err != nil {
			return true, err
		}
		// Narrow the coefficients where the state is collapsed and mixed.
		narrowed := map[*ir.Value]*ir.Value{}
		for _, n := range append([]*ir.Node(nil), g.Nodes...) {
			var slots []int
			switch n.Op {
			case ir.OpHCCollapse:
				slots = []int{1}
			case ir.OpHCMix:
				slots = []int{2, 3}
			case ir.OpHCPremix:
				slots = []int{1, 2}
			}
			for _, i := range slots {
				if i < len(n.Inputs) && n.Inputs[i] != nil && n.Inputs[i].Type.DType == ir.Float32 {
					if err := castInput(g, n, i, dt, narrowed); err != nil {
						return true, nodeError(n, "%v", err)
					}
					cx.Fire("narrow_coeffs")
				}
			}
		}
		if err := g.Reinfer(); err != nil {
			return true, err
		}
		return true, nil
	},
}

// onlyCoefficientPath reports whether every reader of c uses it as a
// parameter of the mHC coefficients (base, fn, scale) or of a Sinkhorn.
func onlyCoefficientPath(c *ir.Value, readers []*ir.Node) bool {
	if len(readers) == 0 {
		return false
	}
	for _, n := range readers {
		switch n.Op {
		case ir.OpSinkhorn:
		case ir.OpHCCoeffs:
			if len(n.Inputs) > 1 && n.Inputs[1] == c {
				return false // c is the state itself
			}
		case ir.OpHCHeadCoeffs:
			if n.Inputs[0] == c {
				return false
			}
		case ir.OpMoE:
			// The router's gate stays float32 (export/op_moe.go: a
			// half-precision score can swap two experts).
			if n.Inputs[1] != c {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// castInput points input i of n at a Cast of it to dt, shared through memo.
func castInput(g *ir.Graph, n *ir.Node, i int, dt ir.DType, memo map[*ir.Value]*ir.Value) error {
	v := n.Inputs[i]
	if v.Type.DType == dt {
		return nil
	}
	c := memo[v]
	if c == nil {
		var err error
		if c, err = g.InsertCast(v, dt, n.Pos); err != nil {
			return err
		}
		memo[v] = c
	}
	n.Inputs[i] = c
	v.Uses--
	c.Uses++
	return nil
}

// narrow rounds a float32 constant to dt (kept widened in F32, as the IR
// stores half-precision data). A streamed weight stays streamed: its chunks
// are rounded as they are produced.
func narrow(t *ir.Tensor, dt ir.DType) *ir.Tensor {
	shape := append([]int64(nil), t.Shape...)
	if t.IsLazy() {
		return &ir.Tensor{DType: dt, Shape: shape, Lazy: narrowSource{t.Lazy, dt}}
	}
	out := &ir.Tensor{DType: dt, Shape: shape, F32: make([]float32, len(t.F32))}
	copy(out.F32, t.F32)
	roundTo(out.F32, dt)
	return out
}

// roundTo rounds each value to the nearest dt value, in place.
func roundTo(v []float32, dt ir.DType) {
	for i, f := range v {
		if dt == ir.Float16 {
			v[i] = half.Float16ToFloat32(half.Float32ToFloat16(f))
		} else {
			v[i] = half.BFloat16ToFloat32(half.Float32ToBFloat16(f))
		}
	}
}

// narrowSource rounds a streamed weight's chunks to dt.
type narrowSource struct {
	src ir.Source
	dt  ir.DType
}

func (s narrowSource) String() string { return s.src.String() + " as " + s.dt.String() }

func (s narrowSource) Stream(fn func([]float32) error) error {
	return s.src.Stream(func(c []float32) error {
		roundTo(c, s.dt)
		return fn(c)
	})
}
