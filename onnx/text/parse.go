package onnxtext

// Parse reads Format's output back into a model, so that a golden file can
// be the text (small, reviewable, diffable in a pull request) and still be
// compared semantically, by graphdiff, with a fresh compile. It reads what
// Format prints, in both modes, not the whole ONNX syntax: initializers
// elided to their hash come back as tensors that hold only that hash
// (HashOnly), and a graph with them is for comparing, not for running.
//
// Not read (an error names the line): sparse tensors, type_proto attribute
// values, external data entries and "invalid:" placeholders, which Format
// prints where the syntax has no form or the model was broken.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/mhcc-dev/mhcc/onnx/pb"
	"github.com/mhcc-dev/mhcc/onnx/tensor"
	"google.golang.org/protobuf/proto"
)

// ContentHashKey is the external_data key under which a tensor that Parse
// read as a hash (an elided initializer, or a tensor attribute printed as
// its hash) carries its tensor.Hash. Such a tensor has data_location
// EXTERNAL and no data: the hash is all that is known. graphdiff compares
// tensors by this hash.
const ContentHashKey = "mhcc.content_sha256"

// HashOnly reports whether t was read by Parse as a hash without values,
// and returns the hash.
func HashOnly(t *onnxpb.TensorProto) (string, bool) {
	if !tensor.IsExternal(t) {
		return "", false
	}
	h, n := "", 0
	for _, e := range t.GetExternalData() {
		n++
		if e.GetKey() == ContentHashKey {
			h = e.GetValue()
		}
	}
	return h, h != "" && n == 1
}

// A Pos is a 1-based line and column in the parsed text.
type Pos struct{ Line, Col int }

// Positions says where Parse found the main graph's named things, so that a
// report about them can point at their line.
type Positions struct {
	Nodes        map[string]Pos // by node name
	Initializers map[string]Pos // by initializer name
	Values       map[string]Pos // graph inputs and outputs, by name
	Metadata     map[string]Pos // metadata_props, by key
}

// maxParseDepth bounds the nesting of subgraphs and types, so that a hostile
// text cannot exhaust the stack.
const maxParseDepth = 64

// Parse reads a model printed by Format. Errors are "line:col: message".
func Parse(src []byte) (*onnxpb.ModelProto, *Positions, error) {
	toks, err := lex(src)
	if err != nil {
		return nil, nil, err
	}
	p := &parser{toks: toks, pos: &Positions{
		Nodes: map[string]Pos{}, Initializers: map[string]Pos{}, Values: map[string]Pos{}, Metadata: map[string]Pos{},
	}}
	m, err := p.model()
	if err != nil {
		return nil, nil, err
	}
	return m, p.pos, nil
}

type tokKind int

const (
	tEOF     tokKind = iota
	tPunct           // one of <>()[]{},:=@? or "=>"
	tIdent           // identifier, possibly dotted (domain.Op)
	tString          // quoted string, unescaped
	tInt             // integer literal
	tFloat           // float literal, nan, inf, -inf
	tHash            // sha256:<hex>
	tComment         // "# ..." to the end of the line, without "# "
)

type token struct {
	kind tokKind
	text string
	pos  Pos
}

func (t token) String() string {
	switch t.kind {
	case tEOF:
		return "end of text"
	case tString:
		return strconv.Quote(t.text)
	case tComment:
		return "comment"
	}
	return fmt.Sprintf("%q", t.text)
}

