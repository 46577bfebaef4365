// Package dot draws an ONNX model's dataflow graph in Graphviz's dot
// language, at three granularities (views): one box per layer, per IR
// operation (or torch module scope), or per ONNX node. It reads only the
// graph (node names, op types, metadata), never tensor data. mhcc graph is
// its command line.
package dot

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/mhcc-dev/mhcc/onnx/meta"
	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
	onnxtext "github.com/mhcc-dev/mhcc/onnx/text"
)

// Options say what Render draws.
type Options struct {
	View     string // layers, ops or nodes
	Layer    int    // draw only this layer's nodes (and its neighbours as context); -1: all
	MaxBoxes int    // refuse to draw more boxes than this (0: no limit)
}

// A NoLayerError is Render's refusal of Options.Layer when the model has
// no such layer; Layers lists the ones it has.
type NoLayerError struct {
	Layer  int
	Layers string // "layers.0 … layers.29", or "no layers.N blocks"
}

func (e *NoLayerError) Error() string {
	return fmt.Sprintf("the model has no layers.%d (%s)", e.Layer, e.Layers)
}

// A TooBigError is Render's refusal of a picture of more than
// Options.MaxBoxes boxes.
type TooBigError struct {
	Graph        string // the graph's name
	Nodes, Boxes int    // its ONNX nodes, and the boxes the view would draw
	Options      Options
	Layer0Nodes  int // the nodes of layers.0, 0 if there is none
}

func (e *TooBigError) Error() string {
	return fmt.Sprintf("%s has %d nodes: the %s view would draw %d boxes, more than %d", e.Graph, e.Nodes, e.Options.View, e.Boxes, e.Options.MaxBoxes)
}

// DefaultMaxBoxes is where a picture stops being readable: Graphviz lays out
// a few hundred boxes as a column tens of thousands of pixels tall (tiny-mhc's
// 585 nodes made a 1973×32767 PNG).
const DefaultMaxBoxes = 300

// mhccLayer matches the layer of an IR-named ONNX node ("layers.3.attn/…");
// scopeLayer a torch.onnx name scope naming a layer ("layers.3", or
// "model.layers.3" in nested modules).
var (
	mhccLayer  = regexp.MustCompile(`^layers\.(\d+)\.`)
	scopeLayer = regexp.MustCompile(`^(?:.*\.)?layers\.(\d+)$`)
	layerBox   = regexp.MustCompile(`^layers\.(\d+)$`)
)

// nodeKeys is where an ONNX node goes in each granularity: its layer box
// (the layers view), its operation (the ops view; the IR op for mhcc's
// names, the torch module scope for torch.onnx's), and the node itself.
type nodeKeys struct {
	layer, op, node string
}

// keysOf computes nodeKeys for an ONNX node. mhcc names a node
// "<IR value>/<index>_<op>"; torch.onnx names it "/<scope>/…/<op>_<k>" after
// the modules it ran in. An empty key means "top level", filled in later.
func keysOf(n node, index int) nodeKeys {
	name := n.GetName()
	if name == "" {
		k := fmt.Sprintf("#%d %s", index, n.GetOpType())
		return nodeKeys{k, k, k}
	}
	if strings.HasPrefix(name, "/") {
		scopes := strings.Split(name[1:], "/")
		scopes = scopes[:len(scopes)-1]
		k := nodeKeys{op: strings.Join(scopes, "/"), node: name}
		for _, s := range scopes {
			if m := scopeLayer.FindStringSubmatch(s); m != nil {
				k.layer = "layers." + m[1]
				break
			}
		}
		if k.layer == "" && len(scopes) > 0 {
			k.layer = scopes[0]
		}
		return k
	}
	owner, _, _ := strings.Cut(name, "/")
	k := nodeKeys{layer: owner, op: owner, node: name}
	if m := mhccLayer.FindStringSubmatch(owner); m != nil {
		k.layer = "layers." + m[1]
	}
	return k
}

