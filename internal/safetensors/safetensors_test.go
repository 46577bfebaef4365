package safetensors

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// roundTripCase is one tensor of the round-trip file and what the typed
// readers must return for it (nil: the reader must refuse the dtype).
type roundTripCase struct {
	t   Tensor
	f32 []float32
	f64 []float64
	i64 []int64
}

func roundTripCases() []roundTripCase {
	f32 := []float32{1, -2.5, 3.25, float32(math.Inf(1)), 1e-30, -0.1}
	f32as64 := make([]float64, len(f32))
	for i, v := range f32 {
		f32as64[i] = float64(v)
	}
	f64 := []float64{1, -2.5, 0.1, 1e300, math.SmallestNonzeroFloat64, -0}
	f64as32 := make([]float32, len(f64))
	for i, v := range f64 {
		f64as32[i] = float32(v) // rounds: 0.1 → 0.1f, 1e300 → +Inf, tiny → 0
	}
	halfVals := []float32{1, -2, 0.5, 65504, 0.333251953125, 0}                       // exact in F16
	bfVals := []float32{1, -3, 0.5, math.Float32frombits(0x7f7f0000), 0.333984375, 0} // exact in BF16
	widen := func(v []float32) []float64 {
		out := make([]float64, len(v))
		for i, x := range v {
			out[i] = float64(x)
		}
		return out
	}
	i64 := []int64{0, 1, -1, math.MaxInt64, math.MinInt64, 42}
	i32 := []int32{0, 1, -1, math.MaxInt32, math.MinInt32, 42}
	i32as64 := make([]int64, len(i32))
	for i, v := range i32 {
		i32as64[i] = int64(v)
	}
	shape := []int64{2, 3}
	return []roundTripCase{
		{t: Tensor{"f32", F32, shape, Float32Bytes(f32)}, f32: f32, f64: f32as64},
		{t: Tensor{"f64", F64, shape, Float64Bytes(f64)}, f32: f64as32, f64: f64},
		{t: Tensor{"f16", F16, shape, Float16Bytes(halfVals)}, f32: halfVals, f64: widen(halfVals)},
		{t: Tensor{"bf16", BF16, shape, BFloat16Bytes(bfVals)}, f32: bfVals, f64: widen(bfVals)},
		{t: Tensor{"i64", I64, shape, Int64Bytes(i64)}, i64: i64},
		{t: Tensor{"i32", I32, shape, Int32Bytes(i32)}, i64: i32as64},
		{t: Tensor{"u32", U32, []int64{2}, []byte{1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff}}, i64: []int64{1, 1<<32 - 1}},
		{t: Tensor{"i16", I16, []int64{3}, []byte{1, 0, 0xff, 0xff, 0, 0x80}}, i64: []int64{1, -1, -32768}},
		{t: Tensor{"u16", U16, []int64{2}, []byte{1, 0, 0xff, 0xff}}, i64: []int64{1, 65535}},
		{t: Tensor{"i8", I8, []int64{3}, []byte{1, 0xff, 0x80}}, i64: []int64{1, -1, -128}},
		{t: Tensor{"u8", U8, []int64{3}, []byte{1, 0xff, 0x80}}, i64: []int64{1, 255, 128}},
		{t: Tensor{"bool", Bool, []int64{3}, []byte{1, 0, 1}}},
		{t: Tensor{"u64", U64, []int64{1}, Int64Bytes([]int64{-1})}},
		{t: Tensor{"f8e5m2", F8E5M2, []int64{2}, []byte{0x3c, 0xbc}}},
		{t: Tensor{"f8e4m3", F8E4M3, []int64{2}, []byte{0x38, 0xb8}}},
		{t: Tensor{"f8e8m0", F8E8M0, []int64{2}, []byte{0x7f, 0x80}}},
		{t: Tensor{"scalar", F32, []int64{}, Float32Bytes([]float32{7})}, f32: []float32{7}, f64: []float64{7}},
		{t: Tensor{"empty", I64, []int64{0, 3}, nil}, i64: []int64{}},
	}
}

