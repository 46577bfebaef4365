package ir

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
)

// Print writes g in mhcc's text form: graph inputs, constants (type, and
// the values of small ones), one line per node, then the outputs. Parse
// reads it back. For example:
//
//	graph tiny-mhc
//	input %input_ids: i64[batch,sequence]
//	const %embed.weight: f32[97,32]
//	%e = Gather<f32[batch,sequence,32]> %embed.weight, %input_ids  # tiny-mhc.yaml:3:1
//	output %logits
func Print(w io.Writer, g *Graph) error {
	var b strings.Builder
	fmt.Fprintf(&b, "graph %s\n", g.Name)
	for _, v := range g.Inputs {
		fmt.Fprintf(&b, "input %v: %v\n", v, v.Type)
	}
	for _, v := range g.Consts {
		fmt.Fprintf(&b, "const %v: %v", v, v.Type)
		if v.Const != nil && v.Const.Len() <= PrintValuesLimit {
			b.WriteString(" = ")
			b.WriteString(formatValues(v.Const))
		}
		b.WriteByte('\n')
	}
	for _, n := range g.Nodes {
		b.WriteString(FormatNode(n))
		b.WriteByte('\n')
	}
	for _, v := range g.Outputs {
		fmt.Fprintf(&b, "output %v\n", v)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// String returns the printed form of g.
func (g *Graph) String() string {
	var b strings.Builder
	Print(&b, g)
	return b.String()
}

// FormatNode prints one node:
//
//	%a, %b = Op<type_a, type_b> %x, %y {attr=value}  # file:line:col
func FormatNode(n *Node) string {
	var b strings.Builder
	for i, v := range n.Outputs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(v.String())
	}
	b.WriteString(" = ")
	b.WriteString(n.Op.String())
	b.WriteByte('<')
	for i, v := range n.Outputs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(v.Type.String())
	}
	b.WriteByte('>')
	for i, v := range n.Inputs {
		if i == 0 {
			b.WriteByte(' ')
		} else {
			b.WriteString(", ")
		}
		if v == nil {
			b.WriteString("_")
		} else {
			b.WriteString(v.String())
		}
	}
	if len(n.Attrs) > 0 {
		b.WriteString(" ")
		b.WriteString(FormatAttrs(n.Attrs))
	}
	if n.Lowering != "" {
		b.WriteString(" @")
		b.WriteString(n.Lowering)
	}
	if n.Pos.IsKnown() {
		b.WriteString("  # ")
		b.WriteString(n.Pos.String())
	}
	return b.String()
}

// FormatAttrs prints attributes as "{k=v, ...}" in key order ("{}" for
// none): equal attributes print equally.
func FormatAttrs(a Attrs) string {
	keys := make([]string, 0, len(a))
	for k := range a {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(formatAttr(a[k]))
	}
	b.WriteByte('}')
	return b.String()
}

func formatAttr(v any) string {
	switch v := v.(type) {
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	case string:
		return strconv.Quote(v)
	case []int64:
		parts := make([]string, len(v))
		for i, x := range v {
			parts[i] = strconv.FormatInt(x, 10)
		}
		return "[" + strings.Join(parts, ",") + "]"
	}
	return fmt.Sprint(v)
}

// PrintValuesLimit is the largest constant whose values Print writes.
const PrintValuesLimit = 64

// formatValues prints a constant's elements in row-major order, floats in
// the shortest form that reads back to the same float32 (or float64).
func formatValues(t *Tensor) string {
	var parts []string
	switch {
	case t.F32 != nil:
		for _, f := range t.F32 {
			parts = append(parts, strconv.FormatFloat(float64(f), 'g', -1, 32))
		}
	case t.F64 != nil:
		for _, f := range t.F64 {
			parts = append(parts, strconv.FormatFloat(f, 'g', -1, 64))
		}
	default:
		for _, x := range t.I64 {
			parts = append(parts, strconv.FormatInt(x, 10))
		}
	}
	return "[" + strings.Join(parts, ",") + "]"
}
