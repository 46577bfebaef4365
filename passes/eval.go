package passes

import (
	"fmt"

	"github.com/mhcc-dev/mhcc/export"
	"github.com/mhcc-dev/mhcc/ir"
	mhrt "github.com/mhcc-dev/mhcc/runtime"
)

// evaluate computes the values outs of a connected group of nodes whose
// inputs from outside the group are all constants. It exports the group in
// its reference lowering and runs it in mhcc's Go runtime, the same kernels
// that verify compiled models, so folding and execution cannot disagree.
// With f64 the whole group runs in float64 and each result is rounded to
// its IR type once, at the end.
func evaluate(nodes []*ir.Node, outs []*ir.Value, f64 bool) ([]*ir.Tensor, error) {
	g := ir.NewGraph("fold")
	vals := map[*ir.Value]*ir.Value{}
	inGroup := map[*ir.Node]bool{}
	for _, n := range nodes {
		inGroup[n] = true
	}
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
	data, err := export.Marshal(g, export.Options{Float64: f64})
	if err != nil {
		return nil, err
	}
	model, err := mhrt.Decode(data)
	if err != nil {
		return nil, err
	}
	res, err := model.Run(nil)
	if err != nil {
		return nil, err
	}
	tensors := make([]*ir.Tensor, len(outs))
	for i, v := range outs {
		t := res[vals[v].Name]
		if t == nil {
			return nil, fmt.Errorf("evaluate: runtime gave no %v", v)
		}
		tensors[i], err = toIR(t, v.Type)
		if err != nil {
			return nil, fmt.Errorf("evaluate: %v: %w", v, err)
		}
	}
	return tensors, nil
}

// toIR converts a runtime tensor to an IR constant of type want, rounding
// float64 results to float32 where the IR type says so.
func toIR(t *mhrt.Tensor, want ir.Type) (*ir.Tensor, error) {
	sizes, ok := want.Shape.Sizes()
	if !ok {
		return nil, fmt.Errorf("type %v has symbolic dims", want)
	}
	if int64(t.Len()) != want.Shape.NumElements() {
		return nil, fmt.Errorf("got %d elements, want %v", t.Len(), want)
	}
	out := &ir.Tensor{DType: want.DType, Shape: sizes}
	switch want.DType {
	case ir.Float32, ir.Float16, ir.BFloat16:
		out.F32 = t.Float32s()
	case ir.Float64:
		out.F64 = t.Float64s()
	case ir.Int64, ir.Int32, ir.Bool:
		out.I64 = t.Int64s()
	default:
		return nil, fmt.Errorf("cannot fold dtype %v", want.DType)
	}
	return out, nil
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
