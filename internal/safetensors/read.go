package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/mhcc-dev/mhcc/internal/inputfile"
	"github.com/mhcc-dev/mhcc/onnx/tensor/half"
)

// File is an open safetensors file whose header has been validated. Its
// methods may be called from several goroutines at once (reads use ReadAt),
// but not concurrently with Close.
type File struct {
	path      string
	r         io.ReaderAt
	closer    io.Closer // nil once closed, or for OpenReaderAt
	closed    bool
	size      int64 // whole file
	dataStart int64 // 8 + header length
	tensors   []Info
	index     map[string]int
	metadata  map[string]string
}

// Open opens the safetensors file at path and validates its header. The
// tensor data is not read until asked for.
func Open(path string) (*File, error) {
	// Opened without blocking (a FIFO would wait for a writer) and
	// checked to be a regular file before anything is read.
	osf, size, err := inputfile.Open(path)
	if err != nil {
		return nil, err // names the file
	}
	f, err := OpenReaderAt(path, osf, size)
	if err != nil {
		osf.Close()
		return nil, err
	}
	f.closer = osf
	return f, nil
}

// OpenReaderAt is Open for a file already in memory or otherwise at hand: r
// holds size bytes, and name is used in error messages. Close does not close
// r.
func OpenReaderAt(name string, r io.ReaderAt, size int64) (*File, error) {
	f := &File{path: name, r: r, size: size}
	if err := f.readHeader(); err != nil {
		return nil, err
	}
	return f, nil
}

// Close closes the file. Reads after Close fail.
func (f *File) Close() error {
	if f.closed {
		return nil
	}
	f.closed = true
	if f.closer != nil {
		err := f.closer.Close()
		f.closer = nil
		return err
	}
	return nil
}

// Path returns the path the file was opened with.
func (f *File) Path() string { return f.path }

// Size returns the size of the whole file in bytes.
func (f *File) Size() int64 { return f.size }

// DataStart returns the file offset of the data region (8 + header length);
// Info.Begin and Info.End are relative to it.
func (f *File) DataStart() int64 { return f.dataStart }

// Tensors returns the tensors, sorted by name. The slice and shapes are
// copies.
func (f *File) Tensors() []Info {
	out := make([]Info, len(f.tensors))
	for i, t := range f.tensors {
		t.Shape = slices.Clone(t.Shape)
		out[i] = t
	}
	return out
}

// Lookup returns the tensor called name.
func (f *File) Lookup(name string) (Info, bool) {
	i, ok := f.index[name]
	if !ok {
		return Info{}, false
	}
	t := f.tensors[i]
	t.Shape = slices.Clone(t.Shape)
	return t, true
}

// Metadata returns a copy of the "__metadata__" map (nil if the file has
// none).
func (f *File) Metadata() map[string]string {
	if f.metadata == nil {
		return nil
	}
	m := make(map[string]string, len(f.metadata))
	for k, v := range f.metadata {
		m[k] = v
	}
	return m
}

// NumElements returns the number of elements of the tensor called name, or -1
// if there is no such tensor.
func (f *File) NumElements(name string) int64 {
	i, ok := f.index[name]
	if !ok {
		return -1
	}
	return f.tensors[i].NumElements()
}

func (f *File) errorf(tensor, format string, args ...any) *Error {
	return &Error{Path: f.path, Tensor: tensor, Msg: fmt.Sprintf(format, args...)}
}

// ---- header ----

func (f *File) readHeader() error {
	if f.size < 8 {
		return f.errorf("", "file is %d bytes, too short for the 8-byte header length (truncated file?)", f.size)
	}
	var lenBuf [8]byte
	if err := f.readFull(lenBuf[:], 0); err != nil {
		return &Error{Path: f.path, Msg: "reading header length", Err: err}
	}
	n := binary.LittleEndian.Uint64(lenBuf[:])
	switch {
	case n > MaxHeaderSize:
		return f.errorf("", "header length %d exceeds the limit of %d bytes (corrupt file?)", n, MaxHeaderSize)
	case n > uint64(f.size-8):
		return f.errorf("", "header length %d exceeds the %d bytes after the length prefix (truncated file?)", n, f.size-8)
	case n == 0:
		return f.errorf("", "header is empty, want a JSON object")
	}
	header := make([]byte, n) // n ≤ min(MaxHeaderSize, file size)
	if err := f.readFull(header, 8); err != nil {
		return &Error{Path: f.path, Msg: "reading header", Err: err}
	}
	f.dataStart = 8 + int64(n)
	return f.parseHeader(header)
}

