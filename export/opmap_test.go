package export

import (
	"testing"

	"github.com/mhcc-dev/mhcc/ir"
)

// Every IR op has an ONNX lowering.
func TestOpmapComplete(t *testing.T) {
	for _, op := range ir.Ops() {
		if opmap[op] == nil {
			t.Errorf("op %v has no row in opmap", op)
		}
	}
}

// An op without a row is refused before anything is emitted.
func TestCheckLegal(t *testing.T) {
	saved := opmap[ir.OpAdd]
	delete(opmap, ir.OpAdd)
	defer func() { opmap[ir.OpAdd] = saved }()
	g := ir.NewGraph("g")
	a := g.AddInput("a", ir.T(ir.Float32, ir.D(2)))
	n, err := g.NewNode(ir.OpAdd, "sum", ir.Pos{}, nil, []*ir.Value{a, a}, "s")
	if err != nil {
		t.Fatal(err)
	}
	g.AddOutput(n.Outputs[0])
	if _, err := Encode(g, Options{}); err == nil {
		t.Fatal("Encode accepted an op with no ONNX lowering")
	}
}
