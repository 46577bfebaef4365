// Package testmodels gives tests the repository's test models
// (testdata/models/*.yaml) compiled and decoded, so that the packages whose
// tests walk every model and target (onnx/diff, onnx/text, cmd/mhcc) share
// one way of doing it. It is for tests only: internal/stages checks that no
// other code imports it.
package testmodels

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/mhcc-dev/mhcc/compile"
	"github.com/mhcc-dev/mhcc/onnx/pb"
)

// Dir is testdata/models relative to the working directory (a test runs in
// its package's folder): "../../testdata/models" from onnx/diff. Relative,
// so that paths derived from it read as they did when each test spelled
// them out.
func Dir(t testing.TB) string {
	t.Helper()
	rel := "."
	for range 8 {
		if _, err := os.Stat(filepath.Join(rel, "go.mod")); err == nil {
			return filepath.Join(rel, "testdata", "models")
		}
		rel = filepath.Join(rel, "..")
	}
	t.Fatal("testmodels: no go.mod above the working directory")
	return ""
}

// Paths lists the test model files, sorted; it fails the test if there are
// none.
func Paths(t testing.TB) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(Dir(t), "*.yaml"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("testmodels: no test models: %v", err)
	}
	return paths
}

// Compile compiles the model file at path with opts and decodes the ONNX.
func Compile(t testing.TB, path string, opts compile.Options) *onnxpb.ModelProto {
	t.Helper()
	res, err := compile.Compile(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	return Decode(t, res.ONNX)
}

// Decode unmarshals an ONNX model.
func Decode(t testing.TB, data []byte) *onnxpb.ModelProto {
	t.Helper()
	m := &onnxpb.ModelProto{}
	if err := proto.Unmarshal(data, m); err != nil {
		t.Fatal(err)
	}
	return m
}

// Variant compiles the test model name ("tiny-mhc.yaml") after applying
// the replacements (old, new, old, new, …) to a copy of its text; each old
// must occur.
func Variant(t testing.TB, name string, opts compile.Options, repl ...string) *onnxpb.ModelProto {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(Dir(t), name))
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
	return Compile(t, path, opts)
}

// EachTarget runs f as a subtest "<file>/<target>" for every test model and
// every target of compile.Targets, with the compiled model; a model that
// does not compile for a target (a decoder-only target and an mlp model)
// skips its subtest.
func EachTarget(t *testing.T, f func(t *testing.T, path, target string, m *onnxpb.ModelProto)) {
	t.Helper()
	for _, path := range Paths(t) {
		for _, target := range compile.Targets {
			t.Run(filepath.Base(path)+"/"+target, func(t *testing.T) {
				res, err := compile.Compile(path, compile.Options{Target: target})
				if err != nil {
					t.Skipf("does not compile for %s: %v", target, err)
				}
				f(t, path, target, Decode(t, res.ONNX))
			})
		}
	}
}