func lex(src []byte) ([]token, error) {
	var out []token
	line, col := 1, 1
	i := 0
	adv := func(n int) {
		for k := 0; k < n; k++ {
			if src[i] == '\n' {
				line, col = line+1, 1
			} else {
				col++
			}
			i++
		}
	}
	isIdentByte := func(c byte, first bool) bool {
		return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || !first && ('0' <= c && c <= '9' || c == '.')
	}
	for i < len(src) {
		c := src[i]
		at := Pos{line, col}
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			adv(1)
		case c == '#':
			j := i
			for j < len(src) && src[j] != '\n' {
				j++
			}
			text := strings.TrimPrefix(strings.TrimPrefix(string(src[i:j]), "#"), " ")
			out = append(out, token{tComment, text, at})
			adv(j - i)
		case c == '=' && i+1 < len(src) && src[i+1] == '>':
			out = append(out, token{tPunct, "=>", at})
			adv(2)
		case strings.IndexByte("<>()[]{},:=@?", c) >= 0:
			out = append(out, token{tPunct, string(c), at})
			adv(1)
		case c == '"':
			var b strings.Builder
			j := i + 1
			for ; j < len(src) && src[j] != '"'; j++ {
				if src[j] == '\\' && j+1 < len(src) {
					j++
				}
				b.WriteByte(src[j])
			}
			if j >= len(src) {
				return nil, fmt.Errorf("%d:%d: unterminated string", at.Line, at.Col)
			}
			out = append(out, token{tString, b.String(), at})
			adv(j + 1 - i)
		case c == '-' || c == '+' || '0' <= c && c <= '9':
			j := i + 1
			if (c == '-' || c == '+') && bytes.HasPrefix(src[j:], []byte("inf")) {
				out = append(out, token{tFloat, string(src[i : j+3]), at})
				adv(j + 3 - i)
				continue
			}
			kind := tInt
			for j < len(src) {
				d := src[j]
				switch {
				case '0' <= d && d <= '9':
				case d == '.' || d == 'e' || d == 'E':
					kind = tFloat
				case (d == '-' || d == '+') && (src[j-1] == 'e' || src[j-1] == 'E'):
				default:
					goto done
				}
				j++
			}
		done:
			out = append(out, token{kind, string(src[i:j]), at})
			adv(j - i)
		case isIdentByte(c, true):
			j := i + 1
			for j < len(src) && isIdentByte(src[j], false) {
				j++
			}
			word := string(src[i:j])
			if word == "sha256" && j < len(src) && src[j] == ':' {
				k := j + 1
				for k < len(src) && strings.IndexByte("0123456789abcdef", src[k]) >= 0 {
					k++
				}
				out = append(out, token{tHash, string(src[i:k]), at})
				adv(k - i)
				continue
			}
			kind := tIdent
			if word == "nan" || word == "inf" {
				kind = tFloat
			}
			out = append(out, token{kind, word, at})
			adv(j - i)
		default:
			return nil, fmt.Errorf("%d:%d: unexpected character %q", at.Line, at.Col, c)
		}
	}
	out = append(out, token{tEOF, "", Pos{line, col}})
	return out, nil
}

type parser struct {
	toks  []token
	i     int
	depth int
	pos   *Positions
	main  bool // parsing the main graph (positions are recorded)
}

// peek returns the next token that is not a comment.
func (p *parser) peek() token {
	for p.toks[p.i].kind == tComment {
		p.i++
	}
	return p.toks[p.i]
}

// ahead returns the token after the next one, comments skipped.
func (p *parser) ahead() token {
	p.peek()
	for k := p.i + 1; k < len(p.toks); k++ {
		if p.toks[k].kind != tComment {
			return p.toks[k]
		}
	}
	return p.toks[len(p.toks)-1]
}

func (p *parser) next() token {
	t := p.peek()
	if t.kind != tEOF {
		p.i++
	}
	return t
}

func (p *parser) errAt(t token, format string, args ...any) error {
	return fmt.Errorf("%d:%d: %s", t.pos.Line, t.pos.Col, fmt.Sprintf(format, args...))
}

func (p *parser) is(text string) bool {
	t := p.peek()
	return t.kind == tPunct && t.text == text
}

func (p *parser) expect(text string) (token, error) {
	t := p.next()
	if t.kind != tPunct || t.text != text {
		return t, p.errAt(t, "want %q, got %v", text, t)
	}
	return t, nil
}

// name reads an identifier or a quoted name.
func (p *parser) name() (string, token, error) {
	t := p.next()
	if t.kind != tIdent && t.kind != tString {
		return "", t, p.errAt(t, "want a name, got %v", t)
	}
	return t.text, t, nil
}

func (p *parser) intTok() (int64, error) {
	t := p.next()
	if t.kind != tInt {
		return 0, p.errAt(t, "want an integer, got %v", t)
	}
	v, err := strconv.ParseInt(t.text, 10, 64)
	if err != nil {
		return 0, p.errAt(t, "%v", err)
	}
	return v, nil
}

func (p *parser) str() (string, error) {
	t := p.next()
	if t.kind != tString {
		return "", p.errAt(t, "want a string, got %v", t)
	}
	return t.text, nil
}

// list reads items separated by commas (a trailing one allowed) up to close,
// and close; the opening bracket is already read. Every list of the text
// (names, attributes, values, dims, opsets) is read by it.
func (p *parser) list(close string, item func() error) error {
	for !p.is(close) {
		if err := item(); err != nil {
			return err
		}
		if !p.is(",") {
			break
		}
		p.next()
	}
	_, err := p.expect(close)
	return err
}

