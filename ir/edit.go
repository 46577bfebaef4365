package ir

import (
	"fmt"
	"sort"
)

// ReplaceUses makes every node input that reads old read new instead and
// moves the use counts. Graph outputs keep reading old (their names are the
// model's interface), so a pass must not replace a graph output.
func (g *Graph) ReplaceUses(old, new *Value) {
	for _, n := range g.Nodes {
		for i, in := range n.Inputs {
			if in == old {
				n.Inputs[i] = new
				old.Uses--
				new.Uses++
			}
		}
	}
}

// IsOutput reports whether v is a graph output.
func (g *Graph) IsOutput(v *Value) bool {
	for _, o := range g.Outputs {
		if o == v {
			return true
		}
	}
	return false
}

// Toposort restores a topological order after a pass appended nodes: a node
// moves only as far as its inputs require, and otherwise the existing order
// is kept (ties go to the earlier node), so dumps stay readable and stable.
// It reports false, changing nothing, if the graph has a cycle.
func (g *Graph) Toposort() bool {
	index := make(map[*Node]int, len(g.Nodes))
	for i, n := range g.Nodes {
		index[n] = i
	}
	pending := make([]int, len(g.Nodes))
	readers := make([][]int, len(g.Nodes))
	for i, n := range g.Nodes {
		for _, in := range n.Inputs {
			if in != nil && in.Def != nil {
				if j, ok := index[in.Def]; ok {
					pending[i]++
					readers[j] = append(readers[j], i)
				}
			}
		}
	}
	// ready is kept sorted by original index: a min-heap would do, but
	// graphs are small enough for a sorted insert.
	var ready []int
	for i := range g.Nodes {
		if pending[i] == 0 {
			ready = append(ready, i)
		}
	}
	out := make([]*Node, 0, len(g.Nodes))
	for len(ready) > 0 {
		i := ready[0]
		ready = ready[1:]
		out = append(out, g.Nodes[i])
		for _, r := range readers[i] {
			if pending[r]--; pending[r] == 0 {
				k := sort.SearchInts(ready, r)
				ready = append(ready, 0)
				copy(ready[k+1:], ready[k:])
				ready[k] = r
			}
		}
	}
	if len(out) != len(g.Nodes) {
		return false
	}
	copy(g.Nodes, out)
	return true
}

// Clone returns a deep copy of the tensor.
func (t *Tensor) Clone() *Tensor {
	return &Tensor{DType: t.DType, Shape: append([]int64(nil), t.Shape...),
		F32: append([]float32(nil), t.F32...), F64: append([]float64(nil), t.F64...), I64: append([]int64(nil), t.I64...)}
}

// Reinfer recomputes the output types of every node in order, after a pass
// changed the types of inputs or constants.
func (g *Graph) Reinfer() error {
	for _, n := range g.Nodes {
		types, err := Infer(n)
		if err != nil {
			return fmt.Errorf("ir: node %s (%v at %v): %w", n.Name, n.Op, n.Pos, err)
		}
		for i, t := range types {
			n.Outputs[i].Type = t
		}
	}
	return nil
}

// InsertCast adds a Cast of v to dtype right after v's definition (at the
// front for inputs and constants) and returns its output; the caller points
// readers at it.
func (g *Graph) InsertCast(v *Value, to DType, pos Pos) (*Value, error) {
	n, err := g.NewNode(OpCast, v.Name+".cast_"+to.String(), pos, Attrs{"to": to.String()}, []*Value{v}, v.Name+"."+to.String())
	if err != nil {
		return nil, err
	}
	// NewNode appended n; move it after v's definer.
	g.Nodes = g.Nodes[:len(g.Nodes)-1]
	at := 0
	for i, m := range g.Nodes {
		if m == v.Def {
			at = i + 1
		}
	}
	g.Nodes = append(g.Nodes[:at], append([]*Node{n}, g.Nodes[at:]...)...)
	return n.Outputs[0], nil
}
