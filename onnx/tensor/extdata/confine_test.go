package extdata

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/mhcc-dev/mhcc/internal/inputfile"
)

// outsideMarker is the content of a file outside the model's folder: no
// reference may ever read it.
const outsideMarker = "OUTSIDE-THE-FOLDER-SECRET"

// confinedFolder builds a model folder (returned) next to a secret file:
// a data file, a symlink to the secret, a symlinked folder leading out, a
// symlink that stays inside, a FIFO and a symlink to /dev/zero.
func confinedFolder(t testing.TB) string {
	top := t.TempDir()
	secretDir := filepath.Join(top, "secret")
	dir := filepath.Join(top, "model")
	for _, d := range []string{secretDir, dir, filepath.Join(dir, "in")} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(secretDir, "passwd"), []byte(outsideMarker), 0o644))
	must(os.WriteFile(filepath.Join(dir, "w.bin"), []byte("0123456789"), 0o644))
	must(os.Symlink(filepath.Join(secretDir, "passwd"), filepath.Join(dir, "link.bin")))
	must(os.Symlink("../secret/passwd", filepath.Join(dir, "rel.bin")))
	must(os.Symlink(secretDir, filepath.Join(dir, "sub")))
	must(os.Symlink("../w.bin", filepath.Join(dir, "in", "up.bin"))) // leaves in/, stays in the folder
	must(os.Symlink("w.bin", filepath.Join(dir, "same.bin")))
	must(os.Symlink("/dev/zero", filepath.Join(dir, "zero.bin")))
	must(syscall.Mkfifo(filepath.Join(dir, "fifo.bin"), 0o644))
	return dir
}

// Issue 17, point 8: a symbolic link inside the model's folder was
// followed wherever it led, so external data could read any file the user
// can (and mhcc diff confirmed its content). A link that stays in the folder
// still works; one that leaves it, a FIFO (which hung the open) and a device
// are refused, naming the file.
func TestSectionConfined(t *testing.T) {
	dir := confinedFolder(t)
	for _, c := range []struct {
		location string
		want     string // the bytes, or the error's text
		err      error
	}{
		{"w.bin", "0123456789", nil},
		{"same.bin", "0123456789", nil},
		{"in/up.bin", "0123456789", nil},
		{"link.bin", "leaves the model's folder", inputfile.ErrEscapes},
		{"rel.bin", "leaves the model's folder", inputfile.ErrEscapes},
		{"sub/passwd", "leaves the model's folder", inputfile.ErrEscapes},
		{"zero.bin", "leaves the model's folder", inputfile.ErrEscapes},
		{"fifo.bin", "not a regular file (a named pipe)", inputfile.ErrNotRegular},
		{"in", "not a regular file (a folder)", inputfile.ErrNotRegular},
	} {
		var files Files
		ref, err := Parse(tensor("location", c.location), dir, true)
		if err != nil {
			t.Fatalf("%s: %v", c.location, err)
		}
		sec, err := files.Section(ref)
		if c.err == nil {
			if err != nil {
				t.Errorf("%s: %v", c.location, err)
			} else if b, _ := io.ReadAll(sec); string(b) != c.want {
				t.Errorf("%s: read %q, want %q", c.location, b, c.want)
			}
		} else if !errors.Is(err, c.err) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.location) {
			t.Errorf("%s: error %v, want %v naming the file and saying %q", c.location, err, c.err, c.want)
		}
		files.Close()
	}
}

// The model's folder may itself be reached through a symbolic link: what
// counts is that the data stays inside it.
func TestSectionFolderThroughLink(t *testing.T) {
	dir := confinedFolder(t)
	link := filepath.Join(t.TempDir(), "linked")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	var files Files
	defer files.Close()
	ref, err := Parse(tensor("location", "w.bin"), link, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := files.Section(ref); err != nil {
		t.Error(err)
	}
}

// FuzzExternalRef: whatever the location, offset and length, Parse and
// Section never panic, never block, and never return a byte of the file
// outside the folder.
func FuzzExternalRef(f *testing.F) {
	for _, s := range []string{"w.bin", "link.bin", "sub/passwd", "../secret/passwd", "/etc/passwd", "in/../link.bin", "in/up.bin", "fifo.bin", "sub/../model/w.bin", "./sub//passwd", "zero.bin", ""} {
		f.Add(s, "0", "")
	}
	f.Add("w.bin", "3", "4")
	dir := confinedFolder(f)
	f.Fuzz(func(t *testing.T, location, offset, length string) {
		kv := []string{"location", location}
		if offset != "" {
			kv = append(kv, "offset", offset)
		}
		if length != "" {
			kv = append(kv, "length", length)
		}
		var files Files
		defer files.Close()
		ref, err := Parse(tensor(kv...), dir, true)
		if err != nil {
			return
		}
		sec, err := files.Section(ref)
		if err != nil {
			return
		}
		if sec.Size() > 1<<20 {
			t.Fatalf("%q: a section of %d bytes from a folder of small files", location, sec.Size())
		}
		b, _ := io.ReadAll(sec)
		if len(b) > 0 && bytes.Contains([]byte(outsideMarker), b) {
			t.Fatalf("%q (offset %s, length %s) read %q from outside the folder", location, offset, length, b)
		}
	})
}
