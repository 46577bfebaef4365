package graphdiff

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/mhcc-dev/mhcc/onnx/pb"
	"github.com/mhcc-dev/mhcc/onnx/tensor"
)

// An entry is a change with its place in the alignment, for sorting.
type entry struct {
	pos, seq int
	ch       Change
}

// A group is a run of inserted or deleted nodes between two aligned pairs.
type group struct {
	inserted     bool
	nodes        []int // node indices in B (inserted) or A (deleted)
	anchor, next int   // last aligned B node before the gap, first after (-1: none)
	pos          int
	consumers    []string
	consumerSeen map[string]bool
}

type pairAt struct {
	ai, bj, pos int
	opChanged   bool
}

type attrGroup struct {
	pos                   int
	op, attr, msg, before string
	after                 string
	nodes                 []string
	severity              Severity
}

type initPair struct {
	a, b *tensorInfo
}

// gcmp compares one pair of graphs (main graph, subgraph or function body).
type gcmp struct {
	c      *comparer
	path   string
	a, b   *graphInfo
	parent *gcmp

	matchA, matchB []int
	groupA, groupB []*group // per node: the group it is in, if any
	groups         []*group
	entries        []entry
	seq            int
	changedA       map[int]bool

	attrGroups map[string]*attrGroup
	attrOrder  []string
	inits      map[initPair][]int // → positions and consumers (A nodes; -1 for outputs)
	initPos    map[initPair]int
	initOrder  []initPair
}

func (gc *gcmp) add(pos int, ch Change) {
	gc.entries = append(gc.entries, entry{pos, gc.seq, ch})
	gc.seq++
}

// compareGraph compares a and b; outPairs pairs their outputs (positions
// in a.outputs, b.outputs).
func (c *comparer) compareGraph(path string, a, b *graphInfo, outPairs [][2]int, parent *gcmp) ([]Change, Stats) {
	gc := &gcmp{
		c: c, path: path, a: a, b: b, parent: parent,
		matchA: fill(a.nodes.len(), -1), matchB: fill(b.nodes.len(), -1),
		groupA: make([]*group, a.nodes.len()), groupB: make([]*group, b.nodes.len()), changedA: map[int]bool{},
		attrGroups: map[string]*attrGroup{}, inits: map[initPair][]int{}, initPos: map[initPair]int{},
	}
	sa, sb := seqKeys(a), seqKeys(b)
	steps := align(sa, sb)

	// Pairs and gaps.
	var pairs []pairAt
	var dels, ins []int
	anchor, gapPos := -1, 0
	flush := func(next int) {
		if len(dels) == 0 && len(ins) == 0 {
			return
		}
		if len(dels) == len(ins) && len(dels) <= 4 && gc.related(dels, ins) {
			for k := range dels {
				ai, bj := dels[k], ins[k]
				same := a.nodes.at(ai).GetOpType() == b.nodes.at(bj).GetOpType() && a.nodes.at(ai).GetDomain() == b.nodes.at(bj).GetDomain()
				gc.matchA[ai], gc.matchB[bj] = bj, ai
				pairs = append(pairs, pairAt{ai, bj, gapPos, !same})
			}
		} else {
			if len(dels) > 0 {
				gc.newGroup(false, dels, anchor, next, gapPos)
			}
			if len(ins) > 0 {
				gc.newGroup(true, ins, anchor, next, gapPos)
			}
		}
		dels, ins = nil, nil
	}
	for s, st := range steps {
		switch {
		case st.i >= 0 && st.j >= 0:
			ai, bj := int(a.order[st.i]), int(b.order[st.j])
			flush(bj)
			gc.matchA[ai], gc.matchB[bj] = bj, ai
			pairs = append(pairs, pairAt{ai, bj, s, false})
			anchor = bj
		case st.i >= 0:
			if len(dels) == 0 && len(ins) == 0 {
				gapPos = s
			}
			dels = append(dels, int(a.order[st.i]))
		default:
			if len(dels) == 0 && len(ins) == 0 {
				gapPos = s
			}
			ins = append(ins, int(b.order[st.j]))
		}
	}
	flush(-1)
	// Pairs found in gaps are appended out of order; inputs are compared in
	// alignment order.
	sort.SliceStable(pairs, func(x, y int) bool { return pairs[x].pos < pairs[y].pos })

	for _, p := range pairs {
		gc.comparePair(p)
	}
	end := len(steps)
	for _, op := range outPairs {
		ra, rb := a.resolve(a.outputs[op[0]]), b.resolve(b.outputs[op[1]])
		gc.compareInput(ra, rb, -1, "output "+b.outputs[op[1]], "output "+b.outputs[op[1]], end)
	}
	gc.emitInits()
	gc.emitAttrGroups()
	for _, g := range gc.groups {
		gc.add(g.pos, gc.groupChange(g))
	}
	sort.SliceStable(gc.entries, func(x, y int) bool {
		if gc.entries[x].pos != gc.entries[y].pos {
			return gc.entries[x].pos < gc.entries[y].pos
		}
		return gc.entries[x].seq < gc.entries[y].seq
	})
	out := make([]Change, len(gc.entries))
	for i, e := range gc.entries {
		out[i] = e.ch
	}
	st := Stats{NodesA: a.nodes.len(), NodesB: b.nodes.len(), Matched: len(pairs), Changed: len(gc.changedA)}
	for _, g := range gc.groups {
		if g.inserted {
			st.Inserted += len(g.nodes)
		} else {
			st.Deleted += len(g.nodes)
		}
	}
	return out, st
}

