package graphdiff

import (
	"hash/maphash"

	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
)

// A nodeTable holds what the comparison reads of a graph's nodes (name, op
// type, domain, inputs, outputs, attributes) in flat arrays, one entry per
// node, instead of one NodeProto message each. A decoded NodeProto costs
// about 220 bytes before its strings (its struct, a slice per input and
// output list, a pointer per optional string); an entry here costs about
// 60, and the node messages can be dropped once it is built (Prepare), so
// that a diff of two 10^6-node graphs does not hold both decoded node
// lists. The strings are the messages' own (not copied).
type nodeTable struct {
	names []string // nil when no node has a name
	kind  []int32  // index into kinds
	kinds []opKind
	// Node i's inputs are ins[inStart[i]:inStart[i+1]]; outputs and
	// attributes likewise.
	inStart, outStart, attrStart []int32
	ins, outs                    []string
	attrs                        []*onnxpb.AttributeProto
}

type opKind struct{ op, domain string }

func newNodeTable(nodes []*onnxpb.NodeProto) *nodeTable {
	t := &nodeTable{
		kind:    make([]int32, len(nodes)),
		inStart: make([]int32, len(nodes)+1), outStart: make([]int32, len(nodes)+1), attrStart: make([]int32, len(nodes)+1),
	}
	nin, nout, nattr := 0, 0, 0
	for _, n := range nodes {
		if n.GetName() != "" && t.names == nil {
			t.names = make([]string, len(nodes))
		}
		nin += len(n.GetInput())
		nout += len(n.GetOutput())
		nattr += len(n.GetAttribute())
	}
	t.ins, t.outs = make([]string, 0, nin), make([]string, 0, nout)
	if nattr > 0 {
		t.attrs = make([]*onnxpb.AttributeProto, 0, nattr)
	}
	kinds := map[opKind]int32{}
	for i, n := range nodes {
		if t.names != nil {
			t.names[i] = n.GetName()
		}
		k := opKind{n.GetOpType(), n.GetDomain()}
		id, ok := kinds[k]
		if !ok {
			id = int32(len(t.kinds))
			kinds[k] = id
			t.kinds = append(t.kinds, k)
		}
		t.kind[i] = id
		t.ins = append(t.ins, n.GetInput()...)
		t.outs = append(t.outs, n.GetOutput()...)
		t.attrs = append(t.attrs, n.GetAttribute()...)
		t.inStart[i+1], t.outStart[i+1], t.attrStart[i+1] = int32(len(t.ins)), int32(len(t.outs)), int32(len(t.attrs))
	}
	return t
}

func (t *nodeTable) len() int { return len(t.kind) }

// at is a view of node i with NodeProto's getters.
func (t *nodeTable) at(i int) node { return node{t, i} }

// A node is one entry of a nodeTable.
type node struct {
	t *nodeTable
	i int
}

func (n node) GetName() string {
	if n.t.names == nil {
		return ""
	}
	return n.t.names[n.i]
}

func (n node) GetOpType() string { return n.t.kinds[n.t.kind[n.i]].op }
func (n node) GetDomain() string { return n.t.kinds[n.t.kind[n.i]].domain }

// GetInput, GetOutput and GetAttribute share the table's arrays: callers
// only read them (the capacity stops appends at the node's end).
func (n node) GetInput() []string {
	a, b := n.t.inStart[n.i], n.t.inStart[n.i+1]
	return n.t.ins[a:b:b]
}

func (n node) GetOutput() []string {
	a, b := n.t.outStart[n.i], n.t.outStart[n.i+1]
	return n.t.outs[a:b:b]
}

func (n node) GetAttribute() []*onnxpb.AttributeProto {
	a, b := n.t.attrStart[n.i], n.t.attrStart[n.i+1]
	if a == b {
		return nil
	}
	return n.t.attrs[a:b:b]
}

// An outputIndex finds the node that produces a value by its name: an
// open-addressing hash table of positions in nodeTable.outs, the first
// output of that name in node order winning. It replaces a
// map[string][2]int, which on a graph of a million nodes took about 80 MB;
// this takes 4 bytes a slot, two slots an output.
type outputIndex struct {
	t     *nodeTable
	slots []int32 // position in t.outs + 1; 0: empty
	node  []int32 // position in t.outs → node
	seed  maphash.Seed
}

func newOutputIndex(t *nodeTable) *outputIndex {
	x := &outputIndex{t: t, seed: maphash.MakeSeed(), node: make([]int32, len(t.outs))}
	size := 8
	for size < 2*len(t.outs) {
		size *= 2
	}
	x.slots = make([]int32, size)
	for i := range t.len() {
		for k := t.outStart[i]; k < t.outStart[i+1]; k++ {
			x.node[k] = int32(i)
			o := t.outs[k]
			if o == "" {
				continue
			}
			s, found := x.find(o)
			if !found {
				x.slots[s] = k + 1
			}
		}
	}
	return x
}

// find returns the slot that holds name, or the empty slot it would go in.
func (x *outputIndex) find(name string) (slot int, found bool) {
	mask := len(x.slots) - 1
	for s := int(maphash.String(x.seed, name)) & mask; ; s = (s + 1) & mask {
		v := x.slots[s]
		if v == 0 {
			return s, false
		}
		if x.t.outs[v-1] == name {
			return s, true
		}
	}
}

// producer returns the node that produces name and which of its outputs
// name is.
func (x *outputIndex) producer(name string) (node, out int, ok bool) {
	if name == "" {
		return 0, 0, false
	}
	s, found := x.find(name)
	if !found {
		return 0, 0, false
	}
	k := x.slots[s] - 1
	n := x.node[k]
	return int(n), int(k - x.t.outStart[n]), true
}
