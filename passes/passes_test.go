package passes

import (
	"errors"
	"strings"
	"testing"

	"github.com/mhcc-dev/mhcc/ir"
)

// graph builds x -> Linear -> y (output) plus a dead chain x -> Linear -> Add.
func graph(t *testing.T) *ir.Graph {
	t.Helper()
	g := ir.NewGraph("g")
	x := g.AddInput("x", ir.T(ir.Float32, ir.P("batch"), ir.D(4)))
	w := g.AddConst("w", &ir.Tensor{DType: ir.Float32, Shape: []int64{4, 4}, F32: make([]float32, 16)})
	dw := g.AddConst("dead_w", &ir.Tensor{DType: ir.Float32, Shape: []int64{4, 4}, F32: make([]float32, 16)})
	y, err := g.NewNode(ir.OpLinear, "live", ir.Pos{}, nil, []*ir.Value{x, w}, "y")
	if err != nil {
		t.Fatal(err)
	}
	d, _ := g.NewNode(ir.OpLinear, "dead1", ir.Pos{}, nil, []*ir.Value{x, dw}, "d1")
	g.NewNode(ir.OpAdd, "dead2", ir.Pos{}, nil, []*ir.Value{d.Outputs[0], y.Outputs[0]}, "d2")
	g.AddOutput(y.Outputs[0])
	return g
}

func TestEliminateDead(t *testing.T) {
	g := graph(t)
	stats, err := Run(g, []*Pass{EliminateDead}, Config{Verify: true})
	if err != nil {
		t.Fatal(err)
	}
	want := "graph g\ninput %x: f32[batch,4]\nconst %w: f32[4,4] = [0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]\n%y = Linear<f32[batch,4]> %x, %w\noutput %y\n"
	if got := g.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if len(stats) != 1 || stats[0].NodesBefore != 3 || stats[0].NodesAfter != 1 || !stats[0].Changed {
		t.Errorf("stats %+v, want 3 -> 1 nodes, changed", stats)
	}
	// A second run finds nothing to do.
	if stats, _ := Run(g, []*Pass{EliminateDead}, Config{Verify: true}); stats[0].Changed {
		t.Errorf("second run changed the graph")
	}
}

// A pass that breaks the graph, fails or panics is named in the error.
func TestRunNamesThePass(t *testing.T) {
	breaks := &Pass{Name: "breaks", Run: func(g *ir.Graph, _ *Context) (bool, error) {
		g.Nodes[0].Inputs[0].Uses += 5
		return true, nil
	}}
	fails := &Pass{Name: "fails", Run: func(g *ir.Graph, _ *Context) (bool, error) { return false, errors.New("boom") }}
	panics := &Pass{Name: "panics", Run: func(g *ir.Graph, _ *Context) (bool, error) { panic("oops") }}
	for _, c := range []struct {
		p    *Pass
		want string
	}{
		{breaks, "passes: after breaks: ir: invalid graph"},
		{fails, "passes: fails: boom"},
		{panics, "passes: panics panicked: oops"},
	} {
		_, err := Run(graph(t), []*Pass{c.p}, Config{Verify: true})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.p.Name, err, c.want)
		}
	}
	// Disabled passes do not run.
	if _, err := Run(graph(t), []*Pass{fails}, Config{Disabled: map[string]bool{"fails": true}}); err != nil {
		t.Errorf("disabled pass ran: %v", err)
	}
}