func fill(n, v int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = v
	}
	return s
}

func seqKeys(g *graphInfo) []seqKey {
	out := make([]seqKey, len(g.order))
	for k, i32 := range g.order {
		i := int(i32)
		name, ir := g.nameKeys(i)
		out[k] = seqKey{deep: hashKey(g.deep[i]), down: hashKey(g.down[i]), local: g.localKey(i), weak: weakKey(g.nodes.at(i)), name: name, ir: ir}
	}
	return out
}

// related reports whether the deleted and inserted nodes of a gap pair up
// as replacements: same arity, and each pair reads a corresponding input
// or plays the same role downstream.
func (gc *gcmp) related(dels, ins []int) bool {
	for k := range dels {
		x, y := gc.a.nodes.at(dels[k]), gc.b.nodes.at(ins[k])
		if len(x.GetInput()) != len(y.GetInput()) || len(x.GetOutput()) != len(y.GetOutput()) {
			return false
		}
		ok := gc.a.down[dels[k]] == gc.b.down[ins[k]]
		for i := 0; i < len(x.GetInput()) && !ok; i++ {
			ra, rb := gc.a.resolve(x.GetInput()[i]), gc.b.resolve(y.GetInput()[i])
			ok = ra.kind != refNone && ra.kind != refInit && gc.same(ra, rb)
		}
		if !ok {
			return false
		}
	}
	return true
}

func (gc *gcmp) newGroup(inserted bool, nodes []int, anchor, next, pos int) {
	g := &group{inserted: inserted, nodes: nodes, anchor: anchor, next: next, pos: pos, consumerSeen: map[string]bool{}}
	gc.groups = append(gc.groups, g)
	for _, n := range nodes {
		if inserted {
			gc.groupB[n] = g
		} else {
			gc.groupA[n] = g
		}
	}
}

func (gc *gcmp) nodePath(label string) string { return gc.path + "/" + label }

