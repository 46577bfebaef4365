package core

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"

	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
	"github.com/mhcc-dev/mhcc/onnx/tensor"
	"github.com/mhcc-dev/mhcc/onnx/tensor/half"
)

// A DType is an element type. Its values are ONNX's TensorProto.DataType
// numbers, so a DType converts to and from the file format by a cast; its
// names and sizes come from onnx/tensor's table.
type DType int32

// The element types the interpreter stores. Float16 and BFloat16 are stored as
// their 16-bit patterns and computed in float32 (see [Tensor]).
const (
	Undefined DType = DType(tensor.Undefined)
	Float32   DType = DType(tensor.Float)
	Uint8     DType = DType(tensor.Uint8)
	Int8      DType = DType(tensor.Int8)
	Uint16    DType = DType(tensor.Uint16)
	Int16     DType = DType(tensor.Int16)
	Int32     DType = DType(tensor.Int32)
	Int64     DType = DType(tensor.Int64)
	Bool      DType = DType(tensor.Bool)
	Float16   DType = DType(tensor.Float16)
	Float64   DType = DType(tensor.Double)
	Uint32    DType = DType(tensor.Uint32)
	Uint64    DType = DType(tensor.Uint64)
	BFloat16  DType = DType(tensor.BFloat16)
)

// String returns numpy's name for the type ("float32", "bfloat16"), from
// onnx/tensor's table, the tree's one table of element types.
func (t DType) String() string {
	if t.IsSequence() {
		return "sequence(" + t.Elem().String() + ")"
	}
	return tensor.Name(int32(t))
}

// Supported reports whether tensors of this type can be stored.
func (t DType) Supported() bool { return t.Size() > 0 }

// Size is the width of one element in bytes (raw_data layout, onnx/tensor's
// table), 0 for a type the interpreter does not store (storageKind).
func (t DType) Size() int {
	if storageKind(t) == "" {
		return 0
	}
	return tensor.Size(int32(t))
}

// IsFloat reports whether t is one of the floating-point types.
func (t DType) IsFloat() bool {
	return t == Float32 || t == Float64 || t == Float16 || t == BFloat16
}

// IsInt reports whether t is a signed or unsigned integer type.
func (t DType) IsInt() bool {
	switch t {
	case Uint8, Int8, Uint16, Int16, Int32, Int64, Uint32, Uint64:
		return true
	}
	return false
}

func (t DType) IsHalf() bool { return t == Float16 || t == BFloat16 }

// MaxElements bounds every tensor the interpreter allocates, so that a shape
// computed from data (ConstantOfShape, Range, Expand, Tile) fails cleanly
// instead of exhausting memory. 1<<30 elements is 4 GiB of float32.
const MaxElements = 1 << 30

// A Tensor is a dense row-major array. Its storage is a Go slice whose element
// type follows DType: []float32, []float64, []int8 … []uint64, []bool, and
// []uint16 bit patterns for Float16 and BFloat16. Kernels never modify a tensor
// after it is made, so outputs may share storage with inputs and initializers:
// treat every tensor as read-only.
type Tensor struct {
	DType DType
	Shape []int64
	Elems any
	Seq   []*Tensor // the items of a sequence (DType.IsSequence; sequence.go)
}

// New returns a tensor of type dt and the given shape holding data, which must
// be a slice of the storage type for dt with one element per entry of shape.
func New(dt DType, shape []int64, data any) (*Tensor, error) {
	n, err := NumElements(shape)
	if err != nil {
		return nil, err
	}
	if !dt.Supported() {
		return nil, fmt.Errorf("runtime: unsupported element type %v", dt)
	}
	want := storageKind(dt)
	if got := fmt.Sprintf("%T", data); got != want {
		return nil, fmt.Errorf("runtime: %v tensor needs %s storage, got %s", dt, want, got)
	}
	t := &Tensor{DType: dt, Shape: append([]int64{}, shape...), Elems: data}
	if l := sliceLen(data); l != n {
		return nil, fmt.Errorf("runtime: shape %v holds %d elements, got %d", shape, n, l)
	}
	return t, nil
}