// groupNodes computes every node's keys. Constant nodes (torch.onnx writes
// one per literal, some outside any scope) join the box of their first
// consumer; nodes outside any scope are grouped in runs between scoped ones
// ("top level", "top level 2", …), so that the stream expansion before the
// layers and the collapse after them are not one box reading and feeding
// every layer. In the layers view, values built once and read by several
// layers go to the box "shared" (see sharedNodes).
func groupNodes(nodes []node, inputs map[string]bool) (keys []nodeKeys, folded []bool) {
	keys = make([]nodeKeys, len(nodes))
	folded = make([]bool, len(nodes))
	// consumer: the first node that reads each Constant's output (only
	// those: a map of every value would cost tens of MB on a big graph).
	consumer := map[string]int{}
	for _, n := range nodes {
		if n.GetOpType() == "Constant" {
			for _, o := range n.GetOutput() {
				consumer[o] = -1
			}
		}
	}
	if len(consumer) > 0 {
		for i := len(nodes) - 1; i >= 0; i-- {
			for _, in := range nodes[i].GetInput() {
				if _, ok := consumer[in]; ok {
					consumer[in] = i
				}
			}
		}
	}
	runs, inRun := 0, false
	for i, n := range nodes {
		keys[i] = keysOf(n, i)
		if n.GetOpType() == "Constant" {
			continue // placed with its consumer below
		}
		if keys[i].layer != "" {
			inRun = false
			continue
		}
		if !inRun {
			runs++
			inRun = true
		}
		k := "top level"
		if runs > 1 {
			k = fmt.Sprintf("top level %d", runs)
		}
		keys[i].layer, keys[i].op = k, k
	}
	splitScopeRuns(nodes, keys)
	for i, n := range nodes {
		if n.GetOpType() != "Constant" {
			continue
		}
		c, ok := -1, false
		for _, o := range n.GetOutput() {
			if j, has := consumer[o]; has && j >= 0 && (!ok || j < c) {
				c, ok = j, true
			}
		}
		if ok && nodes[c].GetOpType() != "Constant" {
			keys[i] = nodeKeys{keys[c].layer, keys[c].op, keys[c].node}
			folded[i] = true
		} else if keys[i].layer == "" {
			keys[i].layer, keys[i].op = "constants", "constants"
		}
	}
	layer := make([]string, len(nodes))
	for i := range keys {
		layer[i] = keys[i].layer
	}
	sharedNodes(nodes, layer, inputs)
	for i := range keys {
		if layer[i] == "shared" && keys[i].layer != "shared" {
			// its IR op's other nodes stay in the layer
			keys[i].op += " (shared)"
		}
		keys[i].layer = layer[i]
	}
	return keys, folded
}

// splitScopeRuns gives each run of a torch.onnx scope's own nodes a box of
// its own in the ops view: a module's nodes come before and after those of
// its submodules (the mHC math of a layer around its attention), and one
// box for all of them would read as a cycle with the submodules' boxes.
//
// The same goes for the layers view: a layer scope's nodes are one run, but
// in an export whose layers ran as plain method calls (no layer scope) the
// module scopes of every layer are interleaved with unscoped nodes.
func splitScopeRuns(nodes []node, keys []nodeKeys) {
	split := func(key func(*nodeKeys) *string) {
		runs := map[string]int{}
		last := ""
		for i, n := range nodes {
			if n.GetOpType() == "Constant" || !strings.HasPrefix(n.GetName(), "/") {
				continue
			}
			k := key(&keys[i])
			if *k != last {
				runs[*k]++
				last = *k
			}
			if r := runs[*k]; r > 1 {
				*k = fmt.Sprintf("%s (part %d)", *k, r)
			}
		}
	}
	split(func(k *nodeKeys) *string { return &k.op })
	split(func(k *nodeKeys) *string { return &k.layer })
}

// A box is one drawn node of the picture.
type box struct {
	id      string
	layer   string // the layer box it belongs to
	nodes   int
	ops     map[string]int
	owners  []string // IR ops or torch scopes, in order of first appearance
	context bool     // drawn only as a neighbour of the --layer shown
}

