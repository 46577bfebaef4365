package graphdiff

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
)

// The node table gives back every field the comparison reads, as the
// NodeProtos it was built from hold them.
func TestNodeTableMatchesProtos(t *testing.T) {
	nodes := []*onnxpb.NodeProto{
		{Name: proto.String("a"), OpType: proto.String("Add"), Input: []string{"x", "w"}, Output: []string{"s"}},
		{OpType: proto.String("Relu"), Input: []string{"s"}, Output: []string{"r", ""}},
		{Name: proto.String("c"), OpType: proto.String("Custom"), Domain: proto.String("ai.mhcc"), Output: []string{"c0", "c1"},
			Attribute: []*onnxpb.AttributeProto{{Name: proto.String("iters"), I: proto.Int64(3), Type: onnxpb.AttributeProto_INT.Enum()}}},
		{OpType: proto.String("Add"), Input: []string{"", "c1"}},
	}
	tab := newNodeTable(nodes)
	if tab.len() != len(nodes) {
		t.Fatalf("len %d, want %d", tab.len(), len(nodes))
	}
	for i, n := range nodes {
		v := tab.at(i)
		if v.GetName() != n.GetName() || v.GetOpType() != n.GetOpType() || v.GetDomain() != n.GetDomain() {
			t.Errorf("node %d: %q %q %q, want %q %q %q", i, v.GetName(), v.GetOpType(), v.GetDomain(), n.GetName(), n.GetOpType(), n.GetDomain())
		}
		if !slices.Equal(v.GetInput(), n.GetInput()) || !slices.Equal(v.GetOutput(), n.GetOutput()) || !slices.Equal(v.GetAttribute(), n.GetAttribute()) {
			t.Errorf("node %d: inputs %q outputs %q attributes %v, want %q %q %v", i, v.GetInput(), v.GetOutput(), v.GetAttribute(), n.GetInput(), n.GetOutput(), n.GetAttribute())
		}
	}
	// Appending to a node's inputs must not overwrite the next node's.
	_ = append(tab.at(0).GetInput(), "clobber")
	if got := tab.at(1).GetInput(); !slices.Equal(got, []string{"s"}) {
		t.Errorf("node 1 inputs %q after an append to node 0's", got)
	}
	if tab.names == nil {
		t.Error("named nodes: no names kept")
	}
	if un := newNodeTable(nodes[1:2]); un.names != nil || un.at(0).GetName() != "" {
		t.Error("unnamed nodes: names kept")
	}
}

// outputIndex finds each value's producer as the map it replaced did: the
// first node (in node order) that outputs the name wins, "" is nothing.
func TestOutputIndex(t *testing.T) {
	var nodes []*onnxpb.NodeProto
	want := map[string][2]int{}
	for i := range 5000 {
		outs := []string{fmt.Sprintf("v%d", i), fmt.Sprintf("dup%d", i%7), ""}
		nodes = append(nodes, &onnxpb.NodeProto{OpType: proto.String("Split"), Output: outs})
		for k, o := range outs {
			if _, ok := want[o]; !ok && o != "" {
				want[o] = [2]int{i, k}
			}
		}
	}
	x := newOutputIndex(newNodeTable(nodes))
	for name, w := range want {
		n, k, ok := x.producer(name)
		if !ok || n != w[0] || k != w[1] {
			t.Errorf("producer(%q) = %d, %d, %v; want %d, %d", name, n, k, ok, w[0], w[1])
		}
	}
	for _, name := range []string{"", "v5000", "dup7", "x"} {
		if n, k, ok := x.producer(name); ok {
			t.Errorf("producer(%q) = %d, %d; want none", name, n, k)
		}
	}
}

// Prepare drops a model's node list and CompareModels of prepared models
// reports what Compare of the models does (which leaves them whole), on a
// real mhcc model against a variant with fewer Sinkhorn iterations.
func TestPrepareCompareModels(t *testing.T) {
	a := compileVariant(t, "tiny-mhc.yaml")
	b := compileVariant(t, "tiny-mhc.yaml", "sinkhorn_iterations: 20", "sinkhorn_iterations: 10")
	ca, cb := clone(a), clone(b)
	want := reportText(t, mustCompare(t, a, b, Options{}))
	if !proto.Equal(a, ca) || !proto.Equal(b, cb) {
		t.Fatal("Compare changed its models")
	}
	if !strings.Contains(want, "sinkhorn iterations 20 → 10") {
		t.Fatalf("the variant does not differ as intended:\n%s", want)
	}
	pa, pb := Prepare(a), Prepare(b)
	if a.GetGraph().GetNode() != nil || b.GetGraph().GetNode() != nil {
		t.Error("Prepare kept the node lists")
	}
	r, err := CompareModels(pa, pb, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := reportText(t, r); got != want {
		t.Errorf("CompareModels:\n%s\nCompare:\n%s", got, want)
	}
}
