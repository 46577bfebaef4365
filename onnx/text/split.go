package onnxtext

import (
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

// SplitModel decodes data as SplitModel's doc says. It reports false when
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

// EachNode decodes the main graph's nodes in order, each into a message of
// its own that f may keep, and stops at the first error (a node that does
// not decode, or f's).
func (s *Split) EachNode(f func(n *onnxpb.NodeProto) error) error {
	for _, b := range s.nodes {
		n := &onnxpb.NodeProto{}
		if err := proto.Unmarshal(b, n); err != nil {
			return err
		}
		if err := f(n); err != nil {
			return err
		}
	}
	return nil
}

// FormatSplit is Format of the model s encodes, decoding its main graph's
// nodes one at a time (twice: once for the unknown fields the header
// lists, once to print them). The text is the same as Format's.
func FormatSplit(s *Split, opts Options) ([]byte, error) {
	seen := map[string]bool{}
	addUnknown(seen, s.Model)
	if err := s.EachNode(func(n *onnxpb.NodeProto) error {
		addUnknown(seen, n)
		return nil
	}); err != nil {
		return nil, err
	}
	p := &printer{opts: opts, split: s, unknown: sortedSet(seen)}
	p.model(s.Model)
	if p.err != nil {
		return nil, p.err
	}
	return p.b.Bytes(), nil
}
