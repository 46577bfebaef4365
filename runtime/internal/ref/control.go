package ref

import (
	"fmt"
	"slices"
	"strings"

	"github.com/mhcc-dev/mhcc/runtime/internal/core"
)

// Control flow: Loop and If run decoded subgraphs (Node.graphs) with
// [Model.Run]. A subgraph reads values of the enclosing graphs by name; Decode
// turned each such name into a capture, an input of the subgraph that the
// node also lists after its own inputs (Node.Inputs[nformal:]), so the kernel
// receives the tensor and the enclosing graph keeps it alive until the node
// has run.

// subgraphFeeds maps the captures of sub to the tensors the node received for
// them (in[nformal:], in the order of Node.Inputs[nformal:]).
func subgraphFeeds(c *core.Call, sub *core.Model, in []*core.Tensor) map[string]*core.Tensor {
	feeds := make(map[string]*core.Tensor, len(sub.Params)+len(sub.Captures))
	caps := c.N.Inputs[c.N.Nformal:]
	for _, name := range sub.Captures {
		i := slices.Index(caps, name)
		feeds[name] = in[c.N.Nformal+i]
	}
	return feeds
}

// runSubgraph runs sub, failing with the subgraph's error under what.
func runSubgraph(c *core.Call, sub *core.Model, feeds map[string]*core.Tensor, what string) []*core.Tensor {
	res, err := c.Ops.Run(sub, feeds)
	if err != nil {
		core.Failf("%s: %s", what, strings.TrimPrefix(err.Error(), "runtime: "))
	}
	outs := make([]*core.Tensor, len(sub.Outputs))
	for i, v := range sub.Outputs {
		outs[i] = res[v.Name]
	}
	return outs
}

// scalarBool reads a one-element bool tensor.
func scalarBool(t *core.Tensor, what string) bool {
	if t.DType != core.Bool || t.Len() != 1 {
		core.Failf("%s must be one bool, got %v of shape %v", what, t.DType, t.Shape)
	}
	return t.Bools()[0]
}

// paramShape is the shape to feed a scalar to sub's parameter i: [1] when
// the graph declares it with rank 1, else a scalar (onnxruntime does the same).
func paramShape(sub *core.Model, i int) []int64 {
	if v := sub.DeclIn[sub.Params[i]]; v.Ranked && len(v.Shape) == 1 {
		return []int64{1}
	}
	return []int64{}
}

// loop runs the body graph while the trip count M (input 0, optional) is not
// reached and the condition (input 1, optional, then the body's output 0)
// holds. Body inputs are (iteration number, condition, N loop-carried
// values), outputs (condition, N loop-carried values, K scan outputs). The
// node's outputs are the final loop-carried values (the initial ones when no
// iteration runs) and each scan output's per-iteration values stacked along
// a new axis 0, which must agree in type and shape. Decode rejects a Loop with
// neither M nor cond, which would never end.
//
// The body's condition output ends the loop even when the node omits cond:
// ONNX's text calls it ignored then, but onnxruntime stops on it (its
// loop.cc reads the body's condition every iteration), and the runtime is
// checked against onnxruntime.
func loop(c *core.Call, in []*core.Tensor) []*core.Tensor {
	body := c.N.Graphs["body"]
	formal := in[:c.N.Nformal]
	trip := int64(-1)
	if len(formal) > 0 && formal[0] != nil {
		if formal[0].DType != core.Int64 {
			panic(core.ErrType)
		}
		if trip = scalarInt(formal[0], "M"); trip < 0 {
			trip = 0
		}
	}
	cond := true
	if len(formal) > 1 && formal[1] != nil {
		cond = scalarBool(formal[1], "cond")
	}
	var carried []*core.Tensor
	if len(formal) > 2 {
		carried = slices.Clone(formal[2:])
	}
	nCarried := len(carried)
	nScan := len(body.Outputs) - 1 - nCarried
	scans := make([][]*core.Tensor, nScan)
	var scanHeld int64
	defer func() { core.DropBytes(scanHeld) }()
	limit := core.MaxLoopIterations()
	feeds := subgraphFeeds(c, body, in)
	iterShape, condShape := paramShape(body, 0), paramShape(body, 1)
	for i := int64(0); (trip < 0 || i < trip) && cond; i++ {
		if limit > 0 && i >= limit {
			core.Failf("still running after %d iterations, the limit; raise it with --max-loop-iterations (runtime.SetMaxLoopIterations, 0: no limit)", limit)
		}
		feeds[body.Params[0]] = &core.Tensor{DType: core.Int64, Shape: iterShape, Elems: []int64{i}}
		feeds[body.Params[1]] = &core.Tensor{DType: core.Bool, Shape: condShape, Elems: []bool{cond}}
		for j, t := range carried {
			feeds[body.Params[2+j]] = t
		}
		outs := runSubgraph(c, body, feeds, fmt.Sprintf("body, iteration %d", i))
		cond = scalarBool(outs[0], fmt.Sprintf("body output %q", body.Outputs[0].Name))
		for j := range carried {
			if outs[1+j].DType != carried[j].DType {
				core.Failf("iteration %d: loop-carried value %d changed type from %v to %v", i, j, carried[j].DType, outs[1+j].DType)
			}
			carried[j] = outs[1+j]
		}
		for k := range scans {
			scans[k] = append(scans[k], outs[1+nCarried+k])
			if int64(len(scans[k]))*int64(outs[1+nCarried+k].Len()) > core.MaxElements {
				core.Failf("scan output %d: more than %d elements after %d iterations", k, core.MaxElements, i+1)
			}
			// The iterations' values are held until the loop ends, and
			// stacking them needs as much again.
			core.ReserveBytes(core.TensorBytes(outs[1+nCarried+k]), func() string { return fmt.Sprintf("scan output %d after %d iterations", k, i+1) })
			scanHeld += core.HoldBytes(outs[1+nCarried+k])
		}
	}
	res := make([]*core.Tensor, 0, nCarried+nScan)
	res = append(res, carried...)
	for k, ts := range scans {
		res = append(res, stackScan(body, k, 1+nCarried+k, ts))
	}
	return res
}