func TestRoundTripEveryDType(t *testing.T) {
	cases := roundTripCases()
	covered := map[DType]bool{}
	var tensors []Tensor
	for _, c := range cases {
		tensors = append(tensors, c.t)
		covered[c.t.DType] = true
	}
	for _, dt := range DTypes {
		if !covered[dt] {
			t.Errorf("no round-trip case for %s", dt)
		}
	}
	meta := map[string]string{"format": "pt", "note": `quotes " and <html> & ünïcödé`}
	path := filepath.Join(t.TempDir(), "rt.safetensors")
	if err := Write(path, tensors, meta); err != nil {
		t.Fatal(err)
	}
	f := mustOpen(t, path)
	if got := f.Metadata(); !reflect.DeepEqual(got, meta) {
		t.Errorf("Metadata() = %v, want %v", got, meta)
	}
	infos := f.Tensors()
	if len(infos) != len(cases) {
		t.Fatalf("%d tensors, want %d", len(infos), len(cases))
	}
	if !slices.IsSortedFunc(infos, func(a, b Info) int { return strings.Compare(a.Name, b.Name) }) {
		t.Errorf("Tensors() not sorted by name: %v", infos)
	}
	for _, c := range cases {
		name := c.t.Name
		info, ok := f.Lookup(name)
		if !ok {
			t.Errorf("Lookup(%q) failed", name)
			continue
		}
		if info.DType != c.t.DType || !slices.Equal(info.Shape, c.t.Shape) || info.ByteSize() != int64(len(c.t.Data)) {
			t.Errorf("%s: info %+v, want dtype %s shape %v, %d bytes", name, info, c.t.DType, c.t.Shape, len(c.t.Data))
		}
		want := int64(1)
		for _, d := range c.t.Shape {
			want *= d
		}
		if n := f.NumElements(name); n != want {
			t.Errorf("%s: NumElements = %d, want %d", name, n, want)
		}
		var raw bytes.Buffer
		if err := f.ReadRaw(name, &raw); err != nil {
			t.Errorf("%s: ReadRaw: %v", name, err)
		} else if !bytes.Equal(raw.Bytes(), c.t.Data) {
			t.Errorf("%s: ReadRaw = %x, want %x", name, raw.Bytes(), c.t.Data)
		}

		g32, err := f.ReadFloat32(name)
		checkTyped(t, name, "ReadFloat32", g32, c.f32, err, func(a, b float32) bool {
			return math.Float32bits(a) == math.Float32bits(b)
		})
		g64, err := f.ReadFloat64(name)
		checkTyped(t, name, "ReadFloat64", g64, c.f64, err, func(a, b float64) bool {
			return math.Float64bits(a) == math.Float64bits(b)
		})
		gi, err := f.ReadInt64(name)
		checkTyped(t, name, "ReadInt64", gi, c.i64, err, func(a, b int64) bool { return a == b })
	}
	if n := f.NumElements("nope"); n != -1 {
		t.Errorf("NumElements(missing) = %d, want -1", n)
	}
}

// checkTyped checks a typed read: want nil means the read must fail with an
// error naming the tensor and its dtype.
func checkTyped[T any](t *testing.T, name, fn string, got, want []T, err error, eq func(a, b T) bool) {
	t.Helper()
	if want == nil {
		if err == nil {
			t.Errorf("%s: %s succeeded, want an error", name, fn)
		} else if !strings.Contains(err.Error(), `tensor "`+name+`"`) || !strings.Contains(err.Error(), "cannot be read as") {
			t.Errorf("%s: %s error %q does not name the tensor", name, fn, err)
		}
		return
	}
	if err != nil {
		t.Errorf("%s: %s: %v", name, fn, err)
		return
	}
	if !slices.EqualFunc(got, want, eq) {
		t.Errorf("%s: %s = %v, want %v", name, fn, got, want)
	}
}

