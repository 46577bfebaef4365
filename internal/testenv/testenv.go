// Package testenv finds the tools mhcc's tests run against — the onnxruntime
// shared library, Debian's python3 with onnx and torch — and checks ONNX files
// with the reference checker. It is for tests only.
//
// A test that needs a missing tool skips, with a hint to run
// scripts/install-deps, except under CI (CI=true), where a missing tool is a
// failure: CI installs everything, so a skip there would hide a broken setup.
package testenv

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
)

// ORTVersion is the onnxruntime release scripts/install-deps installs.
const ORTVersion = "1.30.0"

// Python is the interpreter the reference scripts run with: Debian's, whose
// python3-onnx and python3-torch packages scripts/install-deps installs (a
// python3 earlier on PATH, such as a pyenv one, would not have them).
const Python = "/usr/bin/python3"

const installHint = "run scripts/install-deps (see docs/testing.md)"

// ONNXTestData holds ONNX's own test models (Debian's libonnx-testdata,
// which scripts/install-deps installs): about a thousand models written by
// onnx's Python helpers and by PyTorch, with typed data fields, subgraphs
// (If, Loop, Scan), sequences, optionals and maps, functions, every
// attribute kind.
const ONNXTestData = "/usr/share/libonnx-testdata/data"

// NeedONNXTestModels returns the paths of every .onnx file under
// ONNXTestData, sorted, or skips t (fails it under CI) when the package is
// missing; it fails t when it holds no model.
func NeedONNXTestModels(t testing.TB) []string {
	t.Helper()
	NeedPath(t, ONNXTestData, "ONNX test models (Debian's libonnx-testdata)")
	var paths []string
	err := filepath.WalkDir(ONNXTestData, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".onnx") {
			paths = append(paths, p)
		}
		return err
	})
	if err != nil || len(paths) == 0 {
		t.Fatalf("no models under %s: %v", ONNXTestData, err)
	}
	sort.Strings(paths)
	return paths
}

var (
	rootOnce sync.Once
	rootDir  string
	rootErr  error
)

// RepoRoot returns the directory of mhcc's go.mod, found by walking up from
// the working directory (a test's working directory is its package folder).
func RepoRoot() (string, error) {
	rootOnce.Do(func() {
		dir, err := os.Getwd()
		if err != nil {
			rootErr = err
			return
		}
		for {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				rootDir = dir
				return
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				rootErr = errors.New("testenv: no go.mod above the working directory")
				return
			}
			dir = parent
		}
	})
	return rootDir, rootErr
}

// ORTLib returns the path of the onnxruntime shared library: $MHCC_ORT_LIB if
// set, else <repo root>/.cache/onnxruntime-1.30.0/libonnxruntime.so.1, where
// scripts/install-deps puts it. The error says why the file is not usable.
func ORTLib() (string, error) {
	path := os.Getenv("MHCC_ORT_LIB")
	if path == "" {
		root, err := RepoRoot()
		if err != nil {
			return "", err
		}
		path = filepath.Join(root, ".cache", "onnxruntime-"+ORTVersion, "libonnxruntime.so.1")
	}
	fi, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return path, fmt.Errorf("onnxruntime library %s not found", path)
		}
		return path, err
	}
	if fi.IsDir() {
		return path, fmt.Errorf("onnxruntime library %s is a directory", path)
	}
	return path, nil
}

// InCI reports whether the tests run under CI (CI=true).
func InCI() bool { return os.Getenv("CI") == "true" }

// missing skips t, or fails it under CI.
func missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if InCI() {
		t.Fatalf("%s (CI=true, so this fails instead of skipping; %s)", msg, installHint)
	}
	t.Skipf("%s; %s", msg, installHint)
}

// NeedORT returns the onnxruntime library's path, or skips t (fails it under
// CI) when the library is missing.
func NeedORT(t testing.TB) string {
	t.Helper()
	path, err := ORTLib()
	if err != nil {
		missing(t, "%v", err)
	}
	return path
}

// NeedPath returns path if it exists, or skips t (fails it under CI) naming
// what is missing, e.g. NeedPath(t, dir, "ONNX node tests (libonnx-testdata)").
func NeedPath(t testing.TB, path, what string) string {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		missing(t, "%s missing: %v", what, err)
	}
	return path
}

var (
	pyMu      sync.Mutex
	pyModules = map[string]error{} // module -> import result
)

// NeedPython returns the path of Debian's python3 after checking that it can
// import each of modules (such as "onnx", "torch", "numpy"), or skips t (fails
// it under CI) when it or a module is missing. Results are cached per process.
func NeedPython(t testing.TB, modules ...string) string {
	t.Helper()
	if _, err := os.Stat(Python); err != nil {
		missing(t, "%s not found", Python)
		return Python
	}
	var bad []string
	for _, m := range modules {
		if err := importModule(m); err != nil {
			bad = append(bad, fmt.Sprintf("%s (%v)", m, err))
		}
	}
	if len(bad) > 0 {
		missing(t, "%s cannot import %s", Python, strings.Join(bad, ", "))
	}
	return Python
}

func importModule(m string) error {
	pyMu.Lock()
	defer pyMu.Unlock()
	if err, ok := pyModules[m]; ok {
		return err
	}
	cmd := exec.Command(Python, "-c", "import sys, importlib; importlib.import_module(sys.argv[1])", m)
	out, err := cmd.CombinedOutput()
	if err != nil {
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		err = fmt.Errorf("%s", lines[len(lines)-1])
	}
	pyModules[m] = err
	return err
}

// CheckONNXFile runs the reference ONNX checker (scripts/check_onnx.py with
// Debian's python3-onnx) on the model at path: full check_model, strict shape
// inference with type checks, and a comparison of the inferred output shapes
// with the declared ones. The error holds the checker's message.
func CheckONNXFile(path string) error {
	root, err := RepoRoot()
	if err != nil {
		return err
	}
	if _, err := os.Stat(Python); err != nil {
		return fmt.Errorf("check_onnx: %s not found; %s", Python, installHint)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	var out bytes.Buffer
	cmd := exec.Command(Python, filepath.Join(root, "scripts", "check_onnx.py"), abs)
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(out.String())
		if msg == "" {
			msg = err.Error()
		}
		return fmt.Errorf("check_onnx %s: %s", path, msg)
	}
	return nil
}

// CheckONNX fails t with the checker's output unless the model at path passes
// CheckONNXFile. It first requires python3 with onnx (NeedPython).
func CheckONNX(t testing.TB, path string) {
	t.Helper()
	NeedPython(t, "onnx")
	if err := CheckONNXFile(path); err != nil {
		t.Fatal(err)
	}
}
