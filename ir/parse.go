package ir

import (
	"fmt"
	"strconv"
	"strings"
)

// Parse reads a graph in the text form Print writes, so tests can state a
// graph before and after a pass in a few lines. Node types are inferred, as
// NewNode does, and must equal the printed ones; constants without "= [...]"
// are zero-filled; a node's "# file:line:col" comment is its Pos. Errors
// name the line.
func Parse(text string) (*Graph, error) {
	p := &parser{values: map[string]*Value{}}
	for i, line := range strings.Split(text, "\n") {
		p.line = i + 1
		p.pos = Pos{}
		if k := strings.Index(line, "  # "); k >= 0 {
			p.pos = parsePos(line[k+4:])
			line = line[:k]
		}
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if err := p.parseLine(line); err != nil {
			return nil, fmt.Errorf("line %d: %w", p.line, err)
		}
	}
	if p.g == nil {
		return nil, fmt.Errorf("no \"graph NAME\" line")
	}
	return p.g, nil
}

type parser struct {
	g      *Graph
	values map[string]*Value
	line   int
	pos    Pos // of the current line's "# file:line:col" comment
}

// parsePos reads "file:line:col"; anything else is an unknown Pos.
func parsePos(s string) Pos {
	s = strings.TrimSpace(s)
	c2 := strings.LastIndex(s, ":")
	if c2 < 0 {
		return Pos{}
	}
	c1 := strings.LastIndex(s[:c2], ":")
	if c1 < 0 {
		return Pos{}
	}
	line, err1 := strconv.Atoi(s[c1+1 : c2])
	col, err2 := strconv.Atoi(s[c2+1:])
	if err1 != nil || err2 != nil {
		return Pos{}
	}
	return Pos{File: s[:c1], Line: line, Col: col}
}

func (p *parser) parseLine(line string) error {
	if name, ok := strings.CutPrefix(line, "graph "); ok {
		if p.g != nil {
			return fmt.Errorf("a second graph line")
		}
		p.g = NewGraph(strings.TrimSpace(name))
		return nil
	}
	if p.g == nil {
		return fmt.Errorf("want \"graph NAME\" first")
	}
	switch {
	case strings.HasPrefix(line, "input "), strings.HasPrefix(line, "const "):
		kind, rest, _ := strings.Cut(line, " ")
		decl, data, hasData := strings.Cut(rest, " = ")
		name, typ, ok := strings.Cut(decl, ":")
		if !ok {
			return fmt.Errorf("want %s %%name: type", kind)
		}
		name, err := valueName(name)
		if err != nil {
			return err
		}
		t, err := ParseType(strings.TrimSpace(typ))
		if err != nil {
			return err
		}
		if p.values[name] != nil {
			return fmt.Errorf("%%%s defined twice", name)
		}
		if kind == "input" {
			if hasData {
				return fmt.Errorf("an input has no values")
			}
			p.values[name] = p.g.AddInput(name, t)
			return nil
		}
		c, err := constant(t, data, hasData)
		if err != nil {
			return fmt.Errorf("const %%%s: %w", name, err)
		}
		p.values[name] = p.g.AddConst(name, c)
		return nil
	case strings.HasPrefix(line, "output "):
		name, err := valueName(strings.TrimPrefix(line, "output "))
		if err != nil {
			return err
		}
		v := p.values[name]
		if v == nil {
			return fmt.Errorf("output %%%s is not defined", name)
		}
		p.g.AddOutput(v)
		return nil
	}
	return p.parseNode(line)
}

// parseNode reads "%a, %b = Op<t1, t2> %x, _, %y {k=v, ...} @lowering".
func (p *parser) parseNode(line string) error {
	lhs, rhs, ok := strings.Cut(line, " = ")
	if !ok {
		return fmt.Errorf("want a node: %%out = Op<type> %%in, ...")
	}
	var outs []string
	for _, f := range strings.Split(lhs, ",") {
		name, err := valueName(f)
		if err != nil {
			return err
		}
		outs = append(outs, name)
	}
	lt := strings.Index(rhs, "<")
	gt := strings.Index(rhs, ">")
	if lt < 0 || gt < lt {
		return fmt.Errorf("want Op<types> after =")
	}
	op, ok := OpByName(rhs[:lt])
	if !ok {
		return fmt.Errorf("unknown op %q", rhs[:lt])
	}
	printedTypes := rhs[lt+1 : gt]
	rest := strings.TrimSpace(rhs[gt+1:])
	lowering := ""
	if k := strings.LastIndex(rest, " @"); k >= 0 || strings.HasPrefix(rest, "@") {
		if k < 0 {
			k = 0
		}
		lowering = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(rest[k:]), "@"))
		rest = strings.TrimSpace(rest[:k])
	}
	attrText := ""
	if k := strings.Index(rest, "{"); k >= 0 {
		if !strings.HasSuffix(rest, "}") {
			return fmt.Errorf("unclosed {")
		}
		attrText = rest[k+1 : len(rest)-1]
		rest = strings.TrimSpace(rest[:k])
	}
	var inputs []*Value
	if rest != "" {
		for _, f := range strings.Split(rest, ",") {
			f = strings.TrimSpace(f)
			if f == "_" {
				inputs = append(inputs, nil)
				continue
			}
			name, err := valueName(f)
			if err != nil {
				return err
			}
			v := p.values[name]
			if v == nil {
				return fmt.Errorf("%%%s is not defined before its use", name)
			}
			inputs = append(inputs, v)
		}
	}
	attrs, err := parseAttrs(op, attrText)
	if err != nil {
		return err
	}
	n, err := p.g.NewNode(op, outs[0], p.pos, attrs, inputs, outs...)
	if err != nil {
		return err
	}
	n.Lowering = lowering
	var got []string
	for i, v := range n.Outputs {
		if v.Name != outs[i] {
			return fmt.Errorf("%%%s defined twice", outs[i])
		}
		p.values[v.Name] = v
		got = append(got, v.Type.String())
	}
	if want := strings.ReplaceAll(printedTypes, " ", ""); strings.Join(got, ",") != want {
		return fmt.Errorf("%v infers <%s>, the text says <%s>", op, strings.Join(got, ", "), printedTypes)
	}
	return nil
}

