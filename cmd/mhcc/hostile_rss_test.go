package main

import (
	"os/exec"
	"runtime"
	"syscall"
	"testing"

	"github.com/mhcc-dev/mhcc/internal/onnxbuild"
)

// TestRunMillionNodeChainRSS bounds the peak resident memory of `mhcc run`
// on a chain of 10^6 Relu nodes (a 26 MB file; issue 17, point 8). It
// peaked at about 2 GiB at first, at about 1.4 GiB once decoding was
// trimmed, and at about 560 MiB since the model keeps its values in tables
// indexed by number instead of name-keyed maps, drops each node message
// once decoded, and the plan's steps hold windows of shared slot arrays
// (bench/memory.md, "After value tables"). The bound is on memory, read
// from the child's rusage, never on time; it leaves a third over the
// measured peak for the collector's timing on a loaded machine.
func TestRunMillionNodeChainRSS(t *testing.T) {
	if testing.Short() {
		t.Skip("a million-node model: -short")
	}
	if runtime.GOOS != "linux" {
		t.Skip("ru_maxrss in KiB is Linux's")
	}
	const limit = 768 << 20 // bytes
	bin := hostileMhcc(t)
	dir := t.TempDir()
	hmWrite(t, dir, "chain.onnx", hmModel(onnxbuild.Chain(1_000_000, "Relu")))
	cmd := exec.Command(bin, "run", "chain.onnx", "--out-dir", "out")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("mhcc run: %v\n%s", err, out)
	}
	checkPeakRSS(t, cmd, limit, "mhcc run of a 10^6-node chain")
}

// checkPeakRSS fails t when the finished child cmd's peak resident set
// (Linux's ru_maxrss, in KiB) went over limit bytes; what names the run in
// the message.
func checkPeakRSS(t *testing.T, cmd *exec.Cmd, limit int64, what string) {
	t.Helper()
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		t.Fatal("no rusage for the child")
	}
	peak := int64(ru.Maxrss) << 10
	t.Logf("peak RSS %d MiB (limit %d MiB)", peak>>20, limit>>20)
	if peak > limit {
		t.Errorf("%s peaked at %d MiB RSS, want at most %d MiB", what, peak>>20, limit>>20)
	}
}
