package atomicfile

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// deadPid returns the pid of a process that has exited.
func deadPid(t *testing.T) int {
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skip("no true(1):", err)
	}
	return cmd.Process.Pid
}

func names(t *testing.T, dir string) string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// Issue 17, point 8: a compile killed by SIGKILL left its hidden
// temporaries (hundreds of MB each), and they piled up. The next write to
// the same target removes those of a dead process that nobody holds, and
// only those.
func TestSweep(t *testing.T) {
	dir := t.TempDir()
	dead := strconv.Itoa(deadPid(t))
	self := strconv.Itoa(os.Getpid())
	files := []string{
		".out.tmp-" + dead + "-111",   // stale: removed
		".out.tmp-" + dead + "-222",   // stale but locked (a writer in another PID namespace): kept
		".out.tmp-" + self + "-333",   // this process's own: kept
		".out.tmp-1-444",              // pid 1 is alive: kept
		".out.tmp-555",                // not mhcc's naming: kept
		".other.tmp-" + dead + "-666", // another target: kept
		"out.tmp-" + dead + "-777",    // not hidden: not ours, kept
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	held, err := os.Open(filepath.Join(dir, files[1]))
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if err := syscall.Flock(int(held.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	if err := Write(filepath.Join(dir, "out"), func(w io.Writer) error { _, err := io.WriteString(w, "new"); return err }); err != nil {
		t.Fatal(err)
	}
	want := append([]string{"out"}, files[1:]...)
	sort.Strings(want)
	if got := names(t, dir); got != strings.Join(want, " ") {
		t.Errorf("after a write the folder holds\n%s\nwant\n%s", got, strings.Join(want, " "))
	}
}

// RemoveTemporaries (the SIGINT/SIGTERM handler's) removes the pending
// files and makes a later commit fail, leaving the old content.
func TestRemoveTemporaries(t *testing.T) {
	defer func() { temps.Lock(); temps.stopped = false; temps.Unlock() }()
	dir := t.TempDir()
	path := filepath.Join(dir, "out")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	q, err := Create(path + ".data")
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(p.W, "new")
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if n := RemoveTemporaries(); n != 2 {
		t.Errorf("removed %d files, want 2", n)
	}
	if err := CommitAll(p, q); err == nil {
		t.Error("a commit after RemoveTemporaries succeeded")
	}
	if got := names(t, dir); got != "out" {
		t.Errorf("folder holds %s, want out alone", got)
	}
	if b, _ := os.ReadFile(path); string(b) != "old" {
		t.Errorf("out holds %q, want the old content", b)
	}
}
