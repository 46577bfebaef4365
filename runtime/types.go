package runtime

import (
	"github.com/mhcc-dev/mhcc/onnx/pb"
	"github.com/mhcc-dev/mhcc/runtime/internal/core"
	"github.com/mhcc-dev/mhcc/runtime/internal/fast"
	"github.com/mhcc-dev/mhcc/runtime/internal/ref"
)

// The runtime's types live in internal/core, below the kernels and the
// engines that use them (RATIONALE.md, "Package boundaries: the runtime");
// these are their public names.
type (
	// A Tensor is a dense row-major array (see core.Tensor).
	Tensor = core.Tensor
	// A DType is an element type: ONNX's TensorProto.DataType codes, with
	// the names and sizes of onnx/tensor's table.
	DType = core.DType
	// A Model is a decoded and checked ONNX model, ready to [Model.Run].
	Model = core.Model
	// A Node is one operator application of the graph.
	Node = core.Node
	// A ValueInfo is a graph input or output as declared in the file.
	ValueInfo = core.ValueInfo
	// RunOptions adjusts one [Model.RunWith].
	RunOptions = core.RunOptions
	// An Engine is the set of kernels a run uses (Fast or Reference).
	Engine = core.Engine
	// A Profile adds up the time per operator over runs.
	Profile = core.Profile
	// An OpTime is one operator's share of a Profile.
	OpTime = core.OpTime
)

// The element types the interpreter stores. Float16 and BFloat16 are stored
// as their 16-bit patterns and computed in float32 (see [Tensor]).
const (
	Undefined = core.Undefined
	Float32   = core.Float32
	Uint8     = core.Uint8
	Int8      = core.Int8
	Uint16    = core.Uint16
	Int16     = core.Int16
	Int32     = core.Int32
	Int64     = core.Int64
	Bool      = core.Bool
	Float16   = core.Float16
	Float64   = core.Float64
	Uint32    = core.Uint32
	Uint64    = core.Uint64
	BFloat16  = core.BFloat16
)

// The engines (see core.Engine).
const (
	// Fast runs the plan Decode made with the fast kernels; the zero value.
	Fast = core.Fast
	// Reference walks the graph as written with the plain reference loops.
	Reference = core.Reference
)

// DefaultMaxLoopIterations is the default of [SetMaxLoopIterations].
const DefaultMaxLoopIterations = core.DefaultMaxLoopIterations

// New makes a tensor of dt and shape holding data, a slice of dt's Go
// element type of the right length (see core.New).
func New(dt DType, shape []int64, data any) (*Tensor, error) { return core.New(dt, shape, data) }

// NewFloat32 is New for float32 data; it panics on a length mismatch.
func NewFloat32(shape []int64, data []float32) *Tensor { return core.NewFloat32(shape, data) }

// NewFloat64 is New for float64 data; it panics on a length mismatch.
func NewFloat64(shape []int64, data []float64) *Tensor { return core.NewFloat64(shape, data) }

// NewInt64 is New for int64 data; it panics on a length mismatch.
func NewInt64(shape []int64, data []int64) *Tensor { return core.NewInt64(shape, data) }

// NewInt32 is New for int32 data; it panics on a length mismatch.
func NewInt32(shape []int64, data []int32) *Tensor { return core.NewInt32(shape, data) }

// NewBool is New for bool data; it panics on a length mismatch.
func NewBool(shape []int64, data []bool) *Tensor { return core.NewBool(shape, data) }

// NewFloat16 rounds data to float16 (see core.NewFloat16).
func NewFloat16(shape []int64, data []float32) *Tensor { return core.NewFloat16(shape, data) }

// NewBFloat16 rounds data to bfloat16 (see core.NewBFloat16).
func NewBFloat16(shape []int64, data []float32) *Tensor { return core.NewBFloat16(shape, data) }

// NewSequence makes a sequence of elem tensors (see core.NewSequence).
func NewSequence(elem DType, items []*Tensor) (*Tensor, error) { return core.NewSequence(elem, items) }

// SequenceOf is the type of a sequence of elem tensors.
func SequenceOf(elem DType) DType { return core.SequenceOf(elem) }

// FromProto decodes a TensorProto whose data is in the message (see
// core.FromProto).
func FromProto(p *onnxpb.TensorProto) (*Tensor, error) { return core.FromProto(p) }

// SetMaxBytes sets the memory budget of every run and returns the old one
// (see core.SetMaxBytes).
func SetMaxBytes(n int64) (old int64) { return core.SetMaxBytes(n) }

// MaxBytes is the memory budget in force.
func MaxBytes() int64 { return core.MaxBytes() }

// DefaultMaxBytes is the budget a process starts with.
func DefaultMaxBytes() int64 { return core.DefaultMaxBytes() }

// FormatBytes prints a byte count for messages ("1.5 GiB").
func FormatBytes(n int64) string { return core.FormatBytes(n) }

// SetMaxLoopIterations sets the iteration limit of every Loop and returns
// the old one (0: no limit).
func SetMaxLoopIterations(n int64) (old int64) { return core.SetMaxLoopIterations(n) }

// MaxLoopIterations is the Loop iteration limit in force.
func MaxLoopIterations() int64 { return core.MaxLoopIterations() }

// UnsupportedOps counts, in a Decode error, the nodes of each op type the
// runtime has no kernel for (see core.UnsupportedOps).
func UnsupportedOps(err error) map[string]int { return core.UnsupportedOps(err) }

// Implements reports whether the interpreter has a kernel for op_type op of
// domain ("" or "ai.onnx" for the default domain) at the given opset version.
func Implements(domain, op string, opset int64) bool { return ref.Implements(domain, op, opset) }

// Kernels describes the float32 kernels this build runs on this CPU, for
// benchmark reports.
func Kernels() string { return fast.Kernels() }
