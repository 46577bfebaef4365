package core

import (
	"fmt"
	"runtime/debug"
	"slices"
	"strings"

	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
)

// A Model is a decoded and checked ONNX model, ready to [Model.Run].
type Model struct {
	IRVersion int64
	Opsets    map[string]int64 // domain ("" is ai.onnx) → opset version
	Inputs    []ValueInfo      // graph inputs without an initializer, in file order
	Outputs   []ValueInfo      // graph outputs, in file order

	TopoNodes []*Node            // topological order
	Inits     map[string]*Tensor // initializers (also the defaults of inputs that have one)
	DeclIn    map[string]ValueInfo

	// The value table: every value the graph defines (inputs, initializers,
	// node outputs, captures) has a number, its index in Uses and Types, in
	// the order decoding met them. A name is defined exactly when ID has it.
	// Tables indexed by number, not maps keyed by name, because a graph of
	// 10^6 nodes would pay three name-keyed maps per value (issue 17). The
	// Fast engine's plan uses the numbers as its value slots.
	ID    map[string]int32
	Uses  []int32 // by number: node inputs reading the value
	Types []DType // by number: statically known element types

	// For subgraphs and function bodies (see control.go, function.go).
	// The graph's value_info, for inferTypes' checks. Not the GraphProto:
	// that would keep every initializer's bytes alive next to the decoded
	// tensors (twice the weights' memory for the model's lifetime).
	ValueInfo []*onnxpb.ValueInfoProto
	Params    []string // graph input names in file order, initialized ones included
	Captures  []string // outer-scope values the graph reads; also in Inputs, untyped

	Plan any // what the Fast engine runs (the fast package's plan); nil for subgraphs and bodies
}

// A ValueInfo is a graph input or output as declared in the file.
type ValueInfo struct {
	Name   string
	DType  DType   // Undefined when not declared
	Shape  []int64 // -1 for a symbolic or unknown dim
	Ranked bool    // false when the file gives no shape; Shape is then nil
}

// A Node is one operator application of the graph.
type Node struct {
	Name    string
	OpType  string
	Domain  string   // "" for ai.onnx
	Inputs  []string // "" is an omitted optional input; then the outer-scope values its subgraphs read
	Outputs []string // "" is an omitted optional output
	Opset   int64    // the opset of Domain the model imports

	Index  int // position in the file
	Attrs  map[string]*onnxpb.AttributeProto
	K      *Kernel
	Consts map[string]*Tensor // decoded tensor attributes

	// Inputs[nformal:] are outer-scope values that the node's subgraphs
	// read (captures): Run passes them like inputs, so they stay alive and
	// order the node after their producers.
	Nformal int
	Graphs  map[string]*Model // decoded graph attributes (Loop body, If branches)
	Fn      *Model            // body of the model-local function the node calls

	// Fused is what the Fast engine's plan folded into this copy of a node
	// (the fast package's fusion); nil for a node as written.
	Fused any
}

// String names the node for messages: `node "Mul_3" (Mul)`, or by position
// and first output when it has no name.
func (n *Node) String() string {
	op := n.OpType
	if n.Domain != "" {
		op = n.Domain + "." + op
	}
	if n.Name != "" {
		return fmt.Sprintf("node %q (%s)", n.Name, op)
	}
	out := ""
	if len(n.Outputs) > 0 {
		out = n.Outputs[0]
	}
	return fmt.Sprintf("node #%d (%s → %q)", n.Index, op, out)
}

// AddValue numbers a new value called name, with type t, and returns its
// number; the caller has checked that name is not defined yet.
func (m *Model) AddValue(name string, t DType) int32 {
	id := int32(len(m.Types))
	m.ID[name] = id
	m.Types = append(m.Types, t)
	m.Uses = append(m.Uses, 0)
	return id
}

// IsDefined reports whether the graph defines a value called name.
func (m *Model) IsDefined(name string) bool {
	_, ok := m.ID[name]
	return ok
}

// TypeOf is the statically known element type of the value called name
// (Undefined when unknown or when name is not defined).
func (m *Model) TypeOf(name string) DType {
	if id, ok := m.ID[name]; ok {
		return m.Types[id]
	}
	return Undefined
}

// SetType records name's element type; a name the graph does not define
// is ignored.
func (m *Model) SetType(name string, t DType) {
	if id, ok := m.ID[name]; ok {
		m.Types[id] = t
	}
}

