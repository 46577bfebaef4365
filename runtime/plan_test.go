package runtime

import (
	"testing"

	"github.com/mhcc-dev/mhcc/export/onnxpb"
)

// TestPlanFusesTranspose runs x·Wᵀ and Q·Kᵀ written with explicit Transposes
// (as the exporter writes them) through the plan, where the MatMuls read
// their operands transposed, and through the graph as written; the results
// must agree to float32 summation order. A Transpose with a reader other
// than a MatMul stays, and asking for a fused-away value still works.
func TestPlanFusesTranspose(t *testing.T) {
	g := &onnxpb.GraphProto{
		Input: []*onnxpb.ValueInfoProto{
			tensorInfo("x", Float32, sh(2, 5, 7)),
			tensorInfo("w", Float32, sh(9, 7)),
			tensorInfo("q", Float32, sh(2, 3, 5, 4)),
			tensorInfo("k", Float32, sh(2, 3, 6, 4)),
			tensorInfo("a", Float32, sh(4, 3)),
		},
		Output: []*onnxpb.ValueInfoProto{untypedInfo("y"), untypedInfo("s"), untypedInfo("z"), untypedInfo("u")},
		Node: []*onnxpb.NodeProto{
			node("wt", "Transpose", []string{"w"}, []string{"wT"}, aInts("perm", 1, 0)),
			node("lin", "MatMul", []string{"x", "wT"}, []string{"y"}),
			node("kt", "Transpose", []string{"k"}, []string{"kT"}, aInts("perm", 0, 1, 3, 2)),
			node("qk", "MatMul", []string{"q", "kT"}, []string{"s"}),
			node("at", "Transpose", []string{"a"}, []string{"aT"}, aInts("perm", 1, 0)),
			node("aa", "MatMul", []string{"aT", "a"}, []string{"z"}), // transA
			node("use", "Neg", []string{"aT"}, []string{"u"}),       // keeps aT
		},
	}
	m, err := Decode(encode(t, modelProto(17, g)))
	if err != nil {
		t.Fatal(err)
	}
	if !m.plan.gone["wT"] || !m.plan.gone["kT"] || m.plan.gone["aT"] {
		t.Fatalf("fused away: %v; want wT and kT only", m.plan.gone)
	}
	in := map[string]*Tensor{
		"x": randTensor(1, 2, 5, 7), "w": randTensor(2, 9, 7),
		"q": randTensor(3, 2, 3, 5, 4), "k": randTensor(4, 2, 3, 6, 4), "a": randTensor(5, 4, 3),
	}
	planned, err := m.Run(in)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := m.runGraph(in, RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"y", "s", "z", "u"} {
		if err := compareTensors(planned[name], plain[name], 1e-6, 1e-6); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	got, err := m.RunWith(in, RunOptions{Outputs: []string{"kT", "s"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := compareTensors(got["kT"], transposeLast2(in["k"]), 0, 0); err != nil {
		t.Errorf("kT: %v", err)
	}
}
