package export

import (
	"strings"
	"testing"

	"github.com/mhcc-dev/mhcc/ir"
	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
	"google.golang.org/protobuf/proto"
)

// gemmModel is Y = Gemm(A, B, C) with C an initializer of dims cDims, at
// the top level or inside a Loop body that reads C from the outer graph.
func gemmModel(cDims []int64, inLoop bool) *onnxpb.ModelProto {
	gemm := &onnxpb.NodeProto{Name: proto.String("g"), OpType: proto.String("Gemm"), Input: []string{"A", "B", "C"}, Output: []string{"Y"}}
	c := &onnxpb.TensorProto{Name: proto.String("C"), Dims: cDims, DataType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)), RawData: make([]byte, 4)}
	g := &onnxpb.GraphProto{Node: []*onnxpb.NodeProto{gemm}, Initializer: []*onnxpb.TensorProto{c}}
	if inLoop {
		body := &onnxpb.GraphProto{Node: []*onnxpb.NodeProto{gemm}}
		loop := &onnxpb.NodeProto{Name: proto.String("loop"), OpType: proto.String("Loop"), Input: []string{"n", "", "A"}, Output: []string{"Z"},
			Attribute: []*onnxpb.AttributeProto{aGraph("body", body)}}
		g.Node = []*onnxpb.NodeProto{loop}
	}
	return &onnxpb.ModelProto{Graph: g}
}

func TestEPRuleGemmScalarC(t *testing.T) {
	for _, tc := range []struct {
		name   string
		dims   []int64
		inLoop bool
		bad    bool
	}{
		{"rank 0", nil, false, true},
		{"rank 0 in a Loop body", nil, true, true},
		{"shape [1]", []int64{1}, false, false},
		{"shape [1] in a Loop body", []int64{1}, true, false},
	} {
		err := checkEPRules(gemmModel(tc.dims, tc.inLoop))
		if tc.bad && (err == nil || !strings.Contains(err.Error(), "rule gemm-scalar-c") || !strings.Contains(err.Error(), `"C"`)) {
			t.Errorf("%s: got %v, want the gemm-scalar-c error naming C", tc.name, err)
		}
		if !tc.bad && err != nil {
			t.Errorf("%s: got %v, want nil", tc.name, err)
		}
	}
	// A scalar from a Constant node counts as well.
	m := gemmModel([]int64{1}, false)
	m.Graph.Initializer = nil
	m.Graph.Node = append([]*onnxpb.NodeProto{{OpType: proto.String("Constant"), Output: []string{"C"},
		Attribute: []*onnxpb.AttributeProto{{Name: proto.String("value_float"), Type: onnxpb.AttributeProto_FLOAT.Enum(), F: proto.Float32(1e-6)}}}}, m.Graph.Node...)
	if err := checkEPRules(m); err == nil {
		t.Error("Gemm with C from a scalar Constant: no error")
	}
}

// The Sinkhorn lowerings that use Gemm (gemm, log, loop) pass the rule:
// Encode runs it on every model, so compiling each lowering is the check.
func TestSinkhornLoweringsPassEPRules(t *testing.T) {
	for _, l := range []string{"gemm", "log", "loop"} {
		e := newEmitter(false)
		n := sinkhornNode(t)
		e.node, e.ft = n, nodeFloatType(n)
		alternatives[n.Op][l](e, n, []string{"logits"}, []string{"comb"})
		m := &onnxpb.ModelProto{Graph: &onnxpb.GraphProto{Node: e.nodes, Initializer: e.inits}}
		gemms := 0
		var walk func([]*onnxpb.NodeProto)
		walk = func(ns []*onnxpb.NodeProto) {
			for _, x := range ns {
				if x.GetOpType() == "Gemm" {
					gemms++
				}
				for _, a := range x.GetAttribute() {
					walk(a.GetG().GetNode())
				}
			}
		}
		walk(e.nodes)
		if gemms == 0 {
			t.Errorf("lowering %s: no Gemm emitted; the test checks nothing", l)
		}
		if err := checkEPRules(m); err != nil {
			t.Errorf("lowering %s: %v", l, err)
		}
	}
}

func sinkhornNode(t *testing.T) *ir.Node {
	t.Helper()
	g, err := ir.Parse("graph g\ninput %l: f32[batch,4,4]\n%c = Sinkhorn<f32[batch,4,4]> %l {eps=1e-06, iters=3}\noutput %c\n")
	if err != nil {
		t.Fatal(err)
	}
	return g.Nodes[0]
}