// UsesOf is the number of node inputs reading the value called name.
func (m *Model) UsesOf(name string) int {
	if id, ok := m.ID[name]; ok {
		return int(m.Uses[id])
	}
	return 0
}

// UseCounts maps the name of each value some node reads to the number of
// node inputs reading it (a new map, the caller's to change).
func (m *Model) UseCounts() map[string]int {
	c := make(map[string]int, len(m.ID))
	for name, id := range m.ID {
		if u := m.Uses[id]; u > 0 {
			c[name] = int(u)
		}
	}
	return c
}

// Nodes returns the nodes in the order Run executes them.
func (m *Model) Nodes() []*Node { return m.TopoNodes }

// InitBytes is the size of m's initializers' data.
func (m *Model) InitBytes() int64 {
	var n int64
	for _, t := range m.Inits {
		n += int64(t.Len()) * int64(t.DType.Size())
	}
	return n
}

// InferTypes computes static element types in execution order, from the
// types already known for inputs, initializers and captures, and checks
// them against the declared outputs and value_info.
func (m *Model) InferTypes() error {
	var errs ErrorList
	var in []DType // reused: a rule's result is stored before the next node
	for _, n := range m.TopoNodes {
		if n.K.Types == nil {
			continue
		}
		in = slices.Grow(in[:0], len(n.Inputs))[:len(n.Inputs)]
		for i, name := range n.Inputs {
			in[i] = Undefined
			if name != "" {
				in[i] = m.TypeOf(name)
			}
		}
		outs, err := n.K.Types(n, in)
		if err != nil {
			errs = append(errs, fmt.Errorf("runtime: %v: %w", n, TrimPrefix(err)))
			continue
		}
		for i, t := range outs {
			if i < len(n.Outputs) && n.Outputs[i] != "" && t != Undefined {
				m.SetType(n.Outputs[i], t)
			}
		}
	}
	for _, v := range m.Outputs {
		if got := m.TypeOf(v.Name); got != Undefined && v.DType != Undefined && got != v.DType {
			errs.Add("graph output %q: declared %v, computed %v", v.Name, v.DType, got)
		}
	}
	for _, vi := range m.ValueInfo {
		v, err := ValueInfoOf(vi)
		if err != nil || v.DType == Undefined {
			continue // value_info is a hint; only a known type can contradict
		}
		if got := m.TypeOf(v.Name); got != Undefined && got != v.DType {
			errs.Add("value %q: value_info declares %v, computed %v", v.Name, v.DType, got)
		}
	}
	return errs.Err()
}

// CanonicalDomain maps "ai.onnx" to "", the name the file format also allows.
func CanonicalDomain(d string) string {
	if d == "ai.onnx" {
		return ""
	}
	return d
}

func TrimPrefix(err error) error {
	return fmt.Errorf("%s", strings.TrimPrefix(err.Error(), "runtime: "))
}

func ValueInfoOf(vi *onnxpb.ValueInfoProto) (ValueInfo, error) {
	v := ValueInfo{Name: vi.GetName()}
	tp := vi.GetType()
	if tp == nil {
		return v, nil // untyped: allowed for outputs of older producers
	}
	switch {
	case tp.GetSequenceType() != nil:
		et := tp.GetSequenceType().GetElemType()
		if et == nil {
			return v, nil // a sequence of unknown type
		}
		if et.GetTensorType() == nil {
			return v, fmt.Errorf("sequences of non-tensors are not supported")
		}
		elem := DType(et.GetTensorType().GetElemType())
		if elem == Undefined {
			return v, nil
		}
		if !elem.Supported() {
			return v, fmt.Errorf("unsupported element type %v", elem)
		}
		v.DType = SequenceOf(elem)
		return v, nil
	case tp.GetMapType() != nil:
		return v, fmt.Errorf("map types are not supported")
	case tp.GetOptionalType() != nil:
		return v, fmt.Errorf("optional types are not supported")
	case tp.GetSparseTensorType() != nil:
		return v, fmt.Errorf("sparse tensors are not supported")
	}
	tt := tp.GetTensorType()
	if tt == nil {
		return v, nil
	}
	v.DType = DType(tt.GetElemType())
	if v.DType != Undefined && !v.DType.Supported() {
		return v, fmt.Errorf("unsupported element type %v", v.DType)
	}
	if sh := tt.GetShape(); sh != nil {
		v.Ranked = true
		v.Shape = make([]int64, 0, len(sh.GetDim()))
		for _, d := range sh.GetDim() {
			if _, ok := d.GetValue().(*onnxpb.TensorShapeProto_Dimension_DimValue); ok && d.GetDimValue() >= 0 {
				v.Shape = append(v.Shape, d.GetDimValue())
			} else {
				v.Shape = append(v.Shape, -1)
			}
		}
	}
	return v, nil
}

