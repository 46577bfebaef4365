package atomicfile

import (
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestPending(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(p.W, "new")
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "old" {
		t.Fatalf("before Commit the file holds %q, want the old content", b)
	}
	if err := p.Commit(); err != nil {
		t.Fatal(err)
	}
	p.Abort() // after Commit: nothing
	if b, _ := os.ReadFile(path); string(b) != "new" {
		t.Fatalf("after Commit the file holds %q", b)
	}

	q, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(q.W, "never")
	q.Abort()
	if err := q.Commit(); err == nil {
		t.Error("Commit after Abort succeeded")
	}
	entries, _ := os.ReadDir(dir)
	if b, _ := os.ReadFile(path); string(b) != "new" || len(entries) != 1 {
		t.Errorf("after Abort: file %q, %d entries in the folder; want \"new\" and no temporary file", b, len(entries))
	}
}
