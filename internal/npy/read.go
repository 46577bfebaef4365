package npy

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/mhcc-dev/mhcc/internal/inputfile"
)

// magic starts every .npy file.
const magic = "\x93NUMPY"

// Read reads the .npy file at path. Errors are *Error values naming the file
// (or, when the file cannot be opened, the *fs.PathError).
func Read(path string) (*Array, error) {
	// Opened without blocking (a FIFO would wait for a writer) and
	// checked to be a regular file before anything is read.
	f, size, err := inputfile.Open(path)
	if err != nil {
		return nil, err // names the file
	}
	defer f.Close()
	return decode(path, bufio.NewReaderSize(f, 1<<16), size)
}

// Decode reads a .npy file held in memory, as Read does.
func Decode(data []byte) (*Array, error) {
	return decode("", bytes.NewReader(data), int64(len(data)))
}

// decode reads a file of size bytes from r; name is for messages.
func decode(name string, r io.Reader, size int64) (*Array, error) {
	fail := func(format string, args ...any) (*Array, error) {
		return nil, &Error{Path: name, Msg: fmt.Sprintf(format, args...)}
	}
	ioFail := func(what string, err error) (*Array, error) {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return fail("file ends inside the %s (did it change while being read?)", what)
		}
		return nil, &Error{Path: name, Msg: "reading the " + what, Err: err}
	}

	var pre [12]byte
	if size < 10 {
		return fail("not an npy file: %d bytes, too short for the magic, version and header length", size)
	}
	if _, err := io.ReadFull(r, pre[:10]); err != nil {
		return ioFail("preamble", err)
	}
	if string(pre[:6]) != magic {
		return fail(`not an npy file: it does not start with "\x93NUMPY"`)
	}
	major, minor := pre[6], pre[7]
	var hlen, prefix int64
	switch {
	case major == 1 && minor == 0:
		hlen, prefix = int64(binary.LittleEndian.Uint16(pre[8:10])), 10
	case (major == 2 || major == 3) && minor == 0:
		if size < 12 {
			return fail("format %d.0 file of %d bytes is too short for its 4-byte header length", major, size)
		}
		if _, err := io.ReadFull(r, pre[10:12]); err != nil {
			return ioFail("preamble", err)
		}
		hlen, prefix = int64(binary.LittleEndian.Uint32(pre[8:12])), 12
	default:
		return fail("unsupported npy format version %d.%d (1.0, 2.0 and 3.0 are supported)", major, minor)
	}
	if hlen > MaxHeaderSize {
		return fail("header length %d is more than %d bytes (numpy's own limit); the file is corrupt", hlen, MaxHeaderSize)
	}
	if prefix+hlen > size {
		return fail("header length %d runs past the end of the file (%d bytes)", hlen, size)
	}
	header := make([]byte, hlen)
	if _, err := io.ReadFull(r, header); err != nil {
		return ioFail("header", err)
	}
	h, err := parseHeader(header, major)
	if err != nil {
		return fail("header %s: %v", quoteHeader(header), err)
	}

	dt, order, err := parseDescr(h.descr)
	if err != nil {
		return fail("%v", err)
	}
	if h.fortran {
		return fail("array is in Fortran (column-major) order, only C order is supported; save np.ascontiguousarray(a) instead")
	}
	elems, need, msg := dataBytes(h.shape, dt.size())
	if msg != "" {
		return fail("%s", msg)
	}
	have := size - prefix - hlen
	switch {
	case have < need:
		return fail("truncated: shape %s of %s needs %d data bytes, the file has %d", FormatShape(h.shape), h.descr, need, have)
	case have > need:
		return fail("%d bytes of trailing data: shape %s of %s needs %d data bytes, the file has %d", have-need, FormatShape(h.shape), h.descr, need, have)
	}
	if elems > int64(math.MaxInt) {
		return fail("shape %s has too many elements for this platform", FormatShape(h.shape))
	}
	data, err := readData(r, dt, order, int(elems))
	if err != nil {
		return ioFail("data", err)
	}
	return &Array{DType: dt.name(), Shape: h.shape, Data: data}, nil
}

// quoteHeader quotes a header for an error message, without its padding and
// shortened if long.
func quoteHeader(h []byte) string {
	s := strings.TrimRight(string(h), " \n")
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return strconv.QuoteToASCII(s)
}

// header is the parsed header dict.
type header struct {
	descr   string
	fortran bool
	shape   []int64
}

