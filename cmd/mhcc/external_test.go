package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mhcc-dev/mhcc/export"
)

func TestCompileExternalData(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "m.onnx")
	code, stdout, stderr := mhcc(t, "compile", "../../testdata/models/tiny-mhc.yaml", "-o", out, "--external-data")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "m.onnx.data (") || stderr != "" {
		t.Errorf("stdout %q, stderr %q; want the data file named and no progress (stderr is not a terminal)", stdout, stderr)
	}
	if fi, err := os.Stat(out + ".data"); err != nil || fi.Size() == 0 {
		t.Fatalf("data file: %v", err)
	}
	if code, _, stderr := mhcc(t, "run", out, "--out-dir", dir); code != 0 {
		t.Errorf("mhcc run on the external-data model: exit %d: %s", code, stderr)
	}
	if code, _, _ := mhcc(t, "compile", "../../testdata/models/tiny-mhc.yaml", "-o", out, "--external-data", "--no-external-data"); code != 1 {
		t.Errorf("contradicting flags: exit %d, want 1", code)
	}
}

// mhcc diff reads external data: the same weights split differently between
// the model and its data file are no change, a flipped byte in the data file
// is (exit 1, naming the initializer), and a missing data file is an error
// naming it (exit 2). Before, external tensors compared by location only.
func TestDiffExternalData(t *testing.T) {
	dir := t.TempDir()
	a, b, c := filepath.Join(dir, "a.onnx"), filepath.Join(dir, "b.onnx"), filepath.Join(dir, "c.onnx")
	for _, args := range [][]string{{"-o", a, "--external-data"}, {"-o", b, "--external-data", "--external-threshold", "4096"}, {"-o", c}} {
		if code, _, stderr := mhcc(t, append([]string{"compile", "../../testdata/models/tiny-mhc.yaml"}, args...)...); code != 0 {
			t.Fatalf("compile %v: exit %d: %s", args, code, stderr)
		}
	}
	for _, other := range []string{b, c} {
		if code, stdout, stderr := mhcc(t, "diff", a, other); code != 0 || !strings.Contains(stdout, "no differences") {
			t.Errorf("diff a %s: exit %d\n%s%s", filepath.Base(other), code, stdout, stderr)
		}
	}
	data, err := os.ReadFile(b + ".data")
	if err != nil {
		t.Fatal(err)
	}
	data[1] ^= 0x40 // in the first tensor, which starts the file
	if err := os.WriteFile(b+".data", data, 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := mhcc(t, "diff", a, b)
	if code != 1 || !strings.Contains(stdout, "initializer ") || !strings.Contains(stdout, "values differ") {
		t.Errorf("a byte flipped in b.onnx.data: exit %d\n%s%s", code, stdout, stderr)
	}
	if err := os.Remove(b + ".data"); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := mhcc(t, "diff", a, b); code != 2 || !strings.Contains(stderr, "b.onnx.data") {
		t.Errorf("data file missing: exit %d, %s", code, stderr)
	}
}

func TestMeter(t *testing.T) {
	var buf bytes.Buffer
	if newMeter(&buf, false) != nil {
		t.Fatal("a meter on a buffer (not a terminal) is not silent")
	}
	var m *meter
	m.weights(export.Progress{}) // a nil meter does nothing
	m.done()
	m = &meter{w: &buf, start: time.Now()}
	m.weights(export.Progress{Tensor: "embed.weight", Index: 0, Tensors: 2, Bytes: 1 << 20, Total: 4 << 20})
	m.done()
	got := buf.String()
	if !strings.HasPrefix(got, "\rweights: 1/2 tensors, 1.0 MiB of 4.0 MiB (25%)") || !strings.Contains(got, "embed.weight") || !strings.HasSuffix(got, "\r") {
		t.Errorf("meter wrote %q", got)
	}
}
