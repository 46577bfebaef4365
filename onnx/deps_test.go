package onnx

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/mhcc-dev/mhcc/"

// forbidden are the packages above the ONNX layer, as module-relative
// prefixes: the compiler, the runtime and what builds on them (today's
// folders and those of the planned layout).
var forbidden = []string{
	"ir", "passes", "export", "runtime", "compile", "verify", "model", "lower", "inspect", "target",
	"compile", "verify", "verify", "internal/crosscheck", "cmd",
}

// TestImportDirection: no package under onnx/ depends, directly or through
// other packages, on the compiler or the runtime. Test files are not
// counted (a test may compile a model to get its input).
func TestImportDirection(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Deps \" \"}}", module+"onnx/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	pkgs := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg, deps := fields[0], fields[1:]
		pkgs++
		for _, dep := range deps {
			rel, ok := strings.CutPrefix(dep, module)
			if !ok {
				continue
			}
			for _, f := range forbidden {
				if rel == f || strings.HasPrefix(rel, f+"/") {
					t.Errorf("%s depends on %s, which is above the ONNX layer", pkg, dep)
				}
			}
		}
	}
	if pkgs < 7 {
		t.Errorf("go list found %d packages under onnx/, want at least 7:\n%s", pkgs, out)
	}
}
