package fast

import (
	"fmt"
	"math/rand/v2"
	goruntime "runtime"
	"testing"

	"github.com/mhcc-dev/mhcc/runtime/internal/core"
)

// TestZipLongRows checks binary ops whose rows makeRowPlan cuts into pieces
// (splitInner: few rows of many elements) against element-by-element
// arithmetic, with operands of one shape, a broadcast row, a broadcast
// column and a scalar, and that the pieces are there to share.
func TestZipLongRows(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	tensor := func(shape ...int64) *core.Tensor {
		n := 1
		for _, d := range shape {
			n *= int(d)
		}
		return &core.Tensor{DType: core.Float32, Shape: shape, Elems: randSlice(r, n)}
	}
	cases := []struct{ a, b *core.Tensor }{
		{tensor(1, 256, 2816), tensor(1, 256, 2816)},
		{tensor(3, 65536), tensor(1, 65536)},
		{tensor(2, 40000), tensor(2, 1)},
		{tensor(200000), tensor(1)},
		{tensor(1, 70000+8), tensor(1, 70000+8)}, // not a multiple of 16 per piece at 8
	}
	for _, c := range cases {
		t.Run(fmt.Sprint(c.a.Shape, c.b.Shape), func(t *testing.T) {
			out := zip32(core.BinMul, c.a, c.b)
			ad, bd, od := c.a.Elems.([]float32), c.b.Elems.([]float32), out.Elems.([]float32)
			cols := int(c.a.Shape[len(c.a.Shape)-1])
			for i, v := range od {
				j := i
				switch {
				case len(bd) == 1:
					j = 0
				case len(bd) < len(ad) && c.b.Shape[len(c.b.Shape)-1] == 1:
					j = i / cols
				case len(bd) < len(ad):
					j = i % cols
				}
				if want := ad[i] * bd[j]; v != want {
					t.Fatalf("element %d = %v, want %v", i, v, want)
				}
			}
		})
	}
	p := makeRowPlan([]int64{1, 256, 2816}, []int64{1, 256, 2816}, []int64{1, 256, 2816})
	if p.rows < 2 || p.rows*p.inner != 256*2816 || p.inner%16 != 0 {
		t.Errorf("one row of 256·2816 planned as %d rows of %d, want pieces of a multiple of 16", p.rows, p.inner)
	}
}

// TestTransposeSplitRows checks copies large enough for copyStrided to
// split their rows among goroutines (a transpose, a broadcast and a
// strided slice) against element-by-element indexing, on two workers
// whatever the machine.
func TestTransposeSplitRows(t *testing.T) {
	defer goruntime.GOMAXPROCS(goruntime.GOMAXPROCS(2))
	r := rand.New(rand.NewPCG(7, 8))
	const a, b, c = 3, 50, 700
	x := &core.Tensor{DType: core.Float32, Shape: []int64{a, b, c}, Elems: randSlice(r, a*b*c)}
	xd := x.Elems.([]float32)
	got := Ops{}.Transpose(x, []int{2, 0, 1}).Elems.([]float32) // [c, a, b]
	for k := range c {
		for i := range a {
			for j := range b {
				if g, w := got[(k*a+i)*b+j], xd[(i*b+j)*c+k]; g != w {
					t.Fatalf("transpose[%d,%d,%d] = %v, want %v", k, i, j, g, w)
				}
			}
		}
	}
	// x[:, ::2, 1:] broadcast over a new leading dim of 2: strides 0, b·c, 2c, 1.
	shape := []int64{2, a, b / 2, c - 1}
	out := copyStrided(xd, make([]float32, 2*a*(b/2)*(c-1)), shape, []int{0, b * c, 2 * c, 1}, 1)
	for q := range 2 {
		for i := range a {
			for j := range b / 2 {
				for k := range c - 1 {
					if g, w := out[((q*a+i)*(b/2)+j)*(c-1)+k], xd[(i*b+2*j)*c+1+k]; g != w {
						t.Fatalf("slice[%d,%d,%d,%d] = %v, want %v", q, i, j, k, g, w)
					}
				}
			}
		}
	}
}