func valueName(s string) (string, error) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "%") || len(s) < 2 {
		return "", fmt.Errorf("want a value name %%name, got %q", s)
	}
	return s[1:], nil
}

// ParseType reads "f32[batch,4]".
func ParseType(s string) (Type, error) {
	lb := strings.Index(s, "[")
	if lb < 0 || !strings.HasSuffix(s, "]") {
		return Type{}, fmt.Errorf("want a type dtype[dims], got %q", s)
	}
	dt, ok := ParseDType(s[:lb])
	if !ok {
		return Type{}, fmt.Errorf("unknown dtype %q", s[:lb])
	}
	t := Type{DType: dt, Shape: Shape{}}
	if body := s[lb+1 : len(s)-1]; body != "" {
		for _, d := range strings.Split(body, ",") {
			if n, err := strconv.ParseInt(d, 10, 64); err == nil {
				t.Shape = append(t.Shape, D(n))
			} else {
				t.Shape = append(t.Shape, P(d))
			}
		}
	}
	return t, nil
}

func constant(t Type, data string, hasData bool) (*Tensor, error) {
	sizes, ok := t.Shape.Sizes()
	if !ok {
		return nil, fmt.Errorf("a constant needs known dims, got %v", t.Shape)
	}
	c := &Tensor{DType: t.DType, Shape: sizes}
	n := t.Shape.NumElements()
	var fields []string
	if hasData {
		data = strings.TrimSpace(data)
		if !strings.HasPrefix(data, "[") || !strings.HasSuffix(data, "]") {
			return nil, fmt.Errorf("want values [v, ...]")
		}
		if body := strings.TrimSpace(data[1 : len(data)-1]); body != "" {
			fields = strings.Split(body, ",")
		}
		if int64(len(fields)) != n {
			return nil, fmt.Errorf("%d values for %d elements", len(fields), n)
		}
	}
	switch t.DType {
	case Float32, Float16, BFloat16:
		c.F32 = make([]float32, n)
		for i, f := range fields {
			v, err := strconv.ParseFloat(strings.TrimSpace(f), 32)
			if err != nil {
				return nil, err
			}
			c.F32[i] = float32(v)
		}
	case Float64:
		c.F64 = make([]float64, n)
		for i, f := range fields {
			v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
			if err != nil {
				return nil, err
			}
			c.F64[i] = v
		}
	default:
		c.I64 = make([]int64, n)
		for i, f := range fields {
			v, err := strconv.ParseInt(strings.TrimSpace(f), 10, 64)
			if err != nil {
				return nil, err
			}
			c.I64[i] = v
		}
	}
	return c, nil
}

// parseAttrs reads "k=v, k=v" using the op's table to type each value.
func parseAttrs(op Op, text string) (Attrs, error) {
	attrs := Attrs{}
	if strings.TrimSpace(text) == "" {
		return attrs, nil
	}
	for _, kv := range splitTop(text) {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok {
			return nil, fmt.Errorf("want k=v in {...}, got %q", kv)
		}
		spec, ok := opTable[op].attrs[k]
		if !ok {
			return nil, fmt.Errorf("%v has no attribute %q", op, k)
		}
		switch spec.kind {
		case attrInt:
			x, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("attribute %s: %w", k, err)
			}
			attrs[k] = x
		case attrFloat:
			x, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return nil, fmt.Errorf("attribute %s: %w", k, err)
			}
			attrs[k] = x
		case attrString:
			x, err := strconv.Unquote(v)
			if err != nil {
				return nil, fmt.Errorf("attribute %s: want a quoted string", k)
			}
			attrs[k] = x
		case attrInts:
			var xs []int64
			for _, f := range strings.Split(strings.Trim(v, "[]"), ",") {
				if f == "" {
					continue
				}
				x, err := strconv.ParseInt(f, 10, 64)
				if err != nil {
					return nil, fmt.Errorf("attribute %s: %w", k, err)
				}
				xs = append(xs, x)
			}
			attrs[k] = xs
		}
	}
	return attrs, nil
}

// splitTop splits on commas outside brackets.
func splitTop(s string) []string {
	var parts []string
	depth, start := 0, 0
	for i, r := range s {
		switch r {
		case '[':
			depth++
		case ']':
			depth--
		case ',':
			if depth == 0 {
				parts = append(parts, s[start:i])
				start = i + 1
			}
		}
	}
	return append(parts, s[start:])
}
