// Package onnxtext prints ONNX models in ONNX's textual syntax, the format
// of onnx's printer and parser (docs/Syntax.md in the onnx repository), for
// people, code review and golden files:
//
//	<
//	  ir_version: 8,
//	  opset_import: ["" : 17],
//	  producer_name: "mhcc",
//	  metadata_props: [
//	    "mhcc.model": "mlp-mhc"
//	  ]
//	>
//	"mlp-mhc" (float[batch,12] x) => (float[batch,5] y)
//	<
//	  # initializer values elided: type, name and sha256 of the data
//	  # float[16,12] "in_proj.weight" = sha256:5f1c…
//	>
//	{
//	  ["in_proj/1_Transpose"] "in_proj/Transpose" = Transpose <perm = [1, 0]> ("in_proj.weight")
//	  ...
//	}
//
// then each function, after a blank line:
//
//	<
//	  domain: "mhcc.fn",
//	  opset_import: ["" : 17]
//	>
//	fname <alpha, beta = 0.5> (x, y) => (z)
//	{
//	  z = Add (x, y)
//	}
//
// # The syntax, and which parsers read it
//
// The output follows the syntax of current onnx releases (docs/Syntax.md and
// onnx/defs/parser.cc). onnx 1.12's parser — the one Debian ships, and the
// one mhcc's tests run (parser_test.go, corpus_test.go) — reads a subset:
// every construct below except those marked [new], which only later parsers
// read, and those marked [none], which no onnx parser reads (mhcc's notation
// where the syntax has no form, or where a parser drops what it reads):
//
//   - Names that are identifiers ([A-Za-z_][A-Za-z0-9_]*) print bare; every
//     other name — "layers.0.attn.comb", "in_proj/MatMul", the empty name ""
//     of an omitted optional input or output, names equal to a type name or
//     type keyword ("float", "seq") or to nan/inf — prints as a quoted string
//     with \" and \\ escaped, in every position: values, graphs, functions,
//     node labels, dim params [new: 1.12 reads identifiers only, so it cannot
//     be given a name that is not one]. Current parsers read quoted names
//     everywhere except as the name of a subgraph or of a tensor attribute
//     value [none].
//   - A node's name prints as its label, ["name"] out = Op (in) [new]; nodes
//     without a name (or with "") have none.
//   - Strings escape only '"' and '\' [new: 1.12 does not unescape]; other
//     bytes, newlines included, print as they are.
//   - Floats print as the shortest decimal that reads back to the same
//     float32 (float64 for double) value, always with a '.' or an exponent so
//     that they read as floats, not integers; NaN and infinities as nan, inf,
//     -inf [new].
//   - Types: float[batch,?,3] (symbolic, unknown and fixed dims), float (a
//     scalar), float[] (unknown rank); seq(T), map(K, V), optional(T),
//     sparse_tensor(T) [new as the type of an input, output or value_info:
//     1.12 reads them only nested].
//   - Attributes print sorted by name, as name = value. A type annotation,
//     name: type = value, is added only where the value does not say its
//     type: empty lists [new: 1.12 cannot read an empty list], attribute
//     references (@name), type_proto [new], lists of tensors, graphs or
//     type_protos [none: parsers read the brackets but drop the elements],
//     sparse tensors [none].
//   - A node with a graph attribute (If, Loop, Scan) prints its attributes
//     after its inputs, one per line, each subgraph indented.
//   - Tensor attributes print their values: float[2] {1.0, 2.0}. Without
//     Options.Initializers one with more than 16 elements prints as its type
//     and hash instead, float[24,128] sha256:… [none].
//   - Sparse tensors (attributes and sparse_initializer) have no syntax; they
//     print as sparse(float[4,4], values, indices) [none], sparse
//     initializers in a comment.
//   - Function attributes with a default print as name = value among the
//     attribute names [new].
//
// Besides 1.12 in the tests, the output was checked once against the parser
// of onnx's main branch (commit f754691, August 2026) built from source: every mhcc test
// model, with its quoted names and node labels, and all but two of the 1072
// models of Debian's libonnx-testdata in both modes (those two print large
// tensor attributes as hashes) parse back to the same model.
//
// # Initializers
//
// Initializers go in the graph's "<...>" list after the outputs, with the
// graph's value_info entries. By default each one is elided: its type, name
// and tensor.Hash print on a comment line,
//
//	# float[24,128] "layers.0.hc_fn" = sha256:ab12cd34… (all 64 hex digits)
//
// which keeps the output small and parseable (comments are skipped) and makes
// any change of a value visible. With Options.Initializers the values print
// in the syntax the parser reads, float[2] "w" = {1.0, 2.0}, long tensors one
// row of the last dim (at most 16 values) per line. float16 and bfloat16
// print as their 16-bit patterns and 8- and 4-bit types as their bytes (which
// is what the parser stores for them) [new], complex as real, imaginary, …
// [new]. Externally stored data is not read: it prints as its external_data
// list, "w" = ["location": "w.bin", "offset": "0"] [new], in both modes.
//
// # Order and what is not printed
//
// Nodes, inputs, outputs, initializers, value_info and functions print in
// file order (nodes are topologically sorted in a valid model);
// metadata_props sort by key, opset_import by domain, attributes (and a
// function's attribute declarations) by name. Header strings print only when
// not empty, model_version only when not 0. There is no syntax for, and so
// no output of: doc strings other than the model's and functions', type and
// dim denotations, TensorProto.segment. Fields that mhcc's schema
// (onnx/pb) does not know, such as training_info, node overloads or
// opaque types, are listed in a first comment line. Format does not check
// the model.
//
// # Reading it back
//
// Parse (parse.go) reads Format's output back into a model, each elided
// initializer as a tensor that holds only its hash (HashOnly), which Format
// prints again as the same summary: the text of a model is a golden that
// graphdiff can compare with a fresh compile (mhcc diff --golden).
package onnxtext

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/mhcc-dev/mhcc/onnx/pb"
	"github.com/mhcc-dev/mhcc/onnx/tensor"
)