// header reads a model's or function's <key: value, ...> header, at least
// one entry; field reads the value of key (kt is where key is, for errors).
func (p *parser) header(field func(key string, kt token) error) error {
	if _, err := p.expect("<"); err != nil {
		return err
	}
	for {
		key, kt, err := p.name()
		if err != nil {
			return err
		}
		if _, err := p.expect(":"); err != nil {
			return err
		}
		if err := field(key, kt); err != nil {
			return err
		}
		if !p.is(",") {
			break
		}
		p.next()
	}
	_, err := p.expect(">")
	return err
}

// names reads (name, ...).
func (p *parser) names() ([]string, error) {
	var out []string
	if _, err := p.expect("("); err != nil {
		return nil, err
	}
	err := p.list(")", func() error {
		n, _, err := p.name()
		out = append(out, n)
		return err
	})
	return out, err
}

func (p *parser) enter() error {
	p.depth++
	if p.depth > maxParseDepth {
		return p.errAt(p.peek(), "nested more than %d levels deep", maxParseDepth)
	}
	return nil
}

func (p *parser) model() (*onnxpb.ModelProto, error) {
	m := &onnxpb.ModelProto{}
	err := p.header(func(key string, kt token) error {
		var err error
		switch key {
		case "ir_version":
			v, err := p.intTok()
			m.IrVersion = proto.Int64(v)
			return err
		case "model_version":
			v, err := p.intTok()
			m.ModelVersion = proto.Int64(v)
			return err
		case "opset_import":
			m.OpsetImport, err = p.opsets()
			return err
		case "producer_name", "producer_version", "domain", "doc_string":
			s, err := p.str()
			switch key {
			case "producer_name":
				m.ProducerName = proto.String(s)
			case "producer_version":
				m.ProducerVersion = proto.String(s)
			case "domain":
				m.Domain = proto.String(s)
			default:
				m.DocString = proto.String(s)
			}
			return err
		case "metadata_props":
			if _, err := p.expect("["); err != nil {
				return err
			}
			return p.list("]", func() error {
				kt := p.peek()
				k, err := p.str()
				if err != nil {
					return err
				}
				if _, err := p.expect(":"); err != nil {
					return err
				}
				v, err := p.str()
				if err != nil {
					return err
				}
				m.MetadataProps = append(m.MetadataProps, &onnxpb.StringStringEntryProto{Key: proto.String(k), Value: proto.String(v)})
				p.pos.Metadata[k] = kt.pos
				return nil
			})
		}
		return p.errAt(kt, "unknown model field %q", key)
	})
	if err != nil {
		return nil, err
	}
	p.main = true
	g, err := p.graph()
	if err != nil {
		return nil, err
	}
	m.Graph = g
	for p.peek().kind != tEOF {
		f, err := p.function()
		if err != nil {
			return nil, err
		}
		m.Functions = append(m.Functions, f)
	}
	return m, nil
}

func (p *parser) opsets() ([]*onnxpb.OperatorSetIdProto, error) {
	var out []*onnxpb.OperatorSetIdProto
	if _, err := p.expect("["); err != nil {
		return nil, err
	}
	err := p.list("]", func() error {
		d, err := p.str()
		if err != nil {
			return err
		}
		if _, err := p.expect(":"); err != nil {
			return err
		}
		v, err := p.intTok()
		if err != nil {
			return err
		}
		out = append(out, &onnxpb.OperatorSetIdProto{Domain: proto.String(d), Version: proto.Int64(v)})
		return nil
	})
	return out, err
}

// graph reads name (inputs) => (outputs) [<initializers, value_info>] {nodes}.
func (p *parser) graph() (*onnxpb.GraphProto, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	main := p.main
	p.main = false
	defer func() { p.main = main }()
	g := &onnxpb.GraphProto{}
	name, _, err := p.name()
	if err != nil {
		return nil, err
	}
	g.Name = proto.String(name)
	if g.Input, err = p.valueInfos(main); err != nil {
		return nil, err
	}
	if _, err := p.expect("=>"); err != nil {
		return nil, err
	}
	if g.Output, err = p.valueInfos(main); err != nil {
		return nil, err
	}
	if p.is("<") {
		if err := p.graphEntries(g, main); err != nil {
			return nil, err
		}
	}
	if _, err := p.expect("{"); err != nil {
		return nil, err
	}
	for !p.is("}") {
		t := p.peek()
		if t.kind == tEOF {
			return nil, p.errAt(t, "graph %q: missing }", name)
		}
		n, err := p.node()
		if err != nil {
			return nil, err
		}
		if main && n.GetName() != "" {
			p.pos.Nodes[n.GetName()] = t.pos
		}
		g.Node = append(g.Node, n)
	}
	p.next()
	return g, nil
}

