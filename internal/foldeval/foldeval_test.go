package foldeval

import (
	"testing"

	"github.com/mhcc-dev/mhcc/ir"
)

// Runtime computes a graph of constants, in float32 or in float64 with one
// rounding at the end.
func TestRuntimeEvaluate(t *testing.T) {
	g := ir.NewGraph("fold")
	// 1 + 2^-24 is not a float32; (1 + 2^-24) + 2^-24 rounds to 1 in float32
	// at each step but to 1 + 2^-23 when summed in float64 and rounded once.
	a := g.AddConst("a", &ir.Tensor{DType: ir.Float32, Shape: []int64{1}, F32: []float32{1}})
	e := g.AddConst("e", &ir.Tensor{DType: ir.Float32, Shape: []int64{1}, F32: []float32{1.0 / (1 << 24)}})
	s1, err := g.NewNode(ir.OpAdd, "s1", ir.Pos{}, nil, []*ir.Value{a, e}, "s1")
	if err != nil {
		t.Fatal(err)
	}
	s2, err := g.NewNode(ir.OpAdd, "s2", ir.Pos{}, nil, []*ir.Value{s1.Outputs[0], e}, "s2")
	if err != nil {
		t.Fatal(err)
	}
	g.AddOutput(s2.Outputs[0])
	for _, c := range []struct {
		f64  bool
		want float32
	}{{false, 1}, {true, 1 + 1.0/(1<<23)}} {
		ts, err := Runtime{}.Evaluate(g, c.f64)
		if err != nil {
			t.Fatal(err)
		}
		if len(ts) != 1 || ts[0].DType != ir.Float32 || len(ts[0].F32) != 1 || ts[0].F32[0] != c.want {
			t.Errorf("f64 %v: got %+v, want [%v]", c.f64, ts, c.want)
		}
	}
}