func Must(t *Tensor, err error) *Tensor {
	if err != nil {
		panic(err)
	}
	return t
}

// NewFloat32 returns a float32 tensor; it panics if len(data) does not match shape.
func NewFloat32(shape []int64, data []float32) *Tensor { return Must(New(Float32, shape, data)) }

// NewFloat64 returns a float64 tensor; it panics if len(data) does not match shape.
func NewFloat64(shape []int64, data []float64) *Tensor { return Must(New(Float64, shape, data)) }

// NewInt64 returns an int64 tensor; it panics if len(data) does not match shape.
func NewInt64(shape []int64, data []int64) *Tensor { return Must(New(Int64, shape, data)) }

// NewInt32 returns an int32 tensor; it panics if len(data) does not match shape.
func NewInt32(shape []int64, data []int32) *Tensor { return Must(New(Int32, shape, data)) }

// NewBool returns a bool tensor; it panics if len(data) does not match shape.
func NewBool(shape []int64, data []bool) *Tensor { return Must(New(Bool, shape, data)) }

// NewFloat16 rounds data to float16 (nearest even); it panics if len(data)
// does not match shape.
func NewFloat16(shape []int64, data []float32) *Tensor {
	return NarrowFloat32(NewFloat32(shape, data), Float16)
}

// NewBFloat16 rounds data to bfloat16 (nearest even); it panics if len(data)
// does not match shape.
func NewBFloat16(shape []int64, data []float32) *Tensor {
	return NarrowFloat32(NewFloat32(shape, data), BFloat16)
}

// Len is the number of elements.
func (t *Tensor) Len() int { return sliceLen(t.Elems) }

// Data returns the storage slice itself (see [Tensor]); do not modify it.
func (t *Tensor) Data() any { return t.Elems }

// Float32s returns the elements as float32: the storage itself for Float32,
// a converted copy for every other type.
func (t *Tensor) Float32s() []float32 {
	if d, ok := t.Elems.([]float32); ok {
		return d
	}
	if t.DType.IsHalf() {
		return Widen(t).Elems.([]float32)
	}
	f := t.Float64s()
	out := make([]float32, len(f))
	for i, v := range f {
		out[i] = float32(v)
	}
	return out
}

// Float64s returns a copy of the elements converted to float64 (bool as 0 or 1).
func (t *Tensor) Float64s() []float64 {
	switch d := t.Elems.(type) {
	case []float32:
		return convert[float32, float64](d)
	case []float64:
		return append([]float64{}, d...)
	case []uint16:
		if t.DType.IsHalf() {
			return convert[float32, float64](Widen(t).Elems.([]float32))
		}
		return convert[uint16, float64](d)
	case []int8:
		return convert[int8, float64](d)
	case []int16:
		return convert[int16, float64](d)
	case []int32:
		return convert[int32, float64](d)
	case []int64:
		return convert[int64, float64](d)
	case []uint8:
		return convert[uint8, float64](d)
	case []uint32:
		return convert[uint32, float64](d)
	case []uint64:
		return convert[uint64, float64](d)
	case []bool:
		out := make([]float64, len(d))
		for i, b := range d {
			if b {
				out[i] = 1
			}
		}
		return out
	}
	panic(ErrType)
}

// Int64s returns the elements as int64: the storage itself for Int64, a
// converted copy otherwise (floats truncate toward zero, bool is 0 or 1,
// uint64 wraps).
func (t *Tensor) Int64s() []int64 {
	switch d := t.Elems.(type) {
	case []int64:
		return d
	case []int8:
		return convert[int8, int64](d)
	case []int16:
		return convert[int16, int64](d)
	case []int32:
		return convert[int32, int64](d)
	case []uint8:
		return convert[uint8, int64](d)
	case []uint16:
		if t.DType.IsHalf() {
			return floatToInt64(t.Float64s())
		}
		return convert[uint16, int64](d)
	case []uint32:
		return convert[uint32, int64](d)
	case []uint64:
		return convert[uint64, int64](d)
	case []float32, []float64:
		return floatToInt64(t.Float64s())
	case []bool:
		out := make([]int64, len(d))
		for i, b := range d {
			if b {
				out[i] = 1
			}
		}
		return out
	}
	panic(ErrType)
}

