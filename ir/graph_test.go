package ir

import (
	"strings"
	"testing"
)

func smallGraph(t *testing.T) (*Graph, *Node) {
	t.Helper()
	g := NewGraph("g")
	x := g.AddInput("x", T(Float32, P("batch"), D(4)))
	w := g.AddConst("w", &Tensor{DType: Float32, Shape: []int64{3, 4}, F32: make([]float32, 12)})
	n, err := g.NewNode(OpLinear, "proj", Pos{File: "m.yaml", Line: 3, Col: 5}, nil, []*Value{x, w}, "y")
	if err != nil {
		t.Fatal(err)
	}
	g.AddOutput(n.Outputs[0])
	return g, n
}

func TestPrint(t *testing.T) {
	g, _ := smallGraph(t)
	want := `graph g
input %x: f32[batch,4]
const %w: f32[3,4] = [0,0,0,0,0,0,0,0,0,0,0,0]
%y = Linear<f32[batch,3]> %x, %w  # m.yaml:3:5
output %y
`
	if got := g.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if err := Verify(g); err != nil {
		t.Fatal(err)
	}
}

func TestNewNodeChecksShapes(t *testing.T) {
	g := NewGraph("g")
	x := g.AddInput("x", T(Float32, P("batch"), D(4)))
	w := g.AddConst("w", &Tensor{DType: Float32, Shape: []int64{3, 5}, F32: make([]float32, 15)})
	_, err := g.NewNode(OpLinear, "proj", Pos{}, nil, []*Value{x, w}, "y")
	if err == nil || !strings.Contains(err.Error(), "want dim 1 = 4") {
		t.Fatalf("got %v, want a shape error naming dim 1", err)
	}
	_, err = g.NewNode(OpSinkhorn, "s", Pos{}, Attrs{"iters": int64(3)}, []*Value{x}, "c")
	if err == nil || !strings.Contains(err.Error(), `missing attribute "eps"`) {
		t.Fatalf("got %v, want a missing attribute error", err)
	}
	_, err = g.NewNode(OpSinkhorn, "s", Pos{}, Attrs{"iters": int64(3), "eps": 1e-6, "bogus": int64(1)}, []*Value{x}, "c")
	if err == nil || !strings.Contains(err.Error(), `unknown attribute "bogus"`) {
		t.Fatalf("got %v, want an unknown attribute error", err)
	}
}

// Verify catches each broken invariant.
func TestVerifyCatches(t *testing.T) {
	cases := []struct {
		name   string
		break_ func(g *Graph, n *Node)
		want   string
	}{
		{"uses", func(g *Graph, n *Node) { n.Inputs[0].Uses = 7 }, "Uses=7"},
		{"type", func(g *Graph, n *Node) { n.Outputs[0].Type = T(Float32, D(1)) }, "want f32[batch,3]"},
		{"order", func(g *Graph, n *Node) {
			m, _ := g.NewNode(OpLinear, "again", Pos{}, nil, []*Value{g.Inputs[0], g.Consts[0]}, "z")
			n.Inputs[0].Uses--
			n.Inputs[0] = m.Outputs[0] // reads a value defined after it
			m.Outputs[0].Uses++
			g.Outputs = append(g.Outputs, m.Outputs[0])
			m.Outputs[0].Uses++
		}, "read before it is defined"},
		{"cycle", func(g *Graph, n *Node) {
			// n reads its own output: a cycle of one node.
			n.Inputs[0].Uses--
			n.Inputs[0] = n.Outputs[0]
			n.Outputs[0].Uses++
		}, "cycle: proj -> proj"},
		{"dup name", func(g *Graph, n *Node) { g.Consts[0].Name = "x" }, `two values are named "x"`},
		{"undefined output", func(g *Graph, n *Node) {
			v := &Value{Name: "ghost", Type: T(Float32)}
			v.Uses = 1
			g.Outputs = append(g.Outputs, v)
		}, "graph output %ghost is not defined"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g, n := smallGraph(t)
			c.break_(g, n)
			err := Verify(g)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Verify = %v, want an error containing %q", err, c.want)
			}
		})
	}
}
