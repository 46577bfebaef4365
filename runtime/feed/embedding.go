package feed

import (
	"slices"

	"github.com/mhcc-dev/mhcc/onnx/pb"
)

// EmbeddingRows finds the first Gather of graph that takes input as its
// indices from a constant table (an initializer or Constant, possibly
// through Identity or Cast nodes) and returns the table's size along the
// Gather's axis, and the table's name: ids in [0, rows) index it. ok is
// false when there is no such Gather.
func EmbeddingRows(graph *onnxpb.GraphProto, input string) (rows int64, table string, ok bool) {
	for _, n := range graph.GetNode() {
		if n.GetOpType() != "Gather" || (n.GetDomain() != "" && n.GetDomain() != "ai.onnx") ||
			len(n.GetInput()) < 2 || n.GetInput()[1] != input {
			continue
		}
		table := n.GetInput()[0]
		dims, ok := constDims(graph, table)
		if !ok {
			continue
		}
		axis := int64(0)
		for _, a := range n.GetAttribute() {
			if a.GetName() == "axis" {
				axis = a.GetI()
			}
		}
		if axis < 0 {
			axis += int64(len(dims))
		}
		if axis >= 0 && axis < int64(len(dims)) && dims[axis] > 0 {
			return dims[axis], table, true
		}
	}
	return 0, "", false
}

// EmbeddingNode reports whether EmbeddingRows may read node n: a Gather, or
// a Constant, Identity or Cast it follows back to the table. A caller that
// keeps a graph only for the feed can drop every other node (mhcc run
// does, so that a graph of 10^6 nodes is not held twice) and get the same
// answers.
func EmbeddingNode(n *onnxpb.NodeProto) bool {
	switch n.GetOpType() {
	case "Gather", "Constant", "Identity", "Cast":
		return true
	}
	return false
}

// constDims returns the dims of a constant value.
func constDims(graph *onnxpb.GraphProto, name string) ([]int64, bool) {
	for range 8 { // follow at most a few Identity or Cast nodes
		for _, t := range graph.GetInitializer() {
			if t.GetName() == name {
				return t.GetDims(), true
			}
		}
		var next string
		for _, n := range graph.GetNode() {
			if !slices.Contains(n.GetOutput(), name) {
				continue
			}
			switch n.GetOpType() {
			case "Constant":
				for _, a := range n.GetAttribute() {
					if a.GetName() == "value" && a.GetT() != nil {
						return a.GetT().GetDims(), true
					}
				}
			case "Identity", "Cast":
				if len(n.GetInput()) > 0 {
					next = n.GetInput()[0]
				}
			}
		}
		if next == "" {
			return nil, false
		}
		name = next
	}
	return nil, false
}