// readFull reads len(b) bytes at off; a short read is io.ErrUnexpectedEOF.
func (f *File) readFull(b []byte, off int64) error {
	n, err := f.r.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}

type member struct {
	key   string
	value json.RawMessage
}

// errDuplicate is returned by members for a key that occurs twice.
type errDuplicate struct{ key string }

func (e errDuplicate) Error() string { return "duplicate key " + strconv.Quote(e.key) }

// members splits a JSON object into its members, in order, rejecting
// duplicate keys (which encoding/json would silently merge) and anything
// after the closing brace.
func members(raw []byte) ([]member, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("not a JSON object")
	}
	var out []member
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, ok := tok.(string)
		if !ok { // cannot happen: Token enforces string keys
			return nil, fmt.Errorf("object key is not a string")
		}
		if seen[key] {
			return nil, errDuplicate{key}
		}
		seen[key] = true
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		out = append(out, member{key, v})
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, err
	}
	if tok, err := dec.Token(); err != io.EOF {
		if err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("unexpected %v after the closing brace at byte offset %d", tok, dec.InputOffset())
	}
	return out, nil
}

// kind names the JSON type of a raw value, for error messages.
func kind(v json.RawMessage) string {
	v = bytes.TrimLeft(v, " \t\r\n")
	if len(v) == 0 {
		return "blank"
	}
	switch v[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return "a number"
	}
	return fmt.Sprintf("not JSON (starts with byte %#02x)", v[0])
}

func (f *File) parseHeader(header []byte) error {
	if !utf8.Valid(header) {
		return f.errorf("", "header is not valid UTF-8")
	}
	trimmed := bytes.TrimLeft(header, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return f.errorf("", "header is %s, want a JSON object", kind(trimmed))
	}
	ms, err := members(header)
	if err != nil {
		var dup errDuplicate
		if errors.As(err, &dup) {
			if dup.key == metadataKey {
				return f.errorf("", "header has two %q entries", metadataKey)
			}
			return f.errorf(dup.key, "appears twice in the header")
		}
		return &Error{Path: f.path, Msg: "header is not valid JSON", Err: err}
	}
	f.index = make(map[string]int, len(ms))
	f.tensors = make([]Info, 0, len(ms))
	dataLen := f.size - f.dataStart
	for _, m := range ms {
		if m.key == metadataKey {
			if err := f.parseMetadata(m.value); err != nil {
				return err
			}
			continue
		}
		info, err := f.parseEntry(m.key, m.value, dataLen)
		if err != nil {
			return err
		}
		f.tensors = append(f.tensors, info)
	}
	if err := f.checkTiling(dataLen); err != nil {
		return err
	}
	slices.SortFunc(f.tensors, func(a, b Info) int { return strings.Compare(a.Name, b.Name) })
	for i, t := range f.tensors {
		f.index[t.Name] = i
	}
	return nil
}

func (f *File) parseMetadata(v json.RawMessage) error {
	if kind(v) == "null" {
		return nil
	}
	if kind(v) != "an object" {
		return f.errorf("", "%s is %s, want an object of strings", metadataKey, kind(v))
	}
	ms, err := members(v)
	if err != nil {
		return &Error{Path: f.path, Msg: metadataKey, Err: err}
	}
	f.metadata = make(map[string]string, len(ms))
	for _, m := range ms {
		var s string
		if kind(m.value) != "a string" || json.Unmarshal(m.value, &s) != nil {
			return f.errorf("", "%s[%q] is %s, want a string", metadataKey, m.key, kind(m.value))
		}
		f.metadata[m.key] = s
	}
	return nil
}

