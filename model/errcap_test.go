package model

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/mhcc-dev/mhcc/ir"
)

// TestErrorCap: a file with thousands of unknown keys reports the first
// MaxErrors (with their suggestions) and counts the rest in one last line;
// a message quoting a huge value is cut; a file past MaxFileBytes is
// refused before it is parsed.
func TestErrorCap(t *testing.T) {
	var b strings.Builder
	b.WriteString("format: 1\nnam: x\n") // "nam" gets a suggestion: it is reported first
	for i := range 5000 {
		fmt.Fprintf(&b, "unknown_%d: 1\n", i)
	}
	_, err := LoadBytes("m.yaml", []byte(b.String()))
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("got %v, want an ErrorList", err)
	}
	if len(list) != MaxErrors+1 {
		t.Fatalf("got %d errors, want %d and a count", len(list), MaxErrors)
	}
	lines := strings.Split(err.Error(), "\n")
	if !strings.Contains(lines[0], `unknown key "nam"; did you mean "name"?`) {
		t.Errorf("first error %q lost its suggestion", lines[0])
	}
	// 5001 unknown keys and the missing sections; all past 100 counted.
	last := lines[len(lines)-1]
	if !strings.HasPrefix(last, "m.yaml: and ") || !strings.HasSuffix(last, "more problems (only the first 100 are reported)") {
		t.Errorf("last line %q", last)
	}

	var l ErrorList
	l.Add(ir.Pos{File: "f"}, "k", "got %s", strings.Repeat("x", 1<<20))
	if n := len(l[0].Error()); n > 2*maxMsg {
		t.Errorf("a message of %d bytes", n)
	}

	_, err = LoadBytes("big.yaml", make([]byte, MaxFileBytes+1))
	if err == nil || !strings.Contains(err.Error(), "big.yaml:1:1: got a file of 1048577 bytes, want at most 1048576") {
		t.Errorf("got %v", err)
	}
}
