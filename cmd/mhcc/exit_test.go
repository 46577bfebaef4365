package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// allCommands lists every command of mhcc's tree, root first, as run sets
// it up (cobra's help and completion commands included), so a command
// added later is covered without a change here.
func allCommands() []*cobra.Command {
	root := newRoot()
	markUsageErrors(root, nil)
	var out []*cobra.Command
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		out = append(out, c)
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	return out
}

// Every usage error of every command exits 2 and says how to get help: an
// unknown flag, a flag value that does not parse, and each wrong number of
// arguments (0 to 3) the command's Args rejects. Each command must declare
// its Args, so cobra, not the command, rejects a wrong count.
func TestUsageErrorsExit2(t *testing.T) {
	cmds := allCommands()
	if len(cmds) < 15 {
		t.Fatalf("found %d commands", len(cmds))
	}
	for _, c := range cmds {
		path := strings.Fields(c.CommandPath())[1:]
		t.Run(strings.Join(append([]string{"mhcc"}, path...), " "), func(t *testing.T) {
			usage := func(args ...string) {
				t.Helper()
				code, stdout, stderr := mhcc(t, append(append([]string{}, path...), args...)...)
				hint := "Run '" + c.CommandPath() + " --help' for usage."
				if code != 2 || !strings.Contains(stderr, hint) || stdout != "" {
					t.Errorf("mhcc %s: exit %d, stdout %q, stderr %q; want 2 and %q", strings.Join(append(path, args...), " "), code, stdout, stderr, hint)
				}
			}
			usage("--no-such-flag")
			usage("--help=maybe") // a bool flag given a word
			if c.Name() == "help" && c.Parent() != nil {
				usage("no-such-command")
				return
			}
			if c.Args == nil {
				if c.HasParent() {
					t.Fatalf("%s declares no Args: cobra would pass it any number of arguments", c.CommandPath())
				}
				usage("no-such-command")
				return
			}
			rejected := 0
			for n := 0; n <= 3; n++ {
				args := make([]string, n)
				for i := range args {
					args[i] = "no-such-file.yaml"
				}
				if c.Args(c, args) != nil {
					rejected++
					usage(args...)
				}
			}
			if rejected == 0 {
				t.Errorf("%s takes 0 to 3 arguments alike; want a count it rejects", c.CommandPath())
			}
		})
	}
}

// Shell completion, which cobra's Execute adds as a hidden command, still
// works: the lookup of unknown commands leaves it alone.
func TestShellCompletion(t *testing.T) {
	code, stdout, stderr := mhcc(t, "__complete", "comp")
	if code != 0 || !strings.Contains(stdout, "compile") {
		t.Errorf("mhcc __complete comp: exit %d, stdout %q, stderr %q; want 0 and compile", code, stdout, stderr)
	}
}

// A well-formed command line with a problem in its input exits 1 (diff:
// 2, could not compare), never 2 as a usage error would.
func TestInputErrorsExit1(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.yaml")
	model := filepath.Join(dir, "m.yaml")
	os.WriteFile(model, []byte(goodModel), 0o644)
	for _, c := range []struct {
		args   []string
		want   int
		stderr string // what the message must name
	}{
		{[]string{"compile", missing, "-o", filepath.Join(dir, "x.onnx")}, 1, "missing.yaml"},
		{[]string{"compile", model, "--target", "tpu", "-o", filepath.Join(dir, "x.onnx")}, 1, `unknown target "tpu"`},
		{[]string{"check", missing}, 1, "missing.yaml"},
		{[]string{"ir", missing}, 1, "missing.yaml"},
		{[]string{"verify", missing}, 1, "missing.yaml"},
		{[]string{"inspect", missing}, 1, "missing.yaml"},
		{[]string{"fmt", missing}, 1, "missing.yaml"},
		{[]string{"graph", missing}, 1, "missing.yaml"},
		{[]string{"run", missing}, 1, "missing.yaml"},
		{[]string{"generate", missing, "--prompt-ids", "1"}, 1, "missing.yaml"},
		{[]string{"targets", "tpu"}, 1, `"tpu"`},
		{[]string{"names", missing}, 1, "missing.yaml"},
		{[]string{"names", model, missing}, 1, "missing.yaml"},
		{[]string{"import", missing}, 1, "missing.yaml"},
		{[]string{"import", model, "--hc", "tpu"}, 1, `--hc: got "tpu", want mhc or residual`},
		{[]string{"diff", missing, model}, 2, "missing.yaml"},
	} {
		if code, _, stderr := mhcc(t, c.args...); code != c.want || !strings.Contains(stderr, c.stderr) {
			t.Errorf("mhcc %s: exit %d, stderr %q; want %d and %q", strings.Join(c.args, " "), code, stderr, c.want, c.stderr)
		}
	}
}

// The rule is stated where users look: mhcc --help and the README.
func TestExitStatusDocumented(t *testing.T) {
	_, stdout, _ := mhcc(t, "--help")
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Exit status", "2  a usage error"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("mhcc --help does not say %q:\n%s", want, stdout)
		}
	}
	if !strings.Contains(string(readme), "| 2 | a usage error") {
		t.Errorf("README.md has no exit status table with the usage-error row")
	}
}

// A safetensors file where a model file is expected is named as one, by
// every command that takes a model file or an ONNX model (the YAML parser
// would report a control character; protobuf, invalid wire data).
func TestSafetensorsAsModelFile(t *testing.T) {
	weights := "../../testdata/golden/mlp-mhc/weights.safetensors"
	for _, args := range [][]string{
		{"compile", weights, "-o", filepath.Join(t.TempDir(), "x.onnx")},
		{"check", weights},
		{"ir", weights},
		{"verify", weights},
		{"inspect", weights},
		{"fmt", weights},
		{"graph", weights},
	} {
		code, _, stderr := mhcc(t, args...)
		if code != 1 || !strings.Contains(stderr, "weights.safetensors") || !strings.Contains(stderr, "a safetensors weights file") || !strings.Contains(stderr, "weights.path") {
			t.Errorf("mhcc %s: exit %d, stderr %q; want 1 and a message naming a safetensors file", strings.Join(args, " "), code, stderr)
		}
	}
}
