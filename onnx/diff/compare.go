package graphdiff

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/mhcc-dev/mhcc/onnx/meta"
	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
	"github.com/mhcc-dev/mhcc/onnx/tensor"
)

type comparer struct {
	opts Options
}

// Compare reports how b differs from a. Names of nodes and of internal
// values do not matter; see the package documentation for what does.
// Compare leaves a and b as they are.
func Compare(a, b *onnxpb.ModelProto, opts Options) (*Report, error) {
	if a == nil || b == nil {
		return nil, errors.New("graphdiff: nil model")
	}
	return CompareModels(prepare(a), prepare(b), opts)
}

// A Model is an ONNX model ready for CompareModels: the message, and its
// main graph's nodes as a table that holds only what the comparison reads.
type Model struct {
	m     *onnxpb.ModelProto
	nodes *nodeTable
}

// Prepare readies m for CompareModels and takes it over: m's main graph
// loses its node list (m.Graph.Node is nil afterwards), which the Model
// keeps in a form about a quarter of the size (a decoded NodeProto costs
// over 200 bytes). A command that compares two large models prepares the
// first before it reads the second, so that the two decoded node lists
// are never held at once. Resolve external data (ResolveExternal) before.
func Prepare(m *onnxpb.ModelProto) *Model {
	if m == nil {
		return nil
	}
	md := prepare(m)
	if g := m.GetGraph(); g != nil {
		g.Node = nil
	}
	return md
}

func prepare(m *onnxpb.ModelProto) *Model {
	return &Model{m: m, nodes: newNodeTable(m.GetGraph().GetNode())}
}

// CompareModels is Compare of two prepared models.
func CompareModels(am, bm *Model, opts Options) (*Report, error) {
	if am == nil || bm == nil {
		return nil, errors.New("graphdiff: nil model")
	}
	a, b := am.m, bm.m
	for _, v := range []float64{opts.RTol, opts.ATol} {
		if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("graphdiff: tolerances must be finite and non-negative, got rtol %g atol %g", opts.RTol, opts.ATol)
		}
	}
	c := &comparer{opts: opts}
	r := &Report{Schema: Schema}
	r.Changes = append(r.Changes, c.modelLevel(am, bm)...)

	ga, gb := a.GetGraph(), b.GetGraph()
	if ga == nil {
		ga = &onnxpb.GraphProto{}
	}
	if gb == nil {
		gb = &onnxpb.GraphProto{}
	}
	r.Changes = append(r.Changes, c.versions(a, b)...)
	inCh, inPairs := c.ioChanges("input", ga.GetInput(), gb.GetInput())
	outCh, outPairs := c.ioChanges("output", ga.GetOutput(), gb.GetOutput())
	r.Changes = append(r.Changes, inCh...)
	r.Changes = append(r.Changes, outCh...)

	tokA, tokB := ioTokens(len(ga.GetInput()), len(gb.GetInput()), inPairs)
	otokA, otokB := ioTokens(len(ga.GetOutput()), len(gb.GetOutput()), outPairs)
	ia := newGraphInfo(am.nodes, valueNames(ga.GetInput()), valueNames(ga.GetOutput()), ga.GetInitializer(), nil, tokA, otokA)
	ib := newGraphInfo(bm.nodes, valueNames(gb.GetInput()), valueNames(gb.GetOutput()), gb.GetInitializer(), nil, tokB, otokB)
	changes, stats := c.compareGraph("graph", ia, ib, outPairs, nil)
	r.Changes = append(r.Changes, changes...)
	r.Stats = stats
	r.Changes = append(r.Changes, c.functions(a, b)...)
	return r, nil
}

// ---- model level ----

type metaKey struct{ key, kind, label, def string }

// The metadata mhcc writes, in its order, with how to describe each.
var metaKeys = []metaKey{
	{meta.Producer, "producer", "producer", ""},
	{meta.Target, "target", "target", ""},
	{meta.Lowering, "lowering", "lowering", ""},
	{meta.Precision, "precision", "precision", "f32"},
	{meta.Model, "model_name", "model", ""},
	{meta.Architecture, "architecture", "architecture", ""},
	{meta.Layers, "layers", "layers", ""},
	{meta.HCKind, "hc_kind", "hyper-connections", ""},
	{meta.HCStreams, "streams", "streams", ""},
	{meta.HCDynamic, "dynamic", "dynamic mixing", ""},
	{meta.HCIterations, "sinkhorn_iterations", "sinkhorn iterations", ""},
	{meta.HCEps, "sinkhorn_eps", "sinkhorn eps", ""},
	{meta.HCRMSEps, "rms_eps", "hc rms eps", ""},
	{meta.HCCollapse, "collapse", "stream collapse", ""},
	{meta.Weights, "weights", "weights", ""},
}

