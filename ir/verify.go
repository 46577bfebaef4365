package ir

import (
	"fmt"
	"strings"
)

// Verify checks the invariants every pass must keep: each value has one
// definition and a unique name, Uses counts agree with the readers, nodes are
// in a topological order (a cycle is named), every node's inputs and
// attributes satisfy its op row and its output types are what the shape rule
// infers, and every graph output is defined. It returns the first problems
// found, at most 10, as one error.
func Verify(g *Graph) error {
	var errs []string
	report := func(format string, args ...any) {
		if len(errs) < 10 {
			errs = append(errs, fmt.Sprintf(format, args...))
		}
	}
	defined := map[*Value]bool{}
	names := map[string]*Value{}
	uses := map[*Value]int{}
	define := func(v *Value, what string) {
		if v == nil {
			report("%s: nil value", what)
			return
		}
		if defined[v] {
			report("value %v defined twice (%s)", v, what)
		}
		if other, ok := names[v.Name]; ok && other != v {
			report("two values are named %q", v.Name)
		}
		defined[v] = true
		names[v.Name] = v
	}
	for _, v := range g.Inputs {
		if v.Def != nil || v.Const != nil {
			report("graph input %v has a definition", v)
		}
		define(v, "graph input")
	}
	for _, v := range g.Consts {
		if v.Def != nil || v.Const == nil {
			report("constant %v has no data or has a defining node", v)
		} else if err := v.Const.check(); err != nil {
			report("constant %v: %v", v, err)
		} else if sizes, ok := v.Type.Shape.Sizes(); !ok || !Dims(sizes...).Equal(Dims(v.Const.Shape...)) || v.Type.DType != v.Const.DType {
			report("constant %v has type %v but holds %v%v", v, v.Type, v.Const.DType, v.Const.Shape)
		}
		define(v, "constant")
	}
	nodeNames := map[string]bool{}
	var late []*Node // nodes reading a value defined later (or never)
	for _, n := range g.Nodes {
		where := fmt.Sprintf("node %s (%v at %v)", n.Name, n.Op, n.Pos)
		if nodeNames[n.Name] {
			report("%s: two nodes are named %q", where, n.Name)
		}
		nodeNames[n.Name] = true
		for i, v := range n.Inputs {
			if v == nil {
				continue
			}
			uses[v]++
			if !defined[v] {
				late = append(late, n)
				report("%s: input %d %v is read before it is defined", where, i, v)
			}
		}
		types, err := Infer(n)
		if err != nil {
			report("%s: %v", where, err)
		} else if len(types) != len(n.Outputs) {
			report("%s: has %d outputs, want %d", where, len(n.Outputs), len(types))
		} else {
			for i, v := range n.Outputs {
				if !v.Type.Equal(types[i]) {
					report("%s: output %d %v has type %v, want %v", where, i, v, v.Type, types[i])
				}
			}
		}
		for _, v := range n.Outputs {
			if v.Def != n {
				report("%s: output %v does not point back to its node", where, v)
			}
			define(v, where)
		}
	}
	for _, v := range g.Outputs {
		uses[v]++
		if !defined[v] {
			report("graph output %v is not defined", v)
		}
	}
	for _, v := range g.Values() { // in graph order, so the report is stable
		if defined[v] && v.Uses != uses[v] {
			report("value %v has Uses=%d, but %d readers", v, v.Uses, uses[v])
		}
	}
	if len(late) > 0 {
		if cyc := findCycle(g); cyc != "" {
			report("cycle: %s", cyc)
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("ir: invalid graph %s:\n\t%s", g.Name, strings.Join(errs, "\n\t"))
}

// findCycle returns a cycle of nodes as "a -> b -> a", or "".
func findCycle(g *Graph) string {
	const (
		white = iota
		grey
		black
	)
	color := map[*Node]int{}
	var stack []*Node
	var found string
	var visit func(n *Node) bool
	visit = func(n *Node) bool {
		color[n] = grey
		stack = append(stack, n)
		for _, v := range n.Inputs {
			if v == nil || v.Def == nil {
				continue
			}
			switch color[v.Def] {
			case grey:
				var names []string
				start := 0
				for i, s := range stack {
					if s == v.Def {
						start = i
					}
				}
				for _, s := range stack[start:] {
					names = append(names, s.Name)
				}
				found = strings.Join(append(names, v.Def.Name), " -> ")
				return true
			case white:
				if visit(v.Def) {
					return true
				}
			}
		}
		stack = stack[:len(stack)-1]
		color[n] = black
		return false
	}
	for _, n := range g.Nodes {
		if color[n] == white && visit(n) {
			return found
		}
	}
	return ""
}
