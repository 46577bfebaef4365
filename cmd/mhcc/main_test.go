package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func mhcc(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return code, out.String(), errb.String()
}

const goodModel = `format: 1
name: cli-test
architecture:
  kind: mlp
  hidden_size: 8
  layers: 1
  ffn_hidden_size: 16
  input_size: 3
  output_size: 2
hyper_connections:
  kind: mhc
  streams: 2
weights:
  source: random
  seed: 3
`

func TestCompileWrites(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "m.yaml")
	os.WriteFile(model, []byte(goodModel), 0o644)
	out := filepath.Join(dir, "m.onnx")
	code, stdout, stderr := mhcc(t, "compile", model, "-o", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "wrote "+out) {
		t.Errorf("stdout %q does not say what it wrote", stdout)
	}
	data, err := os.ReadFile(out)
	if err != nil || len(data) == 0 {
		t.Fatalf("output: %v (%d bytes)", err, len(data))
	}
	onlyFiles(t, dir, "m.onnx", "m.yaml")
}

// A failed compile leaves an existing output untouched and no temporary
// file behind; the error names file, line and key.
func TestCompileFailsAtomically(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "bad.yaml")
	os.WriteFile(model, []byte(strings.Replace(goodModel, "streams: 2", "streams: 0", 1)), 0o644)
	out := filepath.Join(dir, "m.onnx")
	os.WriteFile(out, []byte("previous"), 0o644)
	code, _, stderr := mhcc(t, "compile", model, "-o", out)
	if code != 1 {
		t.Fatalf("exit %d, want 1; stderr: %s", code, stderr)
	}
	if !strings.Contains(stderr, "bad.yaml:12:") || !strings.Contains(stderr, "hyper_connections.streams") {
		t.Errorf("stderr %q does not name bad.yaml:12 and the key", stderr)
	}
	if data, _ := os.ReadFile(out); string(data) != "previous" {
		t.Errorf("existing output changed to %q", data)
	}
	onlyFiles(t, dir, "bad.yaml", "m.onnx")

	// Missing weights file: also a user error, also no output.
	os.WriteFile(model, []byte(strings.Replace(goodModel, "source: random\n  seed: 3", "source: safetensors\n  path: nowhere.safetensors", 1)), 0o644)
	os.Remove(out)
	if code, _, stderr := mhcc(t, "compile", model, "-o", out); code != 1 || !strings.Contains(stderr, "nowhere.safetensors") {
		t.Errorf("exit %d, stderr %q; want 1 naming the weights file", code, stderr)
	}
	onlyFiles(t, dir, "bad.yaml")
}

// A flag value naming nothing valid is a problem with the input (exit 1);
// a malformed command line is a usage error (exit 2, TestUsageErrorsExit2).
// Neither writes anything.
func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "m.yaml")
	os.WriteFile(model, []byte(goodModel), 0o644)
	for _, c := range []struct {
		args []string
		want int
	}{
		{[]string{"compile", model, "--target", "tpu", "-o", filepath.Join(dir, "x.onnx")}, 1},
		{[]string{"compile", model, "--disable-pass", "nosuch", "-o", filepath.Join(dir, "x.onnx")}, 1},
		{[]string{"compile"}, 2},
		{[]string{"compile", model, "--bogus", "-o", filepath.Join(dir, "x.onnx")}, 2},
		{[]string{"diff", model}, 2},
		{[]string{"frobnicate"}, 2},
	} {
		if code, _, stderr := mhcc(t, c.args...); code != c.want || stderr == "" {
			t.Errorf("mhcc %v: exit %d, stderr %q; want %d and a message", c.args, code, stderr, c.want)
		}
	}
	onlyFiles(t, dir, "m.yaml")
}

func TestCheckAndIR(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "m.yaml")
	os.WriteFile(model, []byte(goodModel), 0o644)
	if code, stdout, _ := mhcc(t, "check", model); code != 0 || !strings.Contains(stdout, "ok") {
		t.Errorf("check: exit %d, stdout %q", code, stdout)
	}
	code, stdout, _ := mhcc(t, "ir", model)
	if code != 0 || !strings.Contains(stdout, "Sinkhorn<f32[batch,2,2]>") || !strings.Contains(stdout, "HCMix") {
		t.Errorf("ir: exit %d, stdout:\n%s", code, stdout)
	}
	if code, stdout, _ := mhcc(t, "compile", "--help"); code != 0 || !strings.Contains(stdout, "atomically") {
		t.Errorf("compile --help: exit %d, stdout %q", code, stdout)
	}
}

func onlyFiles(t *testing.T, dir string, want ...string) {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("folder holds %v, want %v", got, want)
	}
}

func TestVerify(t *testing.T) {
	code, stdout, stderr := mhcc(t, "verify", "../../testdata/models/mlp-mhc.yaml", "--shape", "1", "--shape", "5")
	if code != 0 || !strings.Contains(stdout, "Amax gain") || !strings.Contains(stdout, "layers.2.mlp") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	code, stdout, _ = mhcc(t, "verify", "../../testdata/models/tiny-mhc.yaml", "--json", "--shape", "2x3")
	if code != 0 || !strings.Contains(stdout, `"max_col_sum_dev"`) || !strings.Contains(stdout, `"ok": true`) {
		t.Fatalf("--json: exit %d\n%s", code, stdout)
	}
	if code, _, stderr := mhcc(t, "verify", "x.onnx"); code != 1 || !strings.Contains(stderr, "--against") {
		t.Errorf("verify x.onnx: exit %d, stderr %q", code, stderr)
	}
	if code, _, stderr := mhcc(t, "verify", "../../testdata/models/mlp-mhc.yaml", "--shape", "0x2"); code != 1 || !strings.Contains(stderr, "--shape") {
		t.Errorf("bad shape: exit %d, stderr %q", code, stderr)
	}
}

// --stats, --verify-each and --dump-dir show what the passes did.
func TestCompilePassFlags(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "m.yaml")
	os.WriteFile(model, []byte(goodModel), 0o644)
	dumps := filepath.Join(dir, "ir") // made by compile
	code, _, stderr := mhcc(t, "compile", model, "-o", filepath.Join(dir, "m.onnx"), "--stats", "--verify-each", "--dump-dir", dumps)
	if code != 0 || !strings.Contains(stderr, "pass dce") {
		t.Fatalf("exit %d, stderr %q; want per-pass statistics", code, stderr)
	}
	dumped, _ := filepath.Glob(filepath.Join(dumps, "cli-test_*_dce.ir"))
	if len(dumped) == 0 {
		t.Fatalf("no dump after dce in %s", dumps)
	}
	data, err := os.ReadFile(dumped[len(dumped)-1])
	if err != nil || !strings.Contains(string(data), "= Sinkhorn<") {
		t.Fatalf("dump after dce: %v\n%s", err, data)
	}
}

func TestCheckReproducible(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "m.yaml")
	os.WriteFile(model, []byte(goodModel), 0o644)
	code, stdout, stderr := mhcc(t, "compile", model, "-o", filepath.Join(dir, "m.onnx"), "--check-reproducible")
	if code != 0 || !strings.Contains(stdout, "reproducible: two compiles gave the same") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	for _, c := range []struct {
		a, b string
		at   int
		diff bool
	}{{"abc", "abc", 3, false}, {"abc", "abd", 2, true}, {"ab", "abc", 2, true}} {
		if at, diff := firstDifference([]byte(c.a), []byte(c.b)); at != c.at || diff != c.diff {
			t.Errorf("firstDifference(%q, %q) = %d, %v; want %d, %v", c.a, c.b, at, diff, c.at, c.diff)
		}
	}
}