// Bools returns the elements as bool: the storage itself for Bool, x != 0 otherwise.
func (t *Tensor) Bools() []bool {
	if d, ok := t.Elems.([]bool); ok {
		return d
	}
	f := t.Float64s()
	out := make([]bool, len(f))
	for i, v := range f {
		out[i] = v != 0
	}
	return out
}

// String prints the type, shape and up to 8 elements, for messages and tests.
func (t *Tensor) String() string {
	if t == nil {
		return "<nil>"
	}
	var b strings.Builder
	if t.DType.IsSequence() {
		fmt.Fprintf(&b, "%v of %d", t.DType, len(t.Seq))
		return b.String()
	}
	fmt.Fprintf(&b, "%v%v", t.DType, t.Shape)
	if t.DType == Bool {
		d := t.Bools()
		fmt.Fprintf(&b, " %v", d[:min(len(d), 8)])
	} else if t.Elems != nil {
		d := t.Float64s()
		fmt.Fprintf(&b, " %v", d[:min(len(d), 8)])
		if len(d) > 8 {
			b.WriteString("…")
		}
	}
	return b.String()
}

type number interface {
	~int8 | ~int16 | ~int32 | ~int64 | ~uint8 | ~uint16 | ~uint32 | ~uint64 | ~float32 | ~float64
}

func convert[S, D number](s []S) []D {
	out := make([]D, len(s))
	for i, v := range s {
		out[i] = D(v)
	}
	return out
}

func floatToInt64(f []float64) []int64 {
	out := make([]int64, len(f))
	for i, v := range f {
		out[i] = int64(v)
	}
	return out
}

// FromFloat64s converts values to a tensor of type dt: floats round to
// nearest, integers truncate toward zero and wrap, bool is v != 0.
func FromFloat64s(dt DType, shape []int64, v []float64) *Tensor {
	var data any
	switch dt {
	case Float32, Float16, BFloat16:
		f := make([]float32, len(v))
		for i, x := range v {
			f[i] = float32(x)
		}
		if dt != Float32 {
			return NarrowFloat32(&Tensor{DType: Float32, Shape: shape, Elems: f}, dt)
		}
		data = f
	case Float64:
		data = v
	case Bool:
		b := make([]bool, len(v))
		for i, x := range v {
			b[i] = x != 0
		}
		data = b
	default:
		return FromInt64s(dt, shape, floatToInt64(v))
	}
	return &Tensor{DType: dt, Shape: shape, Elems: data}
}

// FromInt64s converts values to a tensor of type dt (integers wrap).
func FromInt64s(dt DType, shape []int64, v []int64) *Tensor {
	var data any
	switch dt {
	case Int64:
		data = v
	case Int8:
		data = convert[int64, int8](v)
	case Int16:
		data = convert[int64, int16](v)
	case Int32:
		data = convert[int64, int32](v)
	case Uint8:
		data = convert[int64, uint8](v)
	case Uint16:
		data = convert[int64, uint16](v)
	case Uint32:
		data = convert[int64, uint32](v)
	case Uint64:
		data = convert[int64, uint64](v)
	case Bool:
		b := make([]bool, len(v))
		for i, x := range v {
			b[i] = x != 0
		}
		data = b
	case Float32, Float64, Float16, BFloat16:
		return FromFloat64s(dt, shape, convert[int64, float64](v))
	default:
		panic(ErrType)
	}
	return &Tensor{DType: dt, Shape: shape, Elems: data}
}