func (gc *gcmp) comparePair(p pairAt) {
	na, nb := gc.a.nodes.at(p.ai), gc.b.nodes.at(p.bj)
	label := gc.b.nodeLabel(p.bj)
	if p.opChanged {
		before, after := opName(na), opName(nb)
		gc.add(p.pos, Change{Level: LevelGraph, Severity: Structure, Kind: "op_changed", Path: gc.nodePath(label),
			Message: fmt.Sprintf("%s: op %s → %s", label, before, after), Before: before, After: after})
		gc.changedA[p.ai] = true
	} else if gc.a.deep[p.ai] != gc.b.deep[p.bj] {
		gc.compareAttrs(p)
	}
	ins := max(len(na.GetInput()), len(nb.GetInput()))
	for k := 0; k < ins; k++ {
		ra, rb := ref{kind: refNone}, ref{kind: refNone}
		if k < len(na.GetInput()) {
			ra = gc.a.resolve(na.GetInput()[k])
		}
		if k < len(nb.GetInput()) {
			rb = gc.b.resolve(nb.GetInput()[k])
		}
		gc.compareInput(ra, rb, p.ai, label, fmt.Sprintf("%s: input %d", label, k), p.pos)
	}
}

func opName(n node) string {
	if n.GetDomain() == "" || n.GetDomain() == "ai.onnx" {
		return n.GetOpType()
	}
	return n.GetDomain() + "." + n.GetOpType()
}

// same reports whether ra (in A) and rb (in B) are corresponding values.
func (gc *gcmp) same(ra, rb ref) bool {
	if ra.kind != rb.kind {
		return false
	}
	switch ra.kind {
	case refNode:
		return gc.matchA[ra.node] == rb.node && ra.out == rb.out
	case refInput:
		return gc.a.inputTok[ra.pos] == gc.b.inputTok[rb.pos]
	case refInit:
		return true // compared by value separately
	case refOuter:
		if gc.parent == nil {
			return true
		}
		return gc.parent.same(gc.parent.a.resolve(ra.name), gc.parent.b.resolve(rb.name))
	case refUndef:
		return ra.name == rb.name
	}
	return true
}

// compareInput compares what feeds one input (or graph output) of a pair:
// consumerA is A's node (-1 for a graph output), consumer names it in B.
func (gc *gcmp) compareInput(ra, rb ref, consumerA int, consumer, where string, pos int) {
	if ra.kind == refInit && rb.kind == refInit {
		if ra.init.hash != rb.init.hash {
			k := initPair{ra.init, rb.init}
			if _, ok := gc.inits[k]; !ok {
				gc.initOrder = append(gc.initOrder, k)
				gc.initPos[k] = pos
			}
			gc.inits[k] = append(gc.inits[k], consumerA)
		}
		return
	}
	if gc.same(ra, rb) {
		return
	}
	if consumerA >= 0 {
		gc.changedA[consumerA] = true
	}
	var g *group
	if rb.kind == refNode && gc.matchB[rb.node] < 0 {
		g = gc.groupB[rb.node]
	} else if ra.kind == refNode && gc.matchA[ra.node] < 0 {
		g = gc.groupA[ra.node]
	}
	if g != nil {
		if !g.consumerSeen[consumer] {
			g.consumerSeen[consumer] = true
			g.consumers = append(g.consumers, consumer)
		}
		return
	}
	before, after := gc.refDesc(gc.a, ra), gc.refDesc(gc.b, rb)
	path := gc.nodePath(consumer)
	kind := "input_changed"
	if consumerA < 0 {
		path, kind = gc.path+" "+consumer, "output_changed"
	}
	gc.add(pos, Change{Level: LevelGraph, Severity: Structure, Kind: kind, Path: path,
		Message: fmt.Sprintf("%s from %s (was %s)", where, after, before), Before: before, After: after})
}

func (gc *gcmp) refDesc(g *graphInfo, r ref) string {
	switch r.kind {
	case refNode:
		n := g.nodes.at(r.node)
		return fmt.Sprintf("%s (%s %s)", r.name, n.GetOpType(), g.nodeLabel(r.node))
	case refInput:
		return "input " + r.name
	case refInit:
		return "initializer " + r.name
	case refOuter:
		return "outer value " + r.name
	case refUndef:
		return "undefined value " + r.name
	}
	return "(none)"
}

func attrMap(n node) map[string]*onnxpb.AttributeProto {
	m := map[string]*onnxpb.AttributeProto{}
	for _, a := range n.GetAttribute() {
		m[a.GetName()] = a
	}
	return m
}

