package npy

import (
	"bytes"
	"testing"
)

// FuzzRead feeds arbitrary bytes to the reader. It must never panic or
// allocate more than the input justifies; whatever it accepts must re-encode
// to a file that reads back the same, and the data it returned must fit in
// the input.
func FuzzRead(f *testing.F) {
	for _, a := range roundTripCases() {
		if a.NumElements() > 64 {
			continue // keep the corpus small
		}
		f.Add(encode(f, a))
	}
	f.Add(file(2, "{'descr': '>f8', 'fortran_order': False, 'shape': (1,), }", make([]byte, 8)))
	f.Add(file(3, `{"shape": (2L,), "descr": "|b1", "fortran_order": True}`, []byte{1, 2}))
	f.Add([]byte(magic))
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := Decode(data)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error %T is not an *Error: %v", err, err)
			}
			return
		}
		n := a.NumElements()
		if n != int64(dataLen(a.Data)) {
			t.Fatalf("shape %v, %d elements in the data", a.Shape, dataLen(a.Data))
		}
		if n*int64(dtypes[a.DType].size()) > int64(len(data)) {
			t.Fatalf("%d elements of %s from %d bytes", n, a.DType, len(data))
		}
		re := encode(t, a)
		b, err := Decode(re)
		if err != nil {
			t.Fatalf("re-encoded file does not read: %v", err)
		}
		if !bytes.Equal(encode(t, b), re) {
			t.Fatal("re-encoding is not stable")
		}
	})
}
