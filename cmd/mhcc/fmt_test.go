package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mhcc-dev/mhcc/onnx/pb"
	"github.com/mhcc-dev/mhcc/onnx/text"
	"google.golang.org/protobuf/proto"
)

// fmtWant is onnxtext's text for the ONNX file at path.
func fmtWant(t *testing.T, path string, opts onnxtext.Options) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m := &onnxpb.ModelProto{}
	if err := proto.Unmarshal(data, m); err != nil {
		t.Fatal(err)
	}
	text, err := onnxtext.Format(m, opts)
	if err != nil {
		t.Fatal(err)
	}
	return string(text)
}

func TestFmtPrints(t *testing.T) {
	dir := t.TempDir()
	path := runCompiled(t, dir, "mlp-mhc")
	code, stdout, stderr := mhcc(t, "fmt", path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if stdout != fmtWant(t, path, onnxtext.Options{}) {
		t.Errorf("stdout is not onnxtext's text:\n%s", stdout)
	}
	for _, want := range []string{
		"<\n  ir_version: 8,\n  opset_import: [\"\" : 17],\n  producer_name: \"mhcc\",",
		"\"mlp-mhc\" (float[batch,12] x) => (float[batch,5] y)\n",
		"  # float[16,12] \"in_proj.weight\" = sha256:",
		"  [\"in_proj/1_Transpose\"] \"in_proj/Transpose\" = Transpose <perm = [1, 0]> (\"in_proj.weight\")\n",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q", want)
		}
	}
	if stderr != "" {
		t.Errorf("stderr %q", stderr)
	}

	// A model file is compiled first, to the same text.
	root := filepath.Join("..", "..", "testdata", "models", "mlp-mhc.yaml")
	if code, fromYAML, stderr := mhcc(t, "fmt", root); code != 0 || fromYAML != stdout {
		t.Errorf("fmt mlp-mhc.yaml: exit %d (%s), same text: %v", code, stderr, fromYAML == stdout)
	}

	code, values, _ := mhcc(t, "fmt", path, "--initializers")
	if code != 0 || values != fmtWant(t, path, onnxtext.Options{Initializers: true}) || !strings.Contains(values, "  float[16,12] \"in_proj.weight\" = {\n") {
		t.Errorf("--initializers: exit %d, text:\n%s", code, values[:min(len(values), 2000)])
	}
}

func TestFmtWritesFile(t *testing.T) {
	dir := t.TempDir()
	path := runCompiled(t, dir, "mlp-residual")
	out := filepath.Join(dir, "m.txt")
	code, stdout, stderr := mhcc(t, "fmt", path, "-o", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.HasPrefix(stdout, "wrote "+out+" (") {
		t.Errorf("stdout %q does not say what it wrote", stdout)
	}
	got, err := os.ReadFile(out)
	if err != nil || string(got) != fmtWant(t, path, onnxtext.Options{}) {
		t.Errorf("file: %v\n%s", err, got)
	}
	// Writing again replaces the file, and leaves no temporary file.
	if code, _, stderr := mhcc(t, "fmt", path, "--initializers", "-o", out); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if got, _ := os.ReadFile(out); string(got) != fmtWant(t, path, onnxtext.Options{Initializers: true}) {
		t.Error("second write did not replace the file")
	}
	onlyFiles(t, dir, "m.txt", "mlp-residual.onnx")
}

func TestFmtBadInput(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	out := filepath.Join(dir, "out.txt")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"missing file", []string{filepath.Join(dir, "nope.onnx")}, "no such file"},
		{"not protobuf", []string{write("text.onnx", "format: 1\nname: x\n")}, "text.onnx is not an ONNX model: "},
		{"empty file", []string{write("empty.onnx", "")}, "empty.onnx is not an ONNX model: it has no graph"},
		{"protobuf but no graph", []string{write("short.onnx", "\x08\x07")}, "short.onnx is not an ONNX model: it has no graph"},
		{"a folder", []string{dir}, "not a regular file (a folder)"},
		{"bad model file", []string{write("bad.yaml", "format: 1\nname: [\n")}, "bad.yaml"},
		{"no argument", nil, "accepts 1 arg(s), received 0"},
		{"two arguments", []string{"a.onnx", "b.onnx"}, "accepts 1 arg(s), received 2"},
		{"unknown flag", []string{"a.onnx", "--values"}, "unknown flag: --values"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := mhcc(t, append(append([]string{"fmt"}, tc.args...), "-o", out)...)
			want := 1 // a problem with the input; usage errors exit 2
			if strings.Contains(tc.want, "arg(s)") || strings.Contains(tc.want, "unknown flag") {
				want = 2
			}
			if code != want {
				t.Errorf("exit %d, want %d", code, want)
			}
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr %q lacks %q", stderr, tc.want)
			}
			if stdout != "" {
				t.Errorf("stdout %q", stdout)
			}
			if _, err := os.Stat(out); err == nil {
				t.Error("an output file was written")
			}
		})
	}
	// An unwritable output is an error too, and leaves nothing behind.
	path := runCompiled(t, dir, "tiny-residual")
	if code, _, stderr := mhcc(t, "fmt", path, "-o", filepath.Join(dir, "no-such-dir", "m.txt")); code != 1 || !strings.Contains(stderr, "no-such-dir") {
		t.Errorf("unwritable output: exit %d, stderr %q", code, stderr)
	}
}

func TestFmtHelp(t *testing.T) {
	code, stdout, _ := mhcc(t, "fmt", "--help")
	for _, w := range []string{"mhcc fmt model.onnx", "--initializers", "-o, --output", "Examples:", "SHA-256", "atomically"} {
		if !strings.Contains(stdout, w) {
			t.Errorf("help lacks %q", w)
		}
	}
	if code != 0 {
		t.Errorf("exit %d", code)
	}
	if _, stdout, _ := mhcc(t, "--help"); !strings.Contains(stdout, "fmt ") {
		t.Error("mhcc --help does not list fmt")
	}
}
