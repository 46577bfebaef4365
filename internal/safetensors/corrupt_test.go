package safetensors

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// entry renders one header entry.
func entry(name, dtype, shape string, begin, end int64) string {
	return fmt.Sprintf(`%q:{"dtype":%q,"shape":%s,"data_offsets":[%d,%d]}`, name, dtype, shape, begin, end)
}

// hdr joins entries into a header object.
func hdr(entries ...string) string { return "{" + strings.Join(entries, ",") + "}" }

type corruptCase struct {
	name   string
	file   []byte
	tensor string // the tensor the error must name, "" for none
	want   string // a substring of the error
}

// corruptCases are broken files, each with the error Open must give.
func corruptCases() []corruptCase {
	a8 := entry("a", "F32", "[2]", 0, 8)
	return []corruptCase{
		// The length prefix.
		{"empty file", nil, "", "file is 0 bytes, too short for the 8-byte header length"},
		{"truncated prefix", []byte{1, 0, 0, 0, 0}, "", "file is 5 bytes, too short"},
		{"header longer than file", lenPrefix(1000, `{"a":1}`), "", "header length 1000 exceeds the 7 bytes after the length prefix (truncated file?)"},
		{"header over the cap", lenPrefix(MaxHeaderSize+1, "{}"), "", fmt.Sprintf("header length %d exceeds the limit of %d bytes", MaxHeaderSize+1, MaxHeaderSize)},
		{"header length 2^64-1", lenPrefix(1<<64-1, "{}"), "", "header length 18446744073709551615 exceeds the limit"},
		{"header length 2^63", lenPrefix(1<<63, "{}"), "", "exceeds the limit"},
		{"empty header", lenPrefix(0, ""), "", "header is empty"},
		{"truncated header", rawFile(hdr(a8), 8)[:20], "", "exceeds the 12 bytes after the length prefix"},

		// The JSON.
		{"invalid JSON", rawFile(`{"a":`, 0), "", "header is not valid JSON"},
		{"invalid JSON in entry", rawFile(`{"a":{"dtype":F32}}`, 0), "", "header is not valid JSON"},
		{"array header", rawFile(`[1,2]`, 0), "", "header is an array, want a JSON object"},
		{"string header", rawFile(`"hello"`, 0), "", "header is a string, want a JSON object"},
		{"null header", rawFile(`null`, 0), "", "header is null, want a JSON object"},
		{"number header", rawFile(`42`, 0), "", "header is a number, want a JSON object"},
		{"blank header", rawFile(`        `, 0), "", "header is blank, want a JSON object"},
		{"NUL header", rawFile("\x00\x00\x00\x00", 0), "", "header is not JSON (starts with byte 0x00), want a JSON object"},
		{"invalid UTF-8", rawFile("{\"\xff\":1}", 0), "", "header is not valid UTF-8"},
		{"trailing garbage", rawFile(`{} x`, 0), "", "header is not valid JSON"},
		{"second object", rawFile(`{}{}`, 0), "", "after the closing brace"},
		{"duplicate tensor", rawFile(hdr(a8, entry("a", "F32", "[2]", 8, 16)), 16), "a", "appears twice in the header"},
		{"duplicate metadata", rawFile(`{"__metadata__":{},"__metadata__":{}}`, 0), "", `header has two "__metadata__" entries`},
		{"metadata not an object", rawFile(`{"__metadata__":[1]}`, 0), "", "__metadata__ is an array, want an object of strings"},
		{"metadata value not a string", rawFile(`{"__metadata__":{"k":1}}`, 0), "", `__metadata__["k"] is a number, want a string`},

		// Entries.
		{"entry not an object", rawFile(`{"w":5}`, 0), "w", "entry is a number, want an object"},
		{"entry null", rawFile(`{"w":null}`, 0), "w", "entry is null, want an object"},
		{"missing dtype", rawFile(`{"w":{"shape":[1],"data_offsets":[0,4]}}`, 4), "w", "entry has no dtype"},
		{"missing shape", rawFile(`{"w":{"dtype":"F32","data_offsets":[0,4]}}`, 4), "w", "entry has no shape"},
		{"missing offsets", rawFile(`{"w":{"dtype":"F32","shape":[1]}}`, 4), "w", "entry has no data_offsets"},
		{"duplicate field", rawFile(`{"w":{"dtype":"F32","dtype":"U8","shape":[1],"data_offsets":[0,4]}}`, 4), "w", `entry has two "dtype" fields`},
		{"dtype not a string", rawFile(`{"w":{"dtype":4,"shape":[1],"data_offsets":[0,4]}}`, 4), "w", "dtype is a number, want a string"},
		{"unknown dtype", rawFile(hdr(entry("w", "F128", "[1]", 0, 16)), 16), "w", `unknown dtype "F128"`},
		{"lower-case dtype", rawFile(hdr(entry("w", "f32", "[1]", 0, 4)), 4), "w", `unknown dtype "f32"`},
		{"sub-byte dtype", rawFile(hdr(entry("w", "F4", "[2]", 0, 1)), 1), "w", "dtype F4 (packed sub-byte) is not supported"},

		// Shapes.
		{"shape not an array", rawFile(hdr(entry("w", "F32", "3", 0, 12)), 12), "w", "shape: is a number, want an array of integers"},
		{"shape null", rawFile(hdr(entry("w", "F32", "null", 0, 12)), 12), "w", "shape: is null"},
		{"negative dim", rawFile(hdr(entry("w", "F32", "[2,-3]", 0, 24)), 24), "w", "shape [2, -3] has negative dimension -3 at index 1"},
		{"fractional dim", rawFile(hdr(entry("w", "F32", "[1.5]", 0, 6)), 6), "w", "shape: element 0 (1.5) is not an integer"},
		{"exponent dim", rawFile(hdr(entry("w", "F32", "[1e2]", 0, 400)), 400), "w", "shape: element 0 (1e2) is not an integer"},
		{"string dim", rawFile(hdr(entry("w", "F32", `["3"]`, 0, 12)), 12), "w", "shape: element 0 is a string, want an integer"},
		{"dim beyond int64", rawFile(hdr(entry("w", "F32", "[99999999999999999999]", 0, 4)), 4), "w", "does not fit in an int64"},
		{"element count overflow", rawFile(hdr(entry("w", "U8", "[4294967296,4294967296]", 0, 0)), 0), "w", "shape [4294967296, 4294967296] has more than 2^63-1 elements"},
		{"element count overflow 3d", rawFile(hdr(entry("w", "U8", "[3037000500,3037000500,1]", 0, 0)), 0), "w", "more than 2^63-1 elements"},
		{"byte count overflow", rawFile(hdr(entry("w", "F32", "[4611686018427387904]", 0, 0)), 0), "w", "F32 shape [4611686018427387904] is more than 2^63-1 bytes"},

		// Offsets.
		{"wrong size", rawFile(hdr(entry("layers.0.hc_attn_fn", "F32", "[24,128]", 0, 100)), 100), "layers.0.hc_attn_fn",
			"data_offsets [0, 100] hold 100 bytes, want 4·(24·128)=12288 for F32 [24, 128]"},
		{"wrong size scalar", rawFile(hdr(entry("s", "F64", "[]", 0, 4)), 4), "s", "data_offsets [0, 4] hold 4 bytes, want 8·1=8 for F64 []"},
		{"wrong size 1-d", rawFile(hdr(entry("v", "BF16", "[7]", 0, 7)), 7), "v", "hold 7 bytes, want 2·7=14 for BF16 [7]"},
		{"offsets not an array", rawFile(`{"w":{"dtype":"U8","shape":[1],"data_offsets":1}}`, 1), "w", "data_offsets: is a number"},
		{"three offsets", rawFile(`{"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1,2]}}`, 1), "w", "data_offsets has 3 entries, want 2"},
		{"one offset", rawFile(`{"w":{"dtype":"U8","shape":[1],"data_offsets":[1]}}`, 1), "w", "data_offsets has 1 entries, want 2"},
		{"negative offset", rawFile(hdr(entry("w", "U8", "[1]", -1, 0)), 1), "w", "data_offsets [-1, 0]: offsets must not be negative"},
		{"begin after end", rawFile(hdr(entry("w", "U8", "[0]", 5, 1)), 8), "w", "data_offsets [5, 1]: begin is after end"},
		{"offset beyond int64", rawFile(`{"w":{"dtype":"U8","shape":[1],"data_offsets":[0,18446744073709551616]}}`, 1), "w", "does not fit in an int64"},
		{"end beyond data", rawFile(hdr(entry("w", "F32", "[4]", 0, 16)), 8), "w", "data_offsets [0, 16] reach beyond the data region of 8 bytes (truncated file?)"},
		{"truncated data", rawFile(hdr(a8, entry("b", "F32", "[2]", 8, 16)), 12), "b", "reach beyond the data region of 12 bytes"},
		{"huge end", rawFile(hdr(entry("w", "U8", "[1]", 9223372036854775806, 9223372036854775807)), 1), "w", "reach beyond the data region"},

		// Tiling of the data region.
		{"overlap", rawFile(hdr(a8, entry("b", "F32", "[2]", 4, 12)), 12), "b", `data_offsets [4, 12] overlap tensor "a" at [0, 8]`},
		{"alias", rawFile(hdr(a8, entry("b", "F32", "[2]", 0, 8)), 8), "b", `overlap tensor "a" at [0, 8]`},
		{"empty tensor inside another", rawFile(hdr(a8, entry("e", "F32", "[0]", 4, 4)), 8), "e", `data_offsets [4, 4] overlap tensor "a" at [0, 8]`},
		{"hole", rawFile(hdr(a8, entry("b", "F32", "[2]", 12, 20)), 20), "b", `data_offsets [12, 20] leave a hole of 4 bytes after tensor "a" at [0, 8]`},
		{"gap at start", rawFile(hdr(entry("a", "F32", "[2]", 4, 12)), 12), "a", "data_offsets [4, 12] leave 4 unused bytes at the start of the data region"},
		{"trailing bytes", rawFile(hdr(a8), 12), "a", "data region is 12 bytes but the tensors end at 8, the last being this one at [0, 8] (4 trailing bytes unused)"},
		{"data but no tensors", rawFile(`{}`, 4), "", "data region is 4 bytes but the header declares no tensors"},
		{"data but only metadata", rawFile(`{"__metadata__":{"a":"b"}}`, 1), "", "header declares no tensors"},
	}
}

