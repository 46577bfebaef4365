package decode

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/mhcc-dev/mhcc/runtime/internal/core"
	"github.com/mhcc-dev/mhcc/runtime/internal/ref"

	"google.golang.org/protobuf/proto"

	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
)

// Model-local functions (ModelProto.functions). A node whose (domain,
// op_type) names one calls it, even where a kernel of that name exists: the
// model's definition wins, with one exception: mhcc's fused mHC ops
// (ai.mhcc's HCCoeffsSinkhorn, HCPostCoeffsSinkhorn, HCPremixNorm,
// HCBoundary, HCCoeffsBoundary, HCEntry and HCHead, docs/fused-ops.md), whose function bodies are their
// standard-ONNX definition for runtimes without the kernels. For them the
// runtime's own kernels run, as onnxruntime runs mhcc's custom-op library's
// when it is loaded; NativeKernels (fused.go) makes the switch after
// decoding, and DecodeOptions.FunctionBodies keeps the bodies (the tests
// compare the two). Decode expands the body once per calling node,
// with the caller's attributes substituted for the body's ref_attr_name
// references, under the function's own opset imports (only those, as in
// onnxruntime: a body calling another function must import its domain),
// into a Model of its own (Node.fn);
// the node's kernel runs that Model on the node's inputs. A function body
// sees only its inputs, not the caller's graph. A call chain that reaches a
// function already being expanded is a recursion, which Decode rejects.

// decodeFunctions indexes the model's functions by (domain, name) and checks
// their signatures.
func decodeFunctions(mp *onnxpb.ModelProto, errs *core.ErrorList) map[core.OpKey]*onnxpb.FunctionProto {
	funcs := map[core.OpKey]*onnxpb.FunctionProto{}
	for i, f := range mp.GetFunctions() {
		key := core.OpKey{Domain: core.CanonicalDomain(f.GetDomain()), Op: f.GetName()}
		if f.GetName() == "" {
			errs.Add("function #%d has no name", i)
			continue
		}
		if _, dup := funcs[key]; dup {
			errs.Add("function %s is defined twice", core.FuncName(key))
			continue
		}
		funcs[key] = f
		seen := map[string]bool{}
		for _, name := range f.GetInput() {
			if name == "" || seen[name] {
				errs.Add("function %s: input %q is empty or listed twice", core.FuncName(key), name)
			}
			seen[name] = true
		}
		if len(f.GetOutput()) == 0 {
			errs.Add("function %s has no outputs", core.FuncName(key))
		}
		for _, name := range f.GetOutput() {
			if name == "" {
				errs.Add("function %s: an output has no name", core.FuncName(key))
			}
		}
		attrs := map[string]bool{}
		for _, name := range f.GetAttribute() {
			if attrs[name] {
				errs.Add("function %s: attribute %q listed twice", core.FuncName(key), name)
			}
			attrs[name] = true
		}
		for _, a := range f.GetAttributeProto() {
			if attrs[a.GetName()] {
				errs.Add("function %s: attribute %q listed twice", core.FuncName(key), a.GetName())
			}
			attrs[a.GetName()] = true
		}
		for _, o := range f.GetOpsetImport() {
			if o.GetVersion() <= 0 {
				errs.Add("function %s: opset of domain %q has version %d", core.FuncName(key), o.GetDomain(), o.GetVersion())
			}
		}
	}
	return funcs
}

// expandedSize counts the nodes that nodes expand to once every call of a
// model function is replaced by its body, subgraphs included; it stops
// counting past limit. A recursive call counts as one node (expansion
// reports it). memo holds each function's size, -1 while it is counted.
func expandedSize(nodes []*onnxpb.NodeProto, funcs map[core.OpKey]*onnxpb.FunctionProto, memo map[core.OpKey]int, limit int) int {
	total := 0
	for _, np := range nodes {
		if total > limit {
			break
		}
		for _, a := range np.GetAttribute() {
			total += expandedSize(a.GetG().GetNode(), funcs, memo, limit)
		}
		key := core.OpKey{Domain: core.CanonicalDomain(np.GetDomain()), Op: np.GetOpType()}
		f := funcs[key]
		if f == nil {
			total++
			continue
		}
		size, ok := memo[key]
		if !ok {
			memo[key] = -1
			size = expandedSize(f.GetNode(), funcs, memo, limit)
			memo[key] = size
		}
		total += max(size, 1)
	}
	return min(total, limit+1)
}

// importer names what imports the decoder's opsets, for messages.
func (d *decoder) importer() string {
	if len(d.stack) > 0 {
		return "function"
	}
	return "model"
}

