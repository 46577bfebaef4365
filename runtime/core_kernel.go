package runtime

import (
	"fmt"

	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
)

// Failures inside kernels. Constant strings for the common preconditions
// (gonum style); kernelError when the message needs values.
const (
	errShape = "runtime: shape mismatch"
	errType  = "runtime: unsupported element type"
	errAxis  = "runtime: axis out of range"
	errRank  = "runtime: wrong rank"
)

// A kernelError is a panic value carrying a formatted precondition failure.
type kernelError string

func (e kernelError) Error() string { return string(e) }

// errorf is fmt.Errorf, for static checks (Decode adds the node and prefix).
func errorf(format string, args ...any) error { return fmt.Errorf(format, shortArgs(args)...) }

// failf panics with a kernelError; Run turns it into an error naming the node.
func failf(format string, args ...any) {
	panic(kernelError(fmt.Sprintf(format, shortArgs(args)...)))
}

// A call is one execution of a node: its attributes and opset, and the
// engine's forms of the steps kernels share.
type call struct {
	n    *Node
	nout int        // outputs declared by the node, omitted ones included
	ops  ops        // the engine's: plainOps under Reference, fastOps under Fast
	fn   kernelFunc // what the engine runs for n: its row's kernel, or its fast form (fastKernel)
}

// ops are the steps several kernels share, in the form of the engine a call
// runs under. A kernel is written once against them: the Reference engine's
// (plainOps, ops_plain.go) are the plain loops, so a kernel run under it is
// the reference by construction; the Fast engine's (fastOps, fastpath.go)
// are the row-wise, vectorised and parallel forms, which fall back to the
// plain ones where they do not apply. No kernel asks which engine it runs
// under.
type ops interface {
	// mapFloat is y[i] = f(x[i]) for a float x (mapFloat).
	mapFloat(x *Tensor, f func(float64) float64) *Tensor
	// zip is op(a, b) broadcasting (zipNum).
	zip(a, b *Tensor, op binFn) *Tensor
	// transpose permutes x's dims (transposeTensor).
	transpose(x *Tensor, perm []int) *Tensor
	// reduceAxes reduces x over axes with r (reduceAxes).
	reduceAxes(x *Tensor, axes []int64, keepdims bool, r reducer) *Tensor
	// matmul is numpy's matmul of a and b (matmulRef).
	matmul(a, b *Tensor) *Tensor
	// concat joins in along axis into shape, all of one dtype (concatPlain).
	concat(in []*Tensor, shape []int64, axis int) *Tensor
	// strided is the tensor of shape whose element at index i… is x's at
	// base + Σ i_d·st[d] (Slice).
	strided(x *Tensor, shape []int64, st []int, base int) *Tensor
	// expand broadcasts x to shape (Expand).
	expand(x *Tensor, shape []int64) *Tensor
	// gather takes x's rows idx along the middle dim of [outer, dim, inner]
	// into shape (Gather); an index out of range fails.
	gather(x *Tensor, idx []int64, shape []int64, outer, dim, inner int) *Tensor
	// run runs a subgraph or function body (control.go, function.go) under
	// the same engine.
	run(sub *Model, feeds map[string]*Tensor) (map[string]*Tensor, error)
}

func (c *call) opset() int64 { return c.n.Opset }

// wantOut reports whether output i is declared and not omitted.
func (c *call) wantOut(i int) bool { return i < c.nout && c.n.Outputs[i] != "" }

func (c *call) attr(name string, want onnxpb.AttributeProto_AttributeType) *onnxpb.AttributeProto {
	a := c.n.attrs[name]
	if a == nil {
		return nil
	}
	if a.Type != nil && a.GetType() != want {
		failf("attribute %q: got %v, want %v", name, a.GetType(), want)
	}
	return a
}

func (c *call) has(name string) bool { return c.n.attrs[name] != nil }

func (c *call) int(name string, def int64) int64 {
	if a := c.attr(name, onnxpb.AttributeProto_INT); a != nil {
		return a.GetI()
	}
	return def
}

func (c *call) float(name string, def float64) float64 {
	if a := c.attr(name, onnxpb.AttributeProto_FLOAT); a != nil {
		return float64(a.GetF())
	}
	return def
}

func (c *call) str(name, def string) string {
	if a := c.attr(name, onnxpb.AttributeProto_STRING); a != nil {
		return string(a.GetS())
	}
	return def
}

// ints returns an INTS attribute and whether it is present.
func (c *call) ints(name string) ([]int64, bool) {
	if a := c.attr(name, onnxpb.AttributeProto_INTS); a != nil {
		return a.GetInts(), true
	}
	return nil, false
}

func (c *call) floats(name string) ([]float32, bool) {
	if a := c.attr(name, onnxpb.AttributeProto_FLOATS); a != nil {
		return a.GetFloats(), true
	}
	return nil, false
}

// tensor returns a TENSOR attribute, decoded by Decode, or nil.
func (c *call) tensor(name string) *Tensor {
	c.attr(name, onnxpb.AttributeProto_TENSOR)
	return c.n.consts[name]
}

// A kernel is one row of the table: an op of a domain over a range of opsets.
type kernel struct {
	domain       string // "" for ai.onnx, "ai.mhcc" for mhcc's own ops, "com.microsoft" for onnxruntime's
	op           string
	since, until int64 // opsets implemented, inclusive; until 0 means maxOpset
	minIn, maxIn int   // input count; maxIn 0 means minIn, -1 means no limit
	maxOut       int   // output count; 0 means 1
	fn           kernelFunc
	types        typeRule          // static output types, checking input types; nil: unknown
	check        func(*Node) error // static attribute checks; may be nil
}

// A kernelFunc computes a node's outputs. It returns one tensor per declared
// output (nil for an omitted optional one) and panics with a kernelError or a
// constant string on a broken precondition; Run reports it against the node.
type kernelFunc func(c *call, in []*Tensor) []*Tensor

// A typeRule gives a node's output element types from its input types
// (Undefined where unknown) and fails when the inputs cannot be right.
type typeRule func(n *Node, in []DType) ([]DType, error)

type opKey struct{ domain, op string }

func (k *kernel) last() int64 {
	if k.until == 0 {
		return maxOpset
	}
	return k.until
}

// maxOpset is the newest opset the kernel table (ref) was checked against: up to it,
// a row whose until is 0 has the semantics its kernel implements.
const maxOpset = 21