func TestCorruptFiles(t *testing.T) {
	for _, c := range corruptCases() {
		t.Run(c.name, func(t *testing.T) {
			path := writeTemp(t, "weights.safetensors", c.file)
			f, err := Open(path)
			if err == nil {
				f.Close()
				t.Fatalf("Open succeeded, want error containing %q", c.want)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v (%T) is not an *Error", err, err)
			}
			msg := err.Error()
			t.Log(msg)
			if !strings.HasPrefix(msg, path+": ") {
				t.Errorf("error %q does not start with the path", msg)
			}
			if e.Tensor != c.tensor {
				t.Errorf("error names tensor %q, want %q: %s", e.Tensor, c.tensor, msg)
			}
			if c.tensor != "" && !strings.Contains(msg, fmt.Sprintf("tensor %q: ", c.tensor)) {
				t.Errorf("error %q does not name tensor %q", msg, c.tensor)
			}
			if !strings.Contains(msg, c.want) {
				t.Errorf("error\n\t%s\ndoes not contain\n\t%s", msg, c.want)
			}
		})
	}
}

// The example from the design note, verbatim.
func TestErrorTextExample(t *testing.T) {
	b := rawFile(hdr(entry("layers.0.hc_attn_fn", "F32", "[24,128]", 0, 100)), 100)
	f, err := OpenReaderAt("weights.safetensors", bytesReaderAt(b), int64(len(b)))
	if f != nil {
		t.Fatal("opened")
	}
	want := `weights.safetensors: tensor "layers.0.hc_attn_fn": data_offsets [0, 100] hold 100 bytes, want 4·(24·128)=12288 for F32 [24, 128]`
	if err == nil || err.Error() != want {
		t.Errorf("error\n\t%v\nwant\n\t%s", err, want)
	}
}