func metadata(m *onnxpb.ModelProto) map[string]string {
	out := map[string]string{}
	for _, p := range m.GetMetadataProps() {
		out[p.GetKey()] = p.GetValue()
	}
	return out
}

func (c *comparer) modelLevel(am, bm *Model) []Change {
	a, b := am.m, bm.m
	var out []Change
	ma, mb := metadata(a), metadata(b)
	known := map[string]bool{}
	for _, k := range metaKeys {
		known[k.key] = true
		va, okA := ma[k.key]
		vb, okB := mb[k.key]
		if okA == okB && va == vb {
			continue
		}
		if k.def != "" {
			if !okA {
				va, okA = k.def, true
			}
			if !okB {
				vb, okB = k.def, true
			}
			if va == vb {
				continue
			}
		}
		out = append(out, metaChange(k.key, k.kind, k.label, va, okA, vb, okB))
	}
	known[meta.SublayersKey] = true // described per sublayer by sublayerChanges
	for _, k := range sortedKeys(ma, mb) {
		if known[k] {
			continue
		}
		va, okA := ma[k]
		vb, okB := mb[k]
		if okA == okB && va == vb {
			continue
		}
		out = append(out, metaChange(k, "metadata", k, va, okA, vb, okB))
	}
	fields := []struct{ name, a, b string }{
		{"producer_name", a.GetProducerName(), b.GetProducerName()},
		{"producer_version", a.GetProducerVersion(), b.GetProducerVersion()},
		{"domain", a.GetDomain(), b.GetDomain()},
		{"model_version", strconv.FormatInt(a.GetModelVersion(), 10), strconv.FormatInt(b.GetModelVersion(), 10)},
		{"doc_string", a.GetDocString(), b.GetDocString()},
	}
	for _, f := range fields {
		if f.a != f.b {
			out = append(out, Change{Level: LevelModel, Severity: Metadata, Kind: "metadata", Path: "model " + f.name,
				Message: fmt.Sprintf("%s %s → %s", f.name, quoteShort(f.a), quoteShort(f.b)), Before: f.a, After: f.b})
		}
	}
	return append(out, sublayerChanges(am, bm)...)
}

func metaChange(key, kind, label, va string, okA bool, vb string, okB bool) Change {
	ch := Change{Level: LevelModel, Severity: Metadata, Kind: kind, Path: "metadata " + key, Before: va, After: vb}
	switch {
	case !okA:
		ch.Message = fmt.Sprintf("%s set to %s", label, quoteShort(vb))
	case !okB:
		ch.Message = fmt.Sprintf("%s %s removed", label, quoteShort(va))
	default:
		ch.Message = fmt.Sprintf("%s %s → %s", label, quoteShort(va), quoteShort(vb))
	}
	return ch
}

// quoteShort shows a value in a one-line message: quoted when it has
// spaces or is empty, cut to 60 characters.
func quoteShort(s string) string {
	if r := []rune(s); len(r) > 60 {
		s = string(r[:57]) + "…"
	}
	if s == "" || strings.ContainsAny(s, " \t\r\n\"") {
		return strconv.Quote(s)
	}
	return s
}

// A sublayer is one mHC-wrapped block: layers.N.attn, .ffn or .mlp.
type sublayer struct {
	layer int
	sub   string
}

var (
	sublayerRE = regexp.MustCompile(`^layers\.(\d+)\.(attn|ffn|mlp)[./]`)
	combRE     = regexp.MustCompile(`^layers\.(\d+)\.(attn|ffn|mlp)\.comb/`)
)

