// Package atomicfile writes files so that no reader ever sees a partial one:
// the content goes to a temporary file in the same folder, which is synced
// and renamed over the target only when everything succeeded.
package atomicfile

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Write calls fill with a buffered writer on a temporary file next to path,
// then flushes, makes the file 0644, syncs it and renames it to path. If fill
// or any step fails, the temporary file is removed and path is left as it was
// (absent, or with its old content).
func Write(path string, fill func(w io.Writer) error) (err error) {
	tmp, err := createTemp(path)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			removeTemp(tmp)
		}
	}()
	w := bufio.NewWriterSize(tmp, 1<<20)
	if err := fill(w); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("writing %s: %w", tmp.Name(), err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", tmp.Name(), err)
	}
	return renameAll([]string{tmp.Name()}, []string{path})
}

// renameAll renames each temporary file tmps[i] to paths[i] (all in one
// folder), under the folder's lock and temps' lock: a signal handler does
// not stop the process between two of them, and another writer of the same
// outputs renames its group before or after this one, never in between. A
// failed rename removes the temporaries not yet renamed.
func renameAll(tmps, paths []string) error {
	dir := filepath.Dir(paths[0])
	unlock := lockDir(dir)
	defer unlock()
	temps.Lock()
	defer temps.Unlock()
	for i, tmp := range tmps {
		if err := renameTempLocked(tmp, paths[i]); err != nil {
			for _, t := range tmps[i:] {
				if f := temps.names[t]; f != nil {
					f.Close()
				}
				os.Remove(t)
				delete(temps.names, t)
			}
			return err
		}
	}
	if d, err := os.Open(dir); err == nil { // make the renames durable; best effort
		d.Sync()
		d.Close()
	}
	return nil
}
