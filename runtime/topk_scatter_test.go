package runtime

import (
	"slices"
	"strings"
	"testing"
)

// The routing ops' cases beyond ONNX's conformance data: TopK's order of
// equal elements, the reductions of ScatterElements and ScatterND, half
// precision, empty selections, and the errors.
func TestRoutingKernels(t *testing.T) {
	f16 := func(shape []int64, v ...float32) *Tensor { return NewFloat16(shape, v) }
	zeros := func(shape ...int64) *Tensor {
		n := int64(1)
		for _, d := range shape {
			n *= d
		}
		return NewFloat32(shape, make([]float32, n))
	}
	cases := []struct {
		name  string
		opset int64
		op    string
		attrs attrs
		nout  int
		in    []*Tensor
		want  []*Tensor
		err   string
	}{
		{name: "TopK/ties keep the lower index", opset: 17, op: "TopK", nout: 2,
			in:   []*Tensor{f32(sh(2, 4), 1, 3, 3, 2, 5, 5, 5, 5), i64(sh(1), 2)},
			want: []*Tensor{f32(sh(2, 2), 3, 3, 5, 5), i64(sh(2, 2), 1, 2, 0, 1)}},
		{name: "TopK/smallest along axis 0", opset: 17, op: "TopK", nout: 2, attrs: attrs{aInt("axis", 0), aInt("largest", 0)},
			in:   []*Tensor{f32(sh(3, 2), 4, 1, 2, 1, 3, 0), i64(sh(1), 2)},
			want: []*Tensor{f32(sh(2, 2), 2, 0, 3, 1), i64(sh(2, 2), 1, 2, 2, 0)}},
		{name: "TopK/k = 0", opset: 17, op: "TopK", nout: 2, in: []*Tensor{f32(sh(2, 3), 1, 2, 3, 4, 5, 6), i64(sh(1), 0)},
			want: []*Tensor{f32(sh(2, 0)), i64(sh(2, 0))}},
		{name: "TopK/k too large", opset: 17, op: "TopK", nout: 2, in: []*Tensor{f32(sh(3), 1, 2, 3), i64(sh(1), 4)},
			err: "k = 4"},
		{name: "NonZero/none", opset: 17, op: "NonZero", nout: 1, in: []*Tensor{bools(sh(2, 2), false, false, false, false)},
			want: []*Tensor{i64(sh(2, 0))}},
		{name: "NonZero/row-major", opset: 17, op: "NonZero", nout: 1, in: []*Tensor{f32(sh(2, 3), 0, 1, 0, 2, 0, 3)},
			want: []*Tensor{i64(sh(2, 3), 0, 1, 1, 1, 0, 2)}},
		{name: "ScatterElements/axis 1", opset: 17, op: "ScatterElements", nout: 1, attrs: attrs{aInt("axis", 1)},
			in:   []*Tensor{zeros(2, 4), i64(sh(2, 2), 3, 0, -1, 1), f32(sh(2, 2), 1, 2, 3, 4)},
			want: []*Tensor{f32(sh(2, 4), 2, 0, 0, 1, 0, 4, 0, 3)}},
		{name: "ScatterElements/add", opset: 16, op: "ScatterElements", nout: 1, attrs: attrs{aStr("reduction", "add")},
			in:   []*Tensor{f32(sh(3), 1, 1, 1), i64(sh(3), 2, 2, 0), f32(sh(3), 10, 20, 30)},
			want: []*Tensor{f32(sh(3), 31, 1, 31)}},
		{name: "ScatterElements/reduction before opset 16", opset: 13, op: "ScatterElements", nout: 1, attrs: attrs{aStr("reduction", "add")},
			in:  []*Tensor{zeros(3), i64(sh(1), 0), f32(sh(1), 1)},
			err: "needs opset 16"},
		{name: "ScatterElements/index out of range", opset: 17, op: "ScatterElements", nout: 1,
			in:  []*Tensor{zeros(3), i64(sh(1), 3), f32(sh(1), 1)},
			err: "index 3 out of range"},
		{name: "ScatterND/rows", opset: 17, op: "ScatterND", nout: 1,
			in:   []*Tensor{zeros(3, 2), i64(sh(2, 1), 2, 0), f32(sh(2, 2), 1, 2, 3, 4)},
			want: []*Tensor{f32(sh(3, 2), 3, 4, 0, 0, 1, 2)}},
		{name: "ScatterND/no rows", opset: 17, op: "ScatterND", nout: 1,
			in:   []*Tensor{f32(sh(2, 2), 1, 2, 3, 4), i64(sh(0, 1)), f32(sh(0, 2))},
			want: []*Tensor{f32(sh(2, 2), 1, 2, 3, 4)}},
		{name: "ScatterND/add in float16", opset: 16, op: "ScatterND", nout: 1, attrs: attrs{aStr("reduction", "add")},
			in:   []*Tensor{f16(sh(2, 2), 1, 1, 1, 1), i64(sh(3, 1), 1, 1, 0), f16(sh(3, 2), 0.5, 1, 2, 3, 4, 5)},
			want: []*Tensor{f16(sh(2, 2), 5, 6, 3.5, 5)}},
		{name: "ScatterND/bad updates shape", opset: 17, op: "ScatterND", nout: 1,
			in:  []*Tensor{zeros(3, 2), i64(sh(2, 1), 2, 0), zeros(2, 3)},
			err: "updates shape [2 3], want [2 2]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := runOp(t, c.opset, c.op, c.attrs, c.nout, c.in...)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want one containing %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for i, w := range c.want {
				if got[i].DType != w.DType || !slices.Equal(got[i].Shape, w.Shape) || !slices.Equal(got[i].Float64s(), w.Float64s()) {
					t.Errorf("output %d: got %v, want %v", i, got[i], w)
				}
			}
		})
	}
}