// callFunction makes n a call of f: it checks the call against f's
// signature, expands f's body for n and gives n a kernel that runs it.
func (d *decoder) callFunction(n *core.Node, np *onnxpb.NodeProto, f *onnxpb.FunctionProto) error {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("runtime: %v: %s", n, fmt.Sprintf(format, args...))
	}
	key := core.OpKey{Domain: n.Domain, Op: n.OpType}
	if i := slices.Index(d.stack, key); i >= 0 {
		var chain []string
		for _, k := range append(d.stack[i:], key) {
			chain = append(chain, core.FuncName(k))
		}
		return fail("recursive function call: %s", strings.Join(chain, " → "))
	}
	opset, ok := d.opsets[n.Domain]
	if !ok {
		return fail("domain %q is not imported by the %s", n.Domain, d.importer())
	}
	n.Opset = opset
	nin := len(n.Inputs)
	for nin > 0 && n.Inputs[nin-1] == "" {
		nin--
	}
	if nin > len(f.GetInput()) {
		return fail("got %d inputs, function %s has %d", nin, core.FuncName(key), len(f.GetInput()))
	}
	if len(n.Outputs) < 1 || len(n.Outputs) > len(f.GetOutput()) {
		return fail("got %d outputs, want %s (function %s)", len(n.Outputs), arity(1, len(f.GetOutput())), core.FuncName(key))
	}

	// The caller's attributes, which must be the function's.
	declared := map[string]bool{}
	for _, name := range f.GetAttribute() {
		declared[name] = true
	}
	defaults := map[string]*onnxpb.AttributeProto{}
	for _, a := range f.GetAttributeProto() {
		declared[a.GetName()] = true
		defaults[a.GetName()] = a
	}
	for _, a := range np.GetAttribute() {
		switch {
		case a.GetName() == "":
			return fail("attribute without a name")
		case a.GetRefAttrName() != "":
			return fail("attribute %q refers to a function attribute", a.GetName())
		case n.Attrs[a.GetName()] != nil:
			return fail("attribute %q given twice", a.GetName())
		case !declared[a.GetName()]:
			return fail("function %s has no attribute %q", core.FuncName(key), a.GetName())
		}
		n.Attrs[a.GetName()] = a
	}
	values := maps.Clone(defaults)
	maps.Copy(values, n.Attrs)

	// The body as a graph: the inputs the caller gives; the omitted ones
	// read as omitted ("") inside.
	g := &onnxpb.GraphProto{Name: proto.String(core.FuncName(key))}
	omitted := map[string]bool{}
	for i, name := range f.GetInput() {
		if i < nin && n.Inputs[i] != "" {
			g.Input = append(g.Input, &onnxpb.ValueInfoProto{Name: proto.String(name)})
		} else {
			omitted[name] = true
		}
	}
	for _, name := range f.GetOutput() {
		g.Output = append(g.Output, &onnxpb.ValueInfoProto{Name: proto.String(name)})
	}
	for _, np := range f.GetNode() {
		c, err := instantiate(np, values, omitted)
		if err != nil {
			return fail("function %s: %v", core.FuncName(key), err)
		}
		g.Node = append(g.Node, c)
	}

	opsets := map[string]int64{}
	for _, o := range f.GetOpsetImport() {
		opsets[core.CanonicalDomain(o.GetDomain())] = o.GetVersion()
	}
	sub := &decoder{opsets: opsets, funcs: d.funcs, stack: append(slices.Clip(d.stack), key), budget: d.budget, ext: d.ext}
	body, err := sub.graph(g, nil)
	if err != nil {
		return fail("function %s: %v", core.FuncName(key), core.TrimPrefix(err))
	}
	n.Fn = body
	n.K = &core.Kernel{
		Domain: n.Domain, Op: n.OpType,
		MinIn: 0, MaxIn: len(f.GetInput()), MaxOut: len(f.GetOutput()),
		Fn:    ref.CallFn,
		Types: ref.FnTypes,
	}
	return nil
}

// instantiate copies a function body node for one call: attributes that
// refer to a function attribute (ref_attr_name) take the caller's value, or
// the function's default, or are dropped; inputs naming an omitted function
// input become omitted. Nodes of graph attributes are instantiated too.
func instantiate(np *onnxpb.NodeProto, values map[string]*onnxpb.AttributeProto, omitted map[string]bool) (*onnxpb.NodeProto, error) {
	c := proto.CloneOf(np)
	var err error
	c.Attribute = slices.DeleteFunc(c.Attribute, func(a *onnxpb.AttributeProto) bool {
		if err != nil {
			return false
		}
		if ref := a.GetRefAttrName(); ref != "" {
			v := values[ref]
			if v == nil {
				return true // neither given nor defaulted: the attribute is absent
			}
			if a.Type != nil && v.Type != nil && a.GetType() != v.GetType() {
				err = fmt.Errorf("node %q: attribute %q refers to %q, which is %v, not %v", np.GetName(), a.GetName(), ref, v.GetType(), a.GetType())
				return false
			}
			name := a.GetName()
			proto.Reset(a)
			proto.Merge(a, v)
			a.Name = &name
			a.RefAttrName = nil
		}
		if a.G != nil {
			a.G, err = instantiateGraph(a.G, values, omitted)
		}
		return false
	})
	if err != nil {
		return nil, err
	}
	for i, in := range c.Input {
		if omitted[in] {
			c.Input[i] = ""
		}
	}
	return c, nil
}

func instantiateGraph(g *onnxpb.GraphProto, values map[string]*onnxpb.AttributeProto, omitted map[string]bool) (*onnxpb.GraphProto, error) {
	nodes := make([]*onnxpb.NodeProto, len(g.GetNode()))
	for i, np := range g.GetNode() {
		c, err := instantiate(np, values, omitted)
		if err != nil {
			return nil, err
		}
		nodes[i] = c
	}
	g.Node = nodes // g is already a copy (CloneOf of the node holding it)
	return g, nil
}
