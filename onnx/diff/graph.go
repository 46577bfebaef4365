package graphdiff

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash/fnv"
	"sort"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/mhcc-dev/mhcc/onnx/pb"
)

// What a value name refers to inside a graph.
type refKind uint8

const (
	refNone  refKind = iota // "" (an omitted optional input)
	refNode                 // output out of node
	refInput                // graph (or function, subgraph) input pos
	refInit                 // initializer init
	refOuter                // defined in an enclosing graph
	refUndef                // defined nowhere
)

type ref struct {
	kind      refKind
	node, out int
	pos       int
	init      *tensorInfo
	name      string
}

// A graphInfo is the analysis of one graph, function body or subgraph:
// name-independent hashes of every node and a canonical node order.
//
// Three keys describe a node:
//   - deep: sha256 of its op, domain, attributes and, recursively, of the
//     whole computation upstream of it (graph inputs by position,
//     initializers by content). Equal deep hashes mean the same value is
//     computed, whatever the names.
//   - local: op, domain, attributes and, per input, only what kind of thing
//     feeds it (which op type, which graph input, an initializer). An
//     upstream change does not change it.
//   - weak: op, domain and the numbers of inputs and outputs.
type graphInfo struct {
	nodes    *nodeTable
	inputs   []string
	outputs  []string
	inputTok []string // per input: the token hashes use (positions; B's map to A's)
	outTok   []string // per output, likewise
	inputPos map[string]int
	inits    map[string]*tensorInfo
	producer *outputIndex
	parent   *graphInfo

	deep      [][16]byte
	deepState []uint8    // 0 new, 1 computing, 2 done
	constMemo []uint8    // 0 new, 1 computing, 2 const, 3 not
	down      [][16]byte // role downstream: what consumes the node's outputs, recursively
	// depStart/depNode/depOut: what each node's deps (deps(i), inputs
	// first) resolve to, computed once: depNode ≥ 0 is the producing node
	// (depOut its output), depConst a constant (omitted or initializer),
	// depOther anything else. The walks below read these instead of
	// looking names up again.
	depStart []int32
	depNode  []int32
	depOut   []int32
	order    []int32 // canonical order: node indices
	pos      []int32 // node index → position in order
	subs     map[subKey]*graphInfo
	hashMemo *[16]byte
}

type subKey struct {
	node int
	attr string
	k    int
}

func newGraphInfo(nodes *nodeTable, inputs, outputs []string, inits []*onnxpb.TensorProto, parent *graphInfo, inputTok, outTok []string) *graphInfo {
	g := &graphInfo{
		nodes: nodes, inputs: inputs, outputs: outputs, inputTok: inputTok, outTok: outTok, parent: parent,
		inputPos: make(map[string]int, len(inputs)), inits: make(map[string]*tensorInfo, len(inits)),
		deep: make([][16]byte, nodes.len()), deepState: make([]uint8, nodes.len()), constMemo: make([]uint8, nodes.len()),
		subs: map[subKey]*graphInfo{},
	}
	if g.inputTok == nil {
		g.inputTok = make([]string, len(inputs))
		for i := range inputs {
			g.inputTok[i] = strconv.Itoa(i)
		}
	}
	if g.outTok == nil {
		g.outTok = make([]string, len(outputs))
		for i := range outputs {
			g.outTok[i] = strconv.Itoa(i)
		}
	}
	for i, n := range inputs {
		if _, ok := g.inputPos[n]; !ok && n != "" {
			g.inputPos[n] = i
		}
	}
	for _, t := range inits {
		if _, ok := g.inits[t.GetName()]; !ok {
			g.inits[t.GetName()] = newTensorInfo(t)
		}
	}
	g.producer = newOutputIndex(nodes)
	g.resolveDeps()
	for i := range nodes.len() {
		// In file order, which is usually topological, so that the
		// memoised recursions of deepOf and constOnly stay shallow.
		g.constOnly(i)
		g.deepOf(i)
	}
	g.canonicalOrder()
	g.downHashes()
	return g
}

const (
	depConst = -1 // "" or an initializer
	depOther = -2 // a graph input, an outer value, or undefined
)

