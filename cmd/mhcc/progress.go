package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/mhcc-dev/mhcc/export"
)

// A meter shows the progress of writing weights on one line that it
// rewrites in place. It is silent unless its writer is a terminal, so logs
// and pipes never see carriage returns, and --quiet silences it.
type meter struct {
	w           io.Writer
	start, last time.Time
	width       int // of the last line drawn, to blank it
	drawn       bool
	every       time.Duration
}

// newMeter returns a meter writing to w, or nil (which does nothing) when w
// is not a terminal or quiet is set.
func newMeter(w io.Writer, quiet bool) *meter {
	if quiet || !isTerminal(w) {
		return nil
	}
	return &meter{w: w, start: time.Now(), every: 100 * time.Millisecond}
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// weights is an export.Progress callback.
func (m *meter) weights(p export.Progress) {
	if m == nil {
		return
	}
	now := time.Now()
	if now.Sub(m.last) < m.every && p.Bytes < p.Total {
		return
	}
	m.last = now
	rate := float64(p.Bytes) / now.Sub(m.start).Seconds()
	m.draw(fmt.Sprintf("weights: %d/%d tensors, %s of %s (%d%%), %s/s, %s",
		p.Index+1, p.Tensors, bytesString(p.Bytes), bytesString(p.Total), pct(p.Bytes, p.Total), bytesString(int64(rate)), p.Tensor))
}

// step shows the step a long command is at, with the time so far (a
// verify.Options.Progress callback).
func (m *meter) step(s string) {
	if m == nil {
		return
	}
	m.draw(fmt.Sprintf("%s (%.1fs)", s, time.Since(m.start).Seconds()))
}

func pct(a, b int64) int64 {
	if b == 0 {
		return 100
	}
	return a * 100 / b
}

func (m *meter) draw(line string) {
	pad := ""
	if n := m.width - len(line); n > 0 {
		pad = strings.Repeat(" ", n)
	}
	fmt.Fprintf(m.w, "\r%s%s", line, pad)
	m.width, m.drawn = len(line), true
}

// done blanks the progress line.
func (m *meter) done() {
	if m == nil || !m.drawn {
		return
	}
	fmt.Fprintf(m.w, "\r%s\r", strings.Repeat(" ", m.width))
	m.drawn = false
}

// bytesString renders n bytes in binary units ("1.5 GiB").
func bytesString(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
