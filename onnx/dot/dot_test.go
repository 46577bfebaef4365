package dot

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/mhcc-dev/mhcc/onnx/pb"
)

// chain is a model of n Relu nodes per layer over the given layers, named
// as mhcc names them ("layers.0.attn/Relu_1").
func chain(layers, n int) *onnxpb.ModelProto {
	g := &onnxpb.GraphProto{Name: proto.String("g")}
	g.Input = []*onnxpb.ValueInfoProto{{Name: proto.String("x")}}
	prev := "x"
	for l := range layers {
		for i := range n {
			out := fmt.Sprintf("v%d_%d", l, i)
			g.Node = append(g.Node, &onnxpb.NodeProto{
				Name: proto.String(fmt.Sprintf("layers.%d.attn/Relu_%d", l, i)), OpType: proto.String("Relu"),
				Input: []string{prev}, Output: []string{out},
			})
			prev = out
		}
	}
	g.Output = []*onnxpb.ValueInfoProto{{Name: proto.String(prev)}}
	return &onnxpb.ModelProto{Graph: g}
}

func TestRenderRefusals(t *testing.T) {
	m := chain(3, 4)
	src, err := Render(m, Options{View: "layers", Layer: -1, MaxBoxes: DefaultMaxBoxes})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"layers.0" -> "layers.1"`, `"layers.1" -> "layers.2"`} {
		if !strings.Contains(src, want) {
			t.Errorf("layers view lacks %s:\n%s", want, src)
		}
	}
	_, err = Render(m, Options{View: "nodes", Layer: -1, MaxBoxes: 5})
	var tb *TooBigError
	if !errors.As(err, &tb) || tb.Nodes != 12 || tb.Boxes != 12 || tb.Layer0Nodes != 4 || tb.Graph != "g" {
		t.Errorf("nodes view of 12 nodes, max 5: %#v (%v)", tb, err)
	}
	_, err = Render(m, Options{View: "ops", Layer: 7})
	var nl *NoLayerError
	if !errors.As(err, &nl) || nl.Layer != 7 || !strings.Contains(nl.Layers, "layers.0") {
		t.Errorf("--layer 7 of 3 layers: %#v (%v)", nl, err)
	}
}
