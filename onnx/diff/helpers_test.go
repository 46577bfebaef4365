package graphdiff

import (
	"strings"
	"testing"

	"github.com/mhcc-dev/mhcc/compile"
	"github.com/mhcc-dev/mhcc/internal/testmodels"
	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
)

// compileVariant compiles testdata/models/<name> after applying the
// replacements (old, new, old, new, …) to a copy of its text.
func compileVariant(t *testing.T, name string, repl ...string) *onnxpb.ModelProto {
	t.Helper()
	return testmodels.Variant(t, name, compile.Options{}, repl...)
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