// Widen returns a Float32 copy of a Float16 or BFloat16 tensor, and t itself
// otherwise. Narrow types are computed in float32 and rounded once at the end.
func Widen(t *Tensor) *Tensor {
	if !t.DType.IsHalf() {
		return t
	}
	bits := t.Elems.([]uint16)
	f := make([]float32, len(bits))
	conv := half.Float16ToFloat32
	if t.DType == BFloat16 {
		conv = half.BFloat16ToFloat32
	}
	for i, h := range bits {
		f[i] = conv(h)
	}
	return &Tensor{DType: Float32, Shape: t.Shape, Elems: f}
}

// NarrowFloat32 rounds a Float32 tensor to dt (Float16 or BFloat16); for any
// other dt it returns t.
func NarrowFloat32(t *Tensor, dt DType) *Tensor {
	if !dt.IsHalf() || t.DType != Float32 {
		return t
	}
	f := t.Elems.([]float32)
	bits := make([]uint16, len(f))
	conv := half.Float32ToFloat16
	if dt == BFloat16 {
		conv = half.Float32ToBFloat16
	}
	for i, v := range f {
		bits[i] = conv(v)
	}
	return &Tensor{DType: dt, Shape: t.Shape, Elems: bits}
}

func storageKind(dt DType) string {
	switch dt {
	case Float32:
		return "[]float32"
	case Float64:
		return "[]float64"
	case Float16, BFloat16, Uint16:
		return "[]uint16"
	case Int8:
		return "[]int8"
	case Int16:
		return "[]int16"
	case Int32:
		return "[]int32"
	case Int64:
		return "[]int64"
	case Uint8:
		return "[]uint8"
	case Uint32:
		return "[]uint32"
	case Uint64:
		return "[]uint64"
	case Bool:
		return "[]bool"
	}
	return ""
}

func sliceLen(data any) int { return tensor.SliceLen(data) }

// NumElements is the product of shape, or an error if a dim is negative or
// the product exceeds maxElements.
func NumElements(shape []int64) (int, error) {
	n := int64(1)
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("runtime: negative dimension in shape %v", shape)
		}
		if d == 0 {
			n = 0
		}
	}
	if n == 0 {
		return 0, nil
	}
	for _, d := range shape {
		if d > MaxElements || n*d > MaxElements {
			return 0, fmt.Errorf("runtime: shape %v has more than %d elements", shape, MaxElements)
		}
		n *= d
	}
	return int(n), nil
}

// Alloc returns a zero tensor of type dt and the given shape. Kernels call it
// for every output, so an impossible or enormous shape panics with an error
// the interpreter reports against the node.
func Alloc(dt DType, shape []int64) *Tensor {
	return &Tensor{DType: dt, Shape: shape, Elems: MakeSlice(dt, CheckSizeOf(shape, dt.Size()))}
}

// CheckSize returns the element count of shape, panicking like alloc when it
// is negative or too large.
func CheckSize(shape []int64) int {
	n, err := NumElements(shape)
	if err != nil {
		panic(KernelError(strings.TrimPrefix(err.Error(), "runtime: ")))
	}
	return n
}

func MakeSlice(dt DType, n int) any {
	switch dt {
	case Float32:
		return make([]float32, n)
	case Float64:
		return make([]float64, n)
	case Float16, BFloat16, Uint16:
		return make([]uint16, n)
	case Int8:
		return make([]int8, n)
	case Int16:
		return make([]int16, n)
	case Int32:
		return make([]int32, n)
	case Int64:
		return make([]int64, n)
	case Uint8:
		return make([]uint8, n)
	case Uint32:
		return make([]uint32, n)
	case Uint64:
		return make([]uint64, n)
	case Bool:
		return make([]bool, n)
	}
	panic(ErrType)
}