// Known 16-bit patterns widen to known values (stored bits written by hand,
// not by this package's encoders).
func TestHalfWidening(t *testing.T) {
	f16 := []struct {
		bits uint16
		want float32
	}{
		{0x0000, 0}, {0x8000, float32(math.Copysign(0, -1))}, {0x3c00, 1}, {0xc000, -2},
		{0x7bff, 65504}, {0x0001, 5.9604645e-08}, {0x0400, 6.1035156e-05},
		{0x3555, 0.33325195}, {0x7c00, float32(math.Inf(1))}, {0xfc00, float32(math.Inf(-1))},
	}
	bf16 := []struct {
		bits uint16
		want float32
	}{
		{0x0000, 0}, {0x3f80, 1}, {0xc040, -3}, {0x3eab, 0.333984375},
		{0x7f7f, math.Float32frombits(0x7f7f0000)}, {0x0001, math.Float32frombits(0x00010000)},
		{0x7f80, float32(math.Inf(1))}, {0xff80, float32(math.Inf(-1))},
	}
	enc := func(bits []uint16) []byte {
		b := make([]byte, 2*len(bits))
		for i, v := range bits {
			binary.LittleEndian.PutUint16(b[2*i:], v)
		}
		return b
	}
	var fb, bb []uint16
	var fw, bw []float32
	for _, c := range f16 {
		fb, fw = append(fb, c.bits), append(fw, c.want)
	}
	for _, c := range bf16 {
		bb, bw = append(bb, c.bits), append(bw, c.want)
	}
	// NaNs stay NaN.
	fb, bb = append(fb, 0x7e00), append(bb, 0x7fc0)
	path := filepath.Join(t.TempDir(), "half.safetensors")
	err := Write(path, []Tensor{
		{"f16", F16, []int64{int64(len(fb))}, enc(fb)},
		{"bf16", BF16, []int64{int64(len(bb))}, enc(bb)},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	f := mustOpen(t, path)
	for _, c := range []struct {
		name string
		bits []uint16
		want []float32
	}{{"f16", fb, fw}, {"bf16", bb, bw}} {
		got, err := f.ReadFloat32(c.name)
		if err != nil {
			t.Fatal(err)
		}
		got64, err := f.ReadFloat64(c.name)
		if err != nil {
			t.Fatal(err)
		}
		for i, w := range c.want {
			if math.Float32bits(got[i]) != math.Float32bits(w) {
				t.Errorf("%s %#04x: ReadFloat32 = %g, want %g", c.name, c.bits[i], got[i], w)
			}
			if got64[i] != float64(w) || math.Signbit(got64[i]) != math.Signbit(float64(w)) {
				t.Errorf("%s %#04x: ReadFloat64 = %g, want %g", c.name, c.bits[i], got64[i], w)
			}
		}
		last := got[len(got)-1]
		if last == last {
			t.Errorf("%s NaN widened to %g", c.name, last)
		}
	}
}

func TestWriteDeterministicLayout(t *testing.T) {
	tensors := []Tensor{
		{"b", F32, []int64{1}, Float32Bytes([]float32{1})},
		{"a<&>", I64, []int64{}, Int64Bytes([]int64{7})},
	}
	meta := map[string]string{"z": "1", "k": "v"}
	got, err := encode("x.safetensors", tensors, meta)
	if err != nil {
		t.Fatal(err)
	}
	json := `{"__metadata__":{"k":"v","z":"1"},` +
		`"a<&>":{"dtype":"I64","shape":[],"data_offsets":[0,8]},` +
		`"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}`
	json += strings.Repeat(" ", (8-len(json)%8)%8)
	want := rawFile(json, 0)
	want = append(want, Int64Bytes([]int64{7})...)
	want = append(want, Float32Bytes([]float32{1})...)
	if !bytes.Equal(got, want) {
		t.Errorf("encoded\n%q\nwant\n%q", got, want)
	}
	if n := binary.LittleEndian.Uint64(got); n%8 != 0 {
		t.Errorf("header length %d is not a multiple of 8", n)
	}

	// Write produces the same bytes, every time, whatever the input order.
	dir := t.TempDir()
	p1, p2 := filepath.Join(dir, "1.safetensors"), filepath.Join(dir, "2.safetensors")
	if err := Write(p1, tensors, meta); err != nil {
		t.Fatal(err)
	}
	slices.Reverse(tensors)
	if err := Write(p2, tensors, meta); err != nil {
		t.Fatal(err)
	}
	b1, _ := os.ReadFile(p1)
	b2, _ := os.ReadFile(p2)
	if !bytes.Equal(b1, want) || !bytes.Equal(b2, want) {
		t.Errorf("Write output differs from encode or between runs")
	}

	// No tensors, no metadata: "{}" padded to 8.
	got, err = encode("x", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := rawFile("{}      ", 0); !bytes.Equal(got, want) {
		t.Errorf("empty file = %q, want %q", got, want)
	}
}

func TestWriteAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "w.safetensors")
	if err := os.WriteFile(path, []byte("old contents"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A failing Write leaves the old file alone and no temporary behind.
	bad := []Tensor{{"x", F32, []int64{2}, []byte{1}}}
	if err := Write(path, bad, nil); err == nil {
		t.Fatal("Write with bad data succeeded")
	}
	if b, _ := os.ReadFile(path); string(b) != "old contents" {
		t.Errorf("failed Write changed the file: %q", b)
	}
	good := []Tensor{{"x", F32, []int64{2}, Float32Bytes([]float32{1, 2})}}
	if err := Write(path, good, nil); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != "w.safetensors" {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("folder holds %v, want only w.safetensors", names)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("mode after Write: %v, %v", fi.Mode(), err)
	}
	f := mustOpen(t, path)
	if v, err := f.ReadFloat32("x"); err != nil || !slices.Equal(v, []float32{1, 2}) {
		t.Errorf("ReadFloat32 = %v, %v", v, err)
	}
	if err := Write(filepath.Join(dir, "no", "such", "dir.safetensors"), good, nil); err == nil {
		t.Error("Write into a missing folder succeeded")
	}
}

func TestWriteErrors(t *testing.T) {
	cases := []struct {
		name    string
		tensors []Tensor
		meta    map[string]string
		tensor  string
		want    string
	}{
		{"short data", []Tensor{{"w", F32, []int64{24, 128}, make([]byte, 100)}}, nil,
			"w", "data is 100 bytes, want 4·(24·128)=12288 for F32 [24, 128]"},
		{"duplicate", []Tensor{{"w", U8, []int64{1}, []byte{1}}, {"w", U8, []int64{1}, []byte{2}}}, nil,
			"w", "appears twice"},
		{"reserved name", []Tensor{{"__metadata__", U8, []int64{1}, []byte{1}}}, nil,
			"__metadata__", "reserved"},
		{"unknown dtype", []Tensor{{"w", "F128", []int64{1}, []byte{1}}}, nil,
			"w", `unknown dtype "F128"`},
		{"negative dim", []Tensor{{"w", U8, []int64{2, -1}, nil}}, nil,
			"w", "negative dimension -1 at index 1"},
		{"overflow", []Tensor{{"w", U8, []int64{1 << 32, 1 << 32}, nil}}, nil,
			"w", "more than 2^63-1 elements"},
		{"bad utf-8 name", []Tensor{{"w\xff", U8, []int64{1}, []byte{1}}}, nil,
			"w\xff", "not valid UTF-8"},
		{"bad utf-8 metadata", nil, map[string]string{"k": "\xff"}, "", "not valid UTF-8"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "out.safetensors")
			err := Write(path, c.tensors, c.meta)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Write error = %v, want an *Error", err)
			}
			if e.Tensor != c.tensor || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), path+": ") {
				t.Errorf("error %q (tensor %q), want tensor %q and %q", err, e.Tensor, c.tensor, c.want)
			}
			if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("failed Write created the file")
			}
		})
	}
}

func TestReadErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.safetensors")
	if err := Write(path, []Tensor{{"w", F32, []int64{1}, Float32Bytes([]float32{1})}}, nil); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.ReadFloat32("missing"); err == nil || !strings.Contains(err.Error(), `tensor "missing": no such tensor`) {
		t.Errorf("ReadFloat32(missing) error = %v", err)
	}
	if _, err := f.ReadInt64("w"); err == nil || !strings.Contains(err.Error(), `tensor "w": dtype F32 cannot be read as int64`) {
		t.Errorf("ReadInt64(F32) error = %v", err)
	}
	if _, ok := f.Lookup("missing"); ok {
		t.Error("Lookup(missing) succeeded")
	}
	// Shapes handed out are copies.
	info, _ := f.Lookup("w")
	info.Shape[0] = 99
	if f.Tensors()[0].Shape[0] != 1 {
		t.Error("Lookup exposed the internal shape")
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := f.ReadFloat32("w"); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("read after Close: %v", err)
	}
	if err := f.ReadRaw("w", &bytes.Buffer{}); err == nil {
		t.Error("ReadRaw after Close succeeded")
	}

	if _, err := Open(filepath.Join(t.TempDir(), "absent.safetensors")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open(absent) = %v, want ErrNotExist", err)
	}
	if _, err := Open(t.TempDir()); err == nil {
		t.Error("Open(folder) succeeded")
	}
}

// A file truncated after Open makes reads fail, not panic.
func TestTruncatedAfterOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.safetensors")
	v := make([]float32, 1000)
	if err := Write(path, []Tensor{{"w", F32, []int64{1000}, Float32Bytes(v)}}, nil); err != nil {
		t.Fatal(err)
	}
	f := mustOpen(t, path)
	if err := os.Truncate(path, f.DataStart()+100); err != nil {
		t.Fatal(err)
	}
	if _, err := f.ReadFloat32("w"); err == nil || !strings.Contains(err.Error(), `tensor "w"`) {
		t.Errorf("ReadFloat32 of truncated file: %v", err)
	}
	if err := f.ReadRaw("w", &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "unexpected EOF") {
		t.Errorf("ReadRaw of truncated file: %v", err)
	}
}

