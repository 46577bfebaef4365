package safetensors

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sync/atomic"
	"testing"
)

// fuzzSeeds returns valid files of several shapes.
func fuzzSeeds(t testing.TB) [][]byte {
	var seeds [][]byte
	add := func(tensors []Tensor, meta map[string]string) {
		b, err := encode("seed", tensors, meta)
		if err != nil {
			t.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	add(nil, nil)
	add(nil, map[string]string{"format": "pt"})
	var all []Tensor
	for _, c := range roundTripCases() {
		all = append(all, c.t)
	}
	add(all, map[string]string{"k": "v", "": ""})
	add([]Tensor{
		{"a", F32, []int64{2, 2}, Float32Bytes([]float32{1, 2, 3, 4})},
		{"b", BF16, []int64{3}, BFloat16Bytes([]float32{1, 2, 3})},
		{"z", I64, []int64{0}, nil},
	}, nil)
	// Unpadded header, data in reverse name order.
	seeds = append(seeds, rawFile(hdr(entry("b", "U8", "[2]", 0, 2), entry("a", "I32", "[1]", 2, 6)), 6))
	return seeds
}

var fuzzCounter atomic.Int64

// FuzzOpen opens arbitrary bytes as a file. Open must not panic; it must
// either return an *Error naming the file, or a File whose every tensor reads
// in full and which, written back with Write, opens to the same tensors.
func FuzzOpen(f *testing.F) {
	for _, b := range fuzzSeeds(f) {
		f.Add(b)
	}
	for _, c := range corruptCases() {
		f.Add(c.file)
	}
	// Small repository fixtures only: the fuzzer minimizes every new
	// interesting input, which is slow for inputs mutated from big seeds.
	// (TestRepoTestdata reads all of them.)
	for _, path := range testdataFiles(f) {
		if fi, err := os.Stat(path); err == nil && fi.Size() <= 16<<10 {
			if b, err := os.ReadFile(path); err == nil {
				f.Add(b)
			}
		}
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, fmt.Sprintf("in%d.safetensors", fuzzCounter.Add(1)))
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(path)
		file, err := Open(path)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Path != path {
				t.Fatalf("error %v (%T) is not an *Error for %s", err, err, path)
			}
			return
		}
		defer file.Close()
		checkOpened(t, file, int64(len(data)))
	})
}

// checkOpened checks an open file's invariants, reads it all, and round-trips
// it through Write.
func checkOpened(t *testing.T, file *File, size int64) {
	infos := file.Tensors()
	dataLen := size - file.DataStart()
	covered := int64(0)
	for _, info := range infos {
		if info.Begin < 0 || info.End > dataLen || info.Begin > info.End {
			t.Fatalf("%s: offsets [%d, %d] outside data region of %d", info.Name, info.Begin, info.End, dataLen)
		}
		if info.ByteSize() != info.NumElements()*int64(info.DType.Size()) {
			t.Fatalf("%s: %d bytes for %d elements of %s", info.Name, info.ByteSize(), info.NumElements(), info.DType)
		}
		covered += info.ByteSize()
	}
	if covered != dataLen {
		t.Fatalf("tensors cover %d of %d data bytes", covered, dataLen)
	}
	readAll(t, file)

	tensors := make([]Tensor, len(infos))
	for i, info := range infos {
		var raw bytes.Buffer
		if err := file.ReadRaw(info.Name, &raw); err != nil {
			t.Fatal(err)
		}
		tensors[i] = Tensor{info.Name, info.DType, info.Shape, raw.Bytes()}
	}
	b, err := encode("again", tensors, file.Metadata())
	if err != nil {
		t.Fatalf("re-encoding an opened file: %v", err)
	}
	again, err := OpenReaderAt("again", bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("reopening a re-encoded file: %v", err)
	}
	got := again.Tensors()
	for i := range got {
		got[i].Begin, got[i].End = 0, 0
		infos[i].Begin, infos[i].End = 0, 0
	}
	if !reflect.DeepEqual(got, infos) {
		t.Fatalf("round trip changed the tensors:\n%v\n%v", infos, got)
	}
	if m0, m1 := file.Metadata(), again.Metadata(); len(m0) != len(m1) || len(m0) > 0 && !reflect.DeepEqual(m0, m1) {
		t.Fatalf("round trip changed the metadata: %v → %v", m0, m1)
	}
	for _, tn := range tensors {
		var raw bytes.Buffer
		if err := again.ReadRaw(tn.Name, &raw); err != nil || !slices.Equal(raw.Bytes(), tn.Data) {
			t.Fatalf("%s: round trip changed the data (%v)", tn.Name, err)
		}
	}
}

// Every seed opens and passes the fuzz checks (so the seeds are useful).
func TestFuzzSeedsOpen(t *testing.T) {
	for i, b := range fuzzSeeds(t) {
		path := writeTemp(t, fmt.Sprintf("seed%d.safetensors", i), b)
		f := mustOpen(t, path)
		checkOpened(t, f, int64(len(b)))
	}
}