// Render renders m's graph in the dot language: boxes in file order,
// edges between boxes that pass a value, graph inputs and outputs as
// ellipses. In the ops and nodes views each layer's boxes are drawn inside a
// cluster labelled with what the layer holds. It refuses, with advice, a
// picture of more than o.MaxBoxes boxes (a *TooBigError) and a layer the
// model does not have (a *NoLayerError).
func Render(m *onnxpb.ModelProto, o Options) (string, error) {
	protos := m.GetGraph().GetNode()
	nodes := make([]node, len(protos))
	for i, n := range protos {
		nodes[i] = nodeOf(n)
	}
	return render(m, nodes, o)
}

// RenderSplit is Render of the model s encodes, its main graph's nodes
// decoded one at a time and kept only as what Render reads of them (name,
// op type, inputs, outputs): a decoded NodeProto costs about twice that.
func RenderSplit(s *onnxtext.Split, o Options) (string, error) {
	nodes := make([]node, 0, s.Nodes())
	if err := s.EachNode(func(n *onnxpb.NodeProto) error {
		nodes = append(nodes, nodeOf(n))
		return nil
	}); err != nil {
		return "", err
	}
	return render(s.Model, nodes, o)
}

// A node is what Render reads of a NodeProto, with its getters.
type node struct {
	name, op string
	in, out  []string
}

func nodeOf(n *onnxpb.NodeProto) node {
	return node{n.GetName(), n.GetOpType(), n.GetInput(), n.GetOutput()}
}

func (n node) GetName() string     { return n.name }
func (n node) GetOpType() string   { return n.op }
func (n node) GetInput() []string  { return n.in }
func (n node) GetOutput() []string { return n.out }

