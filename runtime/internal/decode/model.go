package decode

import (
	"fmt"
	"slices"
	"strings"

	"github.com/mhcc-dev/mhcc/runtime/internal/core"
	"github.com/mhcc-dev/mhcc/runtime/internal/ref"

	"google.golang.org/protobuf/proto"

	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
)

// How decodeModel may consume the message it decodes.
type ConsumeMode int

const (
	ConsumeInits ConsumeMode = 1 + iota // empty each initializer once decoded
	ConsumeAll                          // also drop the graph's node list (mp is the decoder's own)
)

// DecodeModel builds the model; ext, if not nil, reads initializers whose
// data is in external files (external.go); with consume, each initializer
// message is emptied once decoded (the caller owns mp and is done with it),
// and with consumeAll each node message of the main graph is dropped once
// decoded (the graph's node list is empty afterwards).
func DecodeModel(mp *onnxpb.ModelProto, ext *ExternalFiles, mode ConsumeMode) (*core.Model, error) {
	consume := mode >= ConsumeInits
	g := mp.GetGraph()
	if g == nil {
		return nil, fmt.Errorf("runtime: model has no graph")
	}
	var errs core.ErrorList
	opsets := map[string]int64{}
	for _, o := range mp.GetOpsetImport() {
		d := core.CanonicalDomain(o.GetDomain())
		if v, ok := opsets[d]; ok && v != o.GetVersion() {
			errs.Add("opset of domain %q imported twice (%d and %d)", o.GetDomain(), v, o.GetVersion())
		}
		if o.GetVersion() <= 0 {
			errs.Add("opset of domain %q has version %d", o.GetDomain(), o.GetVersion())
		}
		opsets[d] = o.GetVersion()
	}
	if _, ok := opsets[""]; !ok && len(mp.GetOpsetImport()) == 0 && mp.GetIrVersion() < 3 {
		opsets[""] = 1 // before IR 3 the default domain had no import
	}
	d := &decoder{opsets: opsets, budget: new(int), ext: ext, consume: consume, strs: map[string]string{}}
	*d.budget = maxDecodedNodes
	d.funcs = decodeFunctions(mp, &errs)
	if len(d.funcs) > 0 && expandedSize(g.GetNode(), d.funcs, map[core.OpKey]int{}, maxDecodedNodes) > maxDecodedNodes {
		errs.Add("the model expands to more than %d nodes (nested function calls)", maxDecodedNodes)
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	d.consumeNodes = mode == ConsumeAll
	m, err := d.graph(g, nil)
	if err != nil {
		return nil, err
	}
	m.IRVersion = mp.GetIrVersion()
	if mode == ConsumeAll {
		// The decoded nodes share the messages' strings, not the messages:
		// with the node list gone, the messages can be collected.
		g.Node = nil
	}
	if err := m.InferTypes(); err != nil {
		return nil, err
	}
	return m, nil
}

// A decoder decodes a graph (the main graph, a subgraph or a function body)
// under one set of opset imports.
type decoder struct {
	opsets map[string]int64                     // domain → version, for the graph being decoded
	funcs  map[core.OpKey]*onnxpb.FunctionProto // the model's local functions
	stack  []core.OpKey                         // functions being expanded, outermost first
	budget *int                                 // nodes left to decode, shared by all decoders of a model
	ext    *ExternalFiles                       // reads external initializer data; nil: none allowed
	// consume: empty each initializer message once decoded (the caller owns it),
	// so the weights are never held twice.
	consume bool
	// consumeNodes: drop each node message of the next graph decoded (the
	// main graph; set by DecodeModel, cleared by graph) once its node is
	// resolved, so that the messages and the decoded nodes of a large
	// graph are not all live at once.
	consumeNodes bool
	// strs interns op types and domains: a million-node graph has a handful.
	strs map[string]string
}

// intern returns the copy of s the decoder already holds, so that nodes
// share one string per distinct op type instead of one per node message.
func (d *decoder) intern(s string) string {
	if d.strs == nil || len(s) > 64 {
		return s
	}
	if c, ok := d.strs[s]; ok {
		return c
	}
	d.strs[s] = s
	return s
}

// maxDecodedNodes bounds the nodes one model may expand to: function bodies
// are decoded once per call, so a hostile file could otherwise nest calls
// into an exponential number of nodes.
const maxDecodedNodes = 1 << 20

// A scope is the values a graph defines, seen by its subgraphs.
type scope struct {
	m      *core.Model
	parent *scope
}

func (s *scope) has(name string) bool {
	for ; s != nil; s = s.parent {
		if s.m.IsDefined(name) {
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
//
// Values are numbered as they are met (core.Model's value table); the
// producer of each is kept by number, not in a name-keyed map.
func (d *decoder) graph(g *onnxpb.GraphProto, outer *scope) (*core.Model, error) {
	consumeNodes := d.consumeNodes
	d.consumeNodes = false // subgraphs and bodies: their messages stay
	nvals := len(g.GetInitializer()) + len(g.GetInput())
	for _, np := range g.GetNode() {
		nvals += len(np.GetOutput())
	}
	m := &core.Model{
		Opsets:    d.opsets,
		Inits:     map[string]*core.Tensor{},
		DeclIn:    map[string]core.ValueInfo{},
		ID:        make(map[string]int32, nvals),
		Uses:      make([]int32, 0, nvals),
		Types:     make([]core.DType, 0, nvals),
		ValueInfo: g.GetValueInfo(),
	}
	var errs core.ErrorList
	if len(g.GetSparseInitializer()) > 0 {
		errs.Add("sparse initializers are not supported")
	}

	for _, p := range g.GetInitializer() {
		name := p.GetName()
		if name == "" {
			errs.Add("initializer without a name")
			continue
		}
		if _, dup := m.Inits[name]; dup {
			errs.Add("initializer %q defined twice", name)
			continue
		}
		t, err := d.ext.tensor(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("runtime: initializer: %w", core.TrimPrefix(err)))
			continue
		}
		m.Inits[name] = t
		m.AddValue(name, t.DType)
		if d.consume {
			proto.Reset(p) // t is a copy; the message's bytes can go now
		}
	}

	for _, vi := range g.GetInput() {
		v, err := core.ValueInfoOf(vi)
		if err != nil {
			errs = append(errs, fmt.Errorf("runtime: graph input %q: %w", vi.GetName(), core.TrimPrefix(err)))
			continue
		}
		if _, dup := m.DeclIn[v.Name]; dup {
			errs.Add("graph input %q declared twice", v.Name)
			continue
		}
		m.DeclIn[v.Name] = v
		m.Params = append(m.Params, v.Name)
		if t, ok := m.Inits[v.Name]; ok {
			if v.DType != core.Undefined && v.DType != t.DType {
				errs.Add("graph input %q: declared %v, initializer is %v", v.Name, v.DType, t.DType)
			}
			continue
		}
		if v.Name == "" {
			errs.Add("graph input without a name")
			continue
		}
		m.Inputs = append(m.Inputs, v)
		m.AddValue(v.Name, v.DType)
	}

	// Nodes: number what they define, then resolve kernels (and decode
	// subgraphs, which see every value of this graph) and count arguments.
	// A node without graph attributes is resolved at once, so that its
	// message can go (consumeNodes) before the next node is decoded; the
	// others wait until every value of the graph is known. Resolution
	// errors are reported after the definition errors, in node order, as
	// if every node were resolved in a second pass.
	*d.budget -= len(g.GetNode())
	if *d.budget < 0 {
		return nil, fmt.Errorf("runtime: the model expands to more than %d nodes (nested function calls?)", maxDecodedNodes)
	}
	nv0 := int32(len(m.Types))          // values numbered before the nodes'
	producer := make([]int32, 0, nvals) // by value number - nv0: the node defining it
	nodes := make([]*core.Node, 0, len(g.GetNode()))
	type nodeErr struct {
		i   int
		err error
	}
	var resolveErrs []nodeErr
	var deferred []int // nodes with graph attributes, resolved after the loop
	local := &scope{m: m, parent: outer}
	for i, np := range g.GetNode() {
		n := &core.Node{
			Name:    np.GetName(),
			OpType:  d.intern(np.GetOpType()),
			Domain:  d.intern(core.CanonicalDomain(np.GetDomain())),
			Inputs:  np.GetInput(),
			Outputs: np.GetOutput(),
			Index:   i,
		}
		if k := len(np.GetAttribute()); k > 0 {
			// Most nodes have none: a map per node is 50 bytes each of a
			// million-node graph for nothing (reading a nil map is fine).
			n.Attrs = make(map[string]*onnxpb.AttributeProto, k)
		}
		nodes = append(nodes, n)
		for _, out := range n.Outputs {
			if out == "" {
				continue
			}
			if id, ok := m.ID[out]; ok {
				if id >= nv0 {
					errs.Add("%v: output %q is already defined by %v", n, out, nodes[producer[id-nv0]])
				} else {
					errs.Add("%v: output %q is already a graph input or initializer", n, out)
				}
				continue
			}
			m.AddValue(out, core.Undefined)
			producer = append(producer, int32(i))
		}
		if hasGraph(np) {
			deferred = append(deferred, i)
			continue
		}
		if err := d.resolve(n, np, local); err != nil {
			resolveErrs = append(resolveErrs, nodeErr{i, err})
		}
		if consumeNodes {
			g.Node[i] = nil // n holds what it needs: its strings and attributes
		}
	}
	for _, i := range deferred {
		if err := d.resolve(nodes[i], g.GetNode()[i], local); err != nil {
			resolveErrs = append(resolveErrs, nodeErr{i, err})
		}
		if consumeNodes {
			g.Node[i] = nil
		}
	}
	if len(deferred) > 0 {
		slices.SortStableFunc(resolveErrs, func(a, b nodeErr) int { return a.i - b.i })
	}
	for _, e := range resolveErrs {
		errs = append(errs, e.err)
	}
	// capture makes a value of an enclosing graph an input of this one.
	capture := func(name string) (int32, bool) {
		if id, ok := m.ID[name]; ok {
			return id, true
		}
		if outer == nil || !outer.has(name) {
			return 0, false
		}
		m.Captures = append(m.Captures, name)
		m.DeclIn[name] = core.ValueInfo{Name: name}
		m.Inputs = append(m.Inputs, core.ValueInfo{Name: name})
		return m.AddValue(name, core.Undefined), true
	}
	for _, n := range nodes {
		for i, in := range n.Inputs {
			if in == "" {
				continue
			}
			id, ok := capture(in)
			if !ok {
				errs.Add("%v: input %d %q is not defined", n, i, in)
				continue
			}
			m.Uses[id]++
		}
	}
	for _, vi := range g.GetOutput() {
		v, err := core.ValueInfoOf(vi)
		if err != nil {
			errs = append(errs, fmt.Errorf("runtime: graph output %q: %w", vi.GetName(), core.TrimPrefix(err)))
			continue
		}
		if _, ok := capture(v.Name); !ok {
			errs.Add("graph output %q is not defined", v.Name)
		}
		m.Outputs = append(m.Outputs, v)
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}

	// The producer of a value read by a node, by value name: nil for graph
	// inputs, initializers and captures.
	prod := func(name string) *core.Node {
		if id, ok := m.ID[name]; ok && id >= nv0 && int(id-nv0) < len(producer) {
			return nodes[producer[id-nv0]]
		}
		return nil
	}
	order, err := topoSort(nodes, prod)
	if err != nil {
		return nil, err
	}
	m.TopoNodes = order
	return m, nil
}

// hasGraph reports whether np has a graph attribute (its subgraph may read
// any value of the enclosing graph, so it is resolved once all are known).
func hasGraph(np *onnxpb.NodeProto) bool {
	for _, a := range np.GetAttribute() {
		if a.G != nil || len(a.GetGraphs()) > 0 {
			return true
		}
	}
	return false
}

// resolve finds n's kernel (or the model function it calls), decodes its
// graph attributes in scope sc, and checks its arity and attributes.
func (d *decoder) resolve(n *core.Node, np *onnxpb.NodeProto, sc *scope) error {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("runtime: %v: %s", n, fmt.Sprintf(format, args...))
	}
	n.Nformal = len(n.Inputs)
	if n.OpType == "" {
		return fail("no op_type")
	}
	if f := d.funcs[core.OpKey{Domain: n.Domain, Op: n.OpType}]; f != nil {
		return d.callFunction(n, np, f)
	}
	opset, ok := d.opsets[n.Domain]
	if !ok {
		return fail("domain %q is not imported by the %s", n.Domain, d.importer())
	}
	n.Opset = opset
	k := ref.LookupKernel(n.Domain, n.OpType, opset)
	if k == nil {
		op := n.OpType
		if n.Domain != "" {
			op = n.Domain + "." + op
		}
		if ref.KernelVersions(n.Domain, n.OpType) != "" {
			return &core.OpError{Op: op, At: fmt.Sprint(opset), Err: fail("op %s is implemented for opsets %s, the model imports %d", n.OpType, ref.KernelVersions(n.Domain, n.OpType), opset)}
		}
		return &core.OpError{Op: op, Err: fail("unknown op %s", n.OpType)}
	}
	n.K = k
	for _, a := range np.GetAttribute() {
		if a.GetName() == "" {
			return fail("attribute without a name")
		}
		if a.GetRefAttrName() != "" {
			return fail("attribute %q refers to a function attribute", a.GetName())
		}
		if _, dup := n.Attrs[a.GetName()]; dup {
			return fail("attribute %q given twice", a.GetName())
		}
		n.Attrs[a.GetName()] = a
		if a.T != nil {
			t, err := core.FromProto(a.GetT())
			if err != nil {
				return fail("attribute %q: %v", a.GetName(), core.TrimPrefix(err))
			}
			if n.Consts == nil {
				n.Consts = map[string]*core.Tensor{}
			}
			n.Consts[a.GetName()] = t
		}
		if len(a.GetGraphs()) > 0 {
			return fail("attribute %q: GRAPHS attributes are not supported", a.GetName())
		}
		if a.G != nil {
			sub, err := d.graph(a.G, sc)
			if err != nil {
				return &core.NestedError{Msg: fail("attribute %q: %v", a.GetName(), core.TrimPrefix(err)).Error(), Inner: err}
			}
			if n.Graphs == nil {
				n.Graphs = map[string]*core.Model{}
			}
			n.Graphs[a.GetName()] = sub
			for _, c := range sub.Captures {
				if !slices.Contains(n.Inputs[n.Nformal:], c) {
					n.Inputs = append(slices.Clip(n.Inputs), c) // never into the proto's array
				}
			}
		}
	}
	nin := n.Nformal
	for nin > 0 && n.Inputs[nin-1] == "" { // trailing omitted inputs do not count
		nin--
	}
	if nin < k.MinIn || (k.MaxIn >= 0 && nin > k.MaxIn) {
		return fail("got %d inputs, want %s", nin, arity(k.MinIn, k.MaxIn))
	}
	required := k.MinIn
	if k.MaxIn < 0 {
		required = n.Nformal // variadic inputs are never optional
	}
	for i := 0; i < required && i < n.Nformal; i++ {
		if n.Inputs[i] == "" {
			return fail("input %d is required", i)
		}
	}
	if len(n.Outputs) < 1 || len(n.Outputs) > k.MaxOut {
		return fail("got %d outputs, want %s", len(n.Outputs), arity(1, k.MaxOut))
	}
	if k.Check != nil {
		if err := k.Check(n); err != nil {
			return fail("%v", core.TrimPrefix(err))
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
func fileOrderSorted(nodes []*core.Node, producer func(string) *core.Node) bool {
	for _, n := range nodes {
		for _, in := range n.Inputs {
			if in == "" {
				continue
			}
			if p := producer(in); p != nil && p.Index >= n.Index {
				return false
			}
		}
	}
	return true
}

// topoSort orders nodes so that each runs after the producers of its inputs,
// keeping file order among independent nodes (Kahn's algorithm). A cycle is
// an error that names its nodes.
func topoSort(nodes []*core.Node, producer func(string) *core.Node) ([]*core.Node, error) {
	if fileOrderSorted(nodes, producer) {
		// ONNX asks for sorted nodes, and then the earliest ready node is
		// always the next in the file: Kahn's order is the file's.
		return nodes, nil
	}
	pending := make(map[*core.Node]int, len(nodes))
	users := map[*core.Node][]*core.Node{}
	for _, n := range nodes {
		for _, in := range n.Inputs {
			if p := producer(in); p != nil && in != "" {
				pending[n]++
				users[p] = append(users[p], n)
			}
		}
	}
	var ready, order []*core.Node
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
			if n.Index < ready[best].Index {
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
	var start *core.Node
	for _, n := range nodes {
		if pending[n] > 0 {
			start = n
			break
		}
	}
	seen := map[*core.Node]int{}
	var path []*core.Node
	for n := start; ; {
		if i, ok := seen[n]; ok {
			path = path[i:]
			break
		}
		seen[n] = len(path)
		path = append(path, n)
		for _, in := range n.Inputs {
			if p := producer(in); p != nil && in != "" && pending[p] > 0 {
				n = p
				break
			}
		}
	}
	slices.Reverse(path) // producer first
	// Start at the node that comes first in the file, for stable messages.
	first := 0
	for i, n := range path {
		if n.Index < path[first].Index {
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