type bytesReaderAt []byte

func (b bytesReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(b)) {
		return 0, errors.New("EOF")
	}
	n := copy(p, b[off:])
	if n < len(p) {
		return n, errors.New("EOF")
	}
	return n, nil
}

// allocDuring returns the bytes allocated while fn runs (roughly: other
// goroutines of the test binary are idle).
func allocDuring(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// Headers that claim huge tensors or huge headers in tiny files are refused
// without allocating anything of the claimed size.
func TestHugeClaimsDoNotAllocate(t *testing.T) {
	const limit = 1 << 20
	cases := []struct {
		name string
		file []byte
		want string
	}{
		{"4 TiB tensor", rawFile(hdr(entry("big", "F32", "[1099511627776]", 0, 4398046511104)), 16), `tensor "big": data_offsets [0, 4398046511104] reach beyond the data region of 16 bytes`},
		{"tensor with small offsets", rawFile(hdr(entry("big", "F64", "[1099511627776,1024]", 0, 8)), 8), `tensor "big": data_offsets [0, 8] hold 8 bytes, want 8·(1099511627776·1024)=9007199254740992`},
		{"50 MiB header", lenPrefix(50<<20, "{}"), "header length 52428800 exceeds the 2 bytes after the length prefix"},
		{"huge header", lenPrefix(1<<62, "{}"), "exceeds the limit"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := writeTemp(t, "tiny.safetensors", c.file)
			var err error
			n := allocDuring(func() { _, err = Open(path) })
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want %q", err, c.want)
			}
			if n > limit {
				t.Errorf("Open allocated %d bytes", n)
			}
		})
	}

	// A sparse file bigger than the cap whose header length is just over
	// it: refused by the cap, not read.
	path := filepath.Join(t.TempDir(), "sparse.safetensors")
	fh, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	var prefix [8]byte
	binary.LittleEndian.PutUint64(prefix[:], MaxHeaderSize+8)
	fh.Write(prefix[:])
	if err := fh.Truncate(8 + MaxHeaderSize + 64); err != nil {
		t.Fatal(err)
	}
	fh.Close()
	n := allocDuring(func() { _, err = Open(path) })
	if err == nil || !strings.Contains(err.Error(), "exceeds the limit") {
		t.Errorf("sparse file: error %v", err)
	}
	if n > limit {
		t.Errorf("sparse file: Open allocated %d bytes", n)
	}
}