// sublayerInfo returns the sublayers of an mhcc model with the Sinkhorn
// iterations of each (0: no Sinkhorn projection). It reads the
// mhcc.sublayers metadata when the model has it; otherwise (a graph from an
// older mhcc, or one whose metadata was stripped) it finds the sublayers by
// node names and counts the Div nodes of each Sinkhorn projection
// (…comb/): the reference lowering divides once per column normalisation
// and once per row normalisation, so iterations = (divs+1)/2. The count is
// wrong for the other lowerings (gemm's Divs are the same, but log has
// none, loop hides them in a body), which is why the metadata comes first;
// an ai.mhcc node that states its iterations (the Sinkhorn's function and
// custom lowerings, the fused target's HCCoeffsSinkhorn, HCCoeffsBoundary
// and HCEntry, docs/fused-ops.md)
// is read from its iters attribute instead of counted.
func sublayerInfo(m *onnxpb.ModelProto) map[sublayer]int {
	return sublayersOf(prepare(m))
}

func sublayersOf(md *Model) map[sublayer]int {
	if subs := metaSublayers(md.m); subs != nil {
		out := map[sublayer]int{}
		for _, s := range subs {
			sub := s.Name[strings.LastIndex(s.Name, ".")+1:]
			out[sublayer{s.Layer, sub}] = s.Iterations
		}
		return out
	}
	return namedSublayers(md.nodes)
}

// metaSublayers decodes m's mhcc.sublayers; nil if it has none that decodes.
func metaSublayers(m *onnxpb.ModelProto) []meta.Sublayer {
	if v, ok := metadata(m)[meta.SublayersKey]; ok {
		if subs, err := meta.Decode(v); err == nil {
			return subs
		}
	}
	return nil
}

// namedSublayers is sublayerInfo by node names only.
func namedSublayers(nodes *nodeTable) map[sublayer]int {
	out := map[sublayer]int{}
	stated := map[sublayer]int{} // from an ai.mhcc node's iters
	for i := range nodes.len() {
		n := nodes.at(i)
		name := n.GetName()
		if name == "" && len(n.GetOutput()) > 0 {
			name = n.GetOutput()[0]
		}
		sm := sublayerRE.FindStringSubmatch(name)
		if sm == nil {
			continue
		}
		l, err := strconv.Atoi(sm[1])
		if err != nil {
			continue
		}
		k := sublayer{l, sm[2]}
		out[k] += 0
		if n.GetDomain() == "ai.mhcc" {
			for _, a := range n.GetAttribute() {
				if a.GetName() == "iters" && a.GetType() == onnxpb.AttributeProto_INT {
					stated[k] = int(a.GetI())
				}
			}
		}
		if n.GetOpType() == "Div" && n.GetDomain() == "" && combRE.MatchString(name) {
			out[k]++
		}
	}
	for k, divs := range out {
		out[k] = iterations(divs)
		if it, ok := stated[k]; ok {
			out[k] = it
		}
	}
	return out
}

func iterations(divs int) int { return (divs + 1) / 2 }

func sublayerChanges(a, b *Model) []Change {
	sa, sb := sublayersOf(a), sublayersOf(b)
	if (metaSublayers(a.m) == nil) != (metaSublayers(b.m) == nil) {
		// One side predates mhcc.sublayers (a golden compiled by an older
		// mhcc): count both by names, or the two counts would differ for
		// the lowerings names cannot count and report a change that is none.
		sa, sb = namedSublayers(a.nodes), namedSublayers(b.nodes)
	}
	if len(sa) == 0 || len(sb) == 0 { // names do not tell (not mhcc's, or renamed)
		return nil
	}
	var keys []sublayer
	for k := range sa {
		keys = append(keys, k)
	}
	for k := range sb {
		if _, ok := sa[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].layer != keys[j].layer {
			return keys[i].layer < keys[j].layer
		}
		return keys[i].sub < keys[j].sub
	})
	var out []Change
	for _, k := range keys {
		da, okA := sa[k]
		db, okB := sb[k]
		name := fmt.Sprintf("layers.%d.%s", k.layer, k.sub)
		who := fmt.Sprintf("layers.%d %s", k.layer, k.sub)
		switch {
		case okA && okB && da > 0 && db > 0 && da != db:
			ia, ib := strconv.Itoa(da), strconv.Itoa(db)
			out = append(out, Change{Level: LevelModel, Severity: Metadata, Kind: "sinkhorn_iterations", Path: name + ".comb",
				Message: fmt.Sprintf("%s: sinkhorn iterations %s → %s", who, ia, ib), Before: ia, After: ib})
		case okA && okB && (da > 0) != (db > 0):
			out = append(out, Change{Level: LevelModel, Severity: Metadata, Kind: "sinkhorn", Path: name + ".comb",
				Message: fmt.Sprintf("%s: sinkhorn projection %s → %s", who, sinkhornDesc(da), sinkhornDesc(db)),
				Before:  sinkhornDesc(da), After: sinkhornDesc(db)})
		case !okA:
			msg := who + ": added"
			if db > 0 {
				msg += fmt.Sprintf(" (sinkhorn iterations %d)", db)
			}
			out = append(out, Change{Level: LevelModel, Severity: Metadata, Kind: "sublayer_added", Path: name, Message: msg})
		case !okB:
			out = append(out, Change{Level: LevelModel, Severity: Metadata, Kind: "sublayer_removed", Path: name, Message: who + ": removed"})
		}
	}
	return out
}

