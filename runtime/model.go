package runtime

import (
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
)

// How decodeModel may consume the message it decodes.
type consumeMode int

const (
	consumeInits consumeMode = 1 + iota // empty each initializer once decoded
	consumeAll                          // also drop the graph's node list (mp is the decoder's own)
)

// decodeModel builds the model; ext, if not nil, reads initializers whose
// data is in external files (external.go); with consume, each initializer
// message is emptied once decoded (the caller owns mp and is done with it),
// and with consumeAll the main graph's node list is dropped once decoded.
func decodeModel(mp *onnxpb.ModelProto, ext *externalFiles, mode consumeMode) (*Model, error) {
	consume := mode >= consumeInits
	g := mp.GetGraph()
	if g == nil {
		return nil, fmt.Errorf("runtime: model has no graph")
	}
	var errs errorList
	opsets := map[string]int64{}
	for _, o := range mp.GetOpsetImport() {
		d := canonicalDomain(o.GetDomain())
		if v, ok := opsets[d]; ok && v != o.GetVersion() {
			errs.add("opset of domain %q imported twice (%d and %d)", o.GetDomain(), v, o.GetVersion())
		}
		if o.GetVersion() <= 0 {
			errs.add("opset of domain %q has version %d", o.GetDomain(), o.GetVersion())
		}
		opsets[d] = o.GetVersion()
	}
	if _, ok := opsets[""]; !ok && len(mp.GetOpsetImport()) == 0 && mp.GetIrVersion() < 3 {
		opsets[""] = 1 // before IR 3 the default domain had no import
	}
	d := &decoder{opsets: opsets, budget: new(int), ext: ext, consume: consume}
	*d.budget = maxDecodedNodes
	d.funcs = decodeFunctions(mp, &errs)
	if len(d.funcs) > 0 && expandedSize(g.GetNode(), d.funcs, map[opKey]int{}, maxDecodedNodes) > maxDecodedNodes {
		errs.add("the model expands to more than %d nodes (nested function calls)", maxDecodedNodes)
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	m, err := d.graph(g, nil)
	if err != nil {
		return nil, err
	}
	m.IRVersion = mp.GetIrVersion()
	if mode == consumeAll {
		// The decoded nodes share the messages' strings, not the messages:
		// with the node list gone, the messages can be collected.
		g.Node = nil
	}
	if err := m.inferTypes(); err != nil {
		return nil, err
	}
	return m, nil
}

// A decoder decodes a graph (the main graph, a subgraph or a function body)
// under one set of opset imports.
type decoder struct {
	opsets map[string]int64                // domain → version, for the graph being decoded
	funcs  map[opKey]*onnxpb.FunctionProto // the model's local functions
	stack  []opKey                         // functions being expanded, outermost first
	budget *int                            // nodes left to decode, shared by all decoders of a model
	ext    *externalFiles                  // reads external initializer data; nil: none allowed
	// consume: empty each initializer message once decoded (the caller owns it),
	// so the weights are never held twice.
	consume bool
}

// maxDecodedNodes bounds the nodes one model may expand to: function bodies
// are decoded once per call, so a hostile file could otherwise nest calls
// into an exponential number of nodes.
const maxDecodedNodes = 1 << 20

// A scope is the values a graph defines, seen by its subgraphs.
type scope struct {
	m      *Model
	parent *scope
}

func (s *scope) has(name string) bool {
	for ; s != nil; s = s.parent {
		if s.m.defined[name] {
			return true
		}
	}
	return false
}

// graph decodes g and checks its structure. outer is the scope of the
// enclosing graphs (nil for the main graph and function bodies): a name g
// reads but does not define is looked up there and becomes a capture, an
// untyped input of the returned Model. Element types are inferred later
// (inferTypes), when the types of the inputs and captures are known.
func (d *decoder) graph(g *onnxpb.GraphProto, outer *scope) (*Model, error) {
	m := &Model{
		Opsets:    d.opsets,
		inits:     map[string]*Tensor{},
		declIn:    map[string]ValueInfo{},
		uses:      map[string]int{},
		types:     map[string]DType{},
		defined:   map[string]bool{},
		valueInfo: g.GetValueInfo(),
	}
	var errs errorList
	if len(g.GetSparseInitializer()) > 0 {
		errs.add("sparse initializers are not supported")
	}

	for _, p := range g.GetInitializer() {
		name := p.GetName()
		if name == "" {
			errs.add("initializer without a name")
			continue
		}
		if _, dup := m.inits[name]; dup {
			errs.add("initializer %q defined twice", name)
			continue
		}
		t, err := d.ext.tensor(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("runtime: initializer: %w", trimPrefix(err)))
			continue
		}
		m.inits[name] = t
		m.types[name] = t.DType
		m.defined[name] = true
		if d.consume {
			proto.Reset(p) // t is a copy; the message's bytes can go now
		}
	}

	for _, vi := range g.GetInput() {
		v, err := valueInfo(vi)
		if err != nil {
			errs = append(errs, fmt.Errorf("runtime: graph input %q: %w", vi.GetName(), trimPrefix(err)))
			continue
		}
		if _, dup := m.declIn[v.Name]; dup {
			errs.add("graph input %q declared twice", v.Name)
			continue
		}
		m.declIn[v.Name] = v
		m.params = append(m.params, v.Name)
		if t, ok := m.inits[v.Name]; ok {
			if v.DType != Undefined && v.DType != t.DType {
				errs.add("graph input %q: declared %v, initializer is %v", v.Name, v.DType, t.DType)
			}
			continue
		}
		if v.Name == "" {
			errs.add("graph input without a name")
			continue
		}
		m.Inputs = append(m.Inputs, v)
		m.types[v.Name] = v.DType
		m.defined[v.Name] = true
	}

	// Nodes: collect what they define, then resolve kernels (and decode
	// subgraphs, which see every value of this graph) and count arguments.
	*d.budget -= len(g.GetNode())
	if *d.budget < 0 {
		return nil, fmt.Errorf("runtime: the model expands to more than %d nodes (nested function calls?)", maxDecodedNodes)
	}
	producer := map[string]*Node{}
	nodes := make([]*Node, 0, len(g.GetNode()))
	for i, np := range g.GetNode() {
		n := &Node{
			Name:    np.GetName(),
			OpType:  np.GetOpType(),
			Domain:  canonicalDomain(np.GetDomain()),
			Inputs:  np.GetInput(),
			Outputs: np.GetOutput(),
			index:   i,
		}
		if k := len(np.GetAttribute()); k > 0 {
			// Most nodes have none: a map per node is 50 bytes each of a
			// million-node graph for nothing (reading a nil map is fine).
			n.attrs = make(map[string]*onnxpb.AttributeProto, k)
		}
		nodes = append(nodes, n)
		for _, out := range n.Outputs {
			if out == "" {
				continue
			}
			if p, ok := producer[out]; ok {
				errs.add("%v: output %q is already defined by %v", n, out, p)
				continue
			}
			if m.defined[out] {
				errs.add("%v: output %q is already a graph input or initializer", n, out)
				continue
			}
			producer[out] = n
		}
	}
	for out := range producer {
		m.defined[out] = true
	}
	local := &scope{m: m, parent: outer}
	for i, n := range nodes {
		if err := d.resolve(n, g.GetNode()[i], local); err != nil {
			errs = append(errs, err)
		}
	}
	// capture makes a value of an enclosing graph an input of this one.
	capture := func(name string) bool {
		if m.defined[name] {
			return true
		}
		if outer == nil || !outer.has(name) {
			return false
		}
		m.captures = append(m.captures, name)
		m.defined[name] = true
		m.declIn[name] = ValueInfo{Name: name}
		m.Inputs = append(m.Inputs, ValueInfo{Name: name})
		return true
	}
	for _, n := range nodes {
		for i, in := range n.Inputs {
			if in == "" {
				continue
			}
			if !capture(in) {
				errs.add("%v: input %d %q is not defined", n, i, in)
			}
			m.uses[in]++
		}
	}
	for _, vi := range g.GetOutput() {
		v, err := valueInfo(vi)
		if err != nil {
			errs = append(errs, fmt.Errorf("runtime: graph output %q: %w", vi.GetName(), trimPrefix(err)))
			continue
		}
		if !capture(v.Name) {
			errs.add("graph output %q is not defined", v.Name)
		}
		m.Outputs = append(m.Outputs, v)
	}
	if err := errs.err(); err != nil {
		return nil, err
	}

	order, err := topoSort(nodes, producer)
	if err != nil {
		return nil, err
	}
	m.nodes = order
	return m, nil
}

