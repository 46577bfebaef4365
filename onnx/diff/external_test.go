package graphdiff

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/mhcc-dev/mhcc/onnx/pb"
)

// externalize moves initializer name of m to file (in dir) at offset,
// after pad bytes of zeros, as an exporter with external data would.
func externalize(t *testing.T, m *onnxpb.ModelProto, name, dir, file string, pad int) {
	t.Helper()
	for _, init := range m.Graph.Initializer {
		if init.GetName() != name {
			continue
		}
		data := append(make([]byte, pad), init.RawData...)
		if err := os.WriteFile(filepath.Join(dir, file), data, 0o644); err != nil {
			t.Fatal(err)
		}
		init.RawData = nil
		init.DataLocation = onnxpb.TensorProto_EXTERNAL.Enum()
		init.ExternalData = []*onnxpb.StringStringEntryProto{
			{Key: proto.String("location"), Value: proto.String(file)},
			{Key: proto.String("offset"), Value: proto.String(strconv.Itoa(pad))},
			{Key: proto.String("length"), Value: proto.String(strconv.Itoa(len(data) - pad))},
		}
		return
	}
	t.Fatalf("no initializer %s", name)
}

// TestResolveExternal: once ResolveExternal has read the data files,
// external initializers compare by content: the same bytes at another
// offset, in another file or inline are no change; a changed value is an
// initializer_value change that counts the values. Unresolved, the same
// tensors compare by location, as before. Bad references are errors that
// name the tensor and the file.
func TestResolveExternal(t *testing.T) {
	dirA, dirB := t.TempDir(), t.TempDir()
	a, b := small(), small()
	externalize(t, a, "W", dirA, "a.bin", 0)
	externalize(t, b, "W", dirB, "b.bin", 4096)
	if r := mustCompare(t, a, b, Options{}); r.Equal() {
		t.Fatal("unresolved: different locations compared equal, so the test proves nothing")
	}
	for _, m := range []struct {
		m   *onnxpb.ModelProto
		dir string
	}{{a, dirA}, {b, dirB}} {
		if err := ResolveExternal(m.m, m.dir); err != nil {
			t.Fatal(err)
		}
	}
	if r := mustCompare(t, a, b, Options{}); !r.Equal() {
		t.Fatalf("same bytes at another offset and file:\n%s", dump(r))
	}
	if r := mustCompare(t, a, small(), Options{}); !r.Equal() {
		t.Fatalf("external against inline:\n%s", dump(r))
	}

	// One value changed in B's file.
	path := filepath.Join(dirB, "b.bin")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[4096+5*4+3] ^= 0x40
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	c := small()
	externalize(t, c, "W", dirB, "b2.bin", 0)
	if err := os.WriteFile(filepath.Join(dirB, "b2.bin"), data[4096:], 0o644); err != nil {
		t.Fatal(err)
	}
	if err := ResolveExternal(c, dirB); err != nil {
		t.Fatal(err)
	}
	ch := wantOne(t, mustCompare(t, a, c, Options{}), "initializer_value")
	if !strings.Contains(ch.Message, "1 of 16 values differ") {
		t.Errorf("message %q", ch.Message)
	}

	// Errors name the tensor and say what is wrong.
	for _, bad := range []struct{ location, length, want string }{
		{"missing.bin", "64", "missing.bin"},
		{"../escape.bin", "64", "not a relative path inside"},
		{"b2.bin", "65", "the file is short"},
		{"b2.bin", "60", "want 64"},
	} {
		m := small()
		externalize(t, m, "W", dirB, "b3.bin", 0)
		for _, kv := range m.Graph.Initializer[0].ExternalData {
			switch kv.GetKey() {
			case "location":
				kv.Value = proto.String(bad.location)
			case "length":
				kv.Value = proto.String(bad.length)
			}
		}
		err := ResolveExternal(m, dirB)
		if err == nil || !strings.Contains(err.Error(), `initializer "W"`) || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s length %s: error %v, want one naming W and %q", bad.location, bad.length, err, bad.want)
		}
	}
}
