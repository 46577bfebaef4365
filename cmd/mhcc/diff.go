package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/mhcc-dev/mhcc/export/onnxpb"
	"github.com/mhcc-dev/mhcc/internal/atomicfile"
	"github.com/mhcc-dev/mhcc/internal/build"
	"github.com/mhcc-dev/mhcc/internal/graphdiff"
	"github.com/mhcc-dev/mhcc/internal/onnxtext"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"
)

type diffFlags struct {
	target, failOn, format, color, golden string
	rtol, atol                            float64
	update                                bool
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

With --golden DIR, each model file is compiled and compared with
DIR/<name>.onnx (name: the model file's name without .yaml); --update writes
the goldens instead (the .onnx, and a readable DIR/<name>.txt from mhcc fmt).

Initializers kept in an external data file (compile --external-data) are
read from it, relative to the .onnx file's folder, and compared by content
like inline ones: a tensor moved to or from the data file, or to another
offset, is no change; different bytes are.`,
		Example: `  mhcc diff old.onnx new.onnx
  mhcc diff a.yaml b.yaml --format markdown > diff.md
  mhcc diff --golden testdata/onnx testdata/models/*.yaml --format github
  mhcc diff --golden testdata/onnx testdata/models/*.yaml --update`,
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
	fl.StringVar(&f.target, "target", "onnx", "target to compile model files for: "+strings.Join(build.Targets, ", "))
	fl.StringVar(&f.failOn, "fail-on", "metadata", "exit 1 when a change of at least this severity is found: interface, structure, attribute, metadata, or never")
	fl.StringVar(&f.format, "format", "text", "report format: text, json (schema mhcc.diff/v1), markdown (for a pull-request comment), github (Actions annotations)")
	fl.StringVar(&f.color, "color", "auto", "colour the text report: auto (on a terminal), always, never")
	fl.Float64Var(&f.rtol, "rtol", 0, "initializer values within atol + rtol·|b| of each other are equal")
	fl.Float64Var(&f.atol, "atol", 0, "see --rtol")
	fl.StringVar(&f.golden, "golden", "", "compare each model file's fresh compile with DIR/<name>.onnx")
	fl.BoolVar(&f.update, "update", false, "with --golden: write the goldens instead of comparing")
	return cmd
}

func runDiff(w io.Writer, f diffFlags, args []string) error {
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
	if f.update {
		return fmt.Errorf("--update goes with --golden DIR")
	}
	if len(args) != 2 {
		return fmt.Errorf("want two models to compare, got %d arguments", len(args))
	}
	a, err := loadDiffModel(args[0], f.target)
	if err != nil {
		return err
	}
	b, err := loadDiffModel(args[1], f.target)
	if err != nil {
		return err
	}
	rep, err := graphdiff.Compare(a, b, graphdiff.Options{RTol: f.rtol, ATol: f.atol})
	if err != nil {
		return err
	}
	rep.A, rep.B = args[0], args[1]
	if err := writeReport(w, rep, f); err != nil {
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

func writeReport(w io.Writer, rep *graphdiff.Report, f diffFlags) error {
	switch f.format {
	case "json":
		return rep.WriteJSON(w)
	case "markdown":
		return rep.WriteMarkdown(w)
	case "github":
		return rep.WriteGitHub(w)
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

// diffGolden compiles each model file and compares it with its golden, or
// writes the goldens with --update.
func diffGolden(w io.Writer, f diffFlags, models []string) error {
	if f.update {
		if err := os.MkdirAll(f.golden, 0o755); err != nil {
			return err
		}
	}
	var failures []string
	sort.Strings(models)
	for _, path := range models {
		name := strings.TrimSuffix(strings.TrimSuffix(filepath.Base(path), ".yaml"), ".yml")
		golden := filepath.Join(f.golden, name+".onnx")
		res, err := build.Compile(path, build.Options{Target: f.target})
		if err != nil {
			return err
		}
		if f.update {
			if err := writeGolden(golden, res.ONNX); err != nil {
				return err
			}
			fmt.Fprintf(w, "updated %s\n", golden)
			continue
		}
		want, err := loadModel(golden, f.target)
		if err != nil {
			if os.IsNotExist(err) {
				return fmt.Errorf("%s: no golden %s; write it with --update", path, golden)
			}
			return err
		}
		got := &onnxpb.ModelProto{}
		if err := proto.Unmarshal(res.ONNX, got); err != nil {
			return err
		}
		rep, err := graphdiff.Compare(want, got, graphdiff.Options{RTol: f.rtol, ATol: f.atol})
		if err != nil {
			return err
		}
		rep.A, rep.B = golden, path
		if err := writeReport(w, rep, f); err != nil {
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

// writeGolden writes the golden model and its readable text form.
func writeGolden(path string, data []byte) error {
	m := &onnxpb.ModelProto{}
	if err := proto.Unmarshal(data, m); err != nil {
		return err
	}
	text, err := onnxtext.Format(m, onnxtext.Options{})
	if err != nil {
		return err
	}
	if err := atomicfile.Write(path, func(w io.Writer) error { _, err := w.Write(data); return err }); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	txt := strings.TrimSuffix(path, ".onnx") + ".txt"
	if err := atomicfile.Write(txt, func(w io.Writer) error { _, err := w.Write(text); return err }); err != nil {
		return fmt.Errorf("writing %s: %w", txt, err)
	}
	return nil
}
