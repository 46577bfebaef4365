package safetensors

import (
	"bytes"
	"strings"
	"testing"
)

// ReadRawAt reads any byte range inside a tensor and refuses ranges that
// leave it (which would read a neighbour's bytes).
func TestReadRawAt(t *testing.T) {
	b := rawFile(`{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[6],"data_offsets":[4,10]}}`, 10)
	f := mustOpen(t, writeTemp(t, "x.safetensors", b))
	dst := make([]byte, 3)
	if err := f.ReadRawAt("b", 2, dst); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(dst, []byte{6, 7, 8}) {
		t.Errorf("b[2:5] = %v, want [6 7 8]", dst)
	}
	for _, c := range []struct {
		name string
		off  int64
		n    int
		want string
	}{
		{"a", 2, 3, "outside the tensor's 4 bytes"},
		{"a", -1, 1, "outside"},
		{"c", 0, 1, "no such tensor"},
	} {
		err := f.ReadRawAt(c.name, c.off, make([]byte, c.n))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ReadRawAt(%q, %d, %d) = %v, want %q", c.name, c.off, c.n, err, c.want)
		}
	}
}