// resolve finds n's kernel (or the model function it calls), decodes its
// graph attributes in scope sc, and checks its arity and attributes.
func (d *decoder) resolve(n *Node, np *onnxpb.NodeProto, sc *scope) error {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("runtime: %v: %s", n, fmt.Sprintf(format, args...))
	}
	n.nformal = len(n.Inputs)
	if n.OpType == "" {
		return fail("no op_type")
	}
	if f := d.funcs[opKey{n.Domain, n.OpType}]; f != nil {
		return d.callFunction(n, np, f)
	}
	opset, ok := d.opsets[n.Domain]
	if !ok {
		return fail("domain %q is not imported by the %s", n.Domain, d.importer())
	}
	n.Opset = opset
	k := lookupKernel(n.Domain, n.OpType, opset)
	if k == nil {
		op := n.OpType
		if n.Domain != "" {
			op = n.Domain + "." + op
		}
		if kernelVersions(n.Domain, n.OpType) != "" {
			return &opError{op: op, at: fmt.Sprint(opset), err: fail("op %s is implemented for opsets %s, the model imports %d", n.OpType, kernelVersions(n.Domain, n.OpType), opset)}
		}
		return &opError{op: op, err: fail("unknown op %s", n.OpType)}
	}
	n.k = k
	for _, a := range np.GetAttribute() {
		if a.GetName() == "" {
			return fail("attribute without a name")
		}
		if a.GetRefAttrName() != "" {
			return fail("attribute %q refers to a function attribute", a.GetName())
		}
		if _, dup := n.attrs[a.GetName()]; dup {
			return fail("attribute %q given twice", a.GetName())
		}
		n.attrs[a.GetName()] = a
		if a.T != nil {
			t, err := FromProto(a.GetT())
			if err != nil {
				return fail("attribute %q: %v", a.GetName(), trimPrefix(err))
			}
			if n.consts == nil {
				n.consts = map[string]*Tensor{}
			}
			n.consts[a.GetName()] = t
		}
		if len(a.GetGraphs()) > 0 {
			return fail("attribute %q: GRAPHS attributes are not supported", a.GetName())
		}
		if a.G != nil {
			sub, err := d.graph(a.G, sc)
			if err != nil {
				return &nestedError{msg: fail("attribute %q: %v", a.GetName(), trimPrefix(err)).Error(), inner: err}
			}
			if n.graphs == nil {
				n.graphs = map[string]*Model{}
			}
			n.graphs[a.GetName()] = sub
			for _, c := range sub.captures {
				if !slices.Contains(n.Inputs[n.nformal:], c) {
					n.Inputs = append(slices.Clip(n.Inputs), c) // never into the proto's array
				}
			}
		}
	}
	nin := n.nformal
	for nin > 0 && n.Inputs[nin-1] == "" { // trailing omitted inputs do not count
		nin--
	}
	if nin < k.minIn || (k.maxIn >= 0 && nin > k.maxIn) {
		return fail("got %d inputs, want %s", nin, arity(k.minIn, k.maxIn))
	}
	required := k.minIn
	if k.maxIn < 0 {
		required = n.nformal // variadic inputs are never optional
	}
	for i := 0; i < required && i < n.nformal; i++ {
		if n.Inputs[i] == "" {
			return fail("input %d is required", i)
		}
	}
	if len(n.Outputs) < 1 || len(n.Outputs) > k.maxOut {
		return fail("got %d outputs, want %s", len(n.Outputs), arity(1, k.maxOut))
	}
	if k.check != nil {
		if err := k.check(n); err != nil {
			return fail("%v", trimPrefix(err))
		}
	}
	return nil
}

