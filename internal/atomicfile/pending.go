package atomicfile

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// A Pending file is Write in two steps, for outputs made of several files
// (an ONNX model and its external data): fill each through W, then Commit
// them all once every one was written, or Abort. Until Commit, path keeps its
// old content (or stays absent); the content lives in a temporary file in
// the same folder.
type Pending struct {
	path string
	tmp  *os.File
	buf  *bufio.Writer
	W    io.Writer // buffered writer on the temporary file
	done bool
}

// Create starts a pending file for path.
func Create(path string) (*Pending, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("creating a temporary file: %w", err)
	}
	p := &Pending{path: path, tmp: tmp, buf: bufio.NewWriterSize(tmp, 1<<20)}
	p.W = p.buf
	return p, nil
}

// Close flushes, syncs and closes the temporary file, leaving it to be
// renamed by Commit; on failure it removes it.
func (p *Pending) Close() error {
	err := p.buf.Flush()
	if err == nil {
		err = p.tmp.Chmod(0o644)
	}
	if err == nil {
		err = p.tmp.Sync()
	}
	if cerr := p.tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(p.tmp.Name())
		p.done = true
		return fmt.Errorf("writing %s: %w", p.tmp.Name(), err)
	}
	return nil
}

// Abort removes the temporary file; path is left as it was. It may be
// called after Close or Commit (then it does nothing).
func (p *Pending) Abort() {
	if p.done {
		return
	}
	p.done = true
	p.tmp.Close()
	os.Remove(p.tmp.Name())
}

// Commit renames the closed temporary file to path.
func (p *Pending) Commit() error {
	if p.done {
		return fmt.Errorf("atomicfile: %s: commit after abort", p.path)
	}
	if err := os.Rename(p.tmp.Name(), p.path); err != nil {
		p.Abort()
		return err
	}
	p.done = true
	if d, err := os.Open(filepath.Dir(p.path)); err == nil { // make the rename durable; best effort
		d.Sync()
		d.Close()
	}
	return nil
}