func (gc *gcmp) compareAttrs(p pairAt) {
	na, nb := gc.a.nodes.at(p.ai), gc.b.nodes.at(p.bj)
	ma, mb := attrMap(na), attrMap(nb)
	names := sortedKeys(ma, mb)
	label := gc.b.nodeLabel(p.bj)
	op := opName(nb)
	for _, name := range names {
		x, y := ma[name], mb[name]
		if x != nil && y != nil {
			if gc.a.attrCanon(p.ai, x) == gc.b.attrCanon(p.bj, y) {
				continue
			}
			tx, ty := attrType(x), attrType(y)
			if x.GetRefAttrName() == "" && y.GetRefAttrName() == "" {
				if tx == onnxpb.AttributeProto_GRAPH && ty == tx {
					gc.compareSub(p, name, 0, gc.path+"/"+label+"/"+name)
					continue
				}
				if tx == onnxpb.AttributeProto_GRAPHS && ty == tx && len(x.GetGraphs()) == len(y.GetGraphs()) {
					for k := range x.GetGraphs() {
						gc.compareSub(p, name, k, fmt.Sprintf("%s/%s/%s[%d]", gc.path, label, name, k))
					}
					continue
				}
				if tx == onnxpb.AttributeProto_TENSOR && ty == tx && sameTypeShape(x.GetT(), y.GetT()) {
					d, err := compareValues(x.GetT(), y.GetT(), gc.c.opts)
					if err == nil && d.differ == 0 {
						continue
					}
					before, after := tensorSummary(x.GetT()), tensorSummary(y.GetT())
					msg := fmt.Sprintf("%s %s: tensor values differ", op, name)
					switch {
					case err == nil && d.total == 1:
						msg = fmt.Sprintf("%s %s %s → %s", op, name, d.before, d.after)
					case err == nil:
						msg = fmt.Sprintf("%s %s: %d of %d values differ, max |Δ| %s", op, name, d.differ, d.total, fmtFloat(d.maxAbs))
					}
					gc.addAttr(p, label, op, name, msg, before, after, Attribute)
					continue
				}
			}
		}
		before, after := attrDisplay(x), attrDisplay(y)
		gc.addAttr(p, label, op, name, fmt.Sprintf("%s %s %s → %s", op, name, before, after), before, after, Attribute)
	}
}

func sameTypeShape(a, b *onnxpb.TensorProto) bool {
	return a.GetDataType() == b.GetDataType() && dimsString(a.GetDims()) == dimsString(b.GetDims())
}

func (gc *gcmp) addAttr(p pairAt, label, op, attr, msg, before, after string, sev Severity) {
	gc.changedA[p.ai] = true
	key := strings.Join([]string{op, attr, msg, before, after}, "\x00")
	g, ok := gc.attrGroups[key]
	if !ok {
		g = &attrGroup{pos: p.pos, op: op, attr: attr, msg: msg, before: before, after: after, severity: sev}
		gc.attrGroups[key] = g
		gc.attrOrder = append(gc.attrOrder, key)
	}
	g.nodes = append(g.nodes, label)
}

func (gc *gcmp) emitAttrGroups() {
	for _, key := range gc.attrOrder {
		g := gc.attrGroups[key]
		ch := Change{Level: LevelGraph, Severity: g.severity, Kind: "attribute", Before: g.before, After: g.after, Count: len(g.nodes)}
		if len(g.nodes) == 1 {
			ch.Path = gc.nodePath(g.nodes[0])
			ch.Message = g.nodes[0] + ": " + g.msg
			ch.Count = 0
		} else {
			ch.Path = gc.path
			ch.Message = fmt.Sprintf("%s on %d nodes (%s)", g.msg, len(g.nodes), summarize(g.nodes))
			ch.Nodes = g.nodes
		}
		gc.add(g.pos, ch)
	}
}

