package onnxtext

import (
	"strings"

	"github.com/mhcc-dev/mhcc/onnx/pb"
	"github.com/mhcc-dev/mhcc/onnx/tensor"
)

// dtypeNames are the element type names of the textual syntax, indexed by
// TensorProto.DataType: onnx/tensor's ONNX spelling of codes 1–23. 1–16 are
// the names of onnx 1.12's parser; 17–23 are those of later onnx releases
// (the types are not in mhcc's schema, but files from other producers may
// use them).
var dtypeNames = func() map[int32]string {
	m := map[int32]string{}
	for code := int32(1); code <= tensor.Float4E2M1; code++ {
		d, _ := tensor.Lookup(code)
		m[code] = d.ONNX
	}
	return m
}()

// dtypeName is the syntax name of an element type: "undefined" for 0 (as
// onnx's printer writes it) and "dtypeN" for a type this package does not know.
func dtypeName(dt int32) string {
	if n, ok := dtypeNames[dt]; ok {
		return n
	}
	if dt == 0 {
		return "undefined"
	}
	return "dtype" + itoa(int64(dt))
}

// reserved are identifiers that a parser reads as something other than a
// name in some position: type names and type keywords (a value-info
// "float x" vs a name "float"), and the float literals of newer parsers
// (an attribute value "nan"). Names equal to them are quoted everywhere.
var reserved = func() map[string]bool {
	r := map[string]bool{"seq": true, "map": true, "optional": true, "sparse_tensor": true, "opaque": true}
	for _, n := range dtypeNames {
		r[n] = true
	}
	return r
}()

// isIdent reports whether s is an identifier of the syntax:
// [A-Za-z_][A-Za-z0-9_]*.
func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// id prints a name: bare when it is an identifier that no parser could read
// as a keyword, type or literal, else as a quoted string ("quotable-id" of
// onnx's docs/Syntax.md), so one name always prints the same way.
func id(s string) string {
	if isIdent(s) && !reserved[s] {
		switch strings.ToLower(s) {
		case "inf", "infinity", "nan":
		default:
			return s
		}
	}
	return quote(s)
}

// quote prints a string literal (see tensor.Quote).
func quote(s string) string { return tensor.Quote(s) }

// ids prints a list of names separated by ", ".
func ids(names []string) string {
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = id(n)
	}
	return strings.Join(parts, ", ")
}

// typeString prints a type: "float[batch,12]", "float" (a scalar: a shape
// with no dims), "float[]" (unknown rank: no shape), "seq(T)", "map(K, V)",
// "optional(T)", "sparse_tensor(float[4,4])". A type with no value set
// (absent, or a kind unknown to mhcc's schema) prints as "".
func typeString(t *onnxpb.TypeProto) string {
	switch v := t.GetValue().(type) {
	case *onnxpb.TypeProto_TensorType:
		return tensorType(v.TensorType.GetElemType(), v.TensorType.GetShape())
	case *onnxpb.TypeProto_SequenceType:
		return "seq(" + typeString(v.SequenceType.GetElemType()) + ")"
	case *onnxpb.TypeProto_MapType:
		return "map(" + dtypeName(v.MapType.GetKeyType()) + ", " + typeString(v.MapType.GetValueType()) + ")"
	case *onnxpb.TypeProto_OptionalType:
		return "optional(" + typeString(v.OptionalType.GetElemType()) + ")"
	case *onnxpb.TypeProto_SparseTensorType:
		return "sparse_tensor(" + tensorType(v.SparseTensorType.GetElemType(), v.SparseTensorType.GetShape()) + ")"
	}
	return ""
}

func tensorType(dt int32, shape *onnxpb.TensorShapeProto) string {
	if shape == nil {
		return dtypeName(dt) + "[]"
	}
	if len(shape.Dim) == 0 {
		return dtypeName(dt)
	}
	var b strings.Builder
	b.WriteString(dtypeName(dt))
	b.WriteByte('[')
	for i, d := range shape.Dim {
		if i > 0 {
			b.WriteByte(',')
		}
		switch v := d.GetValue().(type) {
		case *onnxpb.TensorShapeProto_Dimension_DimValue:
			b.WriteString(itoa(v.DimValue))
		case *onnxpb.TensorShapeProto_Dimension_DimParam:
			b.WriteString(id(v.DimParam))
		default:
			b.WriteByte('?')
		}
	}
	b.WriteByte(']')
	return b.String()
}

// dimsType prints a tensor's dtype and dims: "float[24,128]", or "float" for
// a scalar.
func dimsType(dt int32, dims []int64) string {
	if len(dims) == 0 {
		return dtypeName(dt)
	}
	parts := make([]string, len(dims))
	for i, d := range dims {
		parts[i] = itoa(d)
	}
	return dtypeName(dt) + "[" + strings.Join(parts, ",") + "]"
}