// stackScan stacks one scan output's per-iteration tensors along a new axis
// 0 (scan output k is body output out). With no iterations the result has shape [0] followed by the body
// output's declared shape, if the graph fixes it, and its static type.
func stackScan(body *core.Model, k, out int, ts []*core.Tensor) *core.Tensor {
	if len(ts) == 0 {
		v := body.Outputs[out]
		dt := body.TypeOf(v.Name)
		if dt == core.Undefined {
			core.Failf("scan output %d: no iteration ran and the body does not declare its type", k)
		}
		shape := []int64{0}
		if v.Ranked && !slices.Contains(v.Shape, -1) {
			shape = append(shape, v.Shape...)
		}
		return core.Alloc(dt, shape)
	}
	for i, t := range ts {
		if t.DType != ts[0].DType || !SameShape(t.Shape, ts[0].Shape) {
			core.Failf("scan output %d: iteration %d gives %v %v, iteration 0 gave %v %v", k, i, t.DType, t.Shape, ts[0].DType, ts[0].Shape)
		}
	}
	shape := append([]int64{int64(len(ts))}, ts[0].Shape...)
	core.CheckSizeOf(shape, ts[0].DType.Size())
	t := concatData(ts...)
	t.Shape = shape
	return t
}

// checkLoop checks a Loop node against its body: 2+N body inputs, 1+N+K body
// outputs, N+K node outputs, and a way to stop.
func checkLoop(n *core.Node) error {
	body := n.Graphs["body"]
	if body == nil {
		return core.Errorf("attribute \"body\" (a graph) is required")
	}
	if n.Nformal < 2 || (n.Inputs[0] == "" && n.Inputs[1] == "") {
		return core.Errorf("the loop has neither a trip count M nor a condition, so it never ends")
	}
	nCarried := n.Nformal - 2
	for i := 2; i < n.Nformal; i++ {
		if n.Inputs[i] == "" {
			return core.Errorf("loop-carried input %d is omitted", i)
		}
	}
	if len(body.Params) != 2+nCarried {
		return core.Errorf("body has %d inputs, want %d (iteration number, condition and %d loop-carried values)", len(body.Params), 2+nCarried, nCarried)
	}
	if len(body.Outputs) < 1+nCarried {
		return core.Errorf("body has %d outputs, want at least %d (condition and %d loop-carried values)", len(body.Outputs), 1+nCarried, nCarried)
	}
	if want := len(body.Outputs) - 1; len(n.Outputs) != want {
		return core.Errorf("got %d outputs, want %d (%d loop-carried values and %d scan outputs of the body)", len(n.Outputs), want, nCarried, want-nCarried)
	}
	return nil
}

