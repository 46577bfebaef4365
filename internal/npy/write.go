package npy

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/mhcc-dev/mhcc/internal/atomicfile"

	"github.com/mhcc-dev/mhcc/onnx/tensor"
)

// Write writes a as a .npy file (format 1.0, little-endian, C order) at path.
// The file is written to a temporary file in the same folder, synced, and
// renamed over path, so readers never see a partial file and a failed Write
// leaves any existing file untouched.
func Write(path string, a *Array) error {
	if err := check(path, a); err != nil {
		return err
	}
	err := atomicfile.Write(path, func(w io.Writer) error { return Encode(w, a) })
	if err != nil {
		return &Error{Path: path, Msg: "writing", Err: err}
	}
	return nil
}

// Encode writes a to w in the .npy format, as Write does. An invalid Array
// is an *Error; a failed write returns the writer's error.
func Encode(w io.Writer, a *Array) error {
	if err := check("", a); err != nil {
		return err
	}
	dt := dtypes[a.DType]
	bw := bufio.NewWriterSize(w, 1<<16)
	bw.Write(headerBytes(dt.descr(), a.Shape))
	writeData(bw, a.Data)
	return bw.Flush() // bufio keeps the first write error
}

// check reports whether a can be written: a known dtype, a valid shape, and
// data of the matching Go type and length.
func check(path string, a *Array) error {
	fail := func(format string, args ...any) error {
		return &Error{Path: path, Msg: fmt.Sprintf(format, args...)}
	}
	if a == nil {
		return fail("nil array")
	}
	dt, ok := dtypes[a.DType]
	if !ok {
		hint := ""
		if a.DType == "bfloat16" {
			hint = "; npy has no bfloat16, widen the values to float32 first"
		}
		return fail("unsupported dtype %q%s (supported: %s)", a.DType, hint, strings.Join(DTypes, ", "))
	}
	elems, _, msg := dataBytes(a.Shape, dt.size())
	if msg != "" {
		return fail("%s", msg)
	}
	if got := fmt.Sprintf("%T", a.Data); got != dt.gotype() {
		return fail("%s data must be %s, got %s", a.DType, dt.gotype(), got)
	}
	if n := dataLen(a.Data); int64(n) != elems {
		return fail("shape %s holds %d elements, the data has %d", FormatShape(a.Shape), elems, n)
	}
	return nil
}

// headerBytes returns the magic, version 1.0, header length and header for
// an array, laid out exactly as numpy.save does it: the dict with its keys
// sorted, room for the first dimension to grow to 21 digits (numpy leaves it
// so that the header can be rewritten in place), then spaces and a newline
// up to a multiple of 64 bytes.
func headerBytes(descr string, shape []int64) []byte {
	var h strings.Builder
	fmt.Fprintf(&h, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, FormatShape(shape))
	if len(shape) > 0 {
		const growthAxisMaxDigits = 21
		h.WriteString(strings.Repeat(" ", growthAxisMaxDigits-len(strconv.FormatInt(shape[0], 10))))
	}
	// numpy pads with 1 to 64 spaces (never 0) before the newline.
	hlen := h.Len() + 1
	pad := 64 - (len(magic)+2+2+hlen)%64
	h.WriteString(strings.Repeat(" ", pad))
	h.WriteByte('\n')
	out := make([]byte, 0, 10+h.Len())
	out = append(out, magic...)
	out = append(out, 1, 0)
	out = binary.LittleEndian.AppendUint16(out, uint16(h.Len())) // ≤ 64 dims × 21 bytes: fits
	return append(out, h.String()...)
}

// writeData writes the elements little-endian; write errors are kept by w.
func writeData(w *bufio.Writer, data any) {
	le := binary.LittleEndian
	switch d := data.(type) {
	case []float32:
		writeElems(w, d, 4, func(b []byte, v float32) { le.PutUint32(b, math.Float32bits(v)) })
	case []float64:
		writeElems(w, d, 8, func(b []byte, v float64) { le.PutUint64(b, math.Float64bits(v)) })
	case []uint16:
		writeElems(w, d, 2, le.PutUint16)
	case []int64:
		writeElems(w, d, 8, func(b []byte, v int64) { le.PutUint64(b, uint64(v)) })
	case []int32:
		writeElems(w, d, 4, func(b []byte, v int32) { le.PutUint32(b, uint32(v)) })
	case []int16:
		writeElems(w, d, 2, func(b []byte, v int16) { le.PutUint16(b, uint16(v)) })
	case []int8:
		writeElems(w, d, 1, func(b []byte, v int8) { b[0] = byte(v) })
	case []uint8:
		w.Write(d)
	case []uint32:
		writeElems(w, d, 4, le.PutUint32)
	case []uint64:
		writeElems(w, d, 8, le.PutUint64)
	case []bool:
		writeElems(w, d, 1, func(b []byte, v bool) {
			b[0] = 0
			if v {
				b[0] = 1
			}
		})
	default:
		panic(fmt.Sprintf("npy: no writer for %T", data)) // check rejected it
	}
}

// writeElems encodes and writes the elements in chunks.
func writeElems[T any](w *bufio.Writer, data []T, size int, put func([]byte, T)) {
	buf := make([]byte, min(len(data)*size, 1<<16)/size*size)
	for i := 0; i < len(data); {
		k := min(len(data)-i, len(buf)/size)
		for j := range k {
			put(buf[j*size:], data[i+j])
		}
		if _, err := w.Write(buf[:k*size]); err != nil {
			return
		}
		i += k
	}
}

// dataLen is the length of a supported data slice, -1 for anything else.
func dataLen(data any) int { return tensor.SliceLen(data) }
