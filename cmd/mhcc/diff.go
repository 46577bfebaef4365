package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/mhcc-dev/mhcc/compile"
	graphdiff "github.com/mhcc-dev/mhcc/onnx/diff"
	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
	onnxtext "github.com/mhcc-dev/mhcc/onnx/text"
	"github.com/spf13/cobra"
)

type diffFlags struct {
	target, failOn, format, color, golden string
	rtol, atol                            float64
	update, full                          bool
}

func newDiffCmd() *cobra.Command {
	var f diffFlags
	cmd := &cobra.Command{
		Use:   "diff A B | diff --golden DIR model.yaml...",
		Short: "Compare two models as graphs, in mHC terms, for people and for CI",
		Long: `Diff compares two ONNX models — .onnx files, or model files compiled on the
fly with the same options — at three levels:

  model      what changed in mHC terms (streams, Sinkhorn iterations per
             sublayer, precision, target, lowering), from metadata and structure
  interface  inputs, outputs, dtypes, dims, IR version, opsets
  graph      a name-independent comparison aligned as a longest common
             subsequence, so renamed values are not changes and an inserted
             layer shows as one insertion; attributes; initializers by hash
             and, beyond --rtol/--atol, by value

Each change has a severity: interface > structure > attribute (and
initializer values) > metadata. The exit status is 0 when nothing at or
above --fail-on differs, 1 when something does, 2 on an error.

With --golden DIR, each model file is compiled and compared with its golden
(name: the model file's name without .yaml): DIR/<name>.txt, the graph as
mhcc fmt prints it with each weight as its sha256 (a graph-only golden), or
DIR/<name>.onnx when that exists (a full golden, weights included). The
text is read back and compared as a graph, like an .onnx: a changed weight
shows as "values changed" with both hashes (--rtol/--atol need a full
golden). --update writes the goldens instead: graph-only ones, unless DIR
already holds the .onnx or --full is given.

With --format github each annotation points at a line: a change that a key
of the model file decides (sinkhorn iterations, streams, layers, …) at that
key in the model file; anything else at its line in a graph-only golden (the
node, initializer, input or metadata entry), or at the golden file.

Initializers kept in an external data file (compile --external-data) are
read from it, relative to the .onnx file's folder, and compared by content
like inline ones: a tensor moved to or from the data file, or to another
offset, is no change; different bytes are.`,
		Example: `  mhcc diff old.onnx new.onnx
  mhcc diff a.yaml b.yaml --format markdown > diff.md
  mhcc diff --golden goldens models/*.yaml --format github
  mhcc diff --golden goldens models/*.yaml --update`,
		// Two models, or with --golden at least one model file; a wrong
		// count is a usage error (exit 2, as for every command).
		Args: func(cmd *cobra.Command, args []string) error {
			if f.golden != "" && len(args) == 0 {
				return fmt.Errorf("--golden needs the model files to compile")
			}
			if f.golden == "" && len(args) != 2 {
				return fmt.Errorf("want two models to compare, got %d arguments", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			// Exit 1 means "differs"; any error exits 2, so CI can tell a
			// failed gate from a broken one.
			err := runDiff(cmd.OutOrStdout(), f, args)
			var ee exitError
			if err != nil && !errors.As(err, &ee) {
				err = exitError{err, 2}
			}
			return err
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.target, "target", "onnx", "target to compile model files for: "+strings.Join(compile.Targets, ", "))
	fl.StringVar(&f.failOn, "fail-on", "metadata", "exit 1 when a change of at least this severity is found: interface, structure, attribute, metadata, or never")
	fl.StringVar(&f.format, "format", "text", "report format: text, json (schema mhcc.diff/v1), markdown (for a pull-request comment), github (Actions annotations)")
	fl.StringVar(&f.color, "color", "auto", "colour the text report: auto (on a terminal), always, never")
	fl.Float64Var(&f.rtol, "rtol", 0, "initializer values within atol + rtol·|b| of each other are equal")
	fl.Float64Var(&f.atol, "atol", 0, "see --rtol")
	fl.StringVar(&f.golden, "golden", "", "compare each model file's fresh compile with its golden in DIR: <name>.txt (graph-only) or <name>.onnx (full)")
	fl.BoolVar(&f.update, "update", false, "with --golden: write the goldens instead of comparing")
	fl.BoolVar(&f.full, "full", false, "with --golden --update: write full goldens (DIR/<name>.onnx with the weights, and the text) instead of graph-only ones")
	return cmd
}

func runDiff(w io.Writer, f diffFlags, args []string) error {
	defer tightGC(args...)()
	if _, err := graphdiff.ParseSeverity(f.failOn); err != nil && f.failOn != "never" {
		return fmt.Errorf("--fail-on %q: want interface, structure, attribute, metadata or never", f.failOn)
	}
	switch f.format {
	case "text", "json", "markdown", "github":
	default:
		return fmt.Errorf("--format %q: want text, json, markdown or github", f.format)
	}
	if f.golden != "" {
		if len(args) == 0 {
			return fmt.Errorf("--golden needs the model files to compile")
		}
		return diffGolden(w, f, args)
	}
	if f.update || f.full {
		return fmt.Errorf("--update and --full go with --golden DIR")
	}
	if len(args) != 2 {
		return fmt.Errorf("want two models to compare, got %d arguments", len(args))
	}
	// Each model is prepared (its node list compacted, the messages
	// dropped) before the next is read: two large graphs' decoded nodes
	// are never held at once.
	a, err := loadDiffModel(args[0], f.target)
	if err != nil {
		return err
	}
	pa := graphdiff.Prepare(a)
	b, err := loadDiffModel(args[1], f.target)
	if err != nil {
		return err
	}
	pb := graphdiff.Prepare(b)
	rep, err := graphdiff.CompareModels(pa, pb, graphdiff.Options{RTol: f.rtol, ATol: f.atol})
	if err != nil {
		return err
	}
	rep.A, rep.B = args[0], args[1]
	if err := writeReport(w, rep, f, annotationPlaces(args[1], modelFile(args[1]), "", nil)); err != nil {
		return err
	}
	return gate(rep, f.failOn)
}

// loadDiffModel is loadModel with an ONNX file's external data resolved
// (graphdiff.ResolveExternal), so that it is compared by content.
func loadDiffModel(path, target string) (*onnxpb.ModelProto, error) {
	m, err := loadModel(path, target)
	if err != nil {
		return nil, err
	}
	if !strings.HasSuffix(path, ".yaml") && !strings.HasSuffix(path, ".yml") {
		if err := graphdiff.ResolveExternal(m, filepath.Dir(path)); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	return m, nil
}

// writeReport renders rep; at places GitHub annotations (nil: nowhere).
func writeReport(w io.Writer, rep *graphdiff.Report, f diffFlags, at func(graphdiff.Change) graphdiff.Location) error {
	switch f.format {
	case "json":
		return rep.WriteJSON(w)
	case "markdown":
		return rep.WriteMarkdown(w)
	case "github":
		return rep.WriteGitHubAt(w, at)
	}
	color := f.color == "always"
	if f.color == "auto" {
		if file, ok := w.(*os.File); ok {
			if st, err := file.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
				color = os.Getenv("NO_COLOR") == ""
			}
		}
	}
	return rep.WriteText(w, color)
}

// gate returns an exit-1 error when rep has a change at or above failOn.
func gate(rep *graphdiff.Report, failOn string) error {
	if failOn == "never" {
		return nil
	}
	limit, _ := graphdiff.ParseSeverity(failOn)
	if max, ok := rep.Max(); ok && max >= limit {
		return exitError{fmt.Errorf("%s and %s differ (highest severity: %v, --fail-on %s)", rep.A, rep.B, max, failOn), 1}
	}
	return nil
}

// diffGolden compiles each model file and compares it with its golden
// (graph-only or full, see golden.go), or writes the goldens with --update.
func diffGolden(w io.Writer, f diffFlags, models []string) error {
	if f.full && !f.update {
		return fmt.Errorf("--full goes with --update (it says which goldens to write)")
	}
	if f.update {
		if err := os.MkdirAll(f.golden, 0o755); err != nil {
			return err
		}
	}
	var failures []string
	sort.Strings(models)
	for _, path := range models {
		onnxPath, txtPath := goldenPaths(f.golden, path)
		full := fileExists(onnxPath)
		if f.update {
			if err := updateGolden(w, path, f, onnxPath, txtPath, full || f.full); err != nil {
				return err
			}
			continue
		}
		// The golden first: a missing or unreadable one fails before the
		// compile.
		var want *onnxpb.ModelProto
		var gpos *onnxtext.Positions
		var err error
		golden := onnxPath
		switch {
		case full:
			if want, err = loadModel(onnxPath, f.target); err != nil {
				return err
			}
		case fileExists(txtPath):
			golden = txtPath
			if want, gpos, err = readTextGolden(txtPath); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%s: no golden %s; write it with --update", path, txtPath)
		}
		got, model, err := compileFresh(path, f.target, full)
		if err != nil {
			return err
		}
		rep, err := graphdiff.Compare(want, got, graphdiff.Options{RTol: f.rtol, ATol: f.atol})
		if err != nil {
			return err
		}
		rep.A, rep.B = golden, path
		if err := writeReport(w, rep, f, annotationPlaces(path, model, golden, gpos)); err != nil {
			return err
		}
		if err := gate(rep, f.failOn); err != nil {
			failures = append(failures, err.Error())
		}
	}
	if len(failures) > 0 {
		return exitError{errors.New(strings.Join(failures, "\n")), 1}
	}
	return nil
}

// updateGolden writes a model's golden: the text alone, or with full the
// .onnx too.
func updateGolden(w io.Writer, path string, f diffFlags, onnxPath, txtPath string, full bool) error {
	if full {
		res, err := compile.Compile(path, compile.Options{Target: f.target})
		if err != nil {
			return err
		}
		if err := writeFullGolden(onnxPath, txtPath, res.ONNX); err != nil {
			return err
		}
		fmt.Fprintf(w, "updated %s and %s\n", onnxPath, txtPath)
		return nil
	}
	m, _, err := compileHashed(path, f.target)
	if err != nil {
		return err
	}
	if err := writeTextGolden(txtPath, m); err != nil {
		return err
	}
	fmt.Fprintf(w, "updated %s\n", txtPath)
	return nil
}