// Options of Format.
type Options struct {
	// Initializers prints the values of initializers (and of every tensor
	// attribute) in the syntax onnx's parser reads, so the text can be parsed
	// back into the same model; without it, each initializer prints as its
	// type, name and tensor.Hash in a comment.
	Initializers bool
}

// maxInlineTensor is the number of elements up to which a tensor attribute
// prints its values without Options.Initializers, and up to which a tensor's
// values print on one line.
const maxInlineTensor = 16

// maxLine is the width up to which a value-info list prints on one line.
const maxLine = 100

// Format prints m in ONNX's textual syntax (see the package documentation).
// The output ends with a newline. It is an error if an initializer's data
// does not match its type and shape with Options.Initializers (without it,
// the problem is printed in place of the hash).
func Format(m *onnxpb.ModelProto, opts Options) ([]byte, error) {
	if m == nil {
		return nil, errors.New("onnxtext: nil model")
	}
	p := &printer{opts: opts}
	p.model(m)
	if p.err != nil {
		return nil, p.err
	}
	return p.b.Bytes(), nil // the buffer's own bytes: a copy would hold the text twice
}

type printer struct {
	b    bytes.Buffer
	opts Options
	err  error
	// FormatSplit: the main graph's nodes, still encoded; the check each
	// decoded node must pass; the unknown fields of the model seen so far.
	split   *Split
	check   func(*onnxpb.NodeProto) error
	unknown map[string]bool
}

func (p *printer) w(s ...string) {
	for _, x := range s {
		p.b.WriteString(x)
	}
}

func (p *printer) fail(err error) {
	if p.err == nil {
		p.err = err
	}
}

func (p *printer) model(m *onnxpb.ModelProto) {
	// FormatSplit finds the unknown fields while it prints and puts the
	// line first afterwards.
	if unknown := unknownFields(m); p.split == nil && len(unknown) > 0 {
		p.w("# not shown: fields unknown to mhcc's ONNX schema: ", strings.Join(unknown, ", "), "\n")
	}
	items := []string{
		"ir_version: " + itoa(m.GetIrVersion()),
		"opset_import: " + opsets(m.OpsetImport),
	}
	if s := m.GetProducerName(); s != "" {
		items = append(items, "producer_name: "+quote(s))
	}
	if s := m.GetProducerVersion(); s != "" {
		items = append(items, "producer_version: "+quote(s))
	}
	if s := m.GetDomain(); s != "" {
		items = append(items, "domain: "+quote(s))
	}
	if v := m.GetModelVersion(); v != 0 {
		items = append(items, "model_version: "+itoa(v))
	}
	if s := m.GetDocString(); s != "" {
		items = append(items, "doc_string: "+quote(s))
	}
	if len(m.MetadataProps) > 0 {
		props := append([]*onnxpb.StringStringEntryProto(nil), m.MetadataProps...)
		sort.SliceStable(props, func(i, j int) bool {
			if props[i].GetKey() != props[j].GetKey() {
				return props[i].GetKey() < props[j].GetKey()
			}
			return props[i].GetValue() < props[j].GetValue()
		})
		lines := make([]string, len(props))
		for i, e := range props {
			lines[i] = "    " + quote(e.GetKey()) + ": " + quote(e.GetValue())
		}
		items = append(items, "metadata_props: [\n"+strings.Join(lines, ",\n")+"\n  ]")
	}
	p.w("<\n  ", strings.Join(items, ",\n  "), "\n>\n")
	p.graph(m.GetGraph(), "")
	p.w("\n")
	for _, f := range m.Functions {
		p.w("\n")
		p.function(f)
	}
}