// Typed reads in small chunks give the same values as in one go.
func TestChunkBoundaries(t *testing.T) {
	v := make([]float32, 1001)
	for i := range v {
		v[i] = float32(i) * 0.5
	}
	i64 := make([]int64, 333)
	for i := range i64 {
		i64[i] = int64(i) * -7
	}
	path := filepath.Join(t.TempDir(), "c.safetensors")
	err := Write(path, []Tensor{
		{"f32", F32, []int64{1001}, Float32Bytes(v)},
		{"f16", F16, []int64{7, 11, 13}, Float16Bytes(v)},
		{"i64", I64, []int64{333}, Int64Bytes(i64)},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	f := mustOpen(t, path)
	old := chunkSize
	defer func() { chunkSize = old }()
	for _, cs := range []int{8, 24, 4096, 1 << 20} {
		chunkSize = cs
		got, err := f.ReadFloat32("f32")
		if err != nil || !slices.Equal(got, v) {
			t.Errorf("chunk %d: f32 mismatch (%v)", cs, err)
		}
		got, err = f.ReadFloat32("f16")
		if err != nil || !slices.Equal(got, v) {
			t.Errorf("chunk %d: f16 mismatch (%v)", cs, err)
		}
		gi, err := f.ReadInt64("i64")
		if err != nil || !slices.Equal(gi, i64) {
			t.Errorf("chunk %d: i64 mismatch (%v)", cs, err)
		}
	}
}

// OpenReaderAt reads from memory; Close leaves the reader alone.
func TestOpenReaderAt(t *testing.T) {
	b, err := encode("mem", []Tensor{{"x", I32, []int64{2}, Int32Bytes([]int32{-1, 5})}}, map[string]string{"a": "b"})
	if err != nil {
		t.Fatal(err)
	}
	f, err := OpenReaderAt("mem", bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	if v, err := f.ReadInt64("x"); err != nil || !slices.Equal(v, []int64{-1, 5}) {
		t.Errorf("ReadInt64 = %v, %v", v, err)
	}
	if f.Path() != "mem" || f.Size() != int64(len(b)) || f.DataStart()%8 != 0 {
		t.Errorf("Path %q Size %d DataStart %d", f.Path(), f.Size(), f.DataStart())
	}
}

// Every *.safetensors file under the repository's testdata opens and reads.
func TestRepoTestdata(t *testing.T) {
	files := testdataFiles(t)
	if len(files) == 0 {
		t.Fatal("no *.safetensors under testdata (the golden cases have some)")
	}
	for _, path := range files {
		f, err := Open(path)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		readAll(t, f)
		f.Close()
	}
}

// testdataFiles lists the *.safetensors files under <repo>/testdata, but
// for testdata/errors/weights/lying-shard, whose shard is corrupt on purpose.
func testdataFiles(t testing.TB) []string {
	root := filepath.Join("..", "..", "testdata")
	var files []string
	filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() && filepath.ToSlash(path) == "../../testdata/errors/weights/lying-shard" {
			return filepath.SkipDir
		}
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".safetensors") {
			files = append(files, path)
		}
		return nil
	})
	return files
}

// readAll reads every tensor of an open file in every way its dtype allows
// and checks the results' lengths.
func readAll(t testing.TB, f *File) {
	t.Helper()
	for _, info := range f.Tensors() {
		var raw bytes.Buffer
		if err := f.ReadRaw(info.Name, &raw); err != nil {
			t.Fatalf("ReadRaw: %v", err)
		}
		if int64(raw.Len()) != info.ByteSize() {
			t.Fatalf("%s: ReadRaw gave %d bytes, want %d", info.Name, raw.Len(), info.ByteSize())
		}
		n := int(info.NumElements())
		switch info.DType {
		case F32, F16, BF16, F64:
			v, err := f.ReadFloat32(info.Name)
			if err != nil || len(v) != n {
				t.Fatalf("%s: ReadFloat32: %d values, %v; want %d", info.Name, len(v), err, n)
			}
			w, err := f.ReadFloat64(info.Name)
			if err != nil || len(w) != n {
				t.Fatalf("%s: ReadFloat64: %d values, %v; want %d", info.Name, len(w), err, n)
			}
		case I64, I32, I16, I8, U32, U16, U8:
			v, err := f.ReadInt64(info.Name)
			if err != nil || len(v) != n {
				t.Fatalf("%s: ReadInt64: %d values, %v; want %d", info.Name, len(v), err, n)
			}
		}
	}
}
