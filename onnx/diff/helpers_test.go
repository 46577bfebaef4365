package graphdiff

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/mhcc-dev/mhcc/compile"
	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
)

// compileVariant compiles testdata/models/<name> after applying the
// replacements (old, new, old, new, …) to a copy of its text.
func compileVariant(t *testing.T, name string, repl ...string) *onnxpb.ModelProto {
	t.Helper()
	return compileVariantFor(t, name, compile.Options{}, repl...)
}

// compileVariantFor is compileVariant with compile options.
func compileVariantFor(t *testing.T, name string, opts compile.Options, repl ...string) *onnxpb.ModelProto {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("..", "..", "testdata", "models", name))
	if err != nil {
		t.Fatal(err)
	}
	text := string(src)
	for i := 0; i+1 < len(repl); i += 2 {
		if !strings.Contains(text, repl[i]) {
			t.Fatalf("%s: %q not found", name, repl[i])
		}
		text = strings.Replace(text, repl[i], repl[i+1], 1)
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := compile.Compile(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	m := &onnxpb.ModelProto{}
	if err := proto.Unmarshal(res.ONNX, m); err != nil {
		t.Fatal(err)
	}
	return m
}

func mustCompare(t *testing.T, a, b *onnxpb.ModelProto, opts Options) *Report {
	t.Helper()
	r, err := Compare(a, b, opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func reportText(t *testing.T, r *Report) string {
	t.Helper()
	var sb strings.Builder
	if err := r.WriteText(&sb, false); err != nil {
		t.Fatal(err)
	}
	return sb.String()
}