func render(m *onnxpb.ModelProto, nodes []node, o Options) (string, error) {
	g := m.GetGraph()
	md := map[string]string{}
	for _, p := range m.GetMetadataProps() {
		md[p.GetKey()] = p.GetValue()
	}
	inits := map[string]bool{}
	for _, t := range g.GetInitializer() {
		inits[t.GetName()] = true
	}
	inputs := map[string]bool{}
	for _, in := range g.GetInput() {
		if !inits[in.GetName()] {
			inputs[in.GetName()] = true
		}
	}
	keys, folded := groupNodes(nodes, inputs)
	layerSizes := map[string]int{}
	for _, k := range keys {
		layerSizes[k.layer]++
	}
	if o.Layer >= 0 {
		want := "layers." + strconv.Itoa(o.Layer)
		if layerSizes[want] == 0 {
			return "", &NoLayerError{Layer: o.Layer, Layers: layerNames(layerSizes)}
		}
	}

	if o.Layer < 0 && o.MaxBoxes > 0 {
		// Without a layer every box is drawn: count them before building
		// them, so that a refused picture of a million nodes costs a set of
		// names, not a million boxes.
		n := len(layerSizes) // the layers view's boxes
		if o.View == "ops" || o.View == "nodes" {
			ids := map[string]struct{}{}
			for _, k := range keys {
				if o.View == "ops" {
					ids[k.op] = struct{}{}
				} else {
					ids[k.node] = struct{}{}
				}
			}
			n = len(ids)
		}
		if n > o.MaxBoxes {
			return "", &TooBigError{Graph: g.GetName(), Nodes: len(nodes), Boxes: n, Options: o, Layer0Nodes: layerSizes["layers.0"]}
		}
	}

	var order []*box
	boxes := map[string]*box{}
	producer := map[string]*box{}
	for _, in := range g.GetInput() {
		if !inits[in.GetName()] {
			producer[in.GetName()] = &box{id: "in:" + in.GetName(), context: o.Layer >= 0}
		}
	}
	nodeBox := make([]*box, len(nodes))
	nFolded := 0
	for i, n := range nodes {
		k := keys[i]
		id := k.layer
		context := false
		switch {
		case o.Layer >= 0 && k.layer != "layers."+strconv.Itoa(o.Layer):
			context = true
		case o.View == "ops":
			id = k.op
		case o.View == "nodes":
			id = k.node
		}
		if folded[i] {
			nFolded++
		}
		b := boxes[id]
		if b == nil {
			b = &box{id: id, layer: k.layer, ops: map[string]int{}, context: context}
			boxes[id] = b
			order = append(order, b)
		}
		b.nodes++
		b.ops[n.GetOpType()]++
		if !slices.Contains(b.owners, k.op) {
			b.owners = append(b.owners, k.op)
		}
		nodeBox[i] = b
		if folded[i] {
			continue // drawn inside its first reader; an edge to the others would be noise
		}
		for _, out := range n.GetOutput() {
			producer[out] = b
		}
	}
	type edge struct{ from, to *box }
	seen := map[edge]bool{}
	var edges []edge
	readsFrom := map[*box][]string{} // layers a shared box reads sizes from
	addEdge := func(e edge) {
		if e.from == e.to || seen[e] || e.from.context && e.to.context {
			return
		}
		// The shared box reads only sizes from the layer whose nodes built
		// it; drawn between whole layers, that edge and the one back read
		// as a cycle. The box's label says where it reads from instead.
		if e.to.layer == "shared" && e.from.id == e.from.layer && strings.HasPrefix(e.from.layer, "layers.") {
			if !slices.Contains(readsFrom[e.to], e.from.layer) {
				readsFrom[e.to] = append(readsFrom[e.to], e.from.layer)
			}
			return
		}
		seen[e] = true
		edges = append(edges, e)
	}
	for i, n := range nodes {
		for _, in := range n.GetInput() {
			if p := producer[in]; p != nil {
				addEdge(edge{p, nodeBox[i]})
			}
		}
	}
	outputs := map[string]*box{}
	for _, out := range g.GetOutput() {
		b := &box{id: "out:" + out.GetName(), context: o.Layer >= 0}
		outputs[out.GetName()] = b
		if p := producer[out.GetName()]; p != nil {
			addEdge(edge{p, b})
		}
	}
	// With --layer, only the neighbours of the layer are drawn.
	drawn := map[*box]bool{}
	for _, b := range order {
		drawn[b] = !b.context
	}
	for _, e := range edges {
		drawn[e.from], drawn[e.to] = true, true
	}
	nBoxes := 0
	for _, b := range order {
		if drawn[b] && !b.context {
			nBoxes++
		}
	}
	if o.MaxBoxes > 0 && nBoxes > o.MaxBoxes {
		return "", &TooBigError{Graph: g.GetName(), Nodes: len(nodes), Boxes: nBoxes, Options: o, Layer0Nodes: layerSizes["layers.0"]}
	}

	var b strings.Builder
	fmt.Fprintf(&b, "digraph %s {\n", strconv.Quote(g.GetName()))
	title := fmt.Sprintf("%s: %d nodes, %d initializers (%s view", g.GetName(), len(nodes), len(g.GetInitializer()), o.View)
	if o.Layer >= 0 {
		title += fmt.Sprintf(" of layers.%d", o.Layer)
	}
	title += ")"
	if nFolded > 0 {
		title += fmt.Sprintf("\n%d Constant nodes drawn inside the box that reads them", nFolded)
	}
	fmt.Fprintf(&b, "  label=%s;\n  labelloc=t;\n  rankdir=TB;\n  node [shape=box, fontname=\"Helvetica\", fontsize=10];\n", strconv.Quote(title))
	for _, in := range g.GetInput() {
		if !inits[in.GetName()] && drawn[producer[in.GetName()]] {
			fmt.Fprintf(&b, "  %s [shape=ellipse, label=%s];\n", strconv.Quote("in:"+in.GetName()), strconv.Quote(in.GetName()+"\n"+typeString(in)))
		}
	}
	// Boxes, each layer's in a cluster when a layer has several boxes.
	members := map[string][]*box{}
	var layers []string
	for _, bx := range order {
		if !drawn[bx] {
			continue
		}
		if len(members[bx.layer]) == 0 {
			layers = append(layers, bx.layer)
		}
		members[bx.layer] = append(members[bx.layer], bx)
	}
	for _, l := range layers {
		ms := members[l]
		clustered := o.View != "layers" && !ms[0].context && (len(ms) > 1 || ms[0].id != l)
		indent := "  "
		if clustered {
			fmt.Fprintf(&b, "  subgraph %s {\n    label=%s;\n    style=rounded;\n    color=gray40;\n", strconv.Quote("cluster_"+l),
				strconv.Quote(layerTitle(l, layerContents(l, ms, nodes, keys), md)))
			indent = "    "
		}
		// In the nodes view, the nodes of one IR op (or module scope) get a
		// frame of their own inside the layer's.
		for i := 0; i < len(ms); {
			j := i + 1
			for o.View == "nodes" && j < len(ms) && ms[j].owners[0] == ms[i].owners[0] {
				j++
			}
			in := indent
			if j-i > 1 {
				fmt.Fprintf(&b, "%ssubgraph %s {\n%s  label=%s;\n%s  style=dashed;\n%s  color=gray60;\n", indent,
					strconv.Quote("cluster_"+ms[i].owners[0]), indent, strconv.Quote(ms[i].owners[0]), indent, indent)
				in += "  "
			}
			for _, bx := range ms[i:j] {
				fmt.Fprintf(&b, "%s%s [%s];\n", in, strconv.Quote(bx.id), boxAttrs(bx, o, md, nodes, keys, readsFrom[bx]))
			}
			if j-i > 1 {
				fmt.Fprintf(&b, "%s}\n", indent)
			}
			i = j
		}
		if clustered {
			b.WriteString("  }\n")
		}
	}
	for _, out := range g.GetOutput() {
		if drawn[outputs[out.GetName()]] {
			fmt.Fprintf(&b, "  %s [shape=ellipse, label=%s];\n", strconv.Quote("out:"+out.GetName()), strconv.Quote(out.GetName()+"\n"+typeString(out)))
		}
	}
	for _, e := range edges {
		attrs := ""
		if e.from.layer == "shared" || e.to.layer == "shared" {
			// Sizes and tables, not the residual stream: kept out of the
			// layout's ranking so the layers stay one chain.
			attrs = " [style=dashed, constraint=false]"
		}
		fmt.Fprintf(&b, "  %s -> %s%s;\n", strconv.Quote(e.from.id), strconv.Quote(e.to.id), attrs)
	}
	b.WriteString("}\n")
	return b.String(), nil
}