// Take returns a tensor of t's type with the given shape whose element k is
// t's element idx[k]. Every data-movement kernel (Transpose, Gather, Slice,
// Expand, Tile …) is an index computation followed by take.
func Take(t *Tensor, shape []int64, idx []int) *Tensor {
	ReserveBytes(int64(len(idx))*int64(t.DType.Size()), func() string { return fmt.Sprintf("a tensor of shape %v", shape) })
	var data any
	switch d := t.Elems.(type) {
	case []float32:
		data = takeSlice(d, idx)
	case []float64:
		data = takeSlice(d, idx)
	case []uint16:
		data = takeSlice(d, idx)
	case []int8:
		data = takeSlice(d, idx)
	case []int16:
		data = takeSlice(d, idx)
	case []int32:
		data = takeSlice(d, idx)
	case []int64:
		data = takeSlice(d, idx)
	case []uint8:
		data = takeSlice(d, idx)
	case []uint32:
		data = takeSlice(d, idx)
	case []uint64:
		data = takeSlice(d, idx)
	case []bool:
		data = takeSlice(d, idx)
	default:
		panic(ErrType)
	}
	return &Tensor{DType: t.DType, Shape: shape, Elems: data}
}

func takeSlice[T any](src []T, idx []int) []T {
	out := make([]T, len(idx))
	for k, i := range idx {
		out[k] = src[i]
	}
	return out
}

// Reshaped returns a tensor sharing t's storage with a new shape of the same size.
func Reshaped(t *Tensor, shape []int64) *Tensor {
	return &Tensor{DType: t.DType, Shape: shape, Elems: t.Elems}
}

// FromProto decodes an ONNX TensorProto from raw_data or the typed fields.
// The element count implied by dims must equal what the proto holds, so no
// allocation is larger than the message itself.
func FromProto(p *onnxpb.TensorProto) (*Tensor, error) {
	dt := DType(p.GetDataType())
	name := p.GetName()
	fail := func(format string, args ...any) error {
		return fmt.Errorf("runtime: tensor %q: %s", name, fmt.Sprintf(format, args...))
	}
	if !dt.Supported() {
		return nil, fail("unsupported element type %v", dt)
	}
	if p.GetDataLocation() == onnxpb.TensorProto_EXTERNAL || len(p.GetExternalData()) > 0 {
		return nil, fail("its data is in an external file; load the model from its path (runtime.Load, DecodeDir)")
	}
	if p.Segment != nil {
		return nil, fail("segmented tensors are not supported")
	}
	shape := append([]int64{}, p.GetDims()...)
	n, err := NumElements(shape)
	if err != nil {
		return nil, fail("%s", strings.TrimPrefix(err.Error(), "runtime: "))
	}
	if p.RawData != nil {
		raw := p.GetRawData()
		if len(raw) != n*dt.Size() {
			return nil, fail("raw_data has %d bytes, shape %v of %v needs %d", len(raw), shape, dt, n*dt.Size())
		}
		return &Tensor{DType: dt, Shape: shape, Elems: decodeRaw(dt, raw, n)}, nil
	}
	var count int
	switch dt {
	case Float32:
		count = len(p.GetFloatData())
	case Float64:
		count = len(p.GetDoubleData())
	case Int64:
		count = len(p.GetInt64Data())
	case Uint32, Uint64:
		count = len(p.GetUint64Data())
	default: // int8 … int32, uint8, uint16, bool, float16, bfloat16
		count = len(p.GetInt32Data())
	}
	if count != n {
		return nil, fail("holds %d elements, shape %v needs %d", count, shape, n)
	}
	var data any
	switch dt {
	case Float32:
		data = append([]float32{}, p.GetFloatData()...)
	case Float64:
		data = append([]float64{}, p.GetDoubleData()...)
	case Int64:
		data = append([]int64{}, p.GetInt64Data()...)
	case Uint32:
		data = convert[uint64, uint32](p.GetUint64Data())
	case Uint64:
		data = append([]uint64{}, p.GetUint64Data()...)
	case Int32:
		data = append([]int32{}, p.GetInt32Data()...)
	case Int8:
		data = convert[int32, int8](p.GetInt32Data())
	case Int16:
		data = convert[int32, int16](p.GetInt32Data())
	case Uint8:
		data = convert[int32, uint8](p.GetInt32Data())
	case Uint16, Float16, BFloat16:
		data = convert[int32, uint16](p.GetInt32Data())
	case Bool:
		b := make([]bool, n)
		for i, v := range p.GetInt32Data() {
			b[i] = v != 0
		}
		data = b
	}
	return &Tensor{DType: dt, Shape: shape, Elems: data}, nil
}

