package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	mhrt "github.com/mhcc-dev/mhcc/runtime"
)

// runtimeLimits are the runtime's limits as flags of the commands that run
// models (run, verify): a memory budget in bytes and a Loop iteration
// limit. Both are the process's (see runtime.SetMaxBytes): the command sets
// them once before it runs anything.
type runtimeLimits struct {
	maxMemory string
	maxLoop   int64
}

// addLimitFlags registers --max-memory and --max-loop-iterations.
func addLimitFlags(fl *pflag.FlagSet, l *runtimeLimits) {
	fl.StringVar(&l.maxMemory, "max-memory", "", "memory budget for the tensors a run makes, such as 8GiB or 512MiB (default: half of the memory the process may use, "+mhrt.FormatBytes(mhrt.DefaultMaxBytes())+" here)")
	fl.Int64Var(&l.maxLoop, "max-loop-iterations", mhrt.DefaultMaxLoopIterations, "stop a Loop node after `N` iterations (0: no limit)")
}

// apply sets the runtime's limits, or says which flag is wrong.
func (l runtimeLimits) apply() error {
	if l.maxMemory != "" {
		n, err := parseBytes(l.maxMemory)
		if err != nil {
			return fmt.Errorf("--max-memory %q: %v", l.maxMemory, err)
		}
		mhrt.SetMaxBytes(n)
	}
	if l.maxLoop < 0 {
		return fmt.Errorf("--max-loop-iterations %d: want 0 (no limit) or more", l.maxLoop)
	}
	mhrt.SetMaxLoopIterations(l.maxLoop)
	return nil
}

// parseBytes reads a size: a number of bytes, or a number with a unit B,
// KiB, MiB, GiB, TiB (powers of 1024; K, M, G, T and KB … TB mean the same).
func parseBytes(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := len(t)
	for i > 0 && (t[i-1] < '0' || t[i-1] > '9') && t[i-1] != '.' {
		i--
	}
	num, unit := strings.TrimSpace(t[:i]), strings.ToLower(strings.TrimSpace(t[i:]))
	shift := map[string]uint{"": 0, "b": 0, "k": 10, "kb": 10, "kib": 10, "m": 20, "mb": 20, "mib": 20,
		"g": 30, "gb": 30, "gib": 30, "t": 40, "tb": 40, "tib": 40}
	sh, ok := shift[unit]
	if !ok {
		return 0, fmt.Errorf("unknown unit %q; want B, KiB, MiB, GiB or TiB", t[i:])
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || v <= 0 || v*float64(int64(1)<<sh) >= 1<<62 {
		return 0, fmt.Errorf("want a positive size such as 8GiB")
	}
	return int64(v * float64(int64(1)<<sh)), nil
}

// clipErrorText bounds what an error prints: each line to 4 KiB and the
// whole to 1 MiB, saying how much was left out. A message quotes values from
// the input, and a hostile input can make one of any length; the packages
// shorten what they quote, and this is the last guard.
func clipErrorText(s string) string {
	const lineMax, totalMax = 4 << 10, 1 << 20
	if len(s) <= lineMax && !strings.Contains(s, "\n") {
		return s
	}
	var b strings.Builder
	for line := range strings.Lines(s) {
		if b.Len() >= totalMax {
			fmt.Fprintf(&b, "… (%d bytes more)", len(s)-b.Len())
			break
		}
		nl := strings.HasSuffix(line, "\n")
		line = strings.TrimSuffix(line, "\n")
		if len(line) > lineMax {
			line = strings.ToValidUTF8(line[:lineMax], "") + fmt.Sprintf("… (%d bytes more)", len(line)-lineMax)
		}
		b.WriteString(line)
		if nl {
			b.WriteByte('\n')
		}
	}
	return b.String()
}
