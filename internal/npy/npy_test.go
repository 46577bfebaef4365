package npy

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// roundTripCases covers every dtype, with extreme values, and the shapes
// that need care: scalar, empty, 1-d, 3-d.
func roundTripCases() map[string]*Array {
	nan32 := math.Float32frombits(0x7fc00001) // a NaN with a payload
	return map[string]*Array{
		"f32":      {"float32", []int64{2, 3}, []float32{0, float32(math.Copysign(0, -1)), 1.5, math.MaxFloat32, math.SmallestNonzeroFloat32, nan32}},
		"f32inf":   {"float32", []int64{2}, []float32{float32(math.Inf(1)), float32(math.Inf(-1))}},
		"f64":      {"float64", []int64{3}, []float64{0.1, -1e300, math.NaN()}},
		"f16":      {"float16", []int64{1, 2, 2}, []uint16{0x3c00, 0xfbff, 0x0001, 0x7e00}},
		"i64":      {"int64", []int64{2, 2}, []int64{math.MinInt64, -1, 0, math.MaxInt64}},
		"i32":      {"int32", []int64{3}, []int32{math.MinInt32, 7, math.MaxInt32}},
		"i16":      {"int16", []int64{2}, []int16{math.MinInt16, math.MaxInt16}},
		"i8":       {"int8", []int64{3}, []int8{-128, 0, 127}},
		"u8":       {"uint8", []int64{3}, []uint8{0, 128, 255}},
		"u16":      {"uint16", []int64{2}, []uint16{0, math.MaxUint16}},
		"u32":      {"uint32", []int64{2}, []uint32{1, math.MaxUint32}},
		"u64":      {"uint64", []int64{2}, []uint64{1, math.MaxUint64}},
		"bool":     {"bool", []int64{2, 2}, []bool{true, false, false, true}},
		"scalar":   {"float64", []int64{}, []float64{2.5}},
		"empty":    {"float32", []int64{0, 4}, []float32{}},
		"empty0":   {"int64", []int64{1 << 40, 0}, []int64{}},
		"rank3":    {"float32", []int64{2, 1, 3}, []float32{1, 2, 3, 4, 5, 6}},
		"longaxis": {"uint8", []int64{70000}, make([]uint8, 70000)},
		"chunks":   {"float64", []int64{3, 10000}, make([]float64, 30000)}, // several read and write chunks
	}
}

// encode returns a's file bytes.
func encode(t testing.TB, a *Array) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := Encode(&b, a); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// sameArray compares dtype, shape and the bits of every element (NaN too).
func sameArray(t testing.TB, got, want *Array) {
	t.Helper()
	if got.DType != want.DType || !slices.Equal(got.Shape, want.Shape) {
		t.Fatalf("got %s %v, want %s %v", got.DType, got.Shape, want.DType, want.Shape)
	}
	if !bytes.Equal(encode(t, got), encode(t, want)) {
		t.Fatalf("%s %v: elements differ", got.DType, got.Shape)
	}
}

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	for name, a := range roundTripCases() {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name+".npy")
			if err := Write(path, a); err != nil {
				t.Fatal(err)
			}
			got, err := Read(path)
			if err != nil {
				t.Fatal(err)
			}
			sameArray(t, got, a)
			if got.NumElements() != int64(dataLen(got.Data)) {
				t.Errorf("NumElements %d, data %d", got.NumElements(), dataLen(got.Data))
			}
			raw, _ := os.ReadFile(path)
			if !bytes.Equal(raw, encode(t, a)) {
				t.Error("Write and Encode differ")
			}
			// numpy's layout: data starts on a 64-byte boundary.
			if hl := int(binary.LittleEndian.Uint16(raw[8:10])); (10+hl)%64 != 0 || raw[10+hl-1] != '\n' {
				t.Errorf("header length %d is not padded to 64 with a final newline", hl)
			}
			fromMem, err := Decode(raw)
			if err != nil {
				t.Fatal(err)
			}
			sameArray(t, fromMem, a)
		})
	}
	onlyNPY(t, dir)
}