func (p *parser) valueInfos(record bool) ([]*onnxpb.ValueInfoProto, error) {
	var out []*onnxpb.ValueInfoProto
	if _, err := p.expect("("); err != nil {
		return nil, err
	}
	err := p.list(")", func() error {
		t := p.peek()
		v, err := p.valueInfo()
		if err != nil {
			return err
		}
		if record {
			p.pos.Values[v.GetName()] = t.pos
		}
		out = append(out, v)
		return nil
	})
	return out, err
}

// isTypeStart reports whether t begins a type: a dtype or type constructor
// printed bare (names equal to those print quoted).
func isTypeStart(t token) bool {
	if t.kind != tIdent {
		return false
	}
	if _, ok := dtypeByName[t.text]; ok {
		return true
	}
	switch t.text {
	case "seq", "map", "optional", "sparse_tensor":
		return true
	}
	return false
}

var dtypeByName = func() map[string]int32 {
	m := map[string]int32{"undefined": 0}
	for k, v := range dtypeNames {
		m[v] = k
	}
	return m
}()

func (p *parser) valueInfo() (*onnxpb.ValueInfoProto, error) {
	v := &onnxpb.ValueInfoProto{}
	if isTypeStart(p.peek()) {
		tp, err := p.typeProto()
		if err != nil {
			return nil, err
		}
		v.Type = tp
	}
	name, _, err := p.name()
	if err != nil {
		return nil, err
	}
	v.Name = proto.String(name)
	return v, nil
}

func (p *parser) dtype() (int32, error) {
	t := p.next()
	if t.kind == tIdent {
		if dt, ok := dtypeByName[t.text]; ok {
			return dt, nil
		}
		if strings.HasPrefix(t.text, "dtype") {
			if v, err := strconv.ParseInt(t.text[5:], 10, 32); err == nil {
				return int32(v), nil
			}
		}
	}
	return 0, p.errAt(t, "want an element type, got %v", t)
}

func (p *parser) typeProto() (*onnxpb.TypeProto, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	t := p.peek()
	inner := func() (*onnxpb.TypeProto, error) {
		p.next()
		if _, err := p.expect("("); err != nil {
			return nil, err
		}
		e, err := p.typeProto()
		if err != nil {
			return nil, err
		}
		_, err = p.expect(")")
		return e, err
	}
	switch t.text {
	case "seq":
		e, err := inner()
		if err != nil {
			return nil, err
		}
		return &onnxpb.TypeProto{Value: &onnxpb.TypeProto_SequenceType{SequenceType: &onnxpb.TypeProto_Sequence{ElemType: e}}}, nil
	case "optional":
		e, err := inner()
		if err != nil {
			return nil, err
		}
		return &onnxpb.TypeProto{Value: &onnxpb.TypeProto_OptionalType{OptionalType: &onnxpb.TypeProto_Optional{ElemType: e}}}, nil
	case "sparse_tensor":
		e, err := inner()
		if err != nil {
			return nil, err
		}
		tt := e.GetTensorType()
		if tt == nil {
			return nil, p.errAt(t, "sparse_tensor of a non-tensor type")
		}
		return &onnxpb.TypeProto{Value: &onnxpb.TypeProto_SparseTensorType{SparseTensorType: &onnxpb.TypeProto_SparseTensor{ElemType: tt.ElemType, Shape: tt.Shape}}}, nil
	case "map":
		p.next()
		if _, err := p.expect("("); err != nil {
			return nil, err
		}
		k, err := p.dtype()
		if err != nil {
			return nil, err
		}
		if _, err := p.expect(","); err != nil {
			return nil, err
		}
		v, err := p.typeProto()
		if err != nil {
			return nil, err
		}
		if _, err := p.expect(")"); err != nil {
			return nil, err
		}
		return &onnxpb.TypeProto{Value: &onnxpb.TypeProto_MapType{MapType: &onnxpb.TypeProto_Map{KeyType: proto.Int32(k), ValueType: v}}}, nil
	}
	dt, err := p.dtype()
	if err != nil {
		return nil, err
	}
	tt := &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(dt), Shape: &onnxpb.TensorShapeProto{}}
	if p.is("[") {
		p.next()
		if p.is("]") {
			tt.Shape = nil // float[]: unknown rank
		}
		err := p.list("]", func() error {
			d := &onnxpb.TensorShapeProto_Dimension{}
			switch t := p.peek(); {
			case t.kind == tInt:
				v, err := p.intTok()
				if err != nil {
					return err
				}
				d.Value = &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: v}
			case t.kind == tIdent || t.kind == tString:
				p.next()
				d.Value = &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: t.text}
			case t.kind == tPunct && t.text == "?":
				p.next()
			default:
				return p.errAt(t, "want a dim, got %v", t)
			}
			tt.Shape.Dim = append(tt.Shape.Dim, d)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: tt}}, nil
}

