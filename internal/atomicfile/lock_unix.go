//go:build unix

package atomicfile

import (
	"os"
	"syscall"
)

// lockFile takes an exclusive flock on f, held until f is closed (or the
// process dies); Sweep leaves a locked temporary alone.
func lockFile(f *os.File) { syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) }

// tryLockFile reports whether f could be locked, that is whether no live
// writer holds it.
func tryLockFile(f *os.File) bool {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil
}

// alive reports whether process pid exists (as seen from this PID
// namespace). EPERM means it exists but belongs to another user.
func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || err == syscall.EPERM
}

// lockDir takes an exclusive flock on the folder dir, for the renames of a
// group of files, and returns its release. Writers of the same outputs,
// in this process or another, take it in turn, so the last group renamed
// wins whole. Without a lock (a file system that refuses flock), it goes
// on: the renames are still each atomic.
func lockDir(dir string) func() {
	d, err := os.Open(dir)
	if err != nil {
		return func() {}
	}
	for {
		err = syscall.Flock(int(d.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			break
		}
	}
	return func() { d.Close() } // closing releases the lock
}