// onlyNPY checks that no temporary file was left behind.
func onlyNPY(t *testing.T, dir string) {
	t.Helper()
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".npy") || strings.HasPrefix(e.Name(), ".") {
			t.Errorf("stray file %s", e.Name())
		}
	}
}

// The header is numpy.save's, byte for byte (python_test.go checks this
// against numpy itself when it is installed).
func TestHeaderLayout(t *testing.T) {
	got := string(headerBytes("<f4", []int64{2, 3}))
	want := "\x93NUMPY\x01\x00\x76\x00{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }" + strings.Repeat(" ", 58) + "\n"
	if got != want {
		t.Errorf("header\n%q, want\n%q", got, want)
	}
	for _, shape := range [][]int64{{}, {7}, {math.MaxInt64, 1}, make([]int64, MaxRank)} {
		h := headerBytes("|b1", shape)
		if len(h)%64 != 0 || h[len(h)-1] != '\n' {
			t.Errorf("shape %v: header of %d bytes", shape, len(h))
		}
		p, err := parseHeader(h[10:], 1)
		if err != nil || !slices.Equal(p.shape, shape) || p.descr != "|b1" || p.fortran {
			t.Errorf("shape %v: parsed %+v, %v", shape, p, err)
		}
	}
}

// file builds a .npy file from a version, a header (padded here) and data.
func file(major byte, header string, data []byte) []byte {
	b := []byte(magic)
	b = append(b, major, 0)
	h := header + "\n"
	if major == 1 {
		b = binary.LittleEndian.AppendUint16(b, uint16(len(h)))
	} else {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(h)))
	}
	b = append(b, h...)
	return append(b, data...)
}

