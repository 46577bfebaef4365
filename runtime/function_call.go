package runtime

// callFn runs the node's function body on its inputs.
func callFn(c *call, in []*Tensor) []*Tensor {
	body := c.n.fn
	feeds := make(map[string]*Tensor, len(body.params))
	i := 0
	for _, name := range body.params {
		for in[i] == nil { // omitted inputs are not parameters of the body
			i++
		}
		feeds[name] = in[i]
		i++
	}
	outs := runSubgraph(c, body, feeds, "function "+funcName(opKey{c.n.Domain, c.n.OpType}))
	return outs[:len(c.n.Outputs)]
}

// fnTypes infers the body's types from the caller's input types.
func fnTypes(n *Node, in []DType) ([]DType, error) {
	body := n.fn
	params := map[string]DType{}
	i := 0
	for _, name := range body.params {
		for n.Inputs[i] == "" {
			i++
		}
		params[name] = in[i]
		i++
	}
	if err := inferSubgraph(n, body, "function "+funcName(opKey{n.Domain, n.OpType}), params, in); err != nil {
		return nil, err
	}
	outs := make([]DType, len(n.Outputs))
	for i := range outs {
		outs[i] = body.types[body.Outputs[i].Name]
	}
	return outs, nil
}