func (g *graphInfo) resolveDeps() {
	g.depStart = make([]int32, g.nodes.len()+1)
	total := 0
	for i := range g.nodes.len() {
		total += len(g.deps(i))
	}
	g.depNode = make([]int32, 0, total)
	g.depOut = make([]int32, 0, total)
	for i := range g.nodes.len() {
		for _, d := range g.deps(i) {
			r := g.resolve(d)
			switch r.kind {
			case refNode:
				g.depNode = append(g.depNode, int32(r.node))
				g.depOut = append(g.depOut, int32(r.out))
				continue
			case refNone, refInit:
				g.depNode = append(g.depNode, depConst)
			default:
				g.depNode = append(g.depNode, depOther)
			}
			g.depOut = append(g.depOut, 0)
		}
		g.depStart[i+1] = int32(len(g.depNode))
	}
}

// graphInfoOf analyses a GraphProto; the tokens may be nil (positions).
func graphInfoOf(gp *onnxpb.GraphProto, parent *graphInfo, inputTok, outTok []string) *graphInfo {
	return newGraphInfo(newNodeTable(gp.GetNode()), valueNames(gp.GetInput()), valueNames(gp.GetOutput()), gp.GetInitializer(), parent, inputTok, outTok)
}

// downHashes computes each node's downstream hash: its op, domain and
// attributes, and for each of its outputs the sorted list of (consumer's
// downstream hash, input slot) and the graph outputs it is. It is the
// mirror image of the deep hash: equal when the node plays the same role
// for everything after it, whatever computes its inputs.
func (g *graphInfo) downHashes() {
	// uses[p] lists the readers of node p's outputs (use.out says which),
	// in node order: one array for the whole graph, not a slice per value.
	type use struct {
		node, slot, out int
	}
	start := make([]int32, g.nodes.len()+1)
	inputDeps := func(i int) []int32 { // deps(i) lists the inputs first
		return g.depNode[g.depStart[i] : g.depStart[i]+int32(len(g.nodes.at(i).GetInput()))]
	}
	for i := range g.nodes.len() {
		for _, p := range inputDeps(i) {
			if p >= 0 {
				start[p+1]++
			}
		}
	}
	for i := range g.nodes.len() {
		start[i+1] += start[i]
	}
	all := make([]use, start[g.nodes.len()])
	fill := append([]int32(nil), start[:g.nodes.len()]...)
	for i := range g.nodes.len() {
		for k, p := range inputDeps(i) {
			if p >= 0 {
				all[fill[p]] = use{i, k, int(g.depOut[g.depStart[i]+int32(k)])}
				fill[p]++
			}
		}
	}
	outs := map[string][]string{}
	for k, o := range g.outputs {
		outs[o] = append(outs[o], g.outTok[k])
	}
	g.down = make([][16]byte, g.nodes.len())
	done := make([]bool, g.nodes.len())
	// One hash for all nodes: attrCanon's subgraphs hash with their own.
	h := sha256.New()
	w := &strHasher{h: h, buf: make([]byte, 0, 64)}
	sum := make([]byte, 0, sha256.Size)
	// The canonical order lists producers before consumers; walk it backwards.
	for k := len(g.order) - 1; k >= 0; k-- {
		i := int(g.order[k])
		n := g.nodes.at(i)
		h.Reset()
		w.str(n.GetOpType())
		w.str(n.GetDomain())
		w.str(strconv.Itoa(len(n.GetInput())) + "/" + strconv.Itoa(len(n.GetOutput())))
		for _, a := range sortedAttrs(n) {
			w.str(a.GetName())
			w.str(g.attrCanon(i, a))
		}
		for ko, o := range n.GetOutput() {
			var toks []string
			for _, u := range all[start[i]:start[i+1]] {
				if u.out != ko || !done[u.node] { // another output; or a cycle: ignore the back edge
					continue
				}
				toks = append(toks, hex.EncodeToString(g.down[u.node][:])+"@"+strconv.Itoa(u.slot))
			}
			for _, t := range outs[o] {
				toks = append(toks, "out:"+t)
			}
			sort.Strings(toks)
			w.str(strings.Join(toks, ","))
		}
		sum = h.Sum(sum[:0])
		copy(g.down[i][:], sum)
		done[i] = true
	}
}

func valueNames(vs []*onnxpb.ValueInfoProto) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.GetName()
	}
	return out
}

