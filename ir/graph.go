package ir

import "fmt"

// A Value is a tensor in the graph: a graph input, a constant (weight or
// folded value, Const != nil) or the output of one Node (Def).
type Value struct {
	ID    int
	Name  string // unique in its Graph; becomes the ONNX value name
	Type  Type
	Def   *Node   // nil for inputs and constants
	Const *Tensor // non-nil for constants
	Uses  int     // number of node inputs and graph outputs that read it
}

func (v *Value) String() string { return "%" + v.Name }

// IsConst reports whether v holds compile-time data.
func (v *Value) IsConst() bool { return v.Const != nil }

// A Node applies one operator to Values, defining its Outputs. Printed form:
//
//	%layers.0.attn.comb = Sinkhorn<f32[batch,sequence,4,4]> %layers.0.attn.logits {eps=1e-06, iters=20}
type Node struct {
	ID      int
	Op      Op
	Name    string   // unique in its Graph; used for ONNX node names
	Inputs  []*Value // nil entry = omitted optional input
	Outputs []*Value
	Attrs   Attrs
	Pos     Pos // model-file origin; a fused node keeps its first origin's Pos

	// Lowering names the exporter's form for this node ("" = reference); the
	// select_lowerings pass sets it from the target profile. Printed "@name".
	Lowering string
}

// Attrs are a node's compile-time parameters: int64, float64, string or
// []int64 values, checked against the op's table row.
type Attrs map[string]any

// Int returns the int64 attribute name (0 if absent).
func (a Attrs) Int(name string) int64 { v, _ := a[name].(int64); return v }

// Float returns the float64 attribute name (0 if absent).
func (a Attrs) Float(name string) float64 { v, _ := a[name].(float64); return v }

// String returns the string attribute name ("" if absent).
func (a Attrs) String(name string) string { v, _ := a[name].(string); return v }

// Ints returns the []int64 attribute name (nil if absent).
func (a Attrs) Ints(name string) []int64 { v, _ := a[name].([]int64); return v }

// A Graph is a typed dataflow graph. Nodes are kept in a topological order
// (every input is defined before it is read); Verify checks it.
type Graph struct {
	Name string
	// Metadata are key/value pairs describing the model the graph was
	// lowered from (lower sets them: the model file's name and settings);
	// the exporter writes them, in order, after its own ONNX metadata.
	Metadata []MetaEntry
	Inputs   []*Value // graph inputs, in order
	Consts   []*Value // constants, in order of creation
	Nodes    []*Node
	Outputs  []*Value

	nextValue, nextNode int
	names               map[string]bool
}

// A MetaEntry is one key/value pair of Graph.Metadata.
type MetaEntry struct{ Key, Value string }

// NewGraph returns an empty graph.
func NewGraph(name string) *Graph { return &Graph{Name: name, names: map[string]bool{}} }

// uniqueName returns base, or base with a numeric suffix if base is taken.
func (g *Graph) uniqueName(base string) string {
	if g.names == nil {
		g.names = map[string]bool{}
	}
	name := base
	for i := 1; g.names[name]; i++ {
		name = fmt.Sprintf("%s_%d", base, i)
	}
	g.names[name] = true
	return name
}

func (g *Graph) newValue(name string, t Type) *Value {
	v := &Value{ID: g.nextValue, Name: g.uniqueName(name), Type: t}
	g.nextValue++
	return v
}

// AddInput appends a graph input.
func (g *Graph) AddInput(name string, t Type) *Value {
	v := g.newValue(name, t)
	g.Inputs = append(g.Inputs, v)
	return v
}

// AddConst appends a constant holding c.
func (g *Graph) AddConst(name string, c *Tensor) *Value {
	dims := make(Shape, len(c.Shape))
	for i, n := range c.Shape {
		dims[i] = D(n)
	}
	v := g.newValue(name, Type{DType: c.DType, Shape: dims})
	v.Const = c
	g.Consts = append(g.Consts, v)
	return v
}

// AddOutput marks v as a graph output.
func (g *Graph) AddOutput(v *Value) {
	v.Uses++
	g.Outputs = append(g.Outputs, v)
}

// NewNode appends a node applying op to inputs. Its outputs get the names
// given and the types the op's shape rule infers; an error in the rule is
// returned with the node named, and nothing is added.
func (g *Graph) NewNode(op Op, name string, pos Pos, attrs Attrs, inputs []*Value, outNames ...string) (*Node, error) {
	n := &Node{Op: op, Inputs: inputs, Attrs: attrs, Pos: pos}
	if n.Attrs == nil {
		n.Attrs = Attrs{}
	}
	types, err := Infer(n)
	if err != nil {
		return nil, fmt.Errorf("ir: node %s (%v at %v): %w", name, op, pos, err)
	}
	if len(outNames) != len(types) {
		return nil, fmt.Errorf("ir: node %s (%v): %d output names for %d outputs", name, op, len(outNames), len(types))
	}
	n.ID = g.nextNode
	g.nextNode++
	n.Name = g.uniqueName("node:" + name)[len("node:"):]
	for _, in := range inputs {
		if in != nil {
			in.Uses++
		}
	}
	for i, t := range types {
		v := g.newValue(outNames[i], t)
		v.Def = n
		n.Outputs = append(n.Outputs, v)
	}
	g.Nodes = append(g.Nodes, n)
	return n, nil
}

// Values returns every value of g: inputs, constants, then node outputs in
// node order.
func (g *Graph) Values() []*Value {
	vs := append(append([]*Value(nil), g.Inputs...), g.Consts...)
	for _, n := range g.Nodes {
		vs = append(vs, n.Outputs...)
	}
	return vs
}

// RemoveNodes drops the nodes for which drop returns true, releasing their
// uses of their inputs. The caller must ensure no kept node reads their outputs.
func (g *Graph) RemoveNodes(drop func(*Node) bool) int {
	kept := g.Nodes[:0]
	removed := 0
	for _, n := range g.Nodes {
		if drop(n) {
			for _, in := range n.Inputs {
				if in != nil {
					in.Uses--
				}
			}
			for _, out := range n.Outputs {
				delete(g.names, out.Name)
			}
			removed++
			continue
		}
		kept = append(kept, n)
	}
	g.Nodes = kept
	return removed
}

// RemoveUnusedConsts drops constants no node or output reads.
func (g *Graph) RemoveUnusedConsts() int {
	kept := g.Consts[:0]
	removed := 0
	for _, c := range g.Consts {
		if c.Uses == 0 {
			delete(g.names, c.Name)
			removed++
			continue
		}
		kept = append(kept, c)
	}
	g.Consts = kept
	return removed
}