func sinkhornDesc(iters int) string {
	if iters == 0 {
		return "none"
	}
	return strconv.Itoa(iters) + " iterations"
}

// ---- interface level ----

func (c *comparer) versions(a, b *onnxpb.ModelProto) []Change {
	var out []Change
	if a.GetIrVersion() != b.GetIrVersion() {
		va, vb := strconv.FormatInt(a.GetIrVersion(), 10), strconv.FormatInt(b.GetIrVersion(), 10)
		out = append(out, Change{Level: LevelInterface, Severity: Interface, Kind: "ir_version", Path: "model",
			Message: fmt.Sprintf("IR version %s → %s", va, vb), Before: va, After: vb})
	}
	return append(out, opsetChanges("", a.GetOpsetImport(), b.GetOpsetImport(), LevelInterface, Interface)...)
}

func opsetChanges(prefix string, a, b []*onnxpb.OperatorSetIdProto, level string, sev Severity) []Change {
	dom := func(d string) string {
		if d == "" {
			return "ai.onnx"
		}
		return d
	}
	ma, mb := map[string]int64{}, map[string]int64{}
	for _, o := range a {
		ma[dom(o.GetDomain())] = o.GetVersion()
	}
	for _, o := range b {
		mb[dom(o.GetDomain())] = o.GetVersion()
	}
	var out []Change
	for _, d := range sortedKeys(ma, mb) {
		va, okA := ma[d]
		vb, okB := mb[d]
		sa, sb := strconv.FormatInt(va, 10), strconv.FormatInt(vb, 10)
		ch := Change{Level: level, Severity: sev, Kind: "opset", Path: prefix + "opset " + d}
		switch {
		case !okA:
			ch.After, ch.Message = sb, fmt.Sprintf("%sopset %s %s added", prefix, d, sb)
		case !okB:
			ch.Before, ch.Message = sa, fmt.Sprintf("%sopset %s %s removed", prefix, d, sa)
		case va != vb:
			ch.Before, ch.After, ch.Message = sa, sb, fmt.Sprintf("%sopset %s %s → %s", prefix, d, sa, sb)
		default:
			continue
		}
		out = append(out, ch)
	}
	return out
}

// ioChanges pairs graph inputs (or outputs) by name, then the unpaired ones
// by position (a rename), and compares the types of the pairs.
// ioTokens are the tokens the graph inputs (or outputs) of A and B hash
// as: A's their position, B's the position of their counterpart in A
// (pairs of A index, B index), "newJ" for B's J-th without one.
func ioTokens(na, nb int, pairs [][2]int) (a, b []string) {
	a, b = make([]string, na), make([]string, nb)
	for i := range a {
		a[i] = strconv.Itoa(i)
	}
	for j := range b {
		b[j] = "new" + strconv.Itoa(j)
	}
	for _, p := range pairs {
		b[p[1]] = strconv.Itoa(p[0])
	}
	return a, b
}