// opsets prints an opset_import list sorted by domain: ["" : 17, "x" : 1].
func opsets(list []*onnxpb.OperatorSetIdProto) string {
	sorted := append([]*onnxpb.OperatorSetIdProto(nil), list...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].GetDomain() < sorted[j].GetDomain() })
	parts := make([]string, len(sorted))
	for i, o := range sorted {
		parts[i] = quote(o.GetDomain()) + " : " + itoa(o.GetVersion())
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// valueInfo prints "type name", or just the name when it has no type.
func valueInfo(v *onnxpb.ValueInfoProto) string {
	if t := typeString(v.GetType()); t != "" {
		return t + " " + id(v.GetName())
	}
	return id(v.GetName())
}

// list prints items between open and close separated by ", " on one line,
// or one per line at indent+2 when that line would be longer than maxLine.
func list(open, close string, items []string, indent string) string {
	one := open + strings.Join(items, ", ") + close
	if len(one)+len(indent) <= maxLine || len(items) == 0 {
		return one
	}
	in := indent + "  "
	return open + "\n" + in + strings.Join(items, ",\n"+in) + "\n" + indent + close
}

// graph prints a graph whose first line has already been indented: its
// name, inputs and outputs, its initializers and value_info, its nodes. The
// closing brace ends without a newline.
func (p *printer) graph(g *onnxpb.GraphProto, indent string) {
	if g == nil {
		g = &onnxpb.GraphProto{}
	}
	ins := make([]string, len(g.Input))
	for i, v := range g.Input {
		ins[i] = valueInfo(v)
	}
	outs := make([]string, len(g.Output))
	for i, v := range g.Output {
		outs[i] = valueInfo(v)
	}
	p.w(id(g.GetName()), " ", list("(", ")", ins, indent), " => ", list("(", ")", outs, indent), "\n")

	// The "<...>" list: entries are items (comma-separated) or comment lines.
	type entry struct {
		text    string
		comment bool
	}
	var entries []entry
	in := indent + "  "
	if len(g.Initializer) > 0 && !p.opts.Initializers {
		entries = append(entries, entry{"initializer values elided: type, name and sha256 of the data", true})
	}
	for _, t := range g.Initializer {
		head := dimsType(t.GetDataType(), t.Dims) + " " + id(t.GetName()) + " = "
		if h, ok := HashOnly(t); ok { // read back by Parse: the hash is all there is
			entries = append(entries, entry{head + h, true})
			continue
		}
		switch {
		case tensor.IsExternal(t):
			entries = append(entries, entry{head + tensor.ExternalSummary(t), !p.opts.Initializers})
		case p.opts.Initializers:
			vals, err := tensorValues(t)
			if err != nil {
				p.fail(fmt.Errorf("initializer %s: %w", quote(t.GetName()), err))
				continue
			}
			entries = append(entries, entry{head + valuesBlock(vals, t.Dims, in), false})
		default:
			h, err := tensor.Hash(t)
			if err != nil {
				h = "invalid: " + err.Error()
			}
			entries = append(entries, entry{head + h, true})
		}
	}
	for _, s := range g.SparseInitializer {
		entries = append(entries, entry{"sparse initializer (no ONNX syntax): " + p.sparse(s, in), true})
	}
	for _, v := range g.ValueInfo {
		entries = append(entries, entry{valueInfo(v), false})
	}
	if len(entries) > 0 {
		p.w(indent, "<\n")
		lastItem := -1
		for i, e := range entries {
			if !e.comment {
				lastItem = i
			}
		}
		for i, e := range entries {
			switch {
			case e.comment:
				p.w(in, "# ", strings.ReplaceAll(e.text, "\n", "\n"+in+"# "), "\n")
			case i < lastItem:
				p.w(in, e.text, ",\n")
			default:
				p.w(in, e.text, "\n")
			}
		}
		p.w(indent, ">\n")
	}
	p.w(indent, "{\n")
	if p.split != nil && g == p.split.Model.GetGraph() {
		p.fail(p.split.EachNode(func(n *onnxpb.NodeProto) error {
			if p.check != nil {
				if err := p.check(n); err != nil {
					return err
				}
			}
			addUnknown(p.unknown, n)
			p.node(n, in)
			return nil
		}))
	} else {
		for _, n := range g.Node {
			p.node(n, in)
		}
	}
	p.w(indent, "}")
}

// node prints one node line (more when it has subgraphs) at indent.
func (p *printer) node(n *onnxpb.NodeProto, indent string) {
	p.w(indent)
	if n.GetName() != "" {
		p.w("[", id(n.GetName()), "] ")
	}
	if len(n.Output) > 0 {
		p.w(ids(n.Output), " ")
	}
	p.w("= ")
	if d := n.GetDomain(); d != "" {
		p.w(d, ".")
	}
	p.w(n.GetOpType())
	attrs := sortedAttrs(n.Attribute)
	subgraph := false
	for _, a := range attrs {
		if a.G != nil || len(a.Graphs) > 0 {
			subgraph = true
		}
	}
	if !subgraph {
		if len(attrs) > 0 {
			parts := make([]string, len(attrs))
			for i, a := range attrs {
				parts[i] = p.attr(a, indent)
			}
			p.w(" <", strings.Join(parts, ", "), ">")
		}
		p.w(" (", ids(n.Input), ")\n")
		return
	}
	// Attributes after the inputs, one per line, as onnx's printer does for
	// nodes with subgraphs.
	in := indent + "  "
	p.w(" (", ids(n.Input), ") <\n")
	for i, a := range attrs {
		p.w(in, p.attr(a, in))
		if i < len(attrs)-1 {
			p.w(",")
		}
		p.w("\n")
	}
	p.w(indent, ">\n")
}

func sortedAttrs(attrs []*onnxpb.AttributeProto) []*onnxpb.AttributeProto {
	s := append([]*onnxpb.AttributeProto(nil), attrs...)
	sort.SliceStable(s, func(i, j int) bool { return s[i].GetName() < s[j].GetName() })
	return s
}

// attrTypeNames are the attribute type names of the syntax ("name: ints").
var attrTypeNames = map[onnxpb.AttributeProto_AttributeType]string{
	onnxpb.AttributeProto_FLOAT:          "float",
	onnxpb.AttributeProto_INT:            "int",
	onnxpb.AttributeProto_STRING:         "string",
	onnxpb.AttributeProto_TENSOR:         "tensor",
	onnxpb.AttributeProto_GRAPH:          "graph",
	onnxpb.AttributeProto_SPARSE_TENSOR:  "sparse_tensor",
	onnxpb.AttributeProto_TYPE_PROTO:     "type_proto",
	onnxpb.AttributeProto_FLOATS:         "floats",
	onnxpb.AttributeProto_INTS:           "ints",
	onnxpb.AttributeProto_STRINGS:        "strings",
	onnxpb.AttributeProto_TENSORS:        "tensors",
	onnxpb.AttributeProto_GRAPHS:         "graphs",
	onnxpb.AttributeProto_SPARSE_TENSORS: "sparse_tensors",
	onnxpb.AttributeProto_TYPE_PROTOS:    "type_protos",
}

// attrType is an attribute's type; for files that leave the type field unset
// (IR version 1), it is inferred from the value field that is set.
func attrType(a *onnxpb.AttributeProto) onnxpb.AttributeProto_AttributeType {
	if t := a.GetType(); t != onnxpb.AttributeProto_UNDEFINED {
		return t
	}
	switch {
	case a.F != nil:
		return onnxpb.AttributeProto_FLOAT
	case a.I != nil:
		return onnxpb.AttributeProto_INT
	case a.S != nil:
		return onnxpb.AttributeProto_STRING
	case a.T != nil:
		return onnxpb.AttributeProto_TENSOR
	case a.G != nil:
		return onnxpb.AttributeProto_GRAPH
	case a.SparseTensor != nil:
		return onnxpb.AttributeProto_SPARSE_TENSOR
	case a.Tp != nil:
		return onnxpb.AttributeProto_TYPE_PROTO
	case len(a.Floats) > 0:
		return onnxpb.AttributeProto_FLOATS
	case len(a.Ints) > 0:
		return onnxpb.AttributeProto_INTS
	case len(a.Strings) > 0:
		return onnxpb.AttributeProto_STRINGS
	case len(a.Tensors) > 0:
		return onnxpb.AttributeProto_TENSORS
	case len(a.Graphs) > 0:
		return onnxpb.AttributeProto_GRAPHS
	case len(a.SparseTensors) > 0:
		return onnxpb.AttributeProto_SPARSE_TENSORS
	case len(a.TypeProtos) > 0:
		return onnxpb.AttributeProto_TYPE_PROTOS
	}
	return onnxpb.AttributeProto_UNDEFINED
}

// attr prints "name = value", or "name: type = value" where the value does
// not say its type. indent is that of the attribute's line, for subgraphs
// and long tensors.
func (p *printer) attr(a *onnxpb.AttributeProto, indent string) string {
	typ := attrType(a)
	tname, ok := attrTypeNames[typ]
	if !ok {
		tname = "undefined"
	}
	name := a.GetName()
	if !isIdent(name) {
		name = quote(name)
	}
	if a.RefAttrName != nil {
		return name + ": " + tname + " = @" + id(a.GetRefAttrName())
	}
	typed := func(v string) string { return name + ": " + tname + " = " + v }
	plain := func(v string) string { return name + " = " + v }
	switch typ {
	case onnxpb.AttributeProto_FLOAT:
		return plain(floatLit(float64(a.GetF()), 32))
	case onnxpb.AttributeProto_INT:
		return plain(itoa(a.GetI()))
	case onnxpb.AttributeProto_STRING:
		return plain(quote(string(a.S)))
	case onnxpb.AttributeProto_TENSOR:
		return plain(p.tensor(a.T, indent))
	case onnxpb.AttributeProto_GRAPH:
		return plain(p.subgraph(a.G, indent))
	case onnxpb.AttributeProto_SPARSE_TENSOR:
		return typed(p.sparse(a.SparseTensor, indent))
	case onnxpb.AttributeProto_TYPE_PROTO:
		return typed(typeString(a.Tp))
	}
	var vals []string
	switch typ {
	case onnxpb.AttributeProto_FLOATS, onnxpb.AttributeProto_INTS:
		// Written straight into one builder: a list of millions (a hostile
		// perm) as a []string and then joined took three copies of the text.
		n := len(a.Ints)
		if typ == onnxpb.AttributeProto_FLOATS {
			n = len(a.Floats)
		}
		if n == 0 {
			return typed("[]")
		}
		var b strings.Builder
		b.WriteString(name + " = [")
		for k := range n {
			if k > 0 {
				b.WriteString(", ")
			}
			if typ == onnxpb.AttributeProto_FLOATS {
				b.WriteString(floatLit(float64(a.Floats[k]), 32))
			} else {
				b.WriteString(itoa(a.Ints[k]))
			}
		}
		b.WriteString("]")
		return b.String()
	case onnxpb.AttributeProto_STRINGS:
		for _, s := range a.Strings {
			vals = append(vals, quote(string(s)))
		}
	case onnxpb.AttributeProto_TENSORS:
		for _, t := range a.Tensors {
			vals = append(vals, p.tensor(t, indent))
		}
		return typed("[" + strings.Join(vals, ", ") + "]")
	case onnxpb.AttributeProto_GRAPHS:
		for _, g := range a.Graphs {
			vals = append(vals, p.subgraph(g, indent))
		}
		return typed("[" + strings.Join(vals, ", ") + "]")
	case onnxpb.AttributeProto_SPARSE_TENSORS:
		for _, s := range a.SparseTensors {
			vals = append(vals, p.sparse(s, indent))
		}
		return typed("[" + strings.Join(vals, ", ") + "]")
	case onnxpb.AttributeProto_TYPE_PROTOS:
		for _, t := range a.TypeProtos {
			vals = append(vals, typeString(t))
		}
		return typed("[" + strings.Join(vals, ", ") + "]")
	default:
		return typed("?")
	}
	if len(vals) == 0 {
		return typed("[]")
	}
	return plain("[" + strings.Join(vals, ", ") + "]")
}

// subgraph prints a graph attribute value starting on the attribute's line.
func (p *printer) subgraph(g *onnxpb.GraphProto, indent string) string {
	sub := &printer{opts: p.opts}
	sub.graph(g, indent)
	p.fail(sub.err)
	return sub.b.String()
}

// tensor prints a tensor value (attribute, or element of a sparse tensor):
// type, name if any, then the values, or without Options.Initializers and
// with more than maxInlineTensor elements, the hash.
func (p *printer) tensor(t *onnxpb.TensorProto, indent string) string {
	if t == nil {
		t = &onnxpb.TensorProto{}
	}
	head := dimsType(t.GetDataType(), t.Dims)
	if t.GetName() != "" {
		head += " " + id(t.GetName())
	}
	if h, ok := HashOnly(t); ok {
		return head + " " + h
	}
	if tensor.IsExternal(t) {
		return head + " = " + tensor.ExternalSummary(t)
	}
	n, _ := tensor.NumElements(t.Dims)
	if !p.opts.Initializers && n > maxInlineTensor {
		h, err := tensor.Hash(t)
		if err != nil {
			h = "invalid: " + err.Error()
		}
		return head + " " + h
	}
	vals, err := tensorValues(t)
	if err != nil {
		if p.opts.Initializers {
			p.fail(fmt.Errorf("tensor %s: %w", head, err))
		}
		return head + " invalid: " + err.Error()
	}
	return head + " " + valuesBlock(vals, t.Dims, indent)
}

// sparse prints a sparse tensor in mhcc's notation (ONNX has none):
// sparse(float[4,4], values, indices).
func (p *printer) sparse(s *onnxpb.SparseTensorProto, indent string) string {
	if s == nil {
		s = &onnxpb.SparseTensorProto{}
	}
	dt := s.GetValues().GetDataType()
	return "sparse(" + dimsType(dt, s.Dims) + ", " + p.tensor(s.GetValues(), indent) + ", " + p.tensor(s.GetIndices(), indent) + ")"
}

// valuesBlock prints values as {v, v, ...}: on one line up to
// maxInlineTensor values, else one row of the last dim per line (split
// every maxInlineTensor values) at indent+2, the closing brace at indent.
func valuesBlock(vals []string, dims []int64, indent string) string {
	if len(vals) <= maxInlineTensor {
		return "{" + strings.Join(vals, ", ") + "}"
	}
	row := len(vals) // values per row of the last dim (complex: two per element)
	if n, err := tensor.NumElements(dims); err == nil && n > 0 && len(dims) > 0 && dims[len(dims)-1] > 0 {
		row = len(vals) / int(n) * int(dims[len(dims)-1])
	}
	var b strings.Builder
	b.WriteString("{\n")
	for start := 0; start < len(vals); start += row {
		rowEnd := min(start+row, len(vals))
		for i := start; i < rowEnd; i += maxInlineTensor {
			end := min(i+maxInlineTensor, rowEnd)
			b.WriteString(indent + "  " + strings.Join(vals[i:end], ", "))
			if end < len(vals) {
				b.WriteByte(',')
			}
			b.WriteByte('\n')
		}
	}
	b.WriteString(indent + "}")
	return b.String()
}

// function prints a function: its header (domain, doc_string,
// opset_import), name, attribute declarations, inputs, outputs and nodes.
func (p *printer) function(f *onnxpb.FunctionProto) {
	var items []string
	if s := f.GetDomain(); s != "" {
		items = append(items, "domain: "+quote(s))
	}
	if s := f.GetDocString(); s != "" {
		items = append(items, "doc_string: "+quote(s))
	}
	items = append(items, "opset_import: "+opsets(f.OpsetImport))
	p.w("<\n  ", strings.Join(items, ",\n  "), "\n>\n")
	p.w(id(f.GetName()), " ")
	var decls []string
	names := append([]string(nil), f.Attribute...)
	sort.Strings(names)
	for _, a := range names {
		decls = append(decls, id(a))
	}
	for _, a := range sortedAttrs(f.AttributeProto) {
		decls = append(decls, p.attr(a, ""))
	}
	if len(decls) > 0 {
		p.w("<", strings.Join(decls, ", "), "> ")
	}
	p.w("(", ids(f.Input), ") => (", ids(f.Output), ")\n{\n")
	for _, n := range f.Node {
		p.node(n, "  ")
	}
	p.w("}\n")
}
