package runtime

import (
	"strings"
	"testing"

	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
	"github.com/mhcc-dev/mhcc/runtime/internal/core"
)

// TestUnsupportedOpsListed checks that Decode's error names every op type
// without a kernel, deduplicated and counted, Loop bodies included, instead
// of the first one and "(and N more errors)"; other errors follow.
func TestUnsupportedOpsListed(t *testing.T) {
	cond := tensorInfo("cond", core.Bool, nil)
	body := graph([]*onnxpb.NodeProto{
		node("inner", "Baz", []string{"c_in"}, []string{"c_out"}),
	}, ins(tensorInfo("i", core.Int64, nil), tensorInfo("c_in", core.Bool, nil)), ins(untypedInfo("c_out")))
	many := graph([]*onnxpb.NodeProto{
		node("f1", "Foo", []string{"x"}, []string{"a"}),
		node("f2", "Foo", []string{"a"}, []string{"b"}),
		node("b1", "Bar", []string{"b"}, []string{"c"}),
		node("m", "Mul", []string{"c", "nowhere"}, []string{"y"}),
		node("loop", "Loop", []string{"", "cond"}, []string{}, aGraph("body", body)),
	}, ins(xf, cond), ins(yf))
	tests := []struct {
		name    string
		g       *onnxpb.GraphProto
		want    []string
		notWant string
	}{
		{"several ops, nested and other errors", many, []string{
			`runtime: no kernel for 3 op types: Bar (1 node), Baz (1 node), Foo (2 nodes)`,
			`[first: node "f1" (Foo): unknown op Foo]`,
			`; and 1 other error: node "m" (Mul): input 1 "nowhere" is not defined`,
		}, "more error"},
		{"one op, two nodes", graph([]*onnxpb.NodeProto{
			node("f1", "Foo", []string{"x"}, []string{"a"}),
			node("f2", "Foo", []string{"a"}, []string{"y"}),
		}, ins(xf), ins(yf)), []string{`runtime: no kernel for 1 op type: Foo (2 nodes) [first: node "f1" (Foo): unknown op Foo]`}, "other"},
		{"opset without a kernel", graph([]*onnxpb.NodeProto{
			node("r1", "Relu", []string{"x"}, []string{"a"}),
			node("f", "Foo", []string{"a"}, []string{"y"}),
		}, ins(xf), ins(yf)), []string{`runtime: no kernel for 2 op types: Foo (1 node), Relu at opset 22 (1 node)`}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opset := int64(17)
			if strings.Contains(tc.name, "opset") {
				opset = core.MaxOpset + 1
			}
			_, err := Decode(encode(t, modelProto(opset, tc.g)))
			if err == nil {
				t.Fatal("Decode succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("got  %v\nwant it to contain %s", err, w)
				}
			}
			if tc.notWant != "" && strings.Contains(err.Error(), tc.notWant) {
				t.Errorf("got %v, which should not say %q", err, tc.notWant)
			}
		})
	}
}