// boxAttrs are the dot attributes of a box.
func boxAttrs(bx *box, o Options, md map[string]string, nodes []node, keys []nodeKeys, readsFrom []string) string {
	var label string
	switch {
	case bx.context:
		return fmt.Sprintf("label=%s, style=dashed, color=gray50, fontcolor=gray30", strconv.Quote(bx.id+"\n(outside the layer)"))
	case bx.nodes == 1 && o.View == "nodes":
		for op := range bx.ops {
			label = op + "\n" + bx.id
		}
	case o.View == "layers" && bx.id == bx.layer:
		label = layerTitle(bx.id, layerContents(bx.id, []*box{bx}, nodes, keys), md) + "\n" + opSummary(bx.nodes, bx.ops)
	default:
		label = bx.id + "\n" + opSummary(bx.nodes, bx.ops)
	}
	if len(readsFrom) > 0 {
		label += "\nsizes read from " + strings.Join(readsFrom, ", ")
	}
	return "label=" + strconv.Quote(label)
}

// layerTitle is a layer's name and what it holds: one line per sublayer,
// or one line listing a foreign graph's module scopes.
func layerTitle(layer string, parts []layerPart, md map[string]string) string {
	lines := []string{layer}
	if described := metaParts(layer, md); described != nil {
		return strings.Join(append(lines, described...), "\n")
	}
	var scopes []string
	for _, p := range parts {
		if p.scope {
			scopes = append(scopes, p.name)
		} else {
			lines = append(lines, p.describe(md))
		}
	}
	if len(scopes) > 0 {
		lines = append(lines, "modules: "+strings.Join(scopes, ", "))
	}
	return strings.Join(lines, "\n")
}

