package ref

import (
	"math"

	"github.com/mhcc-dev/mhcc/runtime/internal/core"
)

// Normalizations, computed in float64 per line and rounded once.

// SoftmaxLines views x as [outer, dim, inner] lines for the Softmax family.
// Before opset 13 the op flattens x to 2-D at axis (default 1) and normalizes
// each row of Π dims[axis:] elements; from 13 it normalizes along the one
// axis (default −1).
func SoftmaxLines(c *core.Call, x *core.Tensor) (outer, dim, inner int) {
	r := len(x.Shape)
	if r == 0 {
		return 1, 1, 1 // a scalar is one line of one element
	}
	if c.Opset() < 13 {
		axis := NormAxis(c.Int("axis", 1), r)
		outer, dim = 1, 1
		for i, d := range x.Shape {
			if i < axis {
				outer *= int(d)
			} else {
				dim *= int(d)
			}
		}
		return outer, dim, 1
	}
	return Split3(x.Shape, NormAxis(c.Int("axis", -1), r))
}

// eachLine applies f to every line of x (dim elements, stride inner) in place
// on a float64 copy and returns the result in x's type.
func eachLine(c *core.Call, x *core.Tensor, f func(v []float64)) *core.Tensor {
	outer, dim, inner := SoftmaxLines(c, x)
	xv := x.Float64s()
	line := make([]float64, dim)
	for o := 0; o < outer; o++ {
		for i := 0; i < inner; i++ {
			base := o*dim*inner + i
			for j := range line {
				line[j] = xv[base+j*inner]
			}
			f(line)
			for j, v := range line {
				xv[base+j*inner] = v
			}
		}
	}
	return core.FromFloat64s(x.DType, x.Shape, xv)
}

// softmax is y = e^(x − max) / Σ e^(x − max) along each line.
func softmax(c *core.Call, in []*core.Tensor) []*core.Tensor {
	return []*core.Tensor{eachLine(c, in[0], func(v []float64) {
		mx := math.Inf(-1)
		for _, x := range v {
			mx = math.Max(mx, x)
		}
		var s float64
		for j, x := range v {
			v[j] = math.Exp(x - mx)
			s += v[j]
		}
		for j := range v {
			v[j] /= s
		}
	})}
}

// logSoftmax is y = x − max − ln Σ e^(x − max) along each line.
func logSoftmax(c *core.Call, in []*core.Tensor) []*core.Tensor {
	return []*core.Tensor{eachLine(c, in[0], func(v []float64) {
		mx := math.Inf(-1)
		for _, x := range v {
			mx = math.Max(mx, x)
		}
		var s float64
		for _, x := range v {
			s += math.Exp(x - mx)
		}
		ls := math.Log(s)
		for j, x := range v {
			v[j] = x - mx - ls
		}
	})}
}

// hardmax is 1 at the first maximum of each line and 0 elsewhere.
func hardmax(c *core.Call, in []*core.Tensor) []*core.Tensor {
	return []*core.Tensor{eachLine(c, in[0], func(v []float64) {
		best := 0
		for j, x := range v {
			if x > v[best] {
				best = j
			}
		}
		for j := range v {
			v[j] = 0
		}
		if len(v) > 0 {
			v[best] = 1
		}
	})}
}

// layerNorm is y = (x − mean)/√(var + epsilon)·scale + bias over the dims
// from axis (default −1) on, with scale and bias broadcasting to those dims;
// the optional outputs are the mean and 1/√(var + epsilon), shaped like x with
// the normalized dims set to 1.
func layerNorm(c *core.Call, in []*core.Tensor) []*core.Tensor {
	x, scale := in[0], in[1]
	var bias *core.Tensor
	if len(in) > 2 {
		bias = in[2]
	}
	r := len(x.Shape)
	axis := NormAxis(c.Int("axis", -1), r)
	eps := c.Float("epsilon", 1e-5)
	norm := x.Shape[axis:]
	outer, inner := Product(x.Shape[:axis]), Product(norm)
	params := func(t *core.Tensor) ([]float64, []int) {
		if t == nil {
			return nil, nil
		}
		if len(t.Shape) > len(norm) || !SameShape(BroadcastShapes(t.Shape, norm), norm) {
			core.Failf("scale or bias of shape %v does not broadcast to %v", t.Shape, norm)
		}
		return t.Float64s(), expandIndex(t.Shape, norm)
	}
	sv, si := params(scale)
	bv, bi := params(bias)
	xv := x.Float64s()
	means := make([]float64, outer)
	invs := make([]float64, outer)
	for o := 0; o < outer; o++ {
		v := xv[o*inner : (o+1)*inner]
		var mu float64
		for _, e := range v {
			mu += e
		}
		mu /= float64(inner)
		var variance float64
		for _, e := range v {
			variance += (e - mu) * (e - mu)
		}
		variance /= float64(inner)
		inv := 1 / math.Sqrt(variance+eps)
		for j, e := range v {
			y := (e - mu) * inv * sv[si[j]]
			if bv != nil {
				y += bv[bi[j]]
			}
			v[j] = y
		}
		means[o], invs[o] = mu, inv
	}
	stat := append([]int64{}, x.Shape...)
	for i := axis; i < r; i++ {
		stat[i] = 1
	}
	outs := []*core.Tensor{core.FromFloat64s(x.DType, x.Shape, xv), nil, nil}
	st := statType(c.N, x.DType)
	if c.WantOut(1) {
		outs[1] = core.FromFloat64s(st, stat, means)
	}
	if c.WantOut(2) {
		outs[2] = core.FromFloat64s(st, stat, invs)
	}
	return outs
}

// statType is the type of LayerNormalization's mean and inverse standard
// deviation: stash_type (default float32) for half inputs, else the input's.
func statType(n *core.Node, x core.DType) core.DType {
	if x.IsHalf() {
		if a := n.Attrs["stash_type"]; a != nil && core.DType(a.GetI()).Supported() {
			return core.DType(a.GetI())
		}
		return core.Float32
	}
	return x
}

func layerNormTypes(n *core.Node, in []core.DType) ([]core.DType, error) {
	if _, err := common(in, isFloat); err != nil {
		return nil, err
	}
	st := core.Undefined
	if in[0] != core.Undefined {
		st = statType(n, in[0])
	}
	return []core.DType{in[0], st, st}, nil
}