func TestHeaders(t *testing.T) {
	f32x2 := []byte{0, 0, 0x80, 0x3f, 0, 0, 0, 0x40} // 1.0, 2.0
	ok := []struct {
		name   string
		major  byte
		header string
		data   []byte
		want   *Array
	}{
		{"numpy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", f32x2, &Array{"float32", []int64{2}, []float32{1, 2}}},
		{"v2", 2, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", f32x2, &Array{"float32", []int64{2}, []float32{1, 2}}},
		{"v3", 3, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", f32x2, &Array{"float32", []int64{2}, []float32{1, 2}}},
		{"key order, double quotes, no trailing comma", 1, `{"shape": (1, 2), "fortran_order": False, "descr": "<f4"}`, f32x2, &Array{"float32", []int64{1, 2}, []float32{1, 2}}},
		{"spacing and line breaks", 1, "  {\n'descr' :'<f4' ,\t'fortran_order':False,'shape':( 2 , ) }\t  ", f32x2, &Array{"float32", []int64{2}, []float32{1, 2}}},
		{"tuple trailing comma", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2,), }", f32x2, &Array{"float32", []int64{1, 2}, []float32{1, 2}}},
		{"python 2 long ints", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2L,), }", f32x2, &Array{"float32", []int64{2}, []float32{1, 2}}},
		{"big-endian", 1, "{'descr': '>i4', 'fortran_order': False, 'shape': (2,), }", []byte{0, 0, 0, 1, 0xff, 0xff, 0xff, 0xfe}, &Array{"int32", []int64{2}, []int32{1, -2}}},
		{"one byte, any order mark", 1, "{'descr': '<u1', 'fortran_order': False, 'shape': (1,), }", []byte{9}, &Array{"uint8", []int64{1}, []uint8{9}}},
		{"bool non-zero byte", 1, "{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }", []byte{0, 1, 2}, &Array{"bool", []int64{3}, []bool{false, true, true}}},
		{"scalar", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (), }", f32x2[:4], &Array{"float32", []int64{}, []float32{1}}},
		{"zero dim beside a huge one", 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (0, 9223372036854775807), }", nil, &Array{"float64", []int64{0, math.MaxInt64}, []float64{}}},
	}
	for _, c := range ok {
		t.Run(c.name, func(t *testing.T) {
			got, err := Decode(file(c.major, c.header, c.data))
			if err != nil {
				t.Fatal(err)
			}
			sameArray(t, got, c.want)
		})
	}

	bad := []struct {
		name  string
		major byte
		hdr   string
		data  []byte
		want  string
	}{
		{"fortran", 1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 1), }", f32x2, "Fortran (column-major) order, only C order"},
		{"missing key", 1, "{'descr': '<f4', 'shape': (2,), }", f32x2, `key "fortran_order" is missing`},
		{"extra key", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}", f32x2, `unexpected key "x"`},
		{"duplicate key", 1, "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,)}", f32x2, `key "descr" appears twice`},
		{"not a dict", 1, "['descr', '<f4']", f32x2, "want '{'"},
		{"unclosed", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)", f32x2, "want ',' or '}'"},
		{"missing comma", 1, "{'descr': '<f4' 'fortran_order': False, 'shape': (2,)}", f32x2, "want ',' or '}'"},
		{"text after dict", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), } x", f32x2, "unexpected text after the dict"},
		{"second dict", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)}{}", f32x2, "unexpected text after the dict"},
		{"int not tuple", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2)}", f32x2, "(n) is not a tuple"},
		{"list shape", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': [2]}", f32x2, "shape: at offset"},
		{"negative dim", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (-2,)}", f32x2, "negative dimension"},
		{"float dim", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2.0,)}", f32x2, "want ',' or ')'"},
		{"expression dim", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1+1,)}", f32x2, "want ',' or ')'"},
		{"leading zero", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (02,)}", f32x2, "leading zero"},
		{"huge dim", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}", f32x2, "too large"},
		{"overflowing shape", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296)}", f32x2, "more than 2^63-1 elements"},
		{"overflowing bytes", 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (4611686018427387904,)}", f32x2, "more than 2^63-1 bytes"},
		{"long int in v3", 3, "{'descr': '<f4', 'fortran_order': False, 'shape': (2L,)}", f32x2, "invalid integer"},
		{"bool as int", 1, "{'descr': '<f4', 'fortran_order': 0, 'shape': (2,)}", f32x2, "want True or False"},
		{"bool prefix", 1, "{'descr': '<f4', 'fortran_order': Falsey, 'shape': (2,)}", f32x2, "want True or False"},
		{"escaped string", 1, "{'descr': '<f\\x34', 'fortran_order': False, 'shape': (2,)}", f32x2, "escapes"},
		{"non-ASCII", 3, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'é': 1}", f32x2, "non-ASCII"},
		{"structured", 1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,)}", f32x2, "structured dtypes"},
		{"object", 1, "{'descr': '|O', 'fortran_order': False, 'shape': (2,)}", f32x2, `dtype "|O" is not supported`},
		{"pickled objects", 1, "{'descr': '|O8', 'fortran_order': False, 'shape': (1,)}", f32x2, "Python objects"},
		{"unicode", 1, "{'descr': '<U2', 'fortran_order': False, 'shape': (1,)}", f32x2, "strings"},
		{"complex", 1, "{'descr': '<c8', 'fortran_order': False, 'shape': (1,)}", f32x2, "complex"},
		{"float128", 1, "{'descr': '<f16', 'fortran_order': False, 'shape': (1,)}", f32x2, "no 16-byte float"},
		{"no byte order", 1, "{'descr': 'f4', 'fortran_order': False, 'shape': (2,)}", f32x2, "not of the form <f4"},
		{"native order", 1, "{'descr': '=f4', 'fortran_order': False, 'shape': (2,)}", f32x2, "byte order must be"},
		{"pipe on wide type", 1, "{'descr': '|f4', 'fortran_order': False, 'shape': (2,)}", f32x2, "only for one-byte types"},
		{"truncated data", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,)}", f32x2, "truncated: shape (3,) of <f4 needs 12 data bytes, the file has 8"},
		{"trailing data", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,)}", f32x2, "4 bytes of trailing data"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decode(file(c.major, c.hdr, c.data))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Errorf("%T is not an *Error", err)
			}
		})
	}
}

