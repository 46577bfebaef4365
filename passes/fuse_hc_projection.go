package passes

import "github.com/mhcc-dev/mhcc/ir"

// FuseHCProjection prepares the coefficient projection of each dynamic mHC
// sublayer as one GEMM: the three learnt scales (for the pre, post and
// mixing parts of mixes) are folded into the rows of fn at compile time, so
// the graph computes z = (xf·fn'ᵀ)·r + base with one MatMul, one multiply by
// the RMS factor r after it, and one Add of base on the whole vector, before
// slicing pre/post/logits out of z. The reference computes the three parts
// separately, each with its own scale multiply and base add.
var FuseHCProjection = &Pass{
	Name: "fuse_hc_projection",
	Doc:  "fold the mHC scales into fn so each sublayer's coefficients are one GEMM, one RMS multiply and one bias add",
	Run: func(g *ir.Graph, cx *Context) (bool, error) {
		changed := false
		for _, n := range g.Nodes {
			if n.Op != ir.OpHCCoeffs || len(n.Inputs) != 4 {
				continue
			}
			fn, scale := n.Inputs[2], n.Inputs[3]
			if fn.Const == nil || scale.Const == nil || fn.Const.DType == ir.Float64 {
				continue
			}
			s := n.Attrs.Int("streams")
			rows, cols := fn.Const.Shape[0], fn.Const.Shape[1]
			sc := scale.Const.F32
			scaled := &ir.Tensor{DType: fn.Const.DType, Shape: []int64{rows, cols}, F32: make([]float32, len(fn.Const.F32))}
			for r := int64(0); r < rows; r++ {
				k := min(r/s, 2) // 0: pre rows, 1: post rows, 2: the n² mixing rows
				for c := int64(0); c < cols; c++ {
					scaled.F32[r*cols+c] = float32(float64(fn.Const.F32[r*cols+c]) * float64(sc[k]))
				}
			}
			w := g.AddConst(fn.Name+".scaled", scaled)
			fn.Uses--
			scale.Uses--
			w.Uses++
			n.Inputs = []*ir.Value{n.Inputs[0], n.Inputs[1], w}
			cx.Fire("scale_into_fn")
			changed = true
		}
		return changed, nil
	},
}
