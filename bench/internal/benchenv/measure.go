package benchenv

import (
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// FindRoot walks up from the working directory to the mhcc repository (the
// folder holding go.mod and bench/models).
func FindRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		_, errMod := os.Stat(filepath.Join(dir, "go.mod"))
		_, errBench := os.Stat(filepath.Join(dir, "bench", "models"))
		if errMod == nil && errBench == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("cannot find the mhcc repository above the working directory; pass -root")
		}
		dir = parent
	}
}

// ORTLib is the onnxruntime shared library a benchmark loads when -ort-lib
// is not given: $MHCC_ORT_LIB, else the copy scripts/install-deps puts
// under root's .cache.
func ORTLib(root string) string {
	if lib := os.Getenv("MHCC_ORT_LIB"); lib != "" {
		return lib
	}
	return filepath.Join(root, ".cache/onnxruntime-1.30.0/libonnxruntime.so.1")
}

// CallsPerSample is how many back-to-back calls make a sample last at
// least min when one call takes one (at least 1; a call under a
// microsecond counts as one microsecond).
func CallsPerSample(min, one time.Duration) int {
	return max(1, int(math.Ceil(float64(min)/float64(max(one, time.Microsecond)))))
}

// Interleave takes reps rounds of one sample of each of n contenders,
// sample(i) taking contender i's. Round r starts with contender r mod n and
// goes round in order, so that drifts in the machine's load reach every
// contender alike and none always runs first. Before each round it prints
// the round's number (from 1) to stderr, the benchmarks' progress line. It
// stops at the first error.
func Interleave(reps, n int, sample func(i int) error) error {
	for r := range reps {
		fmt.Fprintf(os.Stderr, " %d", r+1)
		for j := range n {
			if err := sample((r + j) % n); err != nil {
				return err
			}
		}
	}
	return nil
}

// A Child is the outcome of one run of another program.
type Child struct {
	Wall   time.Duration
	MaxRSS int64  // peak resident set size in bytes (rusage; 0 if unknown)
	Out    string // stdout and stderr together, trimmed
	Err    error  // from exec: a failure to start or a non-zero exit
}

// Run runs name with args to completion and measures its wall time and
// peak RSS.
func Run(name string, args ...string) Child {
	cmd := exec.Command(name, args...)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	c := Child{Wall: time.Since(start), Out: strings.TrimSpace(string(out)), Err: err}
	if cmd.ProcessState != nil {
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			c.MaxRSS = ru.Maxrss * 1024 // kilobytes on Linux
		}
	}
	return c
}

// Defaults fills in what the flags left empty: the repository root
// (FindRoot), the onnxruntime library (ORTLib) and the command line a
// report shows (this process's).
func Defaults(root, ortLib, command *string) error {
	if *root == "" {
		r, err := FindRoot()
		if err != nil {
			return err
		}
		*root = r
	}
	if *ortLib == "" {
		*ortLib = ORTLib(*root)
	}
	if *command == "" {
		*command = strings.Join(os.Args, " ")
	}
	return nil
}