// parseEntry parses and checks one tensor entry: known dtype, non-negative
// dims, offsets that hold exactly the tensor's bytes within the data region.
func (f *File) parseEntry(name string, v json.RawMessage, dataLen int64) (Info, error) {
	info := Info{Name: name}
	if kind(v) != "an object" {
		return info, f.errorf(name, "entry is %s, want an object with dtype, shape and data_offsets", kind(v))
	}
	ms, err := members(v)
	if err != nil {
		var dup errDuplicate
		if errors.As(err, &dup) {
			return info, f.errorf(name, "entry has two %q fields", dup.key)
		}
		return info, &Error{Path: f.path, Tensor: name, Msg: "entry", Err: err}
	}
	var dtype, shape, offsets json.RawMessage
	for _, m := range ms {
		switch m.key {
		case "dtype":
			dtype = m.value
		case "shape":
			shape = m.value
		case "data_offsets":
			offsets = m.value
		} // other fields are ignored, as the reference implementation does
	}
	switch {
	case dtype == nil:
		return info, f.errorf(name, "entry has no dtype")
	case shape == nil:
		return info, f.errorf(name, "entry has no shape")
	case offsets == nil:
		return info, f.errorf(name, "entry has no data_offsets")
	}

	var dt string
	if kind(dtype) != "a string" || json.Unmarshal(dtype, &dt) != nil {
		return info, f.errorf(name, "dtype is %s, want a string such as \"F32\"", kind(dtype))
	}
	info.DType = DType(dt)
	if info.DType.Size() == 0 {
		if info.DType.subByte() {
			return info, f.errorf(name, "dtype %s (packed sub-byte) is not supported", dt)
		}
		return info, f.errorf(name, "unknown dtype %q", dt)
	}

	info.Shape, err = intArray(shape)
	if err != nil {
		return info, f.errorf(name, "shape: %v", err)
	}
	_, size, msg := checkedBytes(info.DType, info.Shape)
	if msg != "" {
		return info, f.errorf(name, "%s", msg)
	}

	offs, err := intArray(offsets)
	if err != nil {
		return info, f.errorf(name, "data_offsets: %v", err)
	}
	if len(offs) != 2 {
		return info, f.errorf(name, "data_offsets has %d entries, want 2 ([begin, end])", len(offs))
	}
	info.Begin, info.End = offs[0], offs[1]
	span := fmt.Sprintf("data_offsets [%d, %d]", info.Begin, info.End)
	switch {
	case info.Begin < 0 || info.End < 0:
		return info, f.errorf(name, "%s: offsets must not be negative", span)
	case info.Begin > info.End:
		return info, f.errorf(name, "%s: begin is after end", span)
	case info.End-info.Begin != size:
		return info, f.errorf(name, "%s hold %d bytes, want %s for %s %s",
			span, info.End-info.Begin, sizeFormula(info.DType, info.Shape, size), info.DType, formatShape(info.Shape))
	case info.End > dataLen:
		return info, f.errorf(name, "%s reach beyond the data region of %d bytes (truncated file?)", span, dataLen)
	}
	return info, nil
}

// intArray parses a JSON array of integers that fit in an int64. Negative
// values are returned as such; the callers judge them.
func intArray(v json.RawMessage) ([]int64, error) {
	if kind(v) != "an array" {
		return nil, fmt.Errorf("is %s, want an array of integers", kind(v))
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(v, &raw); err != nil {
		return nil, err
	}
	out := make([]int64, len(raw))
	for i, r := range raw {
		if kind(r) != "a number" {
			return nil, fmt.Errorf("element %d is %s, want an integer", i, kind(r))
		}
		s := string(bytes.TrimSpace(r))
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			if errors.Is(err, strconv.ErrRange) {
				return nil, fmt.Errorf("element %d (%s) does not fit in an int64", i, s)
			}
			return nil, fmt.Errorf("element %d (%s) is not an integer", i, s)
		}
		out[i] = n
	}
	return out, nil
}

