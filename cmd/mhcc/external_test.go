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
