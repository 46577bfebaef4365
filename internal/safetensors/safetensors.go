// Package safetensors reads and writes the safetensors tensor file format.
//
// A safetensors file is an 8-byte little-endian header length N, N bytes of
// UTF-8 JSON, and a data region that runs to the end of the file. The JSON is
// an object mapping each tensor name to {"dtype", "shape", "data_offsets"}
// (offsets relative to the start of the data region), plus an optional
// "__metadata__" object of string values.
//
// The reader trusts nothing in the header: every length, shape and offset is
// checked against the file's actual size before anything is allocated from
// it, the tensors must tile the data region exactly (no gaps, no overlaps),
// and each problem is reported as an *Error naming the file and the tensor.
// Tensor data is read with ReadAt on demand, never all at once.
package safetensors

import (
	"fmt"
	"strconv"
	"strings"
)

// MaxHeaderSize is the largest header length Open accepts (100 MiB). Real
// headers are kilobytes to a few megabytes; the cap keeps a corrupt length
// from turning into a huge allocation.
const MaxHeaderSize = 100 << 20

// metadataKey is the reserved header key holding the string metadata.
const metadataKey = "__metadata__"

// Error is a problem with a safetensors file: malformed, inconsistent,
// unreadable, or (for Write) invalid input.
type Error struct {
	Path   string // the file, as given to Open or Write
	Tensor string // the tensor concerned, "" if the problem is not about one
	Msg    string
	Err    error // underlying error (I/O, JSON syntax), may be nil
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Path)
	b.WriteString(": ")
	if e.Tensor != "" {
		b.WriteString("tensor ")
		b.WriteString(strconv.Quote(e.Tensor))
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Info describes one tensor of a file.
type Info struct {
	Name  string
	DType DType
	Shape []int64
	// Begin and End are the tensor's byte range, relative to the start of the
	// data region (File.DataStart).
	Begin, End int64
}

// NumElements returns the product of the shape (1 for a scalar).
func (i Info) NumElements() int64 {
	n := int64(1)
	for _, d := range i.Shape {
		n *= d // cannot overflow: checked when the header was parsed
	}
	return n
}

// ByteSize returns End-Begin.
func (i Info) ByteSize() int64 { return i.End - i.Begin }

// formatShape renders a shape as "[24, 128]".
func formatShape(shape []int64) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, d := range shape {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.FormatInt(d, 10))
	}
	b.WriteByte(']')
	return b.String()
}

// sizeFormula renders the expected byte size of a tensor, as
// "4·(24·128)=12288", "2·7=14" or "8·1=8" (a scalar).
func sizeFormula(dt DType, shape []int64, bytes int64) string {
	var elems string
	switch len(shape) {
	case 0:
		elems = "1"
	case 1:
		elems = strconv.FormatInt(shape[0], 10)
	default:
		parts := make([]string, len(shape))
		for i, d := range shape {
			parts[i] = strconv.FormatInt(d, 10)
		}
		elems = "(" + strings.Join(parts, "·") + ")"
	}
	return fmt.Sprintf("%d·%s=%d", dt.Size(), elems, bytes)
}

// checkedBytes returns the number of elements of shape and their size in
// bytes for dt, or an error message if a dimension is negative or either
// number does not fit in an int64. A zero dimension makes the product zero
// however large the others are.
func checkedBytes(dt DType, shape []int64) (elems, bytes int64, msg string) {
	zero := false
	for i, d := range shape {
		if d < 0 {
			return 0, 0, fmt.Sprintf("shape %s has negative dimension %d at index %d", formatShape(shape), d, i)
		}
		if d == 0 {
			zero = true
		}
	}
	if zero {
		return 0, 0, ""
	}
	elems = 1
	for _, d := range shape {
		if elems > maxInt64/d {
			return 0, 0, fmt.Sprintf("shape %s has more than 2^63-1 elements", formatShape(shape))
		}
		elems *= d
	}
	size := int64(dt.Size())
	if elems > maxInt64/size {
		return 0, 0, fmt.Sprintf("%s shape %s is more than 2^63-1 bytes", dt, formatShape(shape))
	}
	return elems, elems * size, ""
}

const maxInt64 = 1<<63 - 1