func (g *graphInfo) defines(name string) bool {
	if _, _, ok := g.producer.producer(name); ok {
		return true
	}
	if _, ok := g.inputPos[name]; ok {
		return true
	}
	_, ok := g.inits[name]
	return ok
}

func (g *graphInfo) resolve(name string) ref {
	if name == "" {
		return ref{kind: refNone}
	}
	if node, out, ok := g.producer.producer(name); ok {
		return ref{kind: refNode, node: node, out: out, name: name}
	}
	if p, ok := g.inputPos[name]; ok {
		return ref{kind: refInput, pos: p, name: name}
	}
	if t, ok := g.inits[name]; ok {
		return ref{kind: refInit, init: t, name: name}
	}
	for p := g.parent; p != nil; p = p.parent {
		if p.defines(name) {
			return ref{kind: refOuter, name: name}
		}
	}
	return ref{kind: refUndef, name: name}
}

// deepToken names the value called name by what computes it.
func (g *graphInfo) deepToken(name string) string {
	r := g.resolve(name)
	switch r.kind {
	case refNode:
		d := g.deepOf(r.node)
		return hex.EncodeToString(d[:]) + "#" + strconv.Itoa(r.out)
	case refInput:
		return "in:" + g.inputTok[r.pos]
	case refInit:
		return "init:" + r.init.hash
	case refOuter:
		return "outer:" + g.parent.deepToken(name)
	case refUndef:
		return "undef:" + name
	}
	return "-"
}

var cycleHash = [16]byte{'c', 'y', 'c', 'l', 'e'}

func (g *graphInfo) deepOf(i int) [16]byte {
	switch g.deepState[i] {
	case 1:
		return cycleHash
	case 2:
		return g.deep[i]
	}
	g.deepState[i] = 1
	n := g.nodes.at(i)
	h := sha256.New()
	w := &strHasher{h: h, buf: make([]byte, 0, 64)}
	w.str(n.GetOpType())
	w.str(n.GetDomain())
	w.str(strconv.Itoa(len(n.GetInput())) + "/" + strconv.Itoa(len(n.GetOutput())))
	for k, in := range n.GetInput() {
		if p := g.depNode[g.depStart[i]+int32(k)]; p >= 0 {
			w.nodeToken(g.deepOf(int(p)), int(g.depOut[g.depStart[i]+int32(k)]))
			continue
		}
		w.str(g.deepToken(in))
	}
	for _, a := range sortedAttrs(n) {
		w.str(a.GetName())
		w.str(g.attrCanon(i, a))
	}
	copy(g.deep[i][:], h.Sum(nil))
	g.deepState[i] = 2
	return g.deep[i]
}

func (g *graphInfo) localToken(name string) string {
	r := g.resolve(name)
	switch r.kind {
	case refNode:
		p := g.nodes.at(r.node)
		return "n:" + p.GetDomain() + "/" + p.GetOpType() + "#" + strconv.Itoa(r.out)
	case refInput:
		return "in:" + g.inputTok[r.pos]
	case refInit:
		return "init"
	case refOuter:
		return "outer"
	case refUndef:
		return "undef"
	}
	return "-"
}

func (g *graphInfo) localKey(i int) uint64 {
	n := g.nodes.at(i)
	h := fnv.New64a()
	w := func(s string) { h.Write([]byte(s)); h.Write([]byte{0}) }
	w(n.GetOpType())
	w(n.GetDomain())
	w(strconv.Itoa(len(n.GetOutput())))
	for _, in := range n.GetInput() {
		w(g.localToken(in))
	}
	w("|")
	for _, a := range sortedAttrs(n) {
		w(a.GetName())
		w(g.attrCanon(i, a))
	}
	return h.Sum64()
}

func weakKey(n node) uint64 {
	h := fnv.New64a()
	h.Write([]byte(n.GetOpType() + "\x00" + n.GetDomain() + "\x00" + strconv.Itoa(len(n.GetInput())) + "/" + strconv.Itoa(len(n.GetOutput()))))
	return h.Sum64()
}

func sortedAttrs(n node) []*onnxpb.AttributeProto {
	if as := n.GetAttribute(); sort.SliceIsSorted(as, func(i, j int) bool { return as[i].GetName() < as[j].GetName() }) {
		return as // callers only read it
	}
	as := append([]*onnxpb.AttributeProto(nil), n.GetAttribute()...)
	sort.SliceStable(as, func(i, j int) bool { return as[i].GetName() < as[j].GetName() })
	return as
}