// A layerPart is a sublayer of a layer: attention, FFN or MLP, with its
// hyper-connection if it has one; for a foreign graph, a module scope.
type layerPart struct {
	name  string // "attention", "FFN", "MLP" or a scope's name
	mhc   bool   // has mHC coefficient nodes
	comb  bool   // has a Sinkhorn (dynamic mHC)
	scope bool   // a foreign module scope, described by name only
}

func (p layerPart) describe(md map[string]string) string {
	switch {
	case !p.mhc && md[meta.HCKind] == "residual":
		return p.name + " + residual"
	case !p.mhc:
		return p.name
	case p.comb && md[meta.HCIterations] != "":
		return p.name + " + mHC (Sinkhorn×" + md[meta.HCIterations] + ")"
	case !p.comb && md[meta.HCDynamic] == "false":
		return p.name + " + mHC (static)"
	}
	return p.name + " + mHC"
}

// metaParts describes the sublayers of layer from the mhcc.sublayers
// metadata, one line each, with each sublayer's own Sinkhorn iteration
// count; nil when the graph has no (readable) such metadata or it lists
// nothing for layer, and the names are read instead (layerContents).
func metaParts(layer string, md map[string]string) []string {
	v, ok := md[meta.SublayersKey]
	if !ok {
		return nil
	}
	subs, err := meta.Decode(v)
	if err != nil {
		return nil
	}
	var lines []string
	for _, s := range subs {
		if "layers."+strconv.Itoa(s.Layer) != layer {
			continue
		}
		name := sublayerNames[s.Name[strings.LastIndex(s.Name, ".")+1:]]
		if name == "" {
			name = s.Kind
		}
		switch {
		case s.Comb == "":
			lines = append(lines, name+" + residual")
		case s.Lowering == "folded":
			lines = append(lines, name+" + mHC (static)")
		default:
			lines = append(lines, fmt.Sprintf("%s + mHC (Sinkhorn×%d)", name, s.Iterations))
		}
	}
	return lines
}

// sublayerNames names mhcc's sublayers.
var sublayerNames = map[string]string{"attn": "attention", "ffn": "FFN", "mlp": "MLP"}

// layerContents lists what the boxes of a layer hold: for mhcc's names the
// sublayers (from "layers.N.attn…", "layers.N.attn.hc", "layers.N.attn.comb"
// and so on), for torch.onnx's the module scopes right under the layer.
func layerContents(layer string, boxes []*box, nodes []node, keys []nodeKeys) []layerPart {
	var parts []layerPart
	index := map[string]int{}
	add := func(p layerPart) *layerPart {
		if i, ok := index[p.name]; ok {
			return &parts[i]
		}
		index[p.name] = len(parts)
		parts = append(parts, p)
		return &parts[len(parts)-1]
	}
	for _, bx := range boxes {
		for _, owner := range bx.owners {
			if rest, ok := strings.CutPrefix(owner, layer+"."); ok {
				sub, tail, _ := strings.Cut(rest, ".")
				name, known := sublayerNames[sub]
				if !known {
					continue // norms belong to their sublayer
				}
				p := add(layerPart{name: name})
				if strings.HasPrefix(tail, "hc") || strings.HasPrefix(tail, "comb") || strings.HasPrefix(tail, "h.premix") {
					p.mhc = true
				}
				if strings.HasPrefix(tail, "comb") {
					p.comb = true
				}
				continue
			}
			// torch.onnx: "layers.0/attn/…" or "model/layers.0/attn".
			scopes := strings.Split(owner, "/")
			for i, s := range scopes {
				if m := scopeLayer.FindStringSubmatch(s); m != nil && "layers."+m[1] == layer && i+1 < len(scopes) {
					name, _, _ := strings.Cut(scopes[i+1], " (part ")
					add(layerPart{name: name, scope: true})
					break
				}
			}
		}
	}
	return parts
}

// layerNames lists the layer boxes of a model for a message.
func layerNames(sizes map[string]int) string {
	var ls []int
	for k := range sizes {
		if m := layerBox.FindStringSubmatch(k); m != nil {
			i, _ := strconv.Atoi(m[1])
			ls = append(ls, i)
		}
	}
	if len(ls) == 0 {
		return "it has no layers.N blocks"
	}
	slices.Sort(ls)
	return fmt.Sprintf("layers.%d to layers.%d", ls[0], ls[len(ls)-1])
}

