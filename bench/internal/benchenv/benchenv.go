// Package benchenv holds what mhcc's benchmark programs (bench/*) share: the
// facts about the machine and the build a report records, the calling
// thread's CPU clock, and the median of samples.
package benchenv

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

// ThreadCPU is the CPU time of the calling OS thread (the caller locks it
// with runtime.LockOSThread). With one intra-op thread onnxruntime runs every
// node on the caller's thread, so a difference of ThreadCPU is the latency
// less the time the machine gave to other processes: it stays comparable on
// a loaded machine.
func ThreadCPU() time.Duration {
	var ts syscall.Timespec
	syscall.Syscall(syscall.SYS_CLOCK_GETTIME, 3 /* CLOCK_THREAD_CPUTIME_ID */, uintptr(unsafe.Pointer(&ts)), 0)
	return time.Duration(ts.Nano())
}

// Median is the middle sample (the mean of the two middle ones for an even
// count); zero for none.
func Median[T int64 | time.Duration](v []T) T {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// PairedRatio is the median over rounds of a[i] / b[i]: samples a and b
// taken in the same rounds, each ratio within one round, so a slow moment
// of a shared machine weighs on both sides of a ratio. NaN if the lengths
// differ or there are none.
func PairedRatio[T int64 | time.Duration | float64](a, b []T) float64 {
	if len(a) != len(b) || len(a) == 0 {
		return math.NaN()
	}
	r := make([]float64, len(a))
	for i := range a {
		r[i] = float64(a[i]) / float64(b[i])
	}
	slices.Sort(r)
	if len(r)%2 == 1 {
		return r[len(r)/2]
	}
	return (r[len(r)/2-1] + r[len(r)/2]) / 2
}

// Publish prints a benchmark's report to stdout and, when out is not
// empty, writes it to out too (a relative out is under root, the
// repository).
func Publish(report, root, out string) error {
	fmt.Print(report)
	if out == "" {
		return nil
	}
	if !filepath.IsAbs(out) {
		out = filepath.Join(root, out)
	}
	return os.WriteFile(out, []byte(report), 0o644)
}

// LoadAvg is /proc/loadavg's 1, 5 and 15 minute load averages joined by
// sep, or "?".
func LoadAvg(sep string) string {
	data, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(data)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], sep)
	}
	return "?"
}

// CPUModel is /proc/cpuinfo's model name, or "unknown".
func CPUModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// ModuleVersion is the version of a module the binary was built with, or "?".
func ModuleVersion(path string) string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, m := range bi.Deps {
			if m.Path == path {
				return m.Version
			}
		}
	}
	return "?"
}

// GitDescribe names the commit of the work tree at root and says whether
// the folders that shape what is measured had uncommitted changes. It only
// reads (--no-optional-locks: not even git's index refresh).
func GitDescribe(root string, folders ...string) string {
	git := func(args ...string) (string, error) {
		out, err := exec.Command("git", append([]string{"--no-optional-locks", "-C", root}, args...)...).Output()
		return strings.TrimSpace(string(out)), err
	}
	head, err := git("rev-parse", "--short", "HEAD")
	if err != nil {
		return "?"
	}
	if st, err := git(append([]string{"status", "--porcelain", "--"}, folders...)...); err == nil && st != "" {
		return head + " + uncommitted changes in " + strings.Join(folders, ", ")
	}
	return head
}