// sortedKeys lists the keys of a and b, each once, sorted.
func sortedKeys[V any](a, b map[string]V) []string {
	keys := slices.Collect(maps.Keys(a))
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

func (c *comparer) ioChanges(kind string, a, b []*onnxpb.ValueInfoProto) ([]Change, [][2]int) {
	var out []Change
	bIdx := map[string]int{}
	for j, v := range b {
		if _, ok := bIdx[v.GetName()]; !ok {
			bIdx[v.GetName()] = j
		}
	}
	pa, pb := fill(len(a), -1), fill(len(b), -1)
	for i, v := range a {
		if j, ok := bIdx[v.GetName()]; ok && pb[j] < 0 {
			pa[i], pb[j] = j, i
		}
	}
	// Relative order of the inputs paired by name.
	var orderA, orderB []string
	for i, j := range pa {
		if j >= 0 {
			orderA = append(orderA, a[i].GetName())
		}
	}
	for j, i := range pb {
		if i >= 0 {
			orderB = append(orderB, b[j].GetName())
		}
	}
	if strings.Join(orderA, "\x00") != strings.Join(orderB, "\x00") {
		before, after := "["+strings.Join(orderA, ", ")+"]", "["+strings.Join(orderB, ", ")+"]"
		out = append(out, Change{Level: LevelInterface, Severity: Interface, Kind: kind + "_order", Path: kind + "s",
			Message: fmt.Sprintf("%ss reordered: %s → %s", kind, before, after), Before: before, After: after})
	}
	for i := range a {
		if pa[i] < 0 && i < len(b) && pb[i] < 0 {
			pa[i], pb[i] = i, i
			out = append(out, Change{Level: LevelInterface, Severity: Interface, Kind: kind + "_renamed", Path: kind + " " + a[i].GetName(),
				Message: fmt.Sprintf("%s %d renamed %s → %s", kind, i, a[i].GetName(), b[i].GetName()), Before: a[i].GetName(), After: b[i].GetName()})
		}
	}
	for i, v := range a {
		if pa[i] < 0 {
			out = append(out, Change{Level: LevelInterface, Severity: Interface, Kind: kind + "_removed", Path: kind + " " + v.GetName(),
				Message: fmt.Sprintf("%s %s %s removed", kind, v.GetName(), typeString(v.GetType())), Before: typeString(v.GetType())})
		}
	}
	for j, v := range b {
		if pb[j] < 0 {
			out = append(out, Change{Level: LevelInterface, Severity: Interface, Kind: kind + "_added", Path: kind + " " + v.GetName(),
				Message: fmt.Sprintf("%s %s %s added", kind, v.GetName(), typeString(v.GetType())), After: typeString(v.GetType())})
		}
	}
	var pairs [][2]int
	for i, j := range pa {
		if j < 0 {
			continue
		}
		pairs = append(pairs, [2]int{i, j})
		out = append(out, typeChanges(kind+" "+b[j].GetName(), a[i].GetType(), b[j].GetType())...)
	}
	return out, pairs
}

func typeChanges(where string, ta, tb *onnxpb.TypeProto) []Change {
	ch := func(kind, before, after, msg string) Change {
		return Change{Level: LevelInterface, Severity: Interface, Kind: kind, Path: where, Before: before, After: after, Message: where + ": " + msg}
	}
	xa, xb := ta.GetTensorType(), tb.GetTensorType()
	if xa == nil || xb == nil {
		if sa, sb := typeString(ta), typeString(tb); sa != sb {
			return []Change{ch("type", sa, sb, fmt.Sprintf("type %s → %s", sa, sb))}
		}
		return nil
	}
	var out []Change
	if xa.GetElemType() != xb.GetElemType() {
		da, db := tensor.Name(xa.GetElemType()), tensor.Name(xb.GetElemType())
		out = append(out, ch("dtype", da, db, fmt.Sprintf("dtype %s → %s", da, db)))
	}
	sa, sb := xa.GetShape(), xb.GetShape()
	switch {
	case (sa == nil) != (sb == nil):
		a, b := shapeString(sa), shapeString(sb)
		out = append(out, ch("shape", a, b, fmt.Sprintf("shape %s → %s", a, b)))
	case len(sa.GetDim()) != len(sb.GetDim()):
		a, b := shapeString(sa), shapeString(sb)
		out = append(out, ch("rank", a, b, fmt.Sprintf("rank %d → %d (%s → %s)", len(sa.GetDim()), len(sb.GetDim()), a, b)))
	default:
		for k := range sa.GetDim() {
			a, b := dimString(sa.GetDim()[k]), dimString(sb.GetDim()[k])
			if a != b {
				out = append(out, ch("dim", a, b, fmt.Sprintf("dim %d %s → %s", k, a, b)))
			}
		}
	}
	return out
}

func dimString(d *onnxpb.TensorShapeProto_Dimension) string {
	switch v := d.GetValue().(type) {
	case *onnxpb.TensorShapeProto_Dimension_DimValue:
		return strconv.FormatInt(v.DimValue, 10)
	case *onnxpb.TensorShapeProto_Dimension_DimParam:
		return v.DimParam
	}
	return "?"
}

func shapeString(s *onnxpb.TensorShapeProto) string {
	if s == nil {
		return "unknown"
	}
	ds := make([]string, len(s.GetDim()))
	for i, d := range s.GetDim() {
		ds[i] = dimString(d)
	}
	return "[" + strings.Join(ds, ", ") + "]"
}

// typeString shows a type: "float32[batch, 12]", "sequence<int64[?]>".
func typeString(t *onnxpb.TypeProto) string {
	switch {
	case t == nil:
		return "(no type)"
	case t.GetTensorType() != nil:
		x := t.GetTensorType()
		return tensor.Name(x.GetElemType()) + shapeString(x.GetShape())
	case t.GetSparseTensorType() != nil:
		x := t.GetSparseTensorType()
		return "sparse " + tensor.Name(x.GetElemType()) + shapeString(x.GetShape())
	case t.GetSequenceType() != nil:
		return "sequence<" + typeString(t.GetSequenceType().GetElemType()) + ">"
	case t.GetOptionalType() != nil:
		return "optional<" + typeString(t.GetOptionalType().GetElemType()) + ">"
	case t.GetMapType() != nil:
		return "map<" + tensor.Name(t.GetMapType().GetKeyType()) + ", " + typeString(t.GetMapType().GetValueType()) + ">"
	}
	return "(unknown type)"
}

// ---- functions ----

func funcKey(f *onnxpb.FunctionProto) string {
	if f.GetDomain() == "" {
		return f.GetName()
	}
	return f.GetDomain() + "." + f.GetName()
}

func (c *comparer) functions(a, b *onnxpb.ModelProto) []Change {
	fa, fb := map[string]*onnxpb.FunctionProto{}, map[string]*onnxpb.FunctionProto{}
	var keys []string
	for _, f := range a.GetFunctions() {
		if _, ok := fa[funcKey(f)]; !ok {
			fa[funcKey(f)] = f
			keys = append(keys, funcKey(f))
		}
	}
	for _, f := range b.GetFunctions() {
		if _, ok := fb[funcKey(f)]; !ok {
			fb[funcKey(f)] = f
			if _, ok := fa[funcKey(f)]; !ok {
				keys = append(keys, funcKey(f))
			}
		}
	}
	sort.Strings(keys)
	var out []Change
	for _, k := range keys {
		x, y := fa[k], fb[k]
		path := "function " + k
		ch := Change{Level: LevelGraph, Severity: Structure, Kind: "function", Path: path}
		switch {
		case y == nil:
			ch.Message = fmt.Sprintf("function %s removed (%d nodes)", k, len(x.GetNode()))
			out = append(out, ch)
			continue
		case x == nil:
			ch.Message = fmt.Sprintf("function %s added (%d nodes)", k, len(y.GetNode()))
			out = append(out, ch)
			continue
		}
		sig := func(f *onnxpb.FunctionProto) string {
			var attrs []string
			attrs = append(attrs, f.GetAttribute()...)
			for _, a := range f.GetAttributeProto() {
				attrs = append(attrs, a.GetName()+"="+attrDisplay(a))
			}
			// Attributes are referred to by name: their order means
			// nothing (and mhcc fmt prints them sorted).
			sort.Strings(attrs)
			return fmt.Sprintf("(%d inputs) → (%d outputs) attributes [%s]", len(f.GetInput()), len(f.GetOutput()), strings.Join(attrs, ", "))
		}
		if sa, sb := sig(x), sig(y); sa != sb {
			ch.Before, ch.After = sa, sb
			ch.Message = fmt.Sprintf("function %s: signature %s → %s", k, sa, sb)
			out = append(out, ch)
		}
		out = append(out, opsetChanges(path+": ", x.GetOpsetImport(), y.GetOpsetImport(), LevelGraph, Structure)...)
		ga := newGraphInfo(newNodeTable(x.GetNode()), x.GetInput(), x.GetOutput(), nil, nil, nil, nil)
		gb := newGraphInfo(newNodeTable(y.GetNode()), y.GetInput(), y.GetOutput(), nil, nil, nil, nil)
		var outPairs [][2]int
		for i := 0; i < min(len(ga.outputs), len(gb.outputs)); i++ {
			outPairs = append(outPairs, [2]int{i, i})
		}
		changes, _ := c.compareGraph(path, ga, gb, outPairs, nil)
		out = append(out, changes...)
	}
	return out
}