// sharedNodes moves to a box "shared" the nodes of a layer that other
// layers read too (the exporter builds values such as the RoPE slices and
// the causal mask once, under the first node that needs them), and the nodes
// only those feed; otherwise the first layer would seem to feed every other.
// Only nodes whose values do not depend on the graph inputs' values (sizes
// read with Shape, tables from initializers) move: the residual stream is
// read by two layers too (a residual add fused into the next layer's norm),
// and it is the chain itself.
func sharedNodes(nodes []node, keys []string, inputs map[string]bool) {
	const shared = "shared"
	isLayer := func(k string) bool { return strings.HasPrefix(k, "layers.") }
	if !slices.ContainsFunc(keys, isLayer) {
		return // no layer: nothing to move (and no maps of every value to build)
	}
	data := map[string]bool{} // values that depend on input values
	for name := range inputs {
		data[name] = true
	}
	dataDep := make([]bool, len(nodes))
	for i, n := range nodes {
		for _, in := range n.GetInput() {
			if data[in] && n.GetOpType() != "Shape" {
				dataDep[i] = true
			}
		}
		for _, o := range n.GetOutput() {
			data[o] = dataDep[i]
		}
	}
	// The readers of the values the loop below asks about: the outputs of
	// the layers' nodes that do not depend on input values.
	consumers := map[string][]int{}
	for i, n := range nodes {
		if isLayer(keys[i]) && n.GetOpType() != "Constant" && !dataDep[i] {
			for _, o := range n.GetOutput() {
				consumers[o] = nil
			}
		}
	}
	for i, n := range nodes {
		for _, in := range n.GetInput() {
			if cs, ok := consumers[in]; ok {
				consumers[in] = append(cs, i)
			}
		}
	}
	// Backwards, so a node's consumers are decided before it.
	for i := len(nodes) - 1; i >= 0; i-- {
		if !isLayer(keys[i]) || nodes[i].GetOpType() == "Constant" || dataDep[i] {
			continue
		}
		layers := map[string]bool{}
		sharedOnly, used := true, false
		for _, o := range nodes[i].GetOutput() {
			for _, c := range consumers[o] {
				used = true
				if keys[c] != shared {
					sharedOnly = false
				}
				if isLayer(keys[c]) {
					layers[keys[c]] = true
				}
			}
		}
		if len(layers) >= 2 || used && sharedOnly {
			keys[i] = shared
		}
	}
}

// opSummary says "12 nodes: MatMul×4, Add×3, …" (the three most frequent).
func opSummary(n int, ops map[string]int) string {
	type kv struct {
		op string
		n  int
	}
	var l []kv
	for op, k := range ops {
		l = append(l, kv{op, k})
	}
	sort.Slice(l, func(i, j int) bool {
		if l[i].n != l[j].n {
			return l[i].n > l[j].n
		}
		return l[i].op < l[j].op
	})
	var parts []string
	for i, x := range l {
		if i == 3 {
			parts = append(parts, "…")
			break
		}
		parts = append(parts, fmt.Sprintf("%s×%d", x.op, x.n))
	}
	word := "nodes"
	if n == 1 {
		word = "node"
	}
	return fmt.Sprintf("%d %s: %s", n, word, strings.Join(parts, ", "))
}

// typeString renders a value's declared tensor type, "int64[batch,sequence]".
func typeString(vi *onnxpb.ValueInfoProto) string {
	tt := vi.GetType().GetTensorType()
	if tt == nil {
		return "?"
	}
	var dims []string
	for _, d := range tt.GetShape().GetDim() {
		if d.GetDimParam() != "" {
			dims = append(dims, d.GetDimParam())
		} else {
			dims = append(dims, strconv.FormatInt(d.GetDimValue(), 10))
		}
	}
	return strings.ToLower(onnxpb.TensorProto_DataType(tt.GetElemType()).String()) + "[" + strings.Join(dims, ",") + "]"
}
