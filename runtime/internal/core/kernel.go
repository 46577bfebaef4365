package core

import (
	"fmt"

	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
)

// Failures inside kernels. Constant strings for the common preconditions
// (gonum style); kernelError when the message needs values.
const (
	errShape = "runtime: shape mismatch"
	ErrType  = "runtime: unsupported element type"
	ErrAxis  = "runtime: axis out of range"
	ErrRank  = "runtime: wrong rank"
)

// A KernelError is a panic value carrying a formatted precondition failure.
type KernelError string

func (e KernelError) Error() string { return string(e) }

// Errorf is fmt.Errorf, for static checks (Decode adds the node and prefix).
func Errorf(format string, args ...any) error { return fmt.Errorf(format, shortArgs(args)...) }

// Failf panics with a kernelError; Run turns it into an error naming the node.
func Failf(format string, args ...any) {
	panic(KernelError(fmt.Sprintf(format, shortArgs(args)...)))
}

// A Call is one execution of a node: its attributes and opset, and the
// engine's forms of the steps kernels share.
type Call struct {
	N    *Node
	Nout int        // outputs declared by the node, omitted ones included
	Ops  Ops        // the engine's: ref.Ops under Reference, fast.Ops under Fast
	Fn   KernelFunc // what the engine runs for n: its row's kernel, or its fast form (Kernel)
	// OutTypes, when set, are the types inference gave n's outputs (what
	// RunCall checks the kernel's against), looked up once by the plan
	// instead of by name on every call.
	OutTypes []DType
}

// Ops are the steps several kernels share, in the form of the engine a call
// runs under. A kernel is written once against them: the Reference
// engine's (ref.Ops) are the plain loops, so a kernel run under it is the
// reference by construction; the Fast engine's (fast.Ops) are the
// row-wise, vectorised and parallel forms, which fall back to the plain
// ones where they do not apply. No kernel asks which engine it runs under.
type Ops interface {
	// MapFloat is y[i] = f(x[i]) for a float x (mapFloat).
	MapFloat(x *Tensor, f func(float64) float64) *Tensor
	// Zip is op(a, b) broadcasting (zipNum).
	Zip(a, b *Tensor, op BinFn) *Tensor
	// Transpose permutes x's dims (transposeTensor).
	Transpose(x *Tensor, perm []int) *Tensor
	// ReduceAxes reduces x over axes with r (reduceAxes).
	ReduceAxes(x *Tensor, axes []int64, keepdims bool, r Reducer) *Tensor
	// Matmul is numpy's matmul of a and b (matmulRef).
	Matmul(a, b *Tensor) *Tensor
	// Concat joins in along axis into shape, all of one dtype (concatPlain).
	Concat(in []*Tensor, shape []int64, axis int) *Tensor
	// Strided is the tensor of shape whose element at index i… is x's at
	// base + Σ i_d·st[d] (Slice).
	Strided(x *Tensor, shape []int64, st []int, base int) *Tensor
	// Expand broadcasts x to shape (Expand).
	Expand(x *Tensor, shape []int64) *Tensor
	// Gather takes x's rows idx along the middle dim of [outer, dim, inner]
	// into shape (Gather); an index out of range fails.
	Gather(x *Tensor, idx []int64, shape []int64, outer, dim, inner int) *Tensor
	// Run runs a subgraph or function body (control.go, function.go) under
	// the same engine.
	Run(sub *Model, feeds map[string]*Tensor) (map[string]*Tensor, error)
}

func (c *Call) Opset() int64 { return c.N.Opset }

// WantOut reports whether output i is declared and not omitted.
func (c *Call) WantOut(i int) bool { return i < c.Nout && c.N.Outputs[i] != "" }

func (c *Call) attr(name string, want onnxpb.AttributeProto_AttributeType) *onnxpb.AttributeProto {
	a := c.N.Attrs[name]
	if a == nil {
		return nil
	}
	if a.Type != nil && a.GetType() != want {
		Failf("attribute %q: got %v, want %v", name, a.GetType(), want)
	}
	return a
}

func (c *Call) Has(name string) bool { return c.N.Attrs[name] != nil }

func (c *Call) Int(name string, def int64) int64 {
	if a := c.attr(name, onnxpb.AttributeProto_INT); a != nil {
		return a.GetI()
	}
	return def
}

func (c *Call) Float(name string, def float64) float64 {
	if a := c.attr(name, onnxpb.AttributeProto_FLOAT); a != nil {
		return float64(a.GetF())
	}
	return def
}

func (c *Call) Str(name, def string) string {
	if a := c.attr(name, onnxpb.AttributeProto_STRING); a != nil {
		return string(a.GetS())
	}
	return def
}

// Ints returns an INTS attribute and whether it is present.
func (c *Call) Ints(name string) ([]int64, bool) {
	if a := c.attr(name, onnxpb.AttributeProto_INTS); a != nil {
		return a.GetInts(), true
	}
	return nil, false
}

func (c *Call) floats(name string) ([]float32, bool) {
	if a := c.attr(name, onnxpb.AttributeProto_FLOATS); a != nil {
		return a.GetFloats(), true
	}
	return nil, false
}

// Tensor returns a TENSOR attribute, decoded by Decode, or nil.
func (c *Call) Tensor(name string) *Tensor {
	c.attr(name, onnxpb.AttributeProto_TENSOR)
	return c.N.Consts[name]
}

// A Kernel is one row of the table: an op of a domain over a range of opsets.
type Kernel struct {
	Domain       string // "" for ai.onnx, "ai.mhcc" for mhcc's own ops, "com.microsoft" for onnxruntime's
	Op           string
	Since, Until int64 // opsets implemented, inclusive; until 0 means maxOpset
	MinIn, MaxIn int   // input count; maxIn 0 means minIn, -1 means no limit
	MaxOut       int   // output count; 0 means 1
	Fn           KernelFunc
	Types        TypeRule          // static output types, checking input types; nil: unknown
	Check        func(*Node) error // static attribute checks; may be nil
}

// A KernelFunc computes a node's outputs. It returns one tensor per declared
// output (nil for an omitted optional one) and panics with a kernelError or a
// constant string on a broken precondition; Run reports it against the node.
type KernelFunc func(c *Call, in []*Tensor) []*Tensor

// A TypeRule gives a node's output element types from its input types
// (Undefined where unknown) and fails when the inputs cannot be right.
type TypeRule func(n *Node, in []DType) ([]DType, error)

type OpKey struct{ Domain, Op string }

func (k *Kernel) Last() int64 {
	if k.Until == 0 {
		return MaxOpset
	}
	return k.Until
}

// MaxOpset is the newest opset the kernel table (ref) was checked against: up to it,
// a row whose until is 0 has the semantics its kernel implements.
const MaxOpset = 21

// FuncName prints a function key as domain.name.
func FuncName(k OpKey) string {
	if k.Domain == "" {
		return k.Op
	}
	return k.Domain + "." + k.Op
}