// parseHeader parses the header dict strictly: a Python dict literal with
// exactly the keys 'descr' (a str), 'fortran_order' (True or False) and
// 'shape' (a tuple of ints), each once, in any order, with an optional
// trailing comma; then only spaces or tabs, and a final newline. Versions 1.0
// and 2.0 may have been written by Python 2, whose ints may carry an L suffix
// (numpy still reads those); it is accepted there.
func parseHeader(b []byte, major byte) (header, error) {
	var h header
	for _, c := range b {
		if c >= 0x80 {
			return h, errors.New("non-ASCII byte in the header")
		}
	}
	s := string(b)
	if !strings.HasSuffix(s, "\n") {
		return h, errors.New("does not end with a newline")
	}
	p := &hparser{s: s[:len(s)-1], longInts: major < 3}
	p.space()
	if !p.eat('{') {
		return h, p.errorf("want '{'")
	}
	seen := map[string]bool{}
	for {
		p.space()
		if p.eat('}') {
			break
		}
		key, err := p.str()
		if err != nil {
			return h, err
		}
		if seen[key] {
			return h, fmt.Errorf("key %q appears twice", key)
		}
		seen[key] = true
		p.space()
		if !p.eat(':') {
			return h, p.errorf("want ':' after %q", key)
		}
		p.space()
		switch key {
		case "descr":
			if p.peek() == '[' || p.peek() == '{' {
				return h, errors.New("structured dtypes (a list or dict descr) are not supported")
			}
			h.descr, err = p.str()
		case "fortran_order":
			h.fortran, err = p.boolean()
		case "shape":
			h.shape, err = p.tuple()
		default:
			return h, fmt.Errorf("unexpected key %q (want 'descr', 'fortran_order' and 'shape')", key)
		}
		if err != nil {
			return h, fmt.Errorf("%s: %w", key, err)
		}
		p.space()
		if p.eat('}') {
			break
		}
		if !p.eat(',') {
			return h, p.errorf("want ',' or '}' after the value of %q", key)
		}
	}
	for _, c := range p.s[p.i:] {
		if c != ' ' && c != '\t' {
			return h, p.errorf("unexpected text after the dict")
		}
	}
	for _, k := range []string{"descr", "fortran_order", "shape"} {
		if !seen[k] {
			return h, fmt.Errorf("key %q is missing", k)
		}
	}
	return h, nil
}

// hparser scans the subset of Python literal syntax npy headers use.
type hparser struct {
	s        string
	i        int
	longInts bool // accept Python 2's 123L
}

func (p *hparser) errorf(format string, args ...any) error {
	return fmt.Errorf("at offset %d: %s", p.i, fmt.Sprintf(format, args...))
}