// graphEntries reads the "<...>" list: value_info items, initializers with
// values, and comment lines that summarise initializers by hash.
func (p *parser) graphEntries(g *onnxpb.GraphProto, record bool) error {
	p.next() // "<"
	for {
		t := p.toks[p.i]
		switch {
		case t.kind == tComment:
			p.i++
			tensor, ok, err := hashComment(t)
			if err != nil {
				return err
			}
			if ok {
				g.Initializer = append(g.Initializer, tensor)
				if record {
					p.pos.Initializers[tensor.GetName()] = t.pos
				}
			}
			continue
		case t.kind == tPunct && t.text == ">":
			p.i++
			return nil
		case t.kind == tPunct && t.text == ",":
			p.i++
			continue
		case t.kind == tEOF:
			return p.errAt(t, "missing > after the graph's initializers")
		}
		v, err := p.valueInfo()
		if err != nil {
			return err
		}
		if !p.is("=") {
			g.ValueInfo = append(g.ValueInfo, v)
			continue
		}
		p.next()
		tensor, err := p.tensorBody(v.GetType(), t)
		if err != nil {
			return err
		}
		tensor.Name = v.Name
		g.Initializer = append(g.Initializer, tensor)
		if record {
			p.pos.Initializers[tensor.GetName()] = t.pos
		}
	}
}

// hashComment reads an initializer summary, `float[2,3] "w" = sha256:…`;
// other comments (the heading) are skipped, and those that stand for what
// Parse cannot read are errors.
func hashComment(c token) (*onnxpb.TensorProto, bool, error) {
	text := c.text
	switch {
	case strings.HasPrefix(text, "initializer values elided"):
		return nil, false, nil
	case strings.HasPrefix(text, "sparse initializer"):
		return nil, false, fmt.Errorf("%d:%d: sparse initializers cannot be read back", c.pos.Line, c.pos.Col)
	}
	toks, err := lex([]byte(text))
	if err != nil || !isTypeStart(toks[0]) {
		return nil, false, nil
	}
	for k := range toks {
		toks[k].pos = c.pos
	}
	sub := &parser{toks: toks, pos: &Positions{}}
	v, err := sub.valueInfo()
	if err != nil || !sub.is("=") {
		return nil, false, nil
	}
	sub.next()
	h := sub.next()
	if h.kind != tHash {
		return nil, false, fmt.Errorf("%d:%d: initializer %q: %s cannot be read back (want its sha256)", c.pos.Line, c.pos.Col, v.GetName(), strings.TrimSpace(text[strings.Index(text, "=")+1:]))
	}
	t, err := hashTensor(v.GetType(), h.text)
	if err != nil {
		return nil, false, fmt.Errorf("%d:%d: %v", c.pos.Line, c.pos.Col, err)
	}
	t.Name = v.Name
	return t, true, nil
}

// hashTensor is a tensor of type tp known only by its hash.
func hashTensor(tp *onnxpb.TypeProto, hash string) (*onnxpb.TensorProto, error) {
	if len(hash) != len("sha256:")+64 {
		return nil, fmt.Errorf("%s: want 64 hex digits", hash)
	}
	t, err := tensorOfType(tp)
	if err != nil {
		return nil, err
	}
	t.DataLocation = onnxpb.TensorProto_EXTERNAL.Enum()
	t.ExternalData = []*onnxpb.StringStringEntryProto{{Key: proto.String(ContentHashKey), Value: proto.String(hash)}}
	return t, nil
}

