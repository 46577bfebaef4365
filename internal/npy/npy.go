// Package npy reads and writes NumPy's .npy array files.
//
// A .npy file is the magic string "\x93NUMPY", a major and a minor version
// byte, a little-endian header length (2 bytes in version 1.0, 4 bytes in 2.0
// and 3.0), the header — a Python dict literal such as
//
//	{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
//
// padded with spaces and ended by a newline — and then the elements in the
// byte order and layout the header gives.
//
// Read accepts versions 1.0, 2.0 and 3.0 and the dtypes listed in [Array]
// in either byte order ('<', '>', or '|' for one-byte types). The header is
// parsed strictly: exactly the three keys, each once, with a str, a bool
// and a tuple of non-negative ints; nothing else is evaluated. Fortran-order,
// structured, string and object arrays are rejected with an error that says
// so. Nothing is allocated from the header's word alone: the header length
// is checked against the file's size and the shape's byte size must equal the
// size of the data that follows the header exactly.
//
// Write writes format 1.0, little-endian, C order, with the header laid out
// byte for byte as numpy.save lays it out, so a file written here is
// identical to numpy.save's for the same array. NumPy has no bfloat16: a
// caller holding bfloat16 values widens them to float32 first.
package npy

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/mhcc-dev/mhcc/onnx/tensor"
)

// MaxHeaderSize is the largest header Read accepts, numpy's own limit for
// np.load (its max_header_size): real headers are about a hundred bytes.
const MaxHeaderSize = 10000

// MaxRank is the largest number of dimensions Read and Write accept, numpy
// 2's limit (numpy 1 allows 32).
const MaxRank = 64

// An Array is a dense array in C (row-major) order.
//
// DType names the element type, and Data is a slice of the matching Go type
// with one element per entry of Shape (one for a scalar, Shape empty):
//
//	"float32" []float32   "int64"  []int64   "uint8"  []uint8
//	"float64" []float64   "int32"  []int32   "uint16" []uint16
//	"float16" []uint16    "int16"  []int16   "uint32" []uint32
//	          (bit patterns) "int8" []int8   "uint64" []uint64
//	"bool"    []bool
//
// float16 elements are kept as their IEEE binary16 bit patterns (see
// onnx/tensor/half to convert them).
type Array struct {
	DType string
	Shape []int64
	Data  any
}

// NumElements is the product of the shape (1 for a scalar). It is only
// meaningful for a valid shape: no negative dimensions and no overflow.
func (a *Array) NumElements() int64 {
	n := int64(1)
	for _, d := range a.Shape {
		n *= d
	}
	return n
}

// DTypes lists the element types Read and Write support, in the order of
// the table in [Array].
var DTypes = []string{"float32", "float64", "float16", "int64", "int32", "int16", "int8", "uint8", "uint16", "uint32", "uint64", "bool"}

// dtype describes one supported element type: numpy's kind character with
// the ONNX element type of the same name (onnx/tensor's table, which gives
// its size and Go type; float16 travels as its uint16 bit patterns).
type dtype struct {
	tensor.DType
	kind byte // numpy's kind character: 'f', 'i', 'u' or 'b'
}

func (d dtype) name() string   { return d.Name }
func (d dtype) size() int      { return d.Size() }
func (d dtype) gotype() string { return "[]" + d.Go.String() }

var dtypes = func() map[string]dtype {
	m := map[string]dtype{}
	for _, name := range DTypes {
		d, ok := tensor.ByName(name)
		if !ok {
			panic("npy: no ONNX element type " + name)
		}
		m[name] = dtype{d, kindOf(name)}
	}
	return m
}()

// kindOf is numpy's kind character for the dtype named name.
func kindOf(name string) byte {
	switch {
	case name == "bool":
		return 'b'
	case strings.HasPrefix(name, "float"):
		return 'f'
	case strings.HasPrefix(name, "uint"):
		return 'u'
	}
	return 'i'
}

// byCode finds a dtype by numpy's kind and size ("f4" → float32).
func byCode(kind byte, size int) (dtype, bool) {
	for _, d := range dtypes {
		if d.kind == kind && d.size() == size {
			return d, true
		}
	}
	return dtype{}, false
}

// descr is the little-endian descr numpy writes for d: '<f4', '|u1'.
func (d dtype) descr() string {
	order := "<"
	if d.size() == 1 {
		order = "|"
	}
	return order + string(d.kind) + strconv.Itoa(d.size())
}

// Error is a problem with a .npy file (malformed, unsupported, unreadable)
// or, from Write, with the Array to write.
type Error struct {
	Path string // the file, as given to Read or Write; "" for Decode and Encode
	Msg  string
	Err  error // the underlying error (I/O), may be nil
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Path != "" {
		b.WriteString(e.Path)
	} else {
		b.WriteString("npy")
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// FormatShape writes a shape as Python prints the tuple: (), (3,), (2, 3).
func FormatShape(shape []int64) string {
	var b strings.Builder
	b.WriteByte('(')
	for i, d := range shape {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.FormatInt(d, 10))
	}
	if len(shape) == 1 {
		b.WriteByte(',')
	}
	b.WriteByte(')')
	return b.String()
}

// dataBytes returns the element count of shape and its size in bytes for an
// element of size bytes, or a message if a dimension is negative, the rank
// is above MaxRank, or either number overflows an int64. A zero dimension
// makes both zero however large the others are.
func dataBytes(shape []int64, size int) (elems, bytes int64, msg string) {
	if len(shape) > MaxRank {
		return 0, 0, fmt.Sprintf("shape has %d dimensions, more than the %d supported", len(shape), MaxRank)
	}
	zero := false
	for i, d := range shape {
		if d < 0 {
			return 0, 0, fmt.Sprintf("shape %s has negative dimension %d at index %d", FormatShape(shape), d, i)
		}
		zero = zero || d == 0
	}
	if zero {
		return 0, 0, ""
	}
	const maxInt64 = 1<<63 - 1
	elems = 1
	for _, d := range shape {
		if elems > maxInt64/d {
			return 0, 0, fmt.Sprintf("shape %s has more than 2^63-1 elements", FormatShape(shape))
		}
		elems *= d
	}
	if elems > maxInt64/int64(size) {
		return 0, 0, fmt.Sprintf("shape %s is more than 2^63-1 bytes", FormatShape(shape))
	}
	return elems, elems * int64(size), ""
}
