package safetensors

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/mhcc-dev/mhcc/onnx/tensor/half"

	"github.com/mhcc-dev/mhcc/internal/atomicfile"
)

// Tensor is a tensor to write: its elements little-endian in row-major order.
type Tensor struct {
	Name  string
	DType DType
	Shape []int64
	Data  []byte
}

// Write writes tensors and metadata (nil or empty for none) as a safetensors
// file at path.
//
// The output is deterministic: the header is "__metadata__" (keys sorted)
// first, as the reference implementation writes it, then the tensors sorted
// by name, each as {"dtype","shape","data_offsets"}; the header is padded
// with spaces to a multiple of 8 bytes so the data region is 8-byte aligned;
// the data follows in the same name order. The file is written to a
// temporary file in the same folder, synced, and renamed over path, so
// readers never see a partial file.
func Write(path string, tensors []Tensor, metadata map[string]string) error {
	header, order, err := encodeHeader(path, tensors, metadata)
	if err != nil {
		return err
	}
	err = atomicfile.Write(path, func(w io.Writer) error {
		bw := bufio.NewWriterSize(w, 1<<16)
		writeFile(bw, header, order, tensors)
		return bw.Flush() // bufio keeps the first write error
	})
	if err != nil {
		return &Error{Path: path, Msg: "writing", Err: err}
	}
	return nil
}

// writeFile writes the length prefix, the header and the data.
func writeFile(w *bufio.Writer, header []byte, order []int, tensors []Tensor) {
	var lenBuf [8]byte
	binary.LittleEndian.PutUint64(lenBuf[:], uint64(len(header)))
	w.Write(lenBuf[:])
	w.Write(header)
	for _, i := range order {
		w.Write(tensors[i].Data)
	}
}

// encodeHeader validates tensors and returns the padded JSON header and the
// order (indices into tensors, by name) in which to write their data.
func encodeHeader(path string, tensors []Tensor, metadata map[string]string) ([]byte, []int, error) {
	errorf := func(tensor, format string, args ...any) ([]byte, []int, error) {
		return nil, nil, &Error{Path: path, Tensor: tensor, Msg: fmt.Sprintf(format, args...)}
	}
	order := make([]int, len(tensors))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return tensors[order[a]].Name < tensors[order[b]].Name })
	for k, i := range order {
		t := &tensors[i]
		switch {
		case t.Name == metadataKey:
			return errorf(t.Name, "the name is reserved for the metadata")
		case !utf8.ValidString(t.Name):
			return errorf(t.Name, "name is not valid UTF-8")
		case k > 0 && tensors[order[k-1]].Name == t.Name:
			return errorf(t.Name, "appears twice")
		case t.DType.Size() == 0:
			return errorf(t.Name, "unknown dtype %q", string(t.DType))
		}
		_, size, msg := checkedBytes(t.DType, t.Shape)
		if msg != "" {
			return errorf(t.Name, "%s", msg)
		}
		if int64(len(t.Data)) != size {
			return errorf(t.Name, "data is %d bytes, want %s for %s %s",
				len(t.Data), sizeFormula(t.DType, t.Shape, size), t.DType, formatShape(t.Shape))
		}
	}
	keys := make([]string, 0, len(metadata))
	for k, v := range metadata {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return errorf("", "metadata entry %q is not valid UTF-8", k)
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)

	var b bytes.Buffer
	b.WriteByte('{')
	if len(keys) > 0 {
		writeJSONString(&b, metadataKey)
		b.WriteString(":{")
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSONString(&b, k)
			b.WriteByte(':')
			writeJSONString(&b, metadata[k])
		}
		b.WriteByte('}')
	}
	offset := int64(0)
	for k, i := range order {
		t := &tensors[i]
		if k > 0 || len(keys) > 0 {
			b.WriteByte(',')
		}
		writeJSONString(&b, t.Name)
		b.WriteString(`:{"dtype":`)
		writeJSONString(&b, string(t.DType))
		b.WriteString(`,"shape":[`)
		for j, d := range t.Shape {
			if j > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.FormatInt(d, 10))
		}
		end := offset + int64(len(t.Data))
		fmt.Fprintf(&b, `],"data_offsets":[%d,%d]}`, offset, end)
		offset = end
	}
	b.WriteByte('}')
	if pad := (8 - b.Len()%8) % 8; pad > 0 {
		b.WriteString(strings.Repeat(" ", pad))
	}
	if b.Len() > MaxHeaderSize {
		return errorf("", "header would be %d bytes, more than the %d Open accepts", b.Len(), MaxHeaderSize)
	}
	return b.Bytes(), order, nil
}

// writeJSONString writes s as a JSON string, without HTML escaping (as the
// reference's serde_json does).
func writeJSONString(b *bytes.Buffer, s string) {
	var tmp bytes.Buffer
	enc := json.NewEncoder(&tmp)
	enc.SetEscapeHTML(false)
	enc.Encode(s) // cannot fail for a string
	b.Write(bytes.TrimSuffix(tmp.Bytes(), []byte("\n")))
}

// Float32Bytes encodes v as F32 data.
func Float32Bytes(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

// Float64Bytes encodes v as F64 data.
func Float64Bytes(v []float64) []byte {
	b := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(x))
	}
	return b
}

// Float16Bytes encodes v as F16 data, rounding to nearest even.
func Float16Bytes(v []float32) []byte {
	b := make([]byte, 2*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint16(b[2*i:], half.Float32ToFloat16(x))
	}
	return b
}

// BFloat16Bytes encodes v as BF16 data, rounding to nearest even.
func BFloat16Bytes(v []float32) []byte {
	b := make([]byte, 2*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint16(b[2*i:], half.Float32ToBFloat16(x))
	}
	return b
}

// Int64Bytes encodes v as I64 data.
func Int64Bytes(v []int64) []byte {
	b := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(b[8*i:], uint64(x))
	}
	return b
}

// Int32Bytes encodes v as I32 data.
func Int32Bytes(v []int32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], uint32(x))
	}
	return b
}
