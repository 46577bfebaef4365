package safetensors

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
)

// encode returns the bytes Write would write to path.
func encode(path string, tensors []Tensor, metadata map[string]string) ([]byte, error) {
	header, order, err := encodeHeader(path, tensors, metadata)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	w := bufio.NewWriter(&b)
	writeFile(w, header, order, tensors)
	w.Flush()
	return b.Bytes(), nil
}

// rawFile builds a file from a header (not padded) and dataLen bytes of
// data, 0, 1, 2, ...
func rawFile(header string, dataLen int) []byte {
	b := make([]byte, 8, 8+len(header)+dataLen)
	binary.LittleEndian.PutUint64(b, uint64(len(header)))
	b = append(b, header...)
	for i := range dataLen {
		b = append(b, byte(i))
	}
	return b
}

// lenPrefix builds a file of an arbitrary header length followed by rest.
func lenPrefix(n uint64, rest string) []byte {
	b := make([]byte, 8, 8+len(rest))
	binary.LittleEndian.PutUint64(b, n)
	return append(b, rest...)
}

// writeTemp writes b to name in a fresh temporary folder and returns the
// path.
func writeTemp(t testing.TB, name string, b []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func mustOpen(t testing.TB, path string) *File {
	t.Helper()
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}
