package stages

import (
	"go/build"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/mhcc-dev/mhcc/"

// forbidden lists, for each stage package, the packages it must not import,
// directly or through others (tests excluded): a stage sees the stages
// before it, never the ones after it, and nothing but cmd/ sees the command.
var forbidden = []struct {
	pkg  string
	must []string // not imported
	why  string
}{
	{"ir", []string{"model", "lower", "passes", "export", "runtime", "compile", "verify", "inspect"},
		"the IR is the vocabulary every stage shares; it knows no stage"},
	{"model", []string{"lower", "passes", "export", "runtime", "compile", "verify", "inspect"},
		"the frontend reads model files; what is done with them comes later"},
	{"lower", []string{"passes", "export", "runtime", "compile", "verify", "inspect"},
		"lowering builds the reference graph; it does not depend on how it is optimised or run"},
	{"passes", []string{"export", "runtime", "compile", "verify", "inspect"},
		"passes transform IR; they depend on neither the ONNX encoding nor an ONNX runtime"},
	{"export", []string{"passes", "compile", "verify", "inspect"},
		"the exporter encodes any verified graph, whatever produced it"},
	{"runtime", []string{"ir", "model", "lower", "passes", "export", "compile", "verify", "inspect"},
		"the runtime executes ONNX, mhcc's or anyone's; it knows nothing of how a file was made"},
	// The runtime's layers (RATIONALE.md, "Package boundaries: the runtime").
	{"runtime/internal/core", []string{"runtime", "runtime/internal/decode", "runtime/internal/ref", "runtime/internal/fast", "runtime/feed"},
		"the runtime's types and the checks around a kernel call sit below the decoder, the kernels and the engines"},
	{"runtime/internal/decode", []string{"runtime", "runtime/internal/fast", "runtime/feed"},
		"decoding checks a graph against the op table (what each op accepts and yields), not against how an engine runs it"},
	{"runtime/internal/ref", []string{"runtime", "runtime/internal/decode", "runtime/internal/fast", "runtime/feed"},
		"the reference kernels are the oracle: nothing of the fast engine reaches them, so a Reference run is plain loops by construction"},
	{"runtime/internal/fast", []string{"runtime", "runtime/internal/decode", "runtime/feed"},
		"the fast engine runs decoded graphs; it neither decodes nor sees the public API"},
	{"compile", []string{"verify", "inspect"},
		"the driver runs the stages; checking and costing use it, not the other way"},
	{"verify", []string{"inspect"}, "verification does not need the cost model"},
	{"internal/onnxbuild", []string{"ir", "model", "lower", "passes", "export", "runtime", "compile", "verify", "inspect"},
		"hand-built ONNX for tests and benchmark inputs is plain schema; it must not hide a stage inside a fixture"},
	{"bench/internal/benchenv", []string{"ir", "model", "lower", "passes", "export", "runtime", "compile", "verify", "inspect"},
		"the benchmarks' harness times and reports; what is measured is each benchmark's own choice"},
	{"bench/internal/benchort", []string{"ir", "model", "lower", "passes", "export", "runtime", "compile", "verify", "inspect"},
		"it opens onnxruntime sessions the same way for every benchmark; what they run is the benchmark's choice"},
}

// testOnly are packages of test helpers: only _test.go files import them.
var testOnly = map[string]bool{"internal/testmodels": true}

func TestImportDirections(t *testing.T) {
	deps := moduleImports(t)
	for _, f := range forbidden {
		t.Run(f.pkg, func(t *testing.T) {
			if _, ok := deps[f.pkg]; !ok {
				t.Fatalf("no package %s in the module", f.pkg)
			}
			reach := reachable(deps, f.pkg)
			var bad []string
			for _, p := range f.must {
				if reach[p] {
					bad = append(bad, p+" (through "+strings.Join(path(deps, f.pkg, p), " → ")+")")
				}
			}
			if len(bad) == 0 {
				return
			}
			t.Errorf("%s must not import %s: %s", f.pkg, strings.Join(bad, ", "), f.why)
		})
	}
	// Nothing outside cmd/ imports a command, and only tests import the
	// test helpers.
	for p, imps := range deps {
		for _, q := range imps {
			if strings.HasPrefix(q, "cmd/") && !strings.HasPrefix(p, "cmd/") {
				t.Errorf("%s imports the command %s", p, q)
			}
			if testOnly[q] {
				t.Errorf("%s imports %s, which is for tests only", p, q)
			}
		}
	}
	for q := range testOnly {
		if _, ok := deps[q]; !ok {
			t.Errorf("no package %s in the module", q)
		}
	}
}

// moduleImports maps each package of the module (path relative to the
// module, "ir", "cmd/mhcc") to the module packages its non-test files import.
func moduleImports(t *testing.T) map[string][]string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	deps := map[string][]string{}
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		name := d.Name()
		if p != root && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata") {
			return filepath.SkipDir
		}
		if p != root {
			if _, err := os.Stat(filepath.Join(p, "go.mod")); err == nil {
				return filepath.SkipDir // another module (interop/onnxgo)
			}
		}
		pkg, err := build.Default.ImportDir(p, 0)
		if err != nil {
			return nil // no Go files, or only tests
		}
		rel, _ := filepath.Rel(root, p)
		var imps []string
		for _, imp := range pkg.Imports {
			if q, ok := strings.CutPrefix(imp, module); ok {
				imps = append(imps, q)
			}
		}
		deps[filepath.ToSlash(rel)] = imps
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return deps
}

// reachable is the set of packages from imports, directly or not.
func reachable(deps map[string][]string, from string) map[string]bool {
	seen := map[string]bool{}
	var walk func(string)
	walk = func(p string) {
		for _, q := range deps[p] {
			if !seen[q] {
				seen[q] = true
				walk(q)
			}
		}
	}
	walk(from)
	return seen
}

// path is a shortest import chain from one package to another.
func path(deps map[string][]string, from, to string) []string {
	prev := map[string]string{from: ""}
	queue := []string{from}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, q := range deps[p] {
			if _, ok := prev[q]; ok {
				continue
			}
			prev[q] = p
			if q == to {
				var chain []string
				for x := to; x != ""; x = prev[x] {
					chain = append([]string{x}, chain...)
				}
				return chain
			}
			queue = append(queue, q)
		}
	}
	return nil
}