// checkTiling checks that the tensors cover [0, dataLen) exactly, each
// starting where the previous one ends, as the format requires.
func (f *File) checkTiling(dataLen int64) error {
	order := make([]int, len(f.tensors))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		ta, tb := &f.tensors[a], &f.tensors[b]
		if ta.Begin != tb.Begin {
			return cmpInt64(ta.Begin, tb.Begin)
		}
		if ta.End != tb.End {
			return cmpInt64(ta.End, tb.End)
		}
		return strings.Compare(ta.Name, tb.Name)
	})
	pos := int64(0)
	var prev *Info
	for _, i := range order {
		t := &f.tensors[i]
		switch {
		case t.Begin < pos:
			return f.errorf(t.Name, "data_offsets [%d, %d] overlap tensor %q at [%d, %d]",
				t.Begin, t.End, prev.Name, prev.Begin, prev.End)
		case t.Begin > pos && prev == nil:
			return f.errorf(t.Name, "data_offsets [%d, %d] leave %d unused bytes at the start of the data region (tensors must cover it contiguously)",
				t.Begin, t.End, t.Begin)
		case t.Begin > pos:
			return f.errorf(t.Name, "data_offsets [%d, %d] leave a hole of %d bytes after tensor %q at [%d, %d] (tensors must cover the data region contiguously)",
				t.Begin, t.End, t.Begin-pos, prev.Name, prev.Begin, prev.End)
		}
		pos = t.End
		prev = t
	}
	if pos != dataLen {
		if prev == nil {
			return f.errorf("", "data region is %d bytes but the header declares no tensors", dataLen)
		}
		return f.errorf(prev.Name, "data region is %d bytes but the tensors end at %d, the last being this one at [%d, %d] (%d trailing bytes unused)",
			dataLen, pos, prev.Begin, prev.End, dataLen-pos)
	}
	return nil
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// ---- data ----

// chunkSize is how many bytes the typed readers read at a time; a multiple of
// every element size. A variable so tests can exercise chunk boundaries.
var chunkSize = 1 << 20

// info returns the tensor called name, or an error if there is none or the
// file is closed.
func (f *File) info(name string) (Info, error) {
	if f.closed {
		return Info{}, f.errorf(name, "file is closed")
	}
	i, ok := f.index[name]
	if !ok {
		return Info{}, f.errorf(name, "no such tensor")
	}
	return f.tensors[i], nil
}

// ReadRaw copies the tensor's bytes, little-endian as stored, to w.
func (f *File) ReadRaw(name string, w io.Writer) error {
	t, err := f.info(name)
	if err != nil {
		return err
	}
	n, err := io.Copy(w, io.NewSectionReader(f.r, f.dataStart+t.Begin, t.ByteSize()))
	if err == nil && n < t.ByteSize() {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return &Error{Path: f.path, Tensor: name, Msg: fmt.Sprintf("reading %d bytes at file offset %d", t.ByteSize(), f.dataStart+t.Begin), Err: err}
	}
	return nil
}

// decoder converts len(src)/elemSize stored elements into dst.
type decoder[T any] func(dst []T, src []byte)

// readTyped reads the tensor called name in chunks, converting each with the
// decoder pick returns for its dtype (nil: not convertible to want).
func readTyped[T any](f *File, name, want string, pick func(DType) decoder[T]) ([]T, error) {
	t, err := f.info(name)
	if err != nil {
		return nil, err
	}
	dec := pick(t.DType)
	if dec == nil {
		return nil, f.errorf(name, "dtype %s cannot be read as %s", t.DType, want)
	}
	n := t.NumElements()
	if n > int64(math.MaxInt) {
		return nil, f.errorf(name, "%d elements do not fit in a Go slice", n)
	}
	// n·size = ByteSize ≤ the file size, checked at Open.
	out := make([]T, n)
	size := int64(t.DType.Size())
	buf := make([]byte, min(int64(chunkSize), t.ByteSize()))
	for done := int64(0); done < t.ByteSize(); {
		k := min(int64(len(buf)), t.ByteSize()-done)
		if err := f.readFull(buf[:k], f.dataStart+t.Begin+done); err != nil {
			return nil, &Error{Path: f.path, Tensor: name, Msg: fmt.Sprintf("reading %d bytes at file offset %d", k, f.dataStart+t.Begin+done), Err: err}
		}
		dec(out[done/size:(done+k)/size], buf[:k])
		done += k
	}
	return out, nil
}