func (gc *gcmp) compareSub(p pairAt, attr string, k int, path string) {
	sa, sb := gc.a.sub(p.ai, attr, k), gc.b.sub(p.bj, attr, k)
	var outPairs [][2]int
	for i := 0; i < min(len(sa.outputs), len(sb.outputs)); i++ {
		outPairs = append(outPairs, [2]int{i, i})
	}
	var pre []Change
	if len(sa.inputs) != len(sb.inputs) || len(sa.outputs) != len(sb.outputs) {
		pre = append(pre, Change{Level: LevelGraph, Severity: Structure, Kind: "signature", Path: path,
			Message: fmt.Sprintf("%s: %d inputs, %d outputs → %d inputs, %d outputs", path, len(sa.inputs), len(sa.outputs), len(sb.inputs), len(sb.outputs)),
			Before:  fmt.Sprintf("%d→%d", len(sa.inputs), len(sa.outputs)), After: fmt.Sprintf("%d→%d", len(sb.inputs), len(sb.outputs))})
	}
	changes, _ := gc.c.compareGraph(path, sa, sb, outPairs, gc)
	changes = append(pre, changes...)
	if len(changes) > 0 {
		gc.changedA[p.ai] = true
	}
	for _, ch := range changes {
		gc.add(p.pos, ch)
	}
}

func (gc *gcmp) emitInits() {
	for _, k := range gc.initOrder {
		ch, ok := gc.initChange(k.a, k.b)
		if !ok {
			continue
		}
		for _, n := range gc.inits[k] {
			if n >= 0 {
				gc.changedA[n] = true
			}
		}
		gc.add(gc.initPos[k], ch)
	}
}

// initChange compares two initializers fed to corresponding inputs.
func (gc *gcmp) initChange(a, b *tensorInfo) (Change, bool) {
	name := b.name
	if a.name != b.name {
		name = a.name + " → " + b.name
	}
	path := gc.path + " initializer " + b.name
	if gc.path == "graph" {
		path = "initializer " + b.name
	}
	ch := Change{Level: LevelGraph, Path: path}
	switch {
	case a.dtype != b.dtype:
		ch.Severity, ch.Kind = Structure, "initializer_dtype"
		ch.Before, ch.After = tensor.Name(a.dtype), tensor.Name(b.dtype)
		ch.Message = fmt.Sprintf("initializer %s: dtype %s → %s", name, ch.Before, ch.After)
	case dimsString(a.dims) != dimsString(b.dims):
		ch.Severity, ch.Kind = Structure, "initializer_shape"
		ch.Before, ch.After = dimsString(a.dims), dimsString(b.dims)
		ch.Message = fmt.Sprintf("initializer %s: shape %s → %s", name, ch.Before, ch.After)
	case hashOnly(a.t) || hashOnly(b.t):
		hashOnlyChange(&ch, name, a, b)
	default:
		d, err := compareValues(a.t, b.t, gc.c.opts)
		ch.Severity, ch.Kind = Attribute, "initializer_value"
		switch {
		case err != nil:
			ch.Message = fmt.Sprintf("initializer %s: contents differ (%v)", name, err)
			ch.Before, ch.After = shortHash(a.hash), shortHash(b.hash)
		case d.differ == 0:
			return Change{}, false
		case d.total == 1:
			ch.Before, ch.After = d.before, d.after
			ch.Message = fmt.Sprintf("initializer %s: %s → %s", name, d.before, d.after)
		default:
			ch.Before, ch.After = shortHash(a.hash), shortHash(b.hash)
			ch.Message = fmt.Sprintf("initializer %s: %d of %d values differ, max |Δ| %s", name, d.differ, d.total, fmtFloat(d.maxAbs))
		}
	}
	return ch, true
}

