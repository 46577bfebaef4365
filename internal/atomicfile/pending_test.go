package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
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

// WriteAll renames its files into place only when every one was written.
func TestWriteAll(t *testing.T) {
	dir := t.TempDir()
	paths := []string{filepath.Join(dir, "a"), filepath.Join(dir, "b"), filepath.Join(dir, "c")}
	if err := os.WriteFile(paths[0], []byte("old a"), 0o644); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := WriteAll(paths, func(i int, w io.Writer) error {
		if i == 2 {
			return boom
		}
		_, err := io.WriteString(w, "new "+filepath.Base(paths[i]))
		return err
	})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "writing "+paths[2]+": boom") {
		t.Fatalf("got %v, want boom naming %s", err, paths[2])
	}
	if names(t, dir) != "a" {
		t.Errorf("after a failure the folder holds %s, want only the old a", names(t, dir))
	}
	if b, _ := os.ReadFile(paths[0]); string(b) != "old a" {
		t.Errorf("after a failure a holds %q", b)
	}
	if err := WriteAll(paths, func(i int, w io.Writer) error {
		_, err := io.WriteString(w, "new "+filepath.Base(paths[i]))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		if b, _ := os.ReadFile(p); string(b) != "new "+filepath.Base(p) {
			t.Errorf("%s holds %q", p, b)
		}
	}
	if names(t, dir) != "a b c" {
		t.Errorf("folder holds %s, want a b c", names(t, dir))
	}
	if err := WriteAll(nil, nil); err != nil {
		t.Errorf("no files: %v", err)
	}
	// A path in a missing folder fails before anything is renamed.
	bad := []string{filepath.Join(dir, "d"), filepath.Join(dir, "missing", "e")}
	if err := WriteAll(bad, func(int, io.Writer) error { return nil }); err == nil || !strings.Contains(err.Error(), "writing "+bad[1]) {
		t.Errorf("missing folder: got %v", err)
	}
	if names(t, dir) != "a b c" {
		t.Errorf("after a failed Create the folder holds %s", names(t, dir))
	}
}
