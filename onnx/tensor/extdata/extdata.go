// Package extdata finds the bytes of an ONNX tensor stored as external data
// (TensorProto.external_data: location, offset, length), for the readers
// that need them: mhcc's runtime, which decodes them, and graphdiff, which
// hashes and compares them. The location must name a regular file inside
// the model's folder: "..", absolute paths and symbolic links that leave the
// folder are refused (the file is opened through an os.Root on the folder),
// and so are FIFOs and devices (internal/inputfile).
package extdata

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/mhcc-dev/mhcc/internal/inputfile"
	"github.com/mhcc-dev/mhcc/onnx/pb"
)

// A Ref is where a tensor's bytes are.
type Ref struct {
	Path   string // the data file, joined to the model's folder (for messages)
	Dir    string // the model's folder
	Name   string // the location, cleaned: Path relative to Dir
	Offset int64
	Length int64 // −1: to the end of the file
}

// Parse reads t's external_data entries, resolving the location in dir (the
// model file's folder). The location must be a relative path that stays
// inside dir, and offset and length non-negative integers. With strict,
// any key other than location, offset, length and checksum (optional, not
// checked) is an error; otherwise other keys are ignored.
func Parse(t *onnxpb.TensorProto, dir string, strict bool) (Ref, error) {
	ref := Ref{Length: -1}
	var location string
	for _, kv := range t.GetExternalData() {
		switch kv.GetKey() {
		case "location":
			location = kv.GetValue()
		case "offset", "length":
			n, err := strconv.ParseInt(kv.GetValue(), 10, 64)
			if err != nil || n < 0 {
				return ref, fmt.Errorf("%s %q is not a non-negative integer", kv.GetKey(), kv.GetValue())
			}
			if kv.GetKey() == "offset" {
				ref.Offset = n
			} else {
				ref.Length = n
			}
		case "checksum":
		default:
			if strict {
				return ref, fmt.Errorf("unknown key %q", kv.GetKey())
			}
		}
	}
	if location == "" {
		return ref, errors.New("no location")
	}
	clean := filepath.Clean(filepath.FromSlash(location))
	if filepath.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, ".."+string(filepath.Separator)) {
		return ref, fmt.Errorf("location %q is not a relative path inside the model's folder", location)
	}
	ref.Path, ref.Dir, ref.Name = filepath.Join(dir, clean), dir, clean
	return ref, nil
}

// Files opens the data files of one model, each once. The zero value is
// ready; Close closes them.
type Files struct {
	roots map[string]*os.Root // by model folder
	open  map[string]*os.File // by Ref.Path
}

// Section returns the bytes ref points at, checking that the file holds
// them. The file is opened inside ref.Dir: a symbolic link is followed only
// while it stays in the folder, whose real path is the one that counts (a
// folder reached through a link is fine), and a FIFO or device is refused
// without blocking.
func (fs *Files) Section(ref Ref) (*io.SectionReader, error) {
	f, ok := fs.open[ref.Path]
	if !ok {
		root, err := fs.root(ref.Dir)
		if err != nil {
			return nil, err
		}
		if f, _, err = inputfile.OpenIn(root, ref.Name, ref.Path); err != nil {
			return nil, err // names the file
		}
		if fs.open == nil {
			fs.open = map[string]*os.File{}
		}
		fs.open[ref.Path] = f
	}
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size, length := fi.Size(), ref.Length
	if length < 0 {
		length = size - ref.Offset
	}
	if ref.Offset > size || length > size-ref.Offset {
		return nil, fmt.Errorf("%s has %d bytes, the tensor needs bytes %d to %d (offset %d, length %d): the file is short", ref.Path, size, ref.Offset, ref.Offset+length, ref.Offset, length)
	}
	return io.NewSectionReader(f, ref.Offset, length), nil
}

// root returns the os.Root of dir, opening it the first time.
func (fs *Files) root(dir string) (*os.Root, error) {
	if r, ok := fs.roots[dir]; ok {
		return r, nil
	}
	if dir == "" {
		dir = "."
	}
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err // *fs.PathError names the folder
	}
	if fs.roots == nil {
		fs.roots = map[string]*os.Root{}
	}
	fs.roots[dir] = r
	return r, nil
}

// Close closes the files and folders Section opened.
func (fs *Files) Close() {
	for _, f := range fs.open {
		f.Close()
	}
	for _, r := range fs.roots {
		r.Close()
	}
	fs.open, fs.roots = nil, nil
}