func (gc *gcmp) groupChange(g *group) Change {
	src, verb, kind := gc.a, "deleted", "node_deleted"
	if g.inserted {
		src, verb, kind = gc.b, "inserted", "node_inserted"
	}
	sorted := append([]int(nil), g.nodes...)
	sort.Ints(sorted) // the order of the node list: mhcc's lowering order
	names := make([]string, len(sorted))
	for k, n := range sorted {
		names[k] = src.nodeLabel(n)
	}
	where := ""
	if f := gc.feeder(g); f != "" {
		where = " after " + f
	} else if g.anchor >= 0 {
		where = " after " + gc.b.valueLabel(g.anchor)
	} else if g.next >= 0 {
		where = " before " + gc.b.valueLabel(g.next)
	}
	var msg string
	if len(g.nodes) == 1 {
		msg = fmt.Sprintf("%s %s %s%s", verb, opName(src.nodes.at(sorted[0])), names[0], where)
	} else {
		msg = fmt.Sprintf("%s %d nodes%s (%s)", verb, len(g.nodes), where, summarize(names))
	}
	if len(g.consumers) > 0 {
		msg += "; rewires " + listSome(g.consumers, 2)
	}
	return Change{Level: LevelGraph, Severity: Structure, Kind: kind, Path: gc.path, Message: msg,
		Count: len(g.nodes), Nodes: names, Consumers: g.consumers}
}

// feeder names the value (in B) a group hangs off: of the matched nodes
// whose outputs the group's nodes read, the last in B's canonical order.
func (gc *gcmp) feeder(g *group) string {
	src := gc.a
	if g.inserted {
		src = gc.b
	}
	in := make([]bool, src.nodes.len())
	for _, n := range g.nodes {
		in[n] = true
	}
	best, bestPos := "", -1
	for _, n := range g.nodes {
		for d := src.depStart[n]; d < src.depStart[n+1]; d++ {
			node, out := int(src.depNode[d]), int(src.depOut[d])
			if node < 0 || in[node] {
				continue
			}
			bn := node
			if !g.inserted {
				bn = gc.matchA[node]
			}
			if bn < 0 || gc.matchB[bn] < 0 {
				continue
			}
			if p := int(gc.b.pos[bn]); p > bestPos {
				outs := gc.b.nodes.at(bn).GetOutput()
				if out < len(outs) && outs[out] != "" {
					best, bestPos = outs[out], p
				}
			}
		}
	}
	return best
}

func listSome(s []string, n int) string {
	if len(s) <= n {
		return strings.Join(s, ", ")
	}
	return strings.Join(s[:n], ", ") + fmt.Sprintf(" and %d more", len(s)-n)
}

// mhcc names lowered nodes "<ir node>/<k>_<OpType>".
var loweredSuffix = regexp.MustCompile(`/\d+_[A-Za-z0-9_]+$`)

// irName is name without a lowered suffix (loweredSuffix); a name without
// a "/" has none and is returned without running the expression.
func irName(name string) string {
	if !strings.Contains(name, "/") {
		return name
	}
	return loweredSuffix.ReplaceAllString(name, "")
}

// summarize describes a set of node names by what they share: "layers.3.*",
// "layers.0.attn.comb/*", or the first few distinct prefixes.
func summarize(names []string) string {
	if len(names) == 0 {
		return ""
	}
	irs := make([]string, len(names))
	for i, n := range names {
		irs[i] = irName(n)
	}
	same := true
	for _, s := range irs[1:] {
		if s != irs[0] {
			same = false
			break
		}
	}
	if same {
		if irs[0] == names[0] && len(names) == 1 {
			return names[0]
		}
		return irs[0] + "/*"
	}
	common := strings.Split(irs[0], ".")
	for _, s := range irs[1:] {
		// The number of leading "."-separated parts s shares with
		// common, without splitting s (a million names would allocate a
		// slice each).
		k := 0
		for rest, more := s, true; k < len(common) && more; k++ {
			var part string
			part, rest, more = strings.Cut(rest, ".")
			if part != common[k] {
				break
			}
		}
		common = common[:k]
	}
	if len(common) > 0 && common[0] != "" {
		return strings.Join(common, ".") + ".*"
	}
	var heads []string
	seen := make(map[string]struct{}, min(len(irs), 1024))
	for _, s := range irs {
		h, _, dot := strings.Cut(s, ".")
		if dot {
			h += ".*"
		}
		if _, ok := seen[h]; !ok {
			seen[h] = struct{}{}
			heads = append(heads, h)
		}
	}
	return listSome(heads, 3)
}
