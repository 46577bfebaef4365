package ir

import (
	"fmt"
)

// A Source produces a constant's elements on demand. A Tensor whose Lazy is
// set and whose data slices are empty is a streamed weight: the exporter
// writes it chunk by chunk to an external data file, so no weight of a large
// model is ever held in memory whole.
type Source interface {
	// Stream calls fn with the tensor's elements, float32, in row-major
	// order, in consecutive chunks of at most ChunkElems. The slice is reused
	// between calls; fn must not keep it.
	Stream(fn func(chunk []float32) error) error
	// String says where the data comes from, for messages.
	String() string
}

// ChunkElems is the largest chunk a Source hands out: 4 MiB of float32.
const ChunkElems = 1 << 20

// IsLazy reports whether t's data is produced on demand by t.Lazy.
func (t *Tensor) IsLazy() bool {
	return t.Lazy != nil && t.F32 == nil && t.F64 == nil && t.I64 == nil
}

// Stream calls fn with t's float32 elements in chunks of at most ChunkElems:
// from t.Lazy for a streamed weight, else from t.F32.
func (t *Tensor) Stream(fn func(chunk []float32) error) error {
	if t.IsLazy() {
		n := int64(0)
		err := t.Lazy.Stream(func(c []float32) error { n += int64(len(c)); return fn(c) })
		if err == nil && n != t.Len() {
			err = fmt.Errorf("ir: %v produced %d elements, want %d", t.Lazy, n, t.Len())
		}
		return err
	}
	switch t.DType {
	case Float32, Float16, BFloat16:
	default:
		return fmt.Errorf("ir: cannot stream a %v constant as float32", t.DType)
	}
	for i := 0; i < len(t.F32); i += ChunkElems {
		if err := fn(t.F32[i:min(i+ChunkElems, len(t.F32))]); err != nil {
			return err
		}
	}
	return nil
}

// Materialize reads a streamed weight into t.F32 (a pass that folds a
// constant calls it first); it does nothing if t already holds its data.
func (t *Tensor) Materialize() error {
	if !t.IsLazy() {
		return nil
	}
	data := make([]float32, 0, t.Len())
	if err := t.Lazy.Stream(func(c []float32) error { data = append(data, c...); return nil }); err != nil {
		return err
	}
	if int64(len(data)) != t.Len() {
		return fmt.Errorf("ir: %v produced %d elements, want %d", t.Lazy, len(data), t.Len())
	}
	t.F32 = data
	return nil
}