// attrType is the attribute's declared type or, if unset, the one its
// populated field implies.
func attrType(a *onnxpb.AttributeProto) onnxpb.AttributeProto_AttributeType {
	if a.GetType() != onnxpb.AttributeProto_UNDEFINED {
		return a.GetType()
	}
	switch {
	case len(a.GetFloats()) > 0:
		return onnxpb.AttributeProto_FLOATS
	case len(a.GetInts()) > 0:
		return onnxpb.AttributeProto_INTS
	case len(a.GetStrings()) > 0:
		return onnxpb.AttributeProto_STRINGS
	case len(a.GetTensors()) > 0:
		return onnxpb.AttributeProto_TENSORS
	case len(a.GetGraphs()) > 0:
		return onnxpb.AttributeProto_GRAPHS
	case a.T != nil:
		return onnxpb.AttributeProto_TENSOR
	case a.G != nil:
		return onnxpb.AttributeProto_GRAPH
	case a.S != nil:
		return onnxpb.AttributeProto_STRING
	case a.F != nil:
		return onnxpb.AttributeProto_FLOAT
	case a.I != nil:
		return onnxpb.AttributeProto_INT
	}
	return onnxpb.AttributeProto_UNDEFINED
}

// attrCanon is a canonical, name-independent encoding of an attribute's
// value (node index i locates subgraphs).
func (g *graphInfo) attrCanon(i int, a *onnxpb.AttributeProto) string {
	if r := a.GetRefAttrName(); r != "" {
		return "ref:" + r
	}
	t := attrType(a)
	switch t {
	case onnxpb.AttributeProto_TENSOR:
		return "t:" + tensorHash(a.GetT())
	case onnxpb.AttributeProto_TENSORS:
		var b strings.Builder
		b.WriteString("ts:")
		for _, x := range a.GetTensors() {
			b.WriteString(tensorHash(x) + ",")
		}
		return b.String()
	case onnxpb.AttributeProto_GRAPH:
		h := g.sub(i, a.GetName(), 0).hash()
		return "g:" + hex.EncodeToString(h[:])
	case onnxpb.AttributeProto_GRAPHS:
		var b strings.Builder
		b.WriteString("gs:")
		for k := range a.GetGraphs() {
			h := g.sub(i, a.GetName(), k).hash()
			b.WriteString(hex.EncodeToString(h[:]) + ",")
		}
		return b.String()
	case onnxpb.AttributeProto_SPARSE_TENSOR, onnxpb.AttributeProto_SPARSE_TENSORS,
		onnxpb.AttributeProto_TYPE_PROTO, onnxpb.AttributeProto_TYPE_PROTOS, onnxpb.AttributeProto_UNDEFINED:
		c := proto.Clone(a).(*onnxpb.AttributeProto)
		c.Name, c.DocString = nil, nil
		b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(c)
		s := sha256.Sum256(b)
		return t.String() + ":" + hex.EncodeToString(s[:])
	}
	return t.String() + ":" + attrDisplay(a)
}

// attrDisplay shows an attribute's value in a message.
func attrDisplay(a *onnxpb.AttributeProto) string {
	if a == nil {
		return "(absent)"
	}
	if r := a.GetRefAttrName(); r != "" {
		return "@" + r
	}
	f32 := func(v float32) string { return strconv.FormatFloat(float64(v), 'g', -1, 32) }
	switch attrType(a) {
	case onnxpb.AttributeProto_FLOAT:
		return f32(a.GetF())
	case onnxpb.AttributeProto_INT:
		return strconv.FormatInt(a.GetI(), 10)
	case onnxpb.AttributeProto_STRING:
		return strconv.Quote(string(a.GetS()))
	case onnxpb.AttributeProto_FLOATS:
		s := make([]string, len(a.GetFloats()))
		for i, v := range a.GetFloats() {
			s[i] = f32(v)
		}
		return "[" + strings.Join(s, ", ") + "]"
	case onnxpb.AttributeProto_INTS:
		s := make([]string, len(a.GetInts()))
		for i, v := range a.GetInts() {
			s[i] = strconv.FormatInt(v, 10)
		}
		return "[" + strings.Join(s, ", ") + "]"
	case onnxpb.AttributeProto_STRINGS:
		s := make([]string, len(a.GetStrings()))
		for i, v := range a.GetStrings() {
			s[i] = strconv.Quote(string(v))
		}
		return "[" + strings.Join(s, ", ") + "]"
	case onnxpb.AttributeProto_TENSOR:
		return "tensor " + tensorSummary(a.GetT())
	case onnxpb.AttributeProto_TENSORS:
		return strconv.Itoa(len(a.GetTensors())) + " tensors"
	case onnxpb.AttributeProto_GRAPH:
		return "graph of " + strconv.Itoa(len(a.GetG().GetNode())) + " nodes"
	case onnxpb.AttributeProto_GRAPHS:
		return strconv.Itoa(len(a.GetGraphs())) + " graphs"
	}
	return attrType(a).String()
}

