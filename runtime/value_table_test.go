package runtime

import (
	"fmt"
	goruntime "runtime"
	"strings"
	"testing"

	"github.com/mhcc-dev/mhcc/internal/onnxbuild"
	"github.com/mhcc-dev/mhcc/runtime/internal/core"

	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
)

// TestDecodeValueTable: the value table numbers every value a graph
// defines (initializers, inputs, node outputs, and in a subgraph the
// captures) once, with its readers counted and its type inferred, and no
// name it does not define.
func TestDecodeValueTable(t *testing.T) {
	m, err := Decode(encode(t, ifModel())) // x, w read by both branches; c by If
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(m.ID), 4; got != want || len(m.Uses) != want || len(m.Types) != want {
		t.Fatalf("main graph: %d names, %d use counts, %d types; want %d each (c, x, w, y)", got, len(m.Uses), len(m.Types), want)
	}
	for _, c := range []struct {
		name string
		uses int
		dt   core.DType
	}{
		// x and w are read only by the branches: the If node reads them as
		// captures, so they count once each.
		{"c", 1, core.Bool}, {"x", 1, core.Float32}, {"w", 1, core.Float32}, {"y", 0, core.Float32},
	} {
		if !m.IsDefined(c.name) || m.UsesOf(c.name) != c.uses || m.TypeOf(c.name) != c.dt {
			t.Errorf("%s: defined %v, %d uses, type %v; want true, %d, %v", c.name, m.IsDefined(c.name), m.UsesOf(c.name), m.TypeOf(c.name), c.uses, c.dt)
		}
	}
	if m.IsDefined("then_y") || m.TypeOf("nope") != core.Undefined || m.UsesOf("nope") != 0 {
		t.Error("names the main graph does not define are in its table")
	}
	then := m.Nodes()[0].Graphs["then_branch"]
	if got := strings.Join(then.Captures, ","); got != "x,w" {
		t.Errorf("then_branch captures %q, want x,w", got)
	}
	for _, name := range []string{"x", "w", "then_y"} {
		if !then.IsDefined(name) || then.TypeOf(name) != core.Float32 {
			t.Errorf("then_branch: %s defined %v, type %v; want true, float32", name, then.IsDefined(name), then.TypeOf(name))
		}
	}
	if got := m.UseCounts(); len(got) != 3 || got["c"] != 1 || got["x"] != 1 || got["w"] != 1 {
		t.Errorf("UseCounts = %v, want c, x and w read once each", got)
	}
}

// TestDecodeErrorOrder: a node with a graph attribute is resolved after the
// others (its subgraph may read any value), yet its error still comes first
// when it comes first in the file.
func TestDecodeErrorOrder(t *testing.T) {
	branch := &onnxpb.GraphProto{
		Name:   strp("else"),
		Node:   []*onnxpb.NodeProto{node("e", "Neg", []string{"x"}, []string{"e_y"})},
		Output: []*onnxpb.ValueInfoProto{typedInfo("e_y", core.Float32)},
	}
	g := graph([]*onnxpb.NodeProto{
		node("first", "If", []string{"c"}, []string{"a"}, aGraph("else_branch", branch)), // no then_branch
		node("second", "Relu", []string{"x", "x"}, []string{"b"}),                        // one input too many
	}, ins(tensorInfo("c", core.Bool, nil), xf), ins(untypedInfo("b")))
	_, err := Decode(encode(t, modelProto(17, g)))
	if err == nil {
		t.Fatal("decoded a model with two bad nodes")
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, `runtime: node "first" (If): attribute "then_branch"`) || !strings.HasSuffix(msg, "(and 1 more error)") {
		t.Errorf("error %q: want the If node's first, then one more", msg)
	}
}

// TestDecodeLiveBytesPerNode bounds what a decoded chain of Relu nodes and
// its plan keep alive, per node (issue 17: a 10^6-node file of 26 MB
// used to hold about 640 bytes a node in name-keyed maps, per-step slices
// and the plan's own slot map; the value tables and windowed steps hold
// about 380). The bound is on live heap after a collection, never on time.
func TestDecodeLiveBytesPerNode(t *testing.T) {
	if testing.Short() {
		t.Skip("decodes a 2^16-node graph: -short")
	}
	const nodes = 1 << 16
	g := onnxbuild.Chain(nodes, "Relu")
	data := encode(t, onnxbuild.Model(g))
	g = nil
	live := func() uint64 {
		goruntime.GC()
		var ms goruntime.MemStats
		goruntime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	before := live()
	m, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	after := live()
	perNode := float64(int64(after)-int64(before)) / nodes
	goruntime.KeepAlive(m)
	goruntime.KeepAlive(data)
	t.Logf("live after decoding: %.0f bytes a node", perNode)
	const limit = 480
	if perNode > limit {
		t.Errorf("a decoded %d-node chain keeps %.0f bytes a node alive, want at most %d", nodes, perNode, limit)
	}
	// And it still runs: x through 2^16 Relus is relu(x).
	out, err := m.Run(map[string]*core.Tensor{"x": f32(sh(2), -1, 2)})
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(out["y"].Float32s()); got != "[0 2]" {
		t.Errorf("y = %s, want [0 2]", got)
	}
}
