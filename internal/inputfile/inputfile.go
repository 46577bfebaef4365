// Package inputfile opens the files a user names (model files, profiles,
// weights, inputs, external data) so that a hostile path cannot hang or
// exhaust mhcc: the open never blocks (O_NONBLOCK, so a FIFO with no writer
// does not wait for one), anything but a regular file is refused before a
// byte is read (a FIFO, /dev/zero, a socket, a folder), and whole-file reads
// are capped by a limit the caller names (issue 17, point 8).
package inputfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// Limits of whole-file reads.
const (
	// MaxYAMLBytes caps a model file or a target profile (model.MaxFileBytes
	// is this cap). The YAML parser holds a node of some hundred bytes per
	// key and value, so a file of millions of keys would take gigabytes
	// and minutes before a single check; the largest real one is a few
	// KiB.
	MaxYAMLBytes = 1 << 20
	// MaxModelBytes caps an ONNX file: protobuf cannot hold a message of 2
	// GiB or more, so a larger file is not a model.
	MaxModelBytes = 2<<30 - 1
)

// An Error says why a path is refused; it names the path.
type Error struct {
	Path string
	Msg  string
	Err  error // ErrNotRegular, ErrTooLarge, ErrEscapes or nil
}

func (e *Error) Error() string { return e.Path + ": " + e.Msg }

func (e *Error) Unwrap() error { return e.Err }

// The kinds of refusal, for errors.Is.
var (
	ErrNotRegular = errors.New("not a regular file")
	ErrTooLarge   = errors.New("file too large")
	ErrEscapes    = errors.New("path leaves its folder")
)

// Open opens path for reading if it is a regular file, without blocking on
// a FIFO. It returns the file and its size; the error names the path.
func Open(path string) (*os.File, int64, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, 0, err // *fs.PathError names the file
	}
	return regular(f, path)
}

// OpenIn is Open for name inside root: name may not leave root's folder,
// through "..", an absolute path or a symbolic link (os.Root checks each
// component as it opens it, so nothing can swap a link between the check
// and the open). shown is the path used in messages.
func OpenIn(root *os.Root, name, shown string) (*os.File, int64, error) {
	f, err := root.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) && pe.Err != nil && pe.Err.Error() == "path escapes from parent" {
			return nil, 0, &Error{Path: shown, Msg: "leaves the model's folder (through a symbolic link or \"..\"); refused", Err: ErrEscapes}
		}
		if errors.As(err, &pe) {
			return nil, 0, &fs.PathError{Op: "open", Path: shown, Err: pe.Err}
		}
		return nil, 0, err
	}
	return regular(f, shown)
}

// regular checks that f is a regular file; on failure it closes f.
// (O_NONBLOCK stays set: it has no effect on a regular file's reads.)
func regular(f *os.File, path string) (*os.File, int64, error) {
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, 0, &Error{Path: path, Msg: "not a regular file (" + kind(fi.Mode()) + "); refused", Err: ErrNotRegular}
	}
	return f, fi.Size(), nil
}

// kind names a file type for a message.
func kind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m.IsDir():
		return "a folder"
	}
	return "file type " + m.Type().String()
}

// ReadFile reads the regular file at path whole if it has at most max
// bytes; what names the kind of file in the message of a larger one ("a
// model file"). The file is checked before anything is read or allocated.
func ReadFile(path string, max int64, what string) ([]byte, error) {
	f, size, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readAll(f, path, size, max, what)
}

// readAll reads size bytes of f, refusing more than max.
func readAll(f *os.File, path string, size, max int64, what string) ([]byte, error) {
	if size > max {
		return nil, &Error{Path: path, Msg: fmt.Sprintf("%d bytes, more than %s may have (%s); refused", size, what, bytesString(max)), Err: ErrTooLarge}
	}
	data := make([]byte, size)
	if _, err := io.ReadFull(f, data); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil, &Error{Path: path, Msg: fmt.Sprintf("ended after fewer than its %d bytes (did it change while being read?)", size)}
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return data, nil
}

// bytesString prints a limit in its binary unit (2 GiB − 1 reads "2 GiB").
func bytesString(n int64) string {
	switch {
	case n >= 1<<30-1:
		return fmt.Sprintf("%.0f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d bytes", n)
}