// sub returns the analysis of a subgraph attribute of node i.
func (g *graphInfo) sub(i int, attr string, k int) *graphInfo {
	key := subKey{i, attr, k}
	if s, ok := g.subs[key]; ok {
		return s
	}
	var gp *onnxpb.GraphProto
	for _, a := range g.nodes.at(i).GetAttribute() {
		if a.GetName() != attr {
			continue
		}
		if attrType(a) == onnxpb.AttributeProto_GRAPH {
			gp = a.GetG()
		} else if k < len(a.GetGraphs()) {
			gp = a.GetGraphs()[k]
		}
		break
	}
	s := graphInfoOf(gp, g, nil, nil)
	g.subs[key] = s
	return s
}

// hash identifies a (sub)graph by what it computes: its input count, the
// deep tokens of its outputs and the multiset of its nodes' deep hashes.
func (g *graphInfo) hash() [16]byte {
	if g.hashMemo != nil {
		return *g.hashMemo
	}
	h := sha256.New()
	writeStr(h, strconv.Itoa(len(g.inputs)))
	for _, o := range g.outputs {
		writeStr(h, g.deepToken(o))
	}
	ds := append([][16]byte(nil), g.deep...)
	sort.Slice(ds, func(i, j int) bool { return bytes.Compare(ds[i][:], ds[j][:]) < 0 })
	for _, d := range ds {
		h.Write(d[:])
	}
	var out [16]byte
	copy(out[:], h.Sum(nil))
	g.hashMemo = &out
	return out
}

