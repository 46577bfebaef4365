package export

import (
	"fmt"

	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
)

// An epRule is a construct that valid ONNX allows but a mainstream
// execution provider refuses or mishandles; checkEPRules keeps every model
// mhcc writes, for any target, free of them.
type epRule struct {
	name string
	why  string // the runtime and what it does
	// bad reports whether node n breaks the rule; rank gives the rank of
	// an initializer or Constant output visible at n (ok false otherwise).
	bad func(n *onnxpb.NodeProto, rank func(string) (int, bool)) (string, bool)
}

var epRules = []epRule{{
	name: "gemm-scalar-c",
	why:  "onnxruntime-web 1.30's WebGPU execution provider aborts the session on a Gemm whose C is a rank-0 tensor (issue 19)",
	bad: func(n *onnxpb.NodeProto, rank func(string) (int, bool)) (string, bool) {
		if n.GetDomain() != "" || n.GetOpType() != "Gemm" || len(n.Input) < 3 || n.Input[2] == "" {
			return "", false
		}
		if r, ok := rank(n.Input[2]); ok && r == 0 {
			return fmt.Sprintf("C %q has rank 0; give it shape [1]", n.Input[2]), true
		}
		return "", false
	},
}}

// checkEPRules applies epRules to every node of m: the graph, the bodies of
// its subgraphs (Loop) and its model-local functions.
func checkEPRules(m *onnxpb.ModelProto) error {
	ranks := map[string]int{}
	if err := checkGraphEP(m.GetGraph(), ranks); err != nil {
		return err
	}
	for _, f := range m.GetFunctions() {
		if err := checkNodesEP("function "+qualified(f.GetDomain(), f.GetName())+": ", f.GetNode(), map[string]int{}); err != nil {
			return err
		}
	}
	return nil
}

// checkGraphEP checks g's nodes; outer holds the ranks visible from the
// enclosing graphs.
func checkGraphEP(g *onnxpb.GraphProto, outer map[string]int) error {
	ranks := make(map[string]int, len(outer)+len(g.GetInitializer()))
	for k, v := range outer {
		ranks[k] = v
	}
	for _, t := range g.GetInitializer() {
		ranks[t.GetName()] = len(t.GetDims())
	}
	return checkNodesEP("", g.GetNode(), ranks)
}

func checkNodesEP(where string, nodes []*onnxpb.NodeProto, ranks map[string]int) error {
	for _, n := range nodes {
		if n.GetOpType() == "Constant" && n.GetDomain() == "" && len(n.Output) == 1 {
			for _, a := range n.GetAttribute() {
				switch a.GetName() {
				case "value":
					ranks[n.Output[0]] = len(a.GetT().GetDims())
				case "value_float", "value_int", "value_string":
					ranks[n.Output[0]] = 0
				case "value_floats", "value_ints", "value_strings":
					ranks[n.Output[0]] = 1
				}
			}
		}
	}
	rank := func(name string) (int, bool) { r, ok := ranks[name]; return r, ok }
	for _, n := range nodes {
		for _, r := range epRules {
			if msg, bad := r.bad(n, rank); bad {
				return fmt.Errorf("export: %sONNX node %s (%s): %s: %s [rule %s]", where, n.GetName(), n.GetOpType(), msg, r.why, r.name)
			}
		}
		for _, a := range n.GetAttribute() {
			if a.GetG() != nil {
				if err := checkGraphEP(a.GetG(), ranks); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
