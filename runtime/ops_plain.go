package runtime

// plainOps are the Reference engine's forms of the steps kernels share
// (ops): the plain loops, one index walk per element, sums in float64, one
// goroutine. Concat's and Gather's live with their kernels (shape.go).
type plainOps struct{}

func (plainOps) mapFloat(x *Tensor, f func(float64) float64) *Tensor { return mapFloat(x, f) }

func (plainOps) zip(a, b *Tensor, op binFn) *Tensor { return zipNum(a, b, op) }

func (plainOps) transpose(x *Tensor, perm []int) *Tensor { return transposeTensor(x, perm) }

func (plainOps) reduceAxes(x *Tensor, axes []int64, keepdims bool, r reducer) *Tensor {
	return reduceAxes(x, axes, keepdims, r)
}

func (plainOps) matmul(a, b *Tensor) *Tensor { return matmulRef(a, b) }

func (plainOps) strided(x *Tensor, shape []int64, st []int, base int) *Tensor {
	return take(x, shape, strided(shape, st, base))
}

func (plainOps) expand(x *Tensor, shape []int64) *Tensor {
	return take(x, shape, expandIndex(x.Shape, shape))
}

// run runs sub under the Reference engine.
func (plainOps) run(sub *Model, feeds map[string]*Tensor) (map[string]*Tensor, error) {
	return sub.RunWith(feeds, RunOptions{Engine: Reference})
}