func TestCorruptFiles(t *testing.T) {
	valid := encode(t, &Array{"int16", []int64{2, 2}, []int16{1, 2, 3, 4}})
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "not an npy file: 0 bytes"},
		{"magic", append([]byte("\x93NUMPX"), valid[6:]...), "does not start with"},
		{"version 4", append(append([]byte(magic), 4, 0), valid[8:]...), "unsupported npy format version 4.0"},
		{"version 1.1", append(append([]byte(magic), 1, 1), valid[8:]...), "unsupported npy format version 1.1"},
		{"header past the end", append(slices.Clone(valid[:8]), 0xff, 0x00), "header length 255 runs past the end of the file (10 bytes)"},
		{"huge header length", append(append([]byte(magic), 2, 0), 0xff, 0xff, 0xff, 0xff, '{'), "more than 10000 bytes"},
		{"v2 too short", append([]byte(magic), 2, 0, 0, 0), "too short for its 4-byte header length"},
	}
	// A header whose padding does not end in a newline.
	nl := slices.Clone(valid)
	nl[len(nl)-8-1] = ' '
	cases = append(cases, struct {
		name string
		data []byte
		want string
	}{"newline replaced", nl, "does not end with a newline"})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decode(c.data)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
		})
	}
	// Every truncation of a valid file fails, and names the file.
	dir := t.TempDir()
	for n := range len(valid) {
		path := filepath.Join(dir, "cut.npy")
		os.WriteFile(path, valid[:n], 0o644)
		if _, err := Read(path); err == nil || !strings.HasPrefix(err.Error(), path+": ") {
			t.Fatalf("%d of %d bytes: error %v", n, len(valid), err)
		}
	}
	// Not a regular file; missing file.
	if _, err := Read(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("directory: %v", err)
	}
	if _, err := Read(filepath.Join(dir, "nothing.npy")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestWriteErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "keep.npy")
	if err := Write(path, &Array{"int8", []int64{1}, []int8{5}}); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	cases := []struct {
		a    *Array
		want string
	}{
		{nil, "nil array"},
		{&Array{"bfloat16", []int64{1}, []uint16{0}}, "npy has no bfloat16, widen the values to float32 first"},
		{&Array{"complex64", []int64{1}, []float32{0}}, `unsupported dtype "complex64"`},
		{&Array{"float32", []int64{2}, []float64{1, 2}}, "float32 data must be []float32, got []float64"},
		{&Array{"float16", []int64{1}, []float32{1}}, "float16 data must be []uint16"},
		{&Array{"float32", []int64{2, 2}, []float32{1, 2, 3}}, "shape (2, 2) holds 4 elements, the data has 3"},
		{&Array{"float32", []int64{-1}, []float32{}}, "negative dimension"},
		{&Array{"float32", make([]int64, MaxRank+1), []float32{}}, "65 dimensions"},
		{&Array{"float32", nil, nil}, "got <nil>"},
	}
	for _, c := range cases {
		err := Write(path, c.a)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), path+": ") {
			t.Errorf("Write(%+v): %v, want an error containing %q", c.a, err, c.want)
		}
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("a failed Write changed the existing file")
	}
	onlyNPY(t, dir)
	if err := Write(filepath.Join(dir, "no", "such", "dir.npy"), &Array{"int8", []int64{}, []int8{1}}); err == nil {
		t.Error("Write into a missing folder succeeded")
	}
	// Overwriting an existing file replaces it whole.
	if err := Write(path, &Array{"float64", []int64{}, []float64{1}}); err != nil {
		t.Fatal(err)
	}
	if a, err := Read(path); err != nil || a.DType != "float64" {
		t.Errorf("overwrite: %+v, %v", a, err)
	}
	onlyNPY(t, dir)
}