// ReadFloat32 reads a floating-point tensor as float32: F32 as is, F16 and
// BF16 widened exactly, F64 rounded to nearest.
func (f *File) ReadFloat32(name string) ([]float32, error) {
	return readTyped(f, name, "float32", func(dt DType) decoder[float32] {
		switch dt {
		case F32:
			return func(dst []float32, src []byte) {
				for i := range dst {
					dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
				}
			}
		case F16:
			return func(dst []float32, src []byte) {
				for i := range dst {
					dst[i] = half.Float16ToFloat32(binary.LittleEndian.Uint16(src[2*i:]))
				}
			}
		case BF16:
			return func(dst []float32, src []byte) {
				for i := range dst {
					dst[i] = half.BFloat16ToFloat32(binary.LittleEndian.Uint16(src[2*i:]))
				}
			}
		case F64:
			return func(dst []float32, src []byte) {
				for i := range dst {
					dst[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(src[8*i:])))
				}
			}
		}
		return nil
	})
}

// ReadFloat64 reads a floating-point tensor (F64, F32, F16, BF16) as float64;
// every conversion is exact.
func (f *File) ReadFloat64(name string) ([]float64, error) {
	return readTyped(f, name, "float64", func(dt DType) decoder[float64] {
		switch dt {
		case F64:
			return func(dst []float64, src []byte) {
				for i := range dst {
					dst[i] = math.Float64frombits(binary.LittleEndian.Uint64(src[8*i:]))
				}
			}
		case F32:
			return func(dst []float64, src []byte) {
				for i := range dst {
					dst[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:])))
				}
			}
		case F16:
			return func(dst []float64, src []byte) {
				for i := range dst {
					dst[i] = float64(half.Float16ToFloat32(binary.LittleEndian.Uint16(src[2*i:])))
				}
			}
		case BF16:
			return func(dst []float64, src []byte) {
				for i := range dst {
					dst[i] = float64(half.BFloat16ToFloat32(binary.LittleEndian.Uint16(src[2*i:])))
				}
			}
		}
		return nil
	})
}

// ReadInt64 reads an integer tensor as int64: I64 as is; I32, I16, I8, U32,
// U16 and U8 widened. (U64 is refused: it may not fit.)
func (f *File) ReadInt64(name string) ([]int64, error) {
	return readTyped(f, name, "int64", func(dt DType) decoder[int64] {
		switch dt {
		case I64:
			return func(dst []int64, src []byte) {
				for i := range dst {
					dst[i] = int64(binary.LittleEndian.Uint64(src[8*i:]))
				}
			}
		case I32:
			return func(dst []int64, src []byte) {
				for i := range dst {
					dst[i] = int64(int32(binary.LittleEndian.Uint32(src[4*i:])))
				}
			}
		case U32:
			return func(dst []int64, src []byte) {
				for i := range dst {
					dst[i] = int64(binary.LittleEndian.Uint32(src[4*i:]))
				}
			}
		case I16:
			return func(dst []int64, src []byte) {
				for i := range dst {
					dst[i] = int64(int16(binary.LittleEndian.Uint16(src[2*i:])))
				}
			}
		case U16:
			return func(dst []int64, src []byte) {
				for i := range dst {
					dst[i] = int64(binary.LittleEndian.Uint16(src[2*i:]))
				}
			}
		case I8:
			return func(dst []int64, src []byte) {
				for i := range dst {
					dst[i] = int64(int8(src[i]))
				}
			}
		case U8:
			return func(dst []int64, src []byte) {
				for i := range dst {
					dst[i] = int64(src[i])
				}
			}
		}
		return nil
	})
}
