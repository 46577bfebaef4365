package onnxtext

import (
	"errors"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
)

// A Split is an encoded ONNX model decoded except for its main graph's
// nodes, which stay encoded (slices of the encoding) until EachNode decodes
// them one at a time. A decoded NodeProto costs over 200 bytes, several
// times its encoding: printing a graph of a million nodes from a Split
// holds the file's bytes and the text, not a million messages.
type Split struct {
	// Model is the model without its main graph's nodes (Graph.Node is
	// empty).
	Model *onnxpb.ModelProto
	nodes [][]byte
}

// The field numbers Split separates (onnx.proto).
const (
	modelGraphField = 7 // ModelProto.graph
	graphNodeField  = 1 // GraphProto.node
)

// SplitModel decodes data into a Split. It reports false when
// data does not decode as one model with one main graph (no graph, the
// graph field more than once, invalid encoding): callers then decode the
// whole model, which says what is wrong.
func SplitModel(data []byte) (*Split, bool) {
	m := &onnxpb.ModelProto{}
	var graph []byte
	graphs := 0
	ok := eachField(data, func(num protowire.Number, typ protowire.Type, field, value []byte) bool {
		if num == modelGraphField && typ == protowire.BytesType {
			graph, graphs = value, graphs+1
			return true
		}
		// Decoding a message field by field, merging, decodes it as a
		// whole does (protobuf's concatenation rule), without copying
		// the fields into one buffer.
		return proto.UnmarshalOptions{Merge: true}.Unmarshal(field, m) == nil
	})
	if !ok || graphs != 1 {
		return nil, false
	}
	s := &Split{Model: m}
	m.Graph = &onnxpb.GraphProto{}
	ok = eachField(graph, func(num protowire.Number, typ protowire.Type, field, value []byte) bool {
		if num == graphNodeField && typ == protowire.BytesType {
			s.nodes = append(s.nodes, value)
			return true
		}
		return proto.UnmarshalOptions{Merge: true}.Unmarshal(field, m.Graph) == nil
	})
	if !ok {
		return nil, false
	}
	return s, true
}

// eachField calls f with each field of the encoded message b (field: its
// tag and value; value: the value without the length for a bytes field),
// and reports whether b is a valid sequence of fields and f never
// returned false.
func eachField(b []byte, f func(num protowire.Number, typ protowire.Type, field, value []byte) bool) bool {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return false
		}
		m := protowire.ConsumeFieldValue(num, typ, b[n:])
		if m < 0 {
			return false
		}
		value := b[n : n+m]
		if typ == protowire.BytesType {
			v, k := protowire.ConsumeBytes(b[n:])
			if k < 0 {
				return false
			}
			value = v
		}
		if !f(num, typ, b[:n+m], value) {
			return false
		}
		b = b[n+m:]
	}
	return true
}

// Nodes is the number of nodes of the main graph.
func (s *Split) Nodes() int { return len(s.nodes) }

// ErrSplit is FormatSplit's error for a node that does not decode: decode
// the model whole to say what is wrong with it.
var ErrSplit = errors.New("onnxtext: a node of the main graph does not decode")

// EachNode decodes the main graph's nodes in order, each into a message of
// its own that f may keep, and stops at the first error: ErrSplit for a
// node that does not decode, or f's.
func (s *Split) EachNode(f func(n *onnxpb.NodeProto) error) error {
	for _, b := range s.nodes {
		n := &onnxpb.NodeProto{}
		if err := proto.Unmarshal(b, n); err != nil {
			return ErrSplit
		}
		if err := f(n); err != nil {
			return err
		}
	}
	return nil
}

// FormatSplit is Format of the model s encodes, decoding its main graph's
// nodes one at a time as it prints them; the text is Format's. check, if
// not nil, sees each node before it is printed and stops the printing
// with its error (as does ErrSplit).
func FormatSplit(s *Split, opts Options, check func(*onnxpb.NodeProto) error) ([]byte, error) {
	p := &printer{opts: opts, split: s, check: check, unknown: map[string]bool{}}
	addUnknown(p.unknown, s.Model)
	p.model(s.Model)
	if p.err != nil {
		return nil, p.err
	}
	text := p.b.Bytes()
	if unknown := sortedSet(p.unknown); len(unknown) > 0 { // the first line
		line := "# not shown: fields unknown to mhcc's ONNX schema: " + strings.Join(unknown, ", ") + "\n"
		text = append([]byte(line), text...)
	}
	return text, nil
}
