package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// Temporary files. Each is named ".<base>.tmp-<pid>-<random>" next to its
// target, is registered here while it exists, and holds an exclusive flock
// while its writer is alive, so that:
//
//   - a signal handler can remove every unfinished one before the process
//     exits (RemoveTemporaries; SIGINT and SIGTERM in cmd/mhcc);
//   - the ones left by a process that could not clean up (SIGKILL, a power
//     cut) are removed by the next write to the same target (Sweep): a
//     temporary whose pid is no longer alive and whose lock nobody holds is
//     stale. Both tests are needed: a pid can be reused, and a pid from
//     another PID namespace sharing the folder looks dead from here.

// temps holds the temporary files not yet renamed or removed. Its lock is
// also held while a group of files is renamed (CommitAll), so that a
// signal handler never stops the process between two renames of a group.
var temps = struct {
	sync.Mutex
	names   map[string]*os.File
	stopped bool // RemoveTemporaries ran: no more commits
}{names: map[string]*os.File{}}

// createTemp creates the temporary file for path, sweeping stale ones of
// the same target first, and registers it.
func createTemp(path string) (*os.File, error) {
	Sweep(path)
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	temps.Lock()
	defer temps.Unlock()
	if temps.stopped {
		return nil, errStopped
	}
	tmp, err := os.CreateTemp(dir, tempPrefix(base)+strconv.Itoa(os.Getpid())+"-*")
	if err != nil {
		return nil, fmt.Errorf("creating a temporary file: %w", err)
	}
	lockFile(tmp) // best effort: without it, Sweep goes by the pid alone
	temps.names[tmp.Name()] = tmp
	return tmp, nil
}

var errStopped = fmt.Errorf("atomicfile: stopped by a signal")

// tempPrefix is the start of every temporary file's name for a target
// named base.
func tempPrefix(base string) string { return "." + base + ".tmp-" }

// removeTemp closes and removes a registered temporary file.
func removeTemp(tmp *os.File) {
	temps.Lock()
	defer temps.Unlock()
	tmp.Close()
	os.Remove(tmp.Name())
	delete(temps.names, tmp.Name())
}

// renameTemp renames a registered temporary file to path; the caller holds
// temps' lock.
func renameTempLocked(tmp string, path string) error {
	if temps.stopped {
		return errStopped
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if f := temps.names[tmp]; f != nil {
		f.Close() // releases its flock; already closed after Close
	}
	delete(temps.names, tmp)
	return nil
}

// RemoveTemporaries removes every temporary file of this process that is
// not yet renamed into place, and makes every later commit fail, so that
// the process can exit without leaving one behind. A group of renames in
// progress (CommitAll) is finished first. It returns how many it removed.
func RemoveTemporaries() int {
	temps.Lock()
	defer temps.Unlock()
	temps.stopped = true
	n := 0
	for name, f := range temps.names {
		if os.Remove(name) == nil {
			n++
		}
		f.Close()
		delete(temps.names, name)
	}
	return n
}

// Sweep removes the stale temporary files of path: those of mhcc's naming
// whose process is gone (see above). Writes sweep their target themselves;
// Sweep is for files a command may not write this time (a model's data
// file when this compile keeps its weights inline). Errors are ignored: a
// temporary that cannot be removed is left as it was.
func Sweep(path string) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	prefix := tempPrefix(base)
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, prefix) || !e.Type().IsRegular() {
			continue
		}
		pidStr, _, ok := strings.Cut(name[len(prefix):], "-")
		pid, err := strconv.Atoi(pidStr)
		if !ok || err != nil || pid <= 0 || pid == os.Getpid() || alive(pid) {
			continue
		}
		full := filepath.Join(dir, name)
		f, err := os.Open(full)
		if err != nil {
			continue
		}
		if tryLockFile(f) {
			os.Remove(full)
		}
		f.Close()
	}
}