// ErrorList is every problem found in one model; it prints the first and a count.
type ErrorList []error

func (l *ErrorList) Add(format string, args ...any) {
	*l = append(*l, fmt.Errorf("runtime: "+format, args...))
}

func (l ErrorList) Error() string {
	switch len(l) {
	case 0:
		return "no errors"
	case 1:
		if u := unsupportedOps(l); len(u.count) > 0 && u.nodes()+u.others > 1 {
			return u.message() // one node whose subgraph lacks several ops
		}
		return l[0].Error()
	}
	if u := unsupportedOps(l); len(u.count) > 0 {
		return u.message()
	}
	switch len(l) {
	case 2:
		return l[0].Error() + " (and 1 more error)"
	}
	return fmt.Sprintf("%s (and %d more errors)", l[0], len(l)-1)
}

// Unwrap gives errors.Is and errors.As every error.
func (l ErrorList) Unwrap() []error { return l }

func (l ErrorList) Err() error {
	if len(l) == 0 {
		return nil
	}
	return l
}

// RunOptions adjusts one [Model.RunWith].
type RunOptions struct {
	// Outputs names the values to return, graph outputs or intermediates
	// (useful to bisect a numerical difference). Empty means the graph outputs.
	Outputs []string
	// Profile, when set, gets each kernel call's time added to it.
	Profile *Profile
	// Engine chooses the kernels; the zero value is Fast.
	Engine Engine
}

// Run executes the graph on inputs, keyed by graph input name, and returns
// the graph outputs by name. It is RunWith with zero options.
func (m *Model) Run(inputs map[string]*Tensor) (map[string]*Tensor, error) {
	return m.RunWith(inputs, RunOptions{})
}

// RunWith executes the nodes in topological order. Each intermediate tensor is
// dropped after its last reader has run (reference counting), so peak memory
// is the live set, not the whole graph. A kernel failure comes back as an error
// naming the node: `runtime: node "Mul_3" (Mul): shape mismatch`.
//
// The executor is the runtime package's (exec.go): it runs the plan Decode
// made (values in numbered slots, fused patterns) unless opt.Outputs asks
// for a value the plan does not compute, or opt.Engine is Reference; then
// it walks the graph as written.
func (m *Model) RunWith(inputs map[string]*Tensor, opt RunOptions) (map[string]*Tensor, error) {
	return Execute(m, inputs, opt)
}

// Execute runs a model; the runtime package sets it (exec.go), so that this
// package, below the kernels and the engines, can give Model its methods.
var Execute func(m *Model, inputs map[string]*Tensor, opt RunOptions) (map[string]*Tensor, error)

// CheckInputs checks the caller's inputs against the graph's declarations.
func (m *Model) CheckInputs(inputs map[string]*Tensor) error {
	for name, t := range inputs {
		v, ok := m.DeclIn[name]
		if !ok {
			return fmt.Errorf("runtime: %q is not a graph input", name)
		}
		if err := checkInput(v, t); err != nil {
			return err
		}
	}
	for _, v := range m.Inputs {
		if _, ok := inputs[v.Name]; !ok {
			return fmt.Errorf("runtime: missing graph input %q", v.Name)
		}
	}
	return nil
}

// RunCall calls c's kernel, turning a panic into an error that names its
// node (the plan keeps one call per step, so a run allocates none).
func (m *Model) RunCall(c *Call, args []*Tensor) (outs []*Tensor, err error) {
	n := c.N
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		var msg string
		switch r := r.(type) {
		case KernelError:
			msg = string(r)
		case string:
			msg = r
		case error:
			// Not a documented precondition: a kernel bug. Keep the stack.
			msg = fmt.Sprintf("internal error: %v\n%s", r, debug.Stack())
		default:
			msg = fmt.Sprintf("internal error: %v", r)
		}
		outs, err = nil, fmt.Errorf("runtime: %v: %s", n, ClipMsg(strings.TrimPrefix(msg, "runtime: ")))
	}()
	outs = c.Fn(c, args)
	if len(outs) < len(n.Outputs) {
		outs = append(outs, make([]*Tensor, len(n.Outputs)-len(outs))...)
	}
	for i, name := range n.Outputs {
		if name == "" {
			continue
		}
		if outs[i] == nil {
			return nil, fmt.Errorf("runtime: %v: internal error: output %d %q not computed", n, i, name)
		}
		want := Undefined
		if c.OutTypes != nil {
			want = c.OutTypes[i]
		} else {
			want = m.TypeOf(name)
		}
		if want != Undefined && outs[i].DType != want {
			return nil, fmt.Errorf("runtime: %v: internal error: output %d is %v, type inference said %v", n, i, outs[i].DType, want)
		}
	}
	return outs, nil
}

