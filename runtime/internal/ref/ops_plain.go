package ref

import (
	"github.com/mhcc-dev/mhcc/runtime/internal/core"
)

// Ops are the Reference engine's forms of the steps kernels share
// (ops): the plain loops, one index walk per element, sums in float64, one
// goroutine. Concat's and Gather's live with their kernels (shape.go).
type Ops struct{}

func (Ops) MapFloat(x *core.Tensor, f func(float64) float64) *core.Tensor { return MapFloat(x, f) }

func (Ops) Zip(a, b *core.Tensor, op core.BinFn) *core.Tensor { return ZipNum(a, b, op) }

func (Ops) Transpose(x *core.Tensor, perm []int) *core.Tensor { return TransposeTensor(x, perm) }

func (Ops) ReduceAxes(x *core.Tensor, axes []int64, keepdims bool, r core.Reducer) *core.Tensor {
	return reduceAxes(x, axes, keepdims, r)
}

func (Ops) Matmul(a, b *core.Tensor) *core.Tensor { return MatmulRef(a, b) }

func (Ops) Strided(x *core.Tensor, shape []int64, st []int, base int) *core.Tensor {
	return core.Take(x, shape, Strided(shape, st, base))
}

func (Ops) Expand(x *core.Tensor, shape []int64) *core.Tensor {
	return core.Take(x, shape, expandIndex(x.Shape, shape))
}

// Run runs sub under the Reference engine.
func (Ops) Run(sub *core.Model, feeds map[string]*core.Tensor) (map[string]*core.Tensor, error) {
	return sub.RunWith(feeds, core.RunOptions{Engine: core.Reference})
}