// loopTypes checks M (int64) and cond (bool), infers the body's types from
// the loop-carried inputs and captures, and gives the outputs the body's.
func loopTypes(n *core.Node, in []core.DType) ([]core.DType, error) {
	body := n.Graphs["body"]
	if in[0] != core.Undefined && in[0] != core.Int64 {
		return nil, core.Errorf("input 0 (M) has type %v, want int64", in[0])
	}
	if in[1] != core.Undefined && in[1] != core.Bool {
		return nil, core.Errorf("input 1 (cond) has type %v, want bool", in[1])
	}
	params := map[string]core.DType{body.Params[0]: core.Int64, body.Params[1]: core.Bool}
	for i := 2; i < n.Nformal; i++ {
		params[body.Params[i]] = in[i]
	}
	if err := inferSubgraph(n, body, "body", params, in); err != nil {
		return nil, err
	}
	if t := body.TypeOf(body.Outputs[0].Name); t != core.Undefined && t != core.Bool {
		return nil, core.Errorf("body output 0 (condition) has type %v, want bool", t)
	}
	outs := make([]core.DType, len(n.Outputs))
	for i := range outs {
		outs[i] = body.TypeOf(body.Outputs[1+i].Name)
		if i < n.Nformal-2 && in[2+i] != core.Undefined && outs[i] != core.Undefined && outs[i] != in[2+i] {
			return nil, core.Errorf("loop-carried value %d enters the body as %v and leaves it as %v", i, in[2+i], outs[i])
		}
	}
	return outs, nil
}

// inferSubgraph gives sub's parameters and captures their types (params by
// name; captures from the node's input types in) and infers the rest.
func inferSubgraph(n *core.Node, sub *core.Model, attr string, params map[string]core.DType, in []core.DType) error {
	for i, name := range n.Inputs[n.Nformal:] {
		if slices.Contains(sub.Captures, name) {
			params[name] = in[n.Nformal+i]
		}
	}
	for name, t := range params {
		if t == core.Undefined {
			continue
		}
		if have := sub.TypeOf(name); have != core.Undefined && have != t {
			return core.Errorf("%s: input %q is declared %v but gets %v", attr, name, have, t)
		}
		sub.SetType(name, t)
	}
	if err := sub.InferTypes(); err != nil {
		return core.Errorf("%s: %v", attr, core.TrimPrefix(err))
	}
	return nil
}

// ifOp runs then_branch or else_branch by the one-element bool input and
// returns its outputs.
func ifOp(c *core.Call, in []*core.Tensor) []*core.Tensor {
	name := "else_branch"
	if scalarBool(in[0], "cond") {
		name = "then_branch"
	}
	g := c.N.Graphs[name]
	return runSubgraph(c, g, subgraphFeeds(c, g, in), name)
}

// checkIf requires both branches, without inputs, with one output per node
// output.
func checkIf(n *core.Node) error {
	for _, name := range []string{"then_branch", "else_branch"} {
		g := n.Graphs[name]
		if g == nil {
			return core.Errorf("attribute %q (a graph) is required", name)
		}
		if len(g.Params) != 0 {
			return core.Errorf("%s has %d inputs, want none", name, len(g.Params))
		}
		if len(g.Outputs) != len(n.Outputs) {
			return core.Errorf("%s has %d outputs, the node %d", name, len(g.Outputs), len(n.Outputs))
		}
	}
	return nil
}

// ifTypes infers both branches and requires their outputs to agree in type.
func ifTypes(n *core.Node, in []core.DType) ([]core.DType, error) {
	if in[0] != core.Undefined && in[0] != core.Bool {
		return nil, core.Errorf("input 0 (cond) has type %v, want bool", in[0])
	}
	th, el := n.Graphs["then_branch"], n.Graphs["else_branch"]
	if err := inferSubgraph(n, th, "then_branch", map[string]core.DType{}, in); err != nil {
		return nil, err
	}
	if err := inferSubgraph(n, el, "else_branch", map[string]core.DType{}, in); err != nil {
		return nil, err
	}
	outs := make([]core.DType, len(n.Outputs))
	for i := range outs {
		a, b := th.TypeOf(th.Outputs[i].Name), el.TypeOf(el.Outputs[i].Name)
		if a != core.Undefined && b != core.Undefined && a != b {
			return nil, core.Errorf("output %d is %v in then_branch and %v in else_branch", i, a, b)
		}
		outs[i] = a
		if a == core.Undefined {
			outs[i] = b
		}
	}
	return outs, nil
}
