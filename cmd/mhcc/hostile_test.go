package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// Hostile inputs: mhcc run as a separate process, under a memory cap and a
// time limit, on inputs built to break it (issue 17, point 8). Each case must
// end by itself with the exit status it names: no hang, no out-of-memory
// death, no panic, no read outside the model's folder and no stray file.
//
// The cases are tables in hostile_*_test.go files; each appends to
// hostileCases in an init function, so the table can grow by file.

// A hostileCase is one command run on a prepared folder.
type hostileCase struct {
	name string
	// setup writes the inputs into dir and returns mhcc's arguments.
	setup func(t *testing.T, dir string) []string
	// exit is the wanted exit status (0, 1 or 2).
	exit int
	// stderr, when set, is a regexp the standard error must match.
	stderr string
	// mem is the address-space cap in bytes (0: hostileMemCap).
	mem int64
	// timeout is the wall-clock limit (0: hostileTimeout).
	timeout time.Duration
	// check, when set, runs after the command, with its outputs.
	check func(t *testing.T, dir string, stdout, stderr string)
}

// hostileMemCap is the default cap on a case's address space: a correct mhcc
// refuses what does not fit in it instead of being killed.
const hostileMemCap = 4 << 30

// hostileTimeout is the default wall-clock limit of a case.
const hostileTimeout = 60 * time.Second

var hostileCases []hostileCase

var (
	hostileBinOnce sync.Once
	hostileBin     string
	hostileBinErr  error
)

// hostileMhcc builds the mhcc binary once per test binary.
func hostileMhcc(t *testing.T) string {
	t.Helper()
	hostileBinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "mhcc-hostile-bin-")
		if err != nil {
			hostileBinErr = err
			return
		}
		bin := filepath.Join(dir, "mhcc")
		cmd := exec.Command("go", "build", "-o", bin, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			hostileBinErr = fmt.Errorf("go build: %v\n%s", err, out)
			return
		}
		hostileBin = bin
	})
	if hostileBinErr != nil {
		t.Fatal(hostileBinErr)
	}
	return hostileBin
}

// TestHostile runs every hostile case. Cases run in parallel (at most two at
// a time: each may use up to its memory cap).
func TestHostile(t *testing.T) {
	if testing.Short() {
		t.Skip("hostile inputs: -short")
	}
	if runtime.GOOS != "linux" {
		t.Skip("hostile inputs: the memory cap uses prlimit(1), Linux only")
	}
	if _, err := exec.LookPath("prlimit"); err != nil {
		t.Fatal("prlimit (util-linux) not found")
	}
	bin := hostileMhcc(t)
	sem := make(chan struct{}, 2)
	seen := map[string]bool{}
	for _, c := range hostileCases {
		if seen[c.name] {
			t.Fatalf("two hostile cases named %q", c.name)
		}
		seen[c.name] = true
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			sem <- struct{}{}
			defer func() { <-sem }()
			runHostile(t, bin, c)
		})
	}
}

func runHostile(t *testing.T, bin string, c hostileCase) {
	dir := t.TempDir()
	args := c.setup(t, dir)
	before := hostileFiles(t, dir)
	mem := c.mem
	if mem == 0 {
		mem = hostileMemCap
	}
	timeout := c.timeout
	if timeout == 0 {
		timeout = hostileTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "prlimit", append([]string{fmt.Sprintf("--as=%d", mem), "--", bin}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+dir)
	// After the timeout's kill, Wait returns within WaitDelay even if the
	// pipes are still held: a hang is reported, not waited on.
	cmd.WaitDelay = 10 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &limitedBuffer{b: &stderr, max: 1 << 20}
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	if ctx.Err() != nil {
		t.Fatalf("mhcc %s: still running after %v (hang)", strings.Join(args, " "), timeout)
	}
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
		if code < 0 {
			t.Fatalf("mhcc %s: killed (%v) after %v; stderr:\n%s", strings.Join(args, " "), ee, took, tail(stderr.String()))
		}
	} else if err != nil {
		t.Fatalf("mhcc %s: %v", strings.Join(args, " "), err)
	}
	se := stderr.String()
	for _, bad := range []string{"panic:", "fatal error:", "goroutine "} {
		if strings.Contains(se, bad) {
			t.Fatalf("mhcc %s: %q on stderr:\n%s", strings.Join(args, " "), bad, tail(se))
		}
	}
	if code != c.exit {
		t.Errorf("mhcc %s: exit %d, want %d; stderr:\n%s", strings.Join(args, " "), code, c.exit, tail(se))
	}
	if c.stderr != "" && !regexp.MustCompile(c.stderr).MatchString(se) {
		t.Errorf("mhcc %s: stderr does not match %q:\n%s", strings.Join(args, " "), c.stderr, tail(se))
	}
	// No hidden temporary left behind by mhcc (its own naming has ".tmp").
	for _, f := range hostileFiles(t, dir) {
		if strings.Contains(filepath.Base(f), ".tmp") && !contains(before, f) {
			t.Errorf("mhcc %s left %s behind", strings.Join(args, " "), f)
		}
	}
	if c.check != nil {
		c.check(t, dir, stdout.String(), se)
	}
}

// hostileFiles lists the regular files and symlinks under dir, relative.
func hostileFiles(t *testing.T, dir string) []string {
	var out []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		out = append(out, rel)
		return nil
	})
	sort.Strings(out)
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// tail keeps the last 4 KiB of a long stderr for a failure message.
func tail(s string) string {
	if len(s) > 4096 {
		return "…" + s[len(s)-4096:]
	}
	return s
}

// A limitedBuffer keeps the first max bytes written to it and counts the
// rest, so a case that prints without end cannot exhaust the test's memory.
type limitedBuffer struct {
	b       *bytes.Buffer
	max     int
	dropped int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	room := l.max - l.b.Len()
	if room > len(p) {
		room = len(p)
	}
	if room > 0 {
		l.b.Write(p[:room])
	}
	l.dropped += len(p) - max(room, 0)
	return len(p), nil
}

func init() {
	// The harness's own sanity case: a good model compiles under the cap.
	hostileCases = append(hostileCases, hostileCase{
		name: "good-model-compiles",
		setup: func(t *testing.T, dir string) []string {
			if err := os.WriteFile(filepath.Join(dir, "m.yaml"), []byte(goodModel), 0o644); err != nil {
				t.Fatal(err)
			}
			return []string{"compile", "m.yaml", "-o", "m.onnx"}
		},
		exit: 0,
		check: func(t *testing.T, dir, stdout, stderr string) {
			if _, err := os.Stat(filepath.Join(dir, "m.onnx")); err != nil {
				t.Error(err)
			}
		},
	})
}