// checkInput compares a caller's tensor with the graph input's declaration.
func checkInput(v ValueInfo, t *Tensor) error {
	if t == nil {
		return fmt.Errorf("runtime: graph input %q is nil", v.Name)
	}
	if t.DType.IsSequence() || v.DType.IsSequence() {
		return checkSeqInput(v, t)
	}
	if !t.DType.Supported() || sliceLen(t.Elems) < 0 || storageKind(t.DType) != fmt.Sprintf("%T", t.Elems) {
		return fmt.Errorf("runtime: graph input %q: malformed %v tensor", v.Name, t.DType)
	}
	if n, err := NumElements(t.Shape); err != nil || n != t.Len() {
		return fmt.Errorf("runtime: graph input %q: shape %v does not match its %d elements", v.Name, t.Shape, t.Len())
	}
	if v.DType != Undefined && t.DType != v.DType {
		return fmt.Errorf("runtime: graph input %q: got %v, want %v", v.Name, t.DType, v.DType)
	}
	if !v.Ranked {
		return nil
	}
	if len(t.Shape) != len(v.Shape) {
		return fmt.Errorf("runtime: graph input %q: got shape %v, want rank %d", v.Name, t.Shape, len(v.Shape))
	}
	for i, d := range v.Shape {
		if d >= 0 && t.Shape[i] != d {
			return fmt.Errorf("runtime: graph input %q: got shape %v, want %v", v.Name, t.Shape, fmtShape(v.Shape))
		}
	}
	return nil
}

// fmtShape prints a declared shape with "?" for unknown dims.
func fmtShape(s []int64) string {
	parts := make([]string, len(s))
	for i, d := range s {
		if d < 0 {
			parts[i] = "?"
		} else {
			parts[i] = fmt.Sprint(d)
		}
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// SequenceOf is the type of a sequence of elem tensors.
func SequenceOf(elem DType) DType { return elem | SeqFlag }

// IsSequence reports whether t is a sequence type.
func (t DType) IsSequence() bool { return t&SeqFlag != 0 }

// Elem is the element type of a sequence type (t itself for a tensor type).
func (t DType) Elem() DType { return t &^ SeqFlag }

// NewSequence returns a sequence of elem tensors holding items (which must
// all be elem tensors).
func NewSequence(elem DType, items []*Tensor) (*Tensor, error) {
	if !elem.Supported() {
		return nil, fmt.Errorf("runtime: unsupported element type %v", elem)
	}
	for i, t := range items {
		if t == nil || t.DType != elem {
			return nil, fmt.Errorf("runtime: sequence item %d is %v, want %v", i, t, elem)
		}
	}
	return NewSeq(elem, slices.Clone(items)), nil
}

func NewSeq(elem DType, items []*Tensor) *Tensor {
	return &Tensor{DType: SequenceOf(elem), Seq: items}
}

// Sequence returns the items of a sequence (nil for a tensor); do not modify it.
func (t *Tensor) Sequence() []*Tensor { return t.Seq }

// checkSeqInput compares a caller's value with a graph input when either is
// a sequence: the types must agree and every item be a well-formed tensor.
func checkSeqInput(v ValueInfo, t *Tensor) error {
	if v.DType != Undefined && t.DType != v.DType {
		return fmt.Errorf("runtime: graph input %q: got %v, want %v", v.Name, t.DType, v.DType)
	}
	if !t.DType.IsSequence() {
		return fmt.Errorf("runtime: graph input %q: got %v, want a sequence", v.Name, t.DType)
	}
	for i, it := range t.Seq {
		if it == nil || it.DType != t.DType.Elem() || it.DType.IsSequence() {
			return fmt.Errorf("runtime: graph input %q: item %d is %v, want %v", v.Name, i, it, t.DType.Elem())
		}
		if err := checkInput(ValueInfo{Name: fmt.Sprintf("%s[%d]", v.Name, i), DType: it.DType}, it); err != nil {
			return err
		}
	}
	return nil
}
