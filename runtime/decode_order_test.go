package runtime

import (
	"slices"
	"testing"

	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
	"github.com/mhcc-dev/mhcc/runtime/internal/core"
)

// TestDecodeNodeOrder: a file whose nodes are sorted runs in file order (the
// decoder takes it as is); one whose nodes are not is sorted, keeping file
// order among independent nodes; both compute the same values.
func TestDecodeNodeOrder(t *testing.T) {
	x := tensorInfo("x", core.Float32, []int64{2})
	sorted := []*onnxpb.NodeProto{
		node("a", "Relu", []string{"x"}, []string{"a"}),
		node("n", "Neg", []string{"x"}, []string{"n"}),
		node("b", "Add", []string{"a", "n"}, []string{"b"}),
		node("y", "Add", []string{"b", "a"}, []string{"y"}),
	}
	shuffled := []*onnxpb.NodeProto{sorted[3], sorted[2], sorted[1], sorted[0]}
	names := func(m *core.Model) []string {
		var out []string
		for _, n := range m.Nodes() {
			out = append(out, n.Name)
		}
		return out
	}
	in := map[string]*core.Tensor{"x": core.NewFloat32([]int64{2}, []float32{3, -2})}
	var results []*core.Tensor
	for _, c := range []struct {
		nodes []*onnxpb.NodeProto
		want  []string
	}{
		{sorted, []string{"a", "n", "b", "y"}},
		{shuffled, []string{"n", "a", "b", "y"}}, // n comes before a in this file
	} {
		m, err := Decode(encode(t, modelProto(17, graph(c.nodes, ins(x), ins(untypedInfo("y"))))))
		if err != nil {
			t.Fatal(err)
		}
		if got := names(m); !slices.Equal(got, c.want) {
			t.Errorf("order %v, want %v", got, c.want)
		}
		out, err := m.Run(in)
		if err != nil {
			t.Fatal(err)
		}
		results = append(results, out["y"])
	}
	// y = (relu(x) - x) + relu(x), for x = [3, -2].
	want := []float32{(3 - 3) + 3, (0 + 2) + 0}
	for i, r := range results {
		if got := r.Float32s(); !slices.Equal(got, want) {
			t.Errorf("file %d: y = %v, want %v", i, got, want)
		}
	}
}
