package atomicfile

import (
	"bufio"
	"fmt"
	"io"
	"os"
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
	tmp, err := createTemp(path)
	if err != nil {
		return nil, err
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
		removeTemp(p.tmp)
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
	removeTemp(p.tmp)
}

// Commit renames the closed temporary file to path.
func (p *Pending) Commit() error { return CommitAll(p) }

// CommitAll renames the closed temporary files of ps, in that order, to
// their paths, which must be in one folder. Another process committing to
// the same paths at the same time commits its group wholly before or after
// this one (the folder is flock'ed for the renames), so concurrent writers
// of a model and its data file never leave the model of one next to the
// data of the other; a signal handler (RemoveTemporaries) waits for the
// group. On failure the files not yet renamed are removed.
func CommitAll(ps ...*Pending) error {
	tmps, paths := make([]string, len(ps)), make([]string, len(ps))
	for i, p := range ps {
		if p.done {
			for _, q := range ps {
				q.Abort()
			}
			return fmt.Errorf("atomicfile: %s: commit after abort", p.path)
		}
		tmps[i], paths[i] = p.tmp.Name(), p.path
	}
	for _, p := range ps {
		p.done = true
	}
	return renameAll(tmps, paths)
}

// WriteAll writes a group of files in one folder: fill(i, w) writes the
// content of paths[i]. Every file goes to a temporary file first, and they
// are renamed into place together (CommitAll) only once all were written,
// so a failure leaves every path as it was and no temporary behind. An
// error names the path it is about.
func WriteAll(paths []string, fill func(i int, w io.Writer) error) error {
	if len(paths) == 0 {
		return nil
	}
	pending := make([]*Pending, 0, len(paths))
	defer func() {
		for _, p := range pending {
			p.Abort() // nothing once committed
		}
	}()
	for i, path := range paths {
		p, err := Create(path)
		if err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
		pending = append(pending, p)
		err = fill(i, p.W)
		if cerr := p.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
	}
	return CommitAll(pending...)
}