func (p *hparser) peek() byte {
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

func (p *hparser) eat(c byte) bool {
	if p.peek() == c && p.i < len(p.s) {
		p.i++
		return true
	}
	return false
}

// space skips the whitespace Python allows inside brackets.
func (p *hparser) space() {
	for p.i < len(p.s) && strings.IndexByte(" \t\r\n", p.s[p.i]) >= 0 {
		p.i++
	}
}

// str reads a quoted string without escapes: 'descr' or "descr".
func (p *hparser) str() (string, error) {
	q := p.peek()
	if q != '\'' && q != '"' {
		return "", p.errorf("want a quoted string")
	}
	start := p.i + 1
	for j := start; j < len(p.s); j++ {
		switch p.s[j] {
		case q:
			p.i = j + 1
			return p.s[start:j], nil
		case '\\', '\n', '\r':
			return "", p.errorf("escapes and line breaks in strings are not supported")
		}
	}
	return "", p.errorf("unterminated string")
}

func (p *hparser) boolean() (bool, error) {
	for _, w := range []string{"True", "False"} {
		if strings.HasPrefix(p.s[p.i:], w) {
			end := p.i + len(w)
			if end < len(p.s) && isIdent(p.s[end]) {
				break
			}
			p.i = end
			return w == "True", nil
		}
	}
	return false, p.errorf("want True or False")
}

func isIdent(c byte) bool {
	return c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// tuple reads a tuple of non-negative ints: (), (3,), (2, 3), (2, 3,).
// A parenthesised int without a comma, (3), is an int in Python, not a tuple.
func (p *hparser) tuple() ([]int64, error) {
	if !p.eat('(') {
		return nil, p.errorf("want a tuple")
	}
	shape := []int64{}
	commas := 0
	for {
		p.space()
		if p.eat(')') {
			break
		}
		if len(shape) > commas {
			return nil, p.errorf("want ',' or ')'")
		}
		d, err := p.integer()
		if err != nil {
			return nil, err
		}
		if len(shape) == MaxRank {
			return nil, fmt.Errorf("more than %d dimensions", MaxRank)
		}
		shape = append(shape, d)
		p.space()
		if p.eat(',') {
			commas++
		}
	}
	if len(shape) == 1 && commas == 0 {
		return nil, errors.New("(n) is not a tuple in Python; a 1-d shape is written (n,)")
	}
	return shape, nil
}

// integer reads a non-negative decimal int without leading zeros.
func (p *hparser) integer() (int64, error) {
	start := p.i
	for p.i < len(p.s) && '0' <= p.s[p.i] && p.s[p.i] <= '9' {
		p.i++
	}
	digits := p.s[start:p.i]
	if digits == "" {
		if p.peek() == '-' {
			return 0, p.errorf("negative dimension")
		}
		return 0, p.errorf("want an integer")
	}
	if len(digits) > 1 && digits[0] == '0' {
		return 0, fmt.Errorf("invalid integer %q (leading zero)", digits)
	}
	if p.longInts && (p.peek() == 'L' || p.peek() == 'l') {
		p.i++
	}
	if isIdent(p.peek()) {
		return 0, p.errorf("invalid integer")
	}
	v, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("dimension %s is too large", digits)
	}
	return v, nil
}

// parseDescr maps a descr to a dtype and byte order: '<f4', '>i8', '|b1'.
func parseDescr(s string) (dtype, binary.ByteOrder, error) {
	bad := func(why string) (dtype, binary.ByteOrder, error) {
		return dtype{}, nil, fmt.Errorf("dtype %q is not supported: %s (supported: %s)", s, why, strings.Join(DTypes, ", "))
	}
	if len(s) < 2 || strings.IndexByte("<>|=", s[0]) < 0 {
		return bad("not of the form <f4 (byte order, kind, size)")
	}
	orderCh, kind := s[0], s[1]
	switch kind {
	case 'f', 'i', 'u', 'b':
	case 'c':
		return bad("complex numbers")
	case 'U', 'S', 'a':
		return bad("strings")
	case 'O':
		return bad("Python objects")
	case 'M', 'm':
		return bad("dates and times")
	case 'V':
		return bad("raw bytes or records")
	default:
		return bad("unknown kind")
	}
	size, err := strconv.Atoi(s[2:])
	if err != nil || len(s) < 3 || s[2] < '1' || s[2] > '9' {
		return bad("not of the form <f4 (byte order, kind, size)")
	}
	dt, ok := byCode(kind, size)
	if !ok {
		return bad(fmt.Sprintf("no %d-byte %s type", size, map[byte]string{'f': "float", 'i': "int", 'u': "unsigned int", 'b': "bool"}[kind]))
	}
	switch {
	case orderCh == '<':
		return dt, binary.LittleEndian, nil
	case orderCh == '>':
		return dt, binary.BigEndian, nil
	case orderCh == '|' && dt.size() == 1:
		return dt, binary.LittleEndian, nil
	case orderCh == '|':
		return bad("'|' (no byte order) is only for one-byte types")
	}
	return bad("byte order must be '<', '>' or '|'")
}

// readData reads n elements of dt in the given byte order.
func readData(r io.Reader, dt dtype, order binary.ByteOrder, n int) (any, error) {
	switch dt.name() {
	case "float32":
		return readElems(r, n, 4, func(b []byte) float32 { return math.Float32frombits(order.Uint32(b)) })
	case "float64":
		return readElems(r, n, 8, func(b []byte) float64 { return math.Float64frombits(order.Uint64(b)) })
	case "float16", "uint16":
		return readElems(r, n, 2, order.Uint16)
	case "int64":
		return readElems(r, n, 8, func(b []byte) int64 { return int64(order.Uint64(b)) })
	case "int32":
		return readElems(r, n, 4, func(b []byte) int32 { return int32(order.Uint32(b)) })
	case "int16":
		return readElems(r, n, 2, func(b []byte) int16 { return int16(order.Uint16(b)) })
	case "int8":
		return readElems(r, n, 1, func(b []byte) int8 { return int8(b[0]) })
	case "uint8":
		return readElems(r, n, 1, func(b []byte) uint8 { return b[0] })
	case "uint32":
		return readElems(r, n, 4, order.Uint32)
	case "uint64":
		return readElems(r, n, 8, order.Uint64)
	case "bool":
		// numpy stores True as 1; like numpy's view of the bytes, any
		// non-zero byte reads as true.
		return readElems(r, n, 1, func(b []byte) bool { return b[0] != 0 })
	}
	panic("npy: no reader for " + dt.name())
}

// readElems reads n elements of size bytes each, in chunks, converting each
// with conv. The caller has checked that the data is there.
func readElems[T any](r io.Reader, n, size int, conv func([]byte) T) ([]T, error) {
	out := make([]T, n)
	buf := make([]byte, min(n*size, 1<<16)/size*size)
	for i := 0; i < n; {
		k := min(n-i, len(buf)/size)
		chunk := buf[:k*size]
		if _, err := io.ReadFull(r, chunk); err != nil {
			return nil, err
		}
		for j := range k {
			out[i+j] = conv(chunk[j*size:])
		}
		i += k
	}
	return out, nil
}