// freeNames lists the names a subgraph uses but does not define, in order.
func freeNames(gp *onnxpb.GraphProto) []string {
	defined := map[string]bool{}
	for _, v := range gp.GetInput() {
		defined[v.GetName()] = true
	}
	for _, t := range gp.GetInitializer() {
		defined[t.GetName()] = true
	}
	for _, n := range gp.GetNode() {
		for _, o := range n.GetOutput() {
			defined[o] = true
		}
	}
	var out []string
	seen := map[string]bool{}
	use := func(s string) {
		if s != "" && !defined[s] && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	for _, n := range gp.GetNode() {
		for _, in := range n.GetInput() {
			use(in)
		}
		for _, s := range subgraphsOf(n.GetAttribute()) {
			for _, f := range freeNames(s) {
				use(f)
			}
		}
	}
	for _, o := range gp.GetOutput() {
		use(o.GetName())
	}
	return out
}

func subgraphsOf(attrs []*onnxpb.AttributeProto) []*onnxpb.GraphProto {
	var out []*onnxpb.GraphProto
	for _, a := range attrs {
		switch attrType(a) {
		case onnxpb.AttributeProto_GRAPH:
			out = append(out, a.GetG())
		case onnxpb.AttributeProto_GRAPHS:
			out = append(out, a.GetGraphs()...)
		}
	}
	return out
}

// deps lists the value names node i depends on: its inputs, then the outer
// names its subgraphs use.
func (g *graphInfo) deps(i int) []string {
	n := g.nodes.at(i)
	out := n.GetInput()
	for _, s := range subgraphsOf(n.GetAttribute()) {
		out = append(append([]string(nil), out...), freeNames(s)...)
	}
	return out
}

// constOnly reports whether node i depends on initializers only.
func (g *graphInfo) constOnly(i int) bool {
	switch g.constMemo[i] {
	case 1, 3:
		return false
	case 2:
		return true
	}
	g.constMemo[i] = 1
	ok := true
	for _, p := range g.depNode[g.depStart[i]:g.depStart[i+1]] {
		switch {
		case p == depConst:
		case p >= 0:
			ok = g.constOnly(int(p))
		default:
			ok = false
		}
		if !ok {
			break
		}
	}
	if ok {
		g.constMemo[i] = 2
	} else {
		g.constMemo[i] = 3
	}
	return ok
}

// canonicalOrder is a post-order depth-first walk from the outputs, inputs
// in order, that visits the inputs computed from graph inputs before those
// computed from initializers only (so weight preprocessing lands next to
// its consumer). It depends on the graph's structure only, not on names or
// on the order of the node list. Nodes the outputs do not need follow,
// walked in the order of their deep hashes.
func (g *graphInfo) canonicalOrder() {
	visited := make([]bool, g.nodes.len())
	g.order = make([]int32, 0, g.nodes.len())
	// visit is the depth-first walk with its own stack: a chain of a
	// million nodes would otherwise recurse a million calls deep.
	// A frame is 12 bytes (the deps are found again from depStart): on a
	// chain the stack is as deep as the graph is long.
	type frame struct {
		i, pass, k int32 // k: the next dep, an index into depNode
	}
	stack := make([]frame, 0, min(g.nodes.len(), 1<<20))
	visit := func(i int) {
		if visited[i] {
			return
		}
		visited[i] = true
		stack = append(stack[:0], frame{i: int32(i), k: g.depStart[i]})
	walk:
		for len(stack) > 0 {
			f := &stack[len(stack)-1]
			for ; f.pass < 2; f.pass, f.k = f.pass+1, g.depStart[f.i] {
				for f.k < g.depStart[f.i+1] {
					p := int(g.depNode[f.k])
					f.k++
					if p >= 0 && !visited[p] && g.constOnly(p) == (f.pass == 1) {
						visited[p] = true
						stack = append(stack, frame{i: int32(p), k: g.depStart[p]})
						continue walk
					}
				}
			}
			g.order = append(g.order, f.i)
			stack = stack[:len(stack)-1]
		}
	}
	for _, o := range g.outputs {
		if r := g.resolve(o); r.kind == refNode {
			visit(r.node)
		}
	}
	var rest []int
	local := map[int]uint64{} // the local keys of the rest
	for i := range g.nodes.len() {
		if !visited[i] {
			rest = append(rest, i)
			local[i] = g.localKey(i)
		}
	}
	sort.SliceStable(rest, func(x, y int) bool {
		a, b := rest[x], rest[y]
		if c := bytes.Compare(g.deep[a][:], g.deep[b][:]); c != 0 {
			return c < 0
		}
		return local[a] < local[b]
	})
	for _, i := range rest {
		visit(i)
	}
	g.pos = make([]int32, g.nodes.len())
	for p, i := range g.order {
		g.pos[i] = int32(p)
	}
}

// nodeLabel names node i for people: its name, else its first output.
func (g *graphInfo) nodeLabel(i int) string {
	n := g.nodes.at(i)
	if n.GetName() != "" {
		return n.GetName()
	}
	for _, o := range n.GetOutput() {
		if o != "" {
			return o
		}
	}
	return n.GetOpType() + "#" + strconv.Itoa(i)
}

// valueLabel names what node i computes: its first output, else its name.
func (g *graphInfo) valueLabel(i int) string {
	for _, o := range g.nodes.at(i).GetOutput() {
		if o != "" {
			return o
		}
	}
	return g.nodeLabel(i)
}

// hashKey is a hash as two words, for the aligner.
func hashKey(d [16]byte) [2]uint64 {
	return [2]uint64{binary.LittleEndian.Uint64(d[:8]), binary.LittleEndian.Uint64(d[8:])}
}

// nameKeys hash node i's name and its mhcc IR node name ("<ir node>/<k>_<Op>"
// without the suffix); 0 when unnamed. The aligner uses them only to break
// ties between structurally equal alignments.
func (g *graphInfo) nameKeys(i int) (name, ir uint64) {
	n := g.nodes.at(i).GetName()
	if n == "" {
		return 0, 0
	}
	h := fnv.New64a()
	h.Write([]byte(n))
	name = h.Sum64() | 1
	h.Reset()
	h.Write([]byte(irName(n)))
	return name, h.Sum64() | 1
}