func arity(lo, hi int) string {
	switch {
	case hi < 0:
		return fmt.Sprintf("at least %d", lo)
	case lo == hi:
		return fmt.Sprint(lo)
	}
	return fmt.Sprintf("%d to %d", lo, hi)
}

// fileOrderSorted reports whether every node comes after the producers of
// its inputs, without allocating.
func fileOrderSorted(nodes []*Node, producer map[string]*Node) bool {
	for _, n := range nodes {
		for _, in := range n.Inputs {
			if p := producer[in]; p != nil && in != "" && p.index >= n.index {
				return false
			}
		}
	}
	return true
}

// topoSort orders nodes so that each runs after the producers of its inputs,
// keeping file order among independent nodes (Kahn's algorithm). A cycle is
// an error that names its nodes.
func topoSort(nodes []*Node, producer map[string]*Node) ([]*Node, error) {
	if fileOrderSorted(nodes, producer) {
		// ONNX asks for sorted nodes, and then the earliest ready node is
		// always the next in the file: Kahn's order is the file's.
		return nodes, nil
	}
	pending := make(map[*Node]int, len(nodes))
	users := map[*Node][]*Node{}
	for _, n := range nodes {
		for _, in := range n.Inputs {
			if p := producer[in]; p != nil && in != "" {
				pending[n]++
				users[p] = append(users[p], n)
			}
		}
	}
	var ready, order []*Node
	for _, n := range nodes {
		if pending[n] == 0 {
			ready = append(ready, n)
		}
	}
	for len(ready) > 0 {
		// Take the earliest node in file order, so that order is deterministic
		// and matches the file whenever the file is already sorted.
		best := 0
		for i, n := range ready {
			if n.index < ready[best].index {
				best = i
			}
		}
		n := ready[best]
		ready = slices.Delete(ready, best, best+1)
		order = append(order, n)
		for _, u := range users[n] {
			pending[u]--
			if pending[u] == 0 {
				ready = append(ready, u)
			}
		}
	}
	if len(order) == len(nodes) {
		return order, nil
	}
	// Walk back from a stuck node through stuck producers until a node repeats.
	var start *Node
	for _, n := range nodes {
		if pending[n] > 0 {
			start = n
			break
		}
	}
	seen := map[*Node]int{}
	var path []*Node
	for n := start; ; {
		if i, ok := seen[n]; ok {
			path = path[i:]
			break
		}
		seen[n] = len(path)
		path = append(path, n)
		for _, in := range n.Inputs {
			if p := producer[in]; p != nil && in != "" && pending[p] > 0 {
				n = p
				break
			}
		}
	}
	slices.Reverse(path) // producer first
	// Start at the node that comes first in the file, for stable messages.
	first := 0
	for i, n := range path {
		if n.index < path[first].index {
			first = i
		}
	}
	path = append(path[first:], path[:first]...)
	var b strings.Builder
	for _, n := range path {
		fmt.Fprintf(&b, "%v → ", n)
	}
	fmt.Fprintf(&b, "%v", path[0])
	return nil, fmt.Errorf("runtime: cycle: %s", b.String())
}