func decodeRaw(dt DType, raw []byte, n int) any {
	le := binary.LittleEndian
	switch dt {
	case Float32:
		d := make([]float32, n)
		for i := range d {
			d[i] = math.Float32frombits(le.Uint32(raw[4*i:]))
		}
		return d
	case Float64:
		d := make([]float64, n)
		for i := range d {
			d[i] = math.Float64frombits(le.Uint64(raw[8*i:]))
		}
		return d
	case Uint16, Float16, BFloat16:
		d := make([]uint16, n)
		for i := range d {
			d[i] = le.Uint16(raw[2*i:])
		}
		return d
	case Int16:
		d := make([]int16, n)
		for i := range d {
			d[i] = int16(le.Uint16(raw[2*i:]))
		}
		return d
	case Int32:
		d := make([]int32, n)
		for i := range d {
			d[i] = int32(le.Uint32(raw[4*i:]))
		}
		return d
	case Uint32:
		d := make([]uint32, n)
		for i := range d {
			d[i] = le.Uint32(raw[4*i:])
		}
		return d
	case Int64:
		d := make([]int64, n)
		for i := range d {
			d[i] = int64(le.Uint64(raw[8*i:]))
		}
		return d
	case Uint64:
		d := make([]uint64, n)
		for i := range d {
			d[i] = le.Uint64(raw[8*i:])
		}
		return d
	case Int8:
		d := make([]int8, n)
		for i := range d {
			d[i] = int8(raw[i])
		}
		return d
	case Uint8:
		return append([]uint8{}, raw...)
	case Bool:
		d := make([]bool, n)
		for i := range d {
			d[i] = raw[i] != 0
		}
		return d
	}
	panic(ErrType)
}

// Proto encodes t as a TensorProto with raw_data (little-endian).
func (t *Tensor) Proto(name string) *onnxpb.TensorProto {
	le := binary.LittleEndian
	n := t.Len()
	raw := make([]byte, n*t.DType.Size())
	switch d := t.Elems.(type) {
	case []float32:
		for i, v := range d {
			le.PutUint32(raw[4*i:], math.Float32bits(v))
		}
	case []float64:
		for i, v := range d {
			le.PutUint64(raw[8*i:], math.Float64bits(v))
		}
	case []uint16:
		for i, v := range d {
			le.PutUint16(raw[2*i:], v)
		}
	case []int16:
		for i, v := range d {
			le.PutUint16(raw[2*i:], uint16(v))
		}
	case []int32:
		for i, v := range d {
			le.PutUint32(raw[4*i:], uint32(v))
		}
	case []uint32:
		for i, v := range d {
			le.PutUint32(raw[4*i:], v)
		}
	case []int64:
		for i, v := range d {
			le.PutUint64(raw[8*i:], uint64(v))
		}
	case []uint64:
		for i, v := range d {
			le.PutUint64(raw[8*i:], v)
		}
	case []int8:
		for i, v := range d {
			raw[i] = byte(v)
		}
	case []uint8:
		copy(raw, d)
	case []bool:
		for i, v := range d {
			if v {
				raw[i] = 1
			}
		}
	}
	dt := int32(t.DType)
	return &onnxpb.TensorProto{
		Name:     &name,
		Dims:     append([]int64{}, t.Shape...),
		DataType: &dt,
		RawData:  raw,
	}
}
