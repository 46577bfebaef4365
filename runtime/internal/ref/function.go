package ref

import (
	"github.com/mhcc-dev/mhcc/runtime/internal/core"
)

// CallFn runs the node's function body on its inputs.
func CallFn(c *core.Call, in []*core.Tensor) []*core.Tensor {
	body := c.N.Fn
	feeds := make(map[string]*core.Tensor, len(body.Params))
	i := 0
	for _, name := range body.Params {
		for in[i] == nil { // omitted inputs are not parameters of the body
			i++
		}
		feeds[name] = in[i]
		i++
	}
	outs := runSubgraph(c, body, feeds, "function "+core.FuncName(core.OpKey{Domain: c.N.Domain, Op: c.N.OpType}))
	return outs[:len(c.N.Outputs)]
}

// FnTypes infers the body's types from the caller's input types.
func FnTypes(n *core.Node, in []core.DType) ([]core.DType, error) {
	body := n.Fn
	params := map[string]core.DType{}
	i := 0
	for _, name := range body.Params {
		for n.Inputs[i] == "" {
			i++
		}
		params[name] = in[i]
		i++
	}
	if err := inferSubgraph(n, body, "function "+core.FuncName(core.OpKey{Domain: n.Domain, Op: n.OpType}), params, in); err != nil {
		return nil, err
	}
	outs := make([]core.DType, len(n.Outputs))
	for i := range outs {
		outs[i] = body.TypeOf(body.Outputs[i].Name)
	}
	return outs, nil
}
