package main

import (
	"errors"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"github.com/mhcc-dev/mhcc/internal/onnxbuild"
)

// TestDiffMillionNodeChainsRSS bounds the peak resident memory of `mhcc
// diff` of two chains of 10^6 nodes that share no op (Relu, Sigmoid; 26
// and 29 MB files; issue 17, point 8). When diff held both decoded models
// whole and analysed their NodeProtos (a name→producer map per graph, a
// group map entry per node) the process peaked at about 1.3 GB; with each
// model's nodes compacted into a table before the next file is read
// (graphdiff.Prepare) it peaks near 600 MB. The bound is on memory, read
// from the child's rusage, never on time; it sits between the two with
// room for the collector's variation.
func TestDiffMillionNodeChainsRSS(t *testing.T) {
	if testing.Short() {
		t.Skip("two million-node models: -short")
	}
	if runtime.GOOS != "linux" {
		t.Skip("ru_maxrss in KiB is Linux's")
	}
	const limit = 800 << 20 // bytes
	bin := hostileMhcc(t)
	dir := t.TempDir()
	hmWrite(t, dir, "relu.onnx", hmModel(onnxbuild.Chain(1_000_000, "Relu")))
	hmWrite(t, dir, "sigmoid.onnx", hmModel(onnxbuild.Chain(1_000_000, "Sigmoid")))
	cmd := exec.Command(bin, "diff", "relu.onnx", "sigmoid.onnx")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	// Exit 1: the models differ (every node is replaced).
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("mhcc diff: %v, want exit status 1\n%s", err, out)
	}
	for _, want := range []string{"deleted 1000000 nodes", "inserted 1000000 nodes"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("mhcc diff output lacks %q:\n%s", want, out)
		}
	}
	checkPeakRSS(t, cmd, limit, "mhcc diff of two 10^6-node chains")
}
