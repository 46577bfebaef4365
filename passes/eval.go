package passes

import (
	"errors"
	"fmt"

	"github.com/mhcc-dev/mhcc/ir"
)

// An Evaluator computes the outputs of a small graph whose inputs are all
// constants, for the folding passes. Passes declares it and does not
// implement it, so that it needs neither the ONNX exporter nor the runtime;
// the compile driver supplies one that exports the graph in its reference
// lowering and runs it in mhcc's Go runtime (internal/foldeval), the same
// kernels that verify compiled models, so folding and execution cannot
// disagree.
type Evaluator interface {
	// Evaluate returns one constant per output of g, in order, of that
	// output's IR type (sizes known). g has no graph inputs. With f64 the
	// whole graph runs in float64 and each result is rounded to its IR type
	// once, at the end.
	Evaluate(g *ir.Graph, f64 bool) ([]*ir.Tensor, error)
}

// errNoEvaluator is what a folding pass reports when Config.Eval is unset.
var errNoEvaluator = errors.New("folding needs an Evaluator (passes.Config.Eval is nil)")

// evaluate computes the values outs of a connected group of nodes whose
// inputs from outside the group are all constants: it copies the group into
// a graph of its own, whose outputs are outs, and has ev evaluate it.
func evaluate(ev Evaluator, nodes []*ir.Node, outs []*ir.Value, f64 bool) ([]*ir.Tensor, error) {
	if ev == nil {
		return nil, errNoEvaluator
	}
	g := ir.NewGraph("fold")
	vals := map[*ir.Value]*ir.Value{}
	for _, n := range nodes {
		var ins []*ir.Value
		for _, v := range n.Inputs {
			switch {
			case v == nil:
				ins = append(ins, nil)
			case vals[v] != nil:
				ins = append(ins, vals[v])
			case v.Const != nil:
				c := g.AddConst(v.Name, v.Const)
				vals[v] = c
				ins = append(ins, c)
			default:
				return nil, fmt.Errorf("evaluate: %v is neither constant nor computed in the group", v)
			}
		}
		names := make([]string, len(n.Outputs))
		for i, v := range n.Outputs {
			names[i] = v.Name
		}
		m, err := g.NewNode(n.Op, n.Name, n.Pos, n.Attrs, ins, names...)
		if err != nil {
			return nil, err
		}
		for i, v := range n.Outputs {
			vals[v] = m.Outputs[i]
		}
	}
	for _, v := range outs {
		if vals[v] == nil {
			return nil, fmt.Errorf("evaluate: %v is not computed by the group", v)
		}
		g.AddOutput(vals[v])
	}
	ts, err := ev.Evaluate(g, f64)
	if err != nil {
		return nil, err
	}
	if len(ts) != len(outs) {
		return nil, fmt.Errorf("evaluate: the evaluator gave %d values for %d outputs", len(ts), len(outs))
	}
	for i, v := range outs {
		switch {
		case ts[i] == nil:
			return nil, fmt.Errorf("evaluate: the evaluator gave no value for %v", v)
		case ts[i].DType != v.Type.DType:
			return nil, fmt.Errorf("evaluate: %v: the evaluator gave %v, want %v", v, ts[i].DType, v.Type.DType)
		}
	}
	return ts, nil
}

// foldInto replaces each value of outs by a new constant holding the
// corresponding tensor, named after it. Graph outputs are left alone (the
// caller skips them).
func foldInto(g *ir.Graph, outs []*ir.Value, ts []*ir.Tensor) {
	for i, v := range outs {
		c := g.AddConst(v.Name+".folded", ts[i])
		g.ReplaceUses(v, c)
	}
}
