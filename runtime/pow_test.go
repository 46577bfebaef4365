package runtime

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/mhcc-dev/mhcc/runtime/internal/core"
	"github.com/mhcc-dev/mhcc/runtime/internal/fast"
)

// The float32 square fast path of Pow gives what the general kernel
// (math.Pow in float64, rounded to float32) gives, special values included,
// and leaves other exponents and broadcasting exponents to it.
func TestPowSquareFastPath(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	xs := []float32{0, float32(math.Copysign(0, -1)), 1, -1, 1e-30, -3e-39, 1e19, 3.4e38, float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN())}
	for range 1000 {
		xs = append(xs, float32(r.NormFloat64()*math.Pow(10, float64(r.IntN(20)-10))))
	}
	x := core.NewFloat32([]int64{int64(len(xs))}, xs)
	got := fast.Square32(x, core.NewFloat32(nil, []float32{2}))
	if got == nil {
		t.Fatal("no fast path for a scalar exponent 2")
	}
	for i, v := range xs {
		want := float32(math.Pow(float64(v), 2))
		g := got.Float32s()[i]
		if math.Float32bits(g) != math.Float32bits(want) && !(g != g && want != want) {
			t.Errorf("%g²: fast path %g, general %g", v, g, want)
		}
	}
	if fast.Square32(x, core.NewFloat32(nil, []float32{3})) != nil || fast.Square32(x, core.NewFloat32([]int64{1, 1}, []float32{2})) != nil {
		t.Error("the fast path took an exponent it should leave to the general kernel")
	}
}
