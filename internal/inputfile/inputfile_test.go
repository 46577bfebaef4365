package inputfile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Issue 17, point 8: os.ReadFile on a FIFO waited for a writer forever, and
// on /dev/zero read until memory ran out. ReadFile refuses both, and a file
// over its limit, before reading a byte, naming the path.
func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	ok := filepath.Join(dir, "ok.yaml")
	fifo := filepath.Join(dir, "fifo.yaml")
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(ok, []byte("format: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(big, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(big, MaxYAMLBytes+1); err != nil { // sparse: no disk used
		t.Fatal(err)
	}
	for _, c := range []struct {
		path string
		err  error
		want string
	}{
		{ok, nil, "format: 1\n"},
		{fifo, ErrNotRegular, "not a regular file (a named pipe)"},
		{"/dev/zero", ErrNotRegular, "not a regular file (a character device)"},
		{dir, ErrNotRegular, "not a regular file (a folder)"},
		{big, ErrTooLarge, "1048577 bytes, more than a model file may have (1 MiB)"},
		{filepath.Join(dir, "missing.yaml"), os.ErrNotExist, "missing.yaml"},
	} {
		done := make(chan struct{})
		var data []byte
		var err error
		go func() {
			data, err = ReadFile(c.path, MaxYAMLBytes, "a model file")
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: ReadFile still blocked after 10 s", c.path)
		}
		if c.err == nil {
			if err != nil || string(data) != c.want {
				t.Errorf("%s: %q, %v; want %q", c.path, data, err, c.want)
			}
			continue
		}
		if !errors.Is(err, c.err) || !strings.Contains(err.Error(), c.path) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %v naming the path and saying %q", c.path, err, c.err, c.want)
		}
	}
}
