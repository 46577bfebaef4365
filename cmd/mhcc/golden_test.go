package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mhcc-dev/mhcc/internal/testmodels"
	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
	onnxtext "github.com/mhcc-dev/mhcc/onnx/text"
)

// annotModel is a model file whose keys sit on known lines: streams on 12,
// sinkhorn_iterations on 13 (column 3), the hyper_connections section on 10.
const annotModel = `format: 1
name: annot
architecture:
  kind: mlp
  hidden_size: 8
  layers: 2
  ffn_hidden_size: 16
  input_size: 3
  output_size: 2
hyper_connections:
  kind: mhc
  streams: 4
  sinkhorn_iterations: 20
weights:
  source: random
  seed: 1
`

// TestDiffGitHubAnnotations: with --format github every annotation names a
// file and a line: a change decided by a model-file key at that key (or,
// for a key left to its default, at its section), other changes at their
// line in a graph-only golden, or at the golden file when it is an .onnx.
func TestDiffGitHubAnnotations(t *testing.T) {
	for _, tc := range []struct {
		name   string
		full   bool     // full (.onnx) golden
		edit   []string // old, new in the model file after the golden is written
		want   []string // annotation prefixes that must appear
		before string   // golden model differs: text of the model for the golden, if not annotModel
	}{
		{name: "iterations", edit: []string{"sinkhorn_iterations: 20", "sinkhorn_iterations: 10"}, want: []string{
			"::notice file=models/annot.yaml,line=13,col=3,title=mhcc diff model sinkhorn_iterations::sinkhorn iterations 20 → 10 [metadata mhcc.hc.sinkhorn_iterations]",
			"::notice file=models/annot.yaml,line=13,col=3,title=mhcc diff model sinkhorn_iterations::layers.1 mlp: sinkhorn iterations 20 → 10",
			"::error file=golden/annot.txt,line=",
		}},
		{name: "streams", edit: []string{"streams: 4", "streams: 2"}, want: []string{
			"::notice file=models/annot.yaml,line=12,col=3,title=mhcc diff model streams::streams 4 → 2",
		}},
		{name: "default iterations", edit: []string{"  sinkhorn_iterations: 20\n", ""}, before: strings.Replace(annotModel, "sinkhorn_iterations: 20", "sinkhorn_iterations: 7", 1), want: []string{
			// The key is gone (default 20): its section, hyper_connections, on line 10.
			"::notice file=models/annot.yaml,line=10,col=1,title=mhcc diff model sinkhorn_iterations::sinkhorn iterations 7 → 20",
		}},
		{name: "weights", edit: []string{"seed: 1", "seed: 2"}, want: []string{
			"::warning file=golden/annot.txt,line=30,col=3,title=mhcc diff graph initializer_value::initializer layers.0.mlp.w1.weight: values changed (sha256:",
		}},
		{name: "full golden", full: true, edit: []string{"sinkhorn_iterations: 20", "sinkhorn_iterations: 10"}, want: []string{
			"::notice file=models/annot.yaml,line=13,col=3,title=mhcc diff model sinkhorn_iterations::",
			"::error file=golden/annot.onnx,title=mhcc diff graph node_deleted::",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			t.Chdir(dir)
			model := filepath.Join("models", "annot.yaml")
			os.Mkdir("models", 0o755)
			before := annotModel
			if tc.before != "" {
				before = tc.before
			}
			if err := os.WriteFile(model, []byte(before), 0o644); err != nil {
				t.Fatal(err)
			}
			args := []string{"diff", "--golden", "golden", "--update", model}
			if tc.full {
				args = append(args, "--full")
			}
			if code, _, stderr := mhcc(t, args...); code != 0 {
				t.Fatalf("--update: exit %d: %s", code, stderr)
			}
			after := strings.Replace(annotModel, tc.edit[0], tc.edit[1], 1)
			if after == annotModel {
				t.Fatalf("edit %q not applied", tc.edit[0])
			}
			if err := os.WriteFile(model, []byte(after), 0o644); err != nil {
				t.Fatal(err)
			}
			code, stdout, stderr := mhcc(t, "diff", "--golden", "golden", model, "--format", "github")
			if code != 1 {
				t.Fatalf("exit %d, want 1 (differs); stderr: %s", code, stderr)
			}
			lines := strings.Split(strings.TrimSpace(stdout), "\n")
			for _, l := range lines {
				if !strings.Contains(l, " file=") {
					t.Errorf("annotation without file=: %s", l)
				}
			}
			for _, w := range tc.want {
				found := false
				for _, l := range lines {
					found = found || strings.HasPrefix(l, w)
				}
				if !found {
					t.Errorf("no annotation starting %q in:\n%s", w, stdout)
				}
			}
		})
	}
}

// TestDiffGitHubAnnotationsTwoFiles: mhcc diff a.yaml b.yaml places
// model-level changes at B's key and the rest at B.
func TestDiffGitHubAnnotationsTwoFiles(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml")
	os.WriteFile(a, []byte(annotModel), 0o644)
	os.WriteFile(b, []byte(strings.Replace(annotModel, "sinkhorn_iterations: 20", "sinkhorn_iterations: 10", 1)), 0o644)
	code, stdout, stderr := mhcc(t, "diff", a, b, "--format", "github")
	if code != 1 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	bs := filepath.ToSlash(b)
	for _, w := range []string{
		"::notice file=" + bs + ",line=13,col=3,title=mhcc diff model sinkhorn_iterations::sinkhorn iterations 20 → 10",
		"::error file=" + bs + ",title=mhcc diff graph node_deleted::",
	} {
		if !strings.Contains(stdout, "\n"+w) && !strings.HasPrefix(stdout, w) {
			t.Errorf("no annotation starting %q in:\n%s", w, stdout)
		}
	}
}

// TestCompileHashedMatchesFmt: the graph-only golden written from streamed
// weights (compileHashed, which never holds them) is byte for byte mhcc fmt
// of the compiled .onnx, whose hashes come from the weights in memory: two
// ways to the same hashes, for every test model and target.
func TestCompileHashedMatchesFmt(t *testing.T) {
	testmodels.EachTarget(t, func(t *testing.T, path, target string, m *onnxpb.ModelProto) {
		want, err := onnxtext.Format(m, onnxtext.Options{})
		if err != nil {
			t.Fatal(err)
		}
		h, _, err := compileHashed(path, target)
		if err != nil {
			t.Fatal(err)
		}
		external := 0
		for _, x := range h.GetGraph().GetInitializer() {
			if _, ok := onnxtext.HashOnly(x); ok {
				external++
			}
		}
		if external == 0 {
			t.Error("no weight was streamed")
		}
		got, err := onnxtext.Format(h, onnxtext.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("text differs from mhcc fmt of the .onnx:\n%s", firstDiff(string(want), string(got)))
		}
	})
}

// firstDiff shows the first differing line of two texts.
func firstDiff(a, b string) string {
	la, lb := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range min(len(la), len(lb)) {
		if la[i] != lb[i] {
			return fmt.Sprintf("line %d:\n  want %s\n  got  %s", i+1, la[i], lb[i])
		}
	}
	return fmt.Sprintf("%d lines, want %d", len(lb), len(la))
}
