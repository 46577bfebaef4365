package extdata

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/mhcc-dev/mhcc/onnx/pb"
)

func tensor(kv ...string) *onnxpb.TensorProto {
	t := &onnxpb.TensorProto{}
	for i := 0; i < len(kv); i += 2 {
		t.ExternalData = append(t.ExternalData, &onnxpb.StringStringEntryProto{Key: proto.String(kv[i]), Value: proto.String(kv[i+1])})
	}
	return t
}

// Parse and Section: the bytes a reference names, and each way a reference
// can be wrong, named in the error; unknown keys only under strict.
func TestParseSection(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "w.bin"), []byte("0123456789"), 0o644); err != nil {
		t.Fatal(err)
	}
	var files Files
	defer files.Close()
	for _, c := range []struct {
		kv   []string
		want string
	}{
		{[]string{"location", "w.bin", "offset", "2", "length", "3"}, "234"},
		{[]string{"location", "w.bin", "offset", "7"}, "789"},
		{[]string{"location", "./w.bin", "checksum", "x"}, "0123456789"},
	} {
		ref, err := Parse(tensor(c.kv...), dir, true)
		if err != nil {
			t.Fatalf("%v: %v", c.kv, err)
		}
		sec, err := files.Section(ref)
		if err != nil {
			t.Fatalf("%v: %v", c.kv, err)
		}
		if b, _ := io.ReadAll(sec); string(b) != c.want {
			t.Errorf("%v: read %q, want %q", c.kv, b, c.want)
		}
	}
	for _, c := range []struct {
		kv   []string
		want string
	}{
		{[]string{"offset", "0"}, "no location"},
		{[]string{"location", "../w.bin"}, "not a relative path inside"},
		{[]string{"location", "/etc/passwd"}, "not a relative path inside"},
		{[]string{"location", "w.bin", "offset", "-1"}, "not a non-negative integer"},
		{[]string{"location", "w.bin", "mhcc.x", "1"}, `unknown key "mhcc.x"`},
		{[]string{"location", "w.bin", "offset", "8", "length", "3"}, "the file is short"},
		{[]string{"location", "missing.bin"}, "missing.bin"},
	} {
		ref, err := Parse(tensor(c.kv...), dir, true)
		if err == nil {
			_, err = files.Section(ref)
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want one with %q", c.kv, err, c.want)
		}
	}
	if _, err := Parse(tensor("location", "w.bin", "mhcc.x", "1"), dir, false); err != nil {
		t.Errorf("not strict: %v", err)
	}
}