func tensorOfType(tp *onnxpb.TypeProto) (*onnxpb.TensorProto, error) {
	tt := tp.GetTensorType()
	if tt == nil {
		return nil, errors.New("a tensor needs a tensor type")
	}
	t := &onnxpb.TensorProto{DataType: proto.Int32(tt.GetElemType()), Dims: []int64{}}
	for _, d := range tt.GetShape().GetDim() {
		v, ok := d.GetValue().(*onnxpb.TensorShapeProto_Dimension_DimValue)
		if !ok {
			return nil, errors.New("a tensor's dims must be numbers")
		}
		t.Dims = append(t.Dims, v.DimValue)
	}
	if len(t.Dims) == 0 {
		t.Dims = nil
	}
	return t, nil
}

// tensorBody reads what follows a tensor's type (and name): {values} or a
// hash.
func (p *parser) tensorBody(tp *onnxpb.TypeProto, at token) (*onnxpb.TensorProto, error) {
	t := p.peek()
	switch {
	case t.kind == tHash:
		p.next()
		tensor, err := hashTensor(tp, t.text)
		if err != nil {
			return nil, p.errAt(t, "%v", err)
		}
		return tensor, nil
	case t.kind == tPunct && t.text == "{":
	default:
		return nil, p.errAt(t, "want a tensor's values or its sha256, got %v (external data and invalid tensors cannot be read back)", t)
	}
	p.next()
	tensor, err := tensorOfType(tp)
	if err != nil {
		return nil, p.errAt(at, "%v", err)
	}
	var vals []token
	err = p.list("}", func() error {
		v := p.next()
		if v.kind != tInt && v.kind != tFloat && v.kind != tString {
			return p.errAt(v, "want a tensor value, got %v", v)
		}
		vals = append(vals, v)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := fillTensor(tensor, vals); err != nil {
		return nil, p.errAt(at, "%v", err)
	}
	return tensor, nil
}

// fillTensor stores values, printed by tensorValues, in t's raw_data (or
// string_data) in the canonical layout tensor.Hash hashes.
func fillTensor(t *onnxpb.TensorProto, vals []token) error {
	dt := t.GetDataType()
	if dt == tensor.String {
		t.StringData = [][]byte{}
		for _, v := range vals {
			if v.kind != tString {
				return fmt.Errorf("string tensor: got %v", v)
			}
			t.StringData = append(t.StringData, []byte(v.text))
		}
		return nil
	}
	le := binary.LittleEndian
	raw := []byte{}
	for _, v := range vals {
		if v.kind == tString {
			return fmt.Errorf("%s tensor: got %v", dtypeName(dt), v)
		}
		switch dt {
		case tensor.Float, tensor.Complex64, tensor.Double, tensor.Complex128:
			bits := 32
			if dt == tensor.Double || dt == tensor.Complex128 {
				bits = 64
			}
			f, err := parseFloat(v.text, bits)
			if err != nil {
				return err
			}
			if bits == 32 {
				raw = le.AppendUint32(raw, math.Float32bits(float32(f)))
			} else {
				raw = le.AppendUint64(raw, math.Float64bits(f))
			}
			continue
		}
		if v.kind != tInt {
			return fmt.Errorf("%s tensor: got %v", dtypeName(dt), v)
		}
		switch dt {
		case tensor.Uint64:
			u, err := strconv.ParseUint(v.text, 10, 64)
			if err != nil {
				return err
			}
			raw = le.AppendUint64(raw, u)
			continue
		}
		n, err := strconv.ParseInt(v.text, 10, 64)
		if err != nil {
			return err
		}
		switch dt {
		case tensor.Int64:
			raw = le.AppendUint64(raw, uint64(n))
		case tensor.Int32, tensor.Uint32:
			raw = le.AppendUint32(raw, uint32(n))
		case tensor.Int16, tensor.Uint16, tensor.Float16, tensor.BFloat16:
			raw = le.AppendUint16(raw, uint16(n))
		default: // int8, uint8, bool, float8 and 4-bit types: the bytes
			if tensor.Bits(dt) == 0 {
				return fmt.Errorf("values of data type %d cannot be read back", dt)
			}
			raw = append(raw, byte(n))
		}
	}
	t.RawData = raw
	return nil
}

// float32Tok reads a float (or integer) value of attribute name.
func (p *parser) float32Tok(name string) (float32, error) {
	v := p.next()
	f, err := parseFloat(v.text, 32)
	if err != nil || (v.kind != tFloat && v.kind != tInt) {
		return 0, p.errAt(v, "attribute %q: want a float, got %v", name, v)
	}
	return float32(f), nil
}

func parseFloat(s string, bits int) (float64, error) {
	switch s {
	case "nan":
		return math.NaN(), nil
	case "inf", "+inf":
		return math.Inf(1), nil
	case "-inf":
		return math.Inf(-1), nil
	}
	return strconv.ParseFloat(s, bits)
}

// node reads [label] outs = [domain.]Op [<attrs>] (ins) [<attrs>].
func (p *parser) node() (*onnxpb.NodeProto, error) {
	n := &onnxpb.NodeProto{}
	if p.is("[") {
		p.next()
		name, _, err := p.name()
		if err != nil {
			return nil, err
		}
		n.Name = proto.String(name)
		if _, err := p.expect("]"); err != nil {
			return nil, err
		}
	}
	err := p.list("=", func() error {
		out, _, err := p.name()
		n.Output = append(n.Output, out)
		return err
	})
	if err != nil {
		return nil, err
	}
	op := p.next()
	if op.kind != tIdent {
		return nil, p.errAt(op, "want an operator, got %v", op)
	}
	if k := strings.LastIndexByte(op.text, '.'); k >= 0 {
		n.Domain = proto.String(op.text[:k])
		n.OpType = proto.String(op.text[k+1:])
	} else {
		n.OpType = proto.String(op.text)
	}
	if p.is("<") {
		if n.Attribute, err = p.attrs(); err != nil {
			return nil, err
		}
	}
	if n.Input, err = p.names(); err != nil {
		return nil, err
	}
	if p.is("<") && n.Attribute == nil {
		if n.Attribute, err = p.attrs(); err != nil {
			return nil, err
		}
	}
	return n, nil
}

func (p *parser) attrs() ([]*onnxpb.AttributeProto, error) {
	p.next() // "<"
	var out []*onnxpb.AttributeProto
	err := p.list(">", func() error {
		a, err := p.attr()
		out = append(out, a)
		return err
	})
	return out, err
}

var attrTypeByName = func() map[string]onnxpb.AttributeProto_AttributeType {
	m := map[string]onnxpb.AttributeProto_AttributeType{}
	for k, v := range attrTypeNames {
		m[v] = k
	}
	return m
}()

// attr reads name [: type] = value.
func (p *parser) attr() (*onnxpb.AttributeProto, error) {
	name, nt, err := p.name()
	if err != nil {
		return nil, err
	}
	a := &onnxpb.AttributeProto{Name: proto.String(name)}
	typ := onnxpb.AttributeProto_UNDEFINED
	if p.is(":") {
		p.next()
		tt := p.next()
		var ok bool
		if typ, ok = attrTypeByName[tt.text]; !ok || tt.kind != tIdent {
			return nil, p.errAt(tt, "attribute %q: unknown type %v", name, tt)
		}
	}
	if _, err := p.expect("="); err != nil {
		return nil, err
	}
	if p.is("@") {
		p.next()
		ref, _, err := p.name()
		if err != nil {
			return nil, err
		}
		a.RefAttrName = proto.String(ref)
		a.Type = typ.Enum()
		return a, nil
	}
	t := p.peek()
	if typ == onnxpb.AttributeProto_UNDEFINED {
		switch {
		case t.kind == tInt:
			typ = onnxpb.AttributeProto_INT
		case t.kind == tFloat:
			typ = onnxpb.AttributeProto_FLOAT
		case t.kind == tString && !(p.ahead().kind == tPunct && p.ahead().text == "("):
			typ = onnxpb.AttributeProto_STRING
		case isTypeStart(t):
			typ = onnxpb.AttributeProto_TENSOR
		case t.kind == tIdent || t.kind == tString:
			typ = onnxpb.AttributeProto_GRAPH
		case t.kind == tPunct && t.text == "[":
			switch p.ahead().kind {
			case tInt:
				typ = onnxpb.AttributeProto_INTS
			case tFloat:
				typ = onnxpb.AttributeProto_FLOATS
			case tString:
				typ = onnxpb.AttributeProto_STRINGS
			}
		}
	}
	a.Type = typ.Enum()
	switch typ {
	case onnxpb.AttributeProto_INT:
		v, err := p.intTok()
		if err != nil {
			return nil, err
		}
		a.I = proto.Int64(v)
	case onnxpb.AttributeProto_FLOAT:
		f, err := p.float32Tok(name)
		if err != nil {
			return nil, err
		}
		a.F = proto.Float32(f)
	case onnxpb.AttributeProto_STRING:
		s, err := p.str()
		if err != nil {
			return nil, err
		}
		a.S = []byte(s)
	case onnxpb.AttributeProto_TENSOR:
		if a.T, err = p.tensorValue(); err != nil {
			return nil, err
		}
	case onnxpb.AttributeProto_GRAPH:
		if a.G, err = p.graph(); err != nil {
			return nil, err
		}
	case onnxpb.AttributeProto_INTS, onnxpb.AttributeProto_FLOATS, onnxpb.AttributeProto_STRINGS,
		onnxpb.AttributeProto_TENSORS, onnxpb.AttributeProto_GRAPHS:
		if _, err := p.expect("["); err != nil {
			return nil, err
		}
		err := p.list("]", func() error {
			switch typ {
			case onnxpb.AttributeProto_INTS:
				v, err := p.intTok()
				a.Ints = append(a.Ints, v)
				return err
			case onnxpb.AttributeProto_FLOATS:
				f, err := p.float32Tok(name)
				a.Floats = append(a.Floats, f)
				return err
			case onnxpb.AttributeProto_STRINGS:
				s, err := p.str()
				a.Strings = append(a.Strings, []byte(s))
				return err
			case onnxpb.AttributeProto_TENSORS:
				x, err := p.tensorValue()
				a.Tensors = append(a.Tensors, x)
				return err
			default: // GRAPHS
				g, err := p.graph()
				a.Graphs = append(a.Graphs, g)
				return err
			}
		})
		if err != nil {
			return nil, err
		}
	default:
		return nil, p.errAt(nt, "attribute %q: values of this type cannot be read back", name)
	}
	return a, nil
}

// tensorValue reads a tensor attribute value: type [name] {values} | hash.
func (p *parser) tensorValue() (*onnxpb.TensorProto, error) {
	at := p.peek()
	tp, err := p.typeProto()
	if err != nil {
		return nil, err
	}
	var name *string
	if t := p.peek(); t.kind == tIdent || t.kind == tString {
		p.next()
		name = proto.String(t.text)
	}
	if name != nil && p.is("=") {
		return nil, p.errAt(p.peek(), "tensor %q: external data cannot be read back", *name)
	}
	t, err := p.tensorBody(tp, at)
	if err != nil {
		return nil, err
	}
	t.Name = name
	return t, nil
}

// function reads <header> name [<attrs>] (ins) => (outs) {nodes}.
func (p *parser) function() (*onnxpb.FunctionProto, error) {
	f := &onnxpb.FunctionProto{}
	err := p.header(func(key string, kt token) error {
		switch key {
		case "domain", "doc_string":
			s, err := p.str()
			if key == "domain" {
				f.Domain = proto.String(s)
			} else {
				f.DocString = proto.String(s)
			}
			return err
		case "opset_import":
			var err error
			f.OpsetImport, err = p.opsets()
			return err
		}
		return p.errAt(kt, "unknown function field %q", key)
	})
	if err != nil {
		return nil, err
	}
	name, _, err := p.name()
	if err != nil {
		return nil, err
	}
	f.Name = proto.String(name)
	if p.is("<") {
		p.next()
		err := p.list(">", func() error {
			nt := p.peek()
			after := p.ahead()
			if after.kind == tPunct && (after.text == ":" || after.text == "=") {
				a, err := p.attr()
				f.AttributeProto = append(f.AttributeProto, a)
				return err
			}
			n, _, err := p.name()
			if err != nil {
				return p.errAt(nt, "%v", err)
			}
			f.Attribute = append(f.Attribute, n)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	if f.Input, err = p.names(); err != nil {
		return nil, err
	}
	if _, err := p.expect("=>"); err != nil {
		return nil, err
	}
	if f.Output, err = p.names(); err != nil {
		return nil, err
	}
	if _, err := p.expect("{"); err != nil {
		return nil, err
	}
	for !p.is("}") {
		if p.peek().kind == tEOF {
			return nil, p.errAt(p.peek(), "function %q: missing }", name)
		}
		n, err := p.node()
		if err != nil {
			return nil, err
		}
		f.Node = append(f.Node, n)
	}
	p.next()
	return f, nil
}
