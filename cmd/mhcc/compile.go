package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/mhcc-dev/mhcc/export"
	"github.com/mhcc-dev/mhcc/internal/build"
	"github.com/spf13/cobra"
)

func newCompileCmd() *cobra.Command {
	var (
		out, target, dumpDir string
		disabled             []string
		verifyEach, stats    bool
		reproducible         bool
		printIR              bool
		kvCache              bool
	)
	cmd := &cobra.Command{
		Use:   "compile model.yaml [-o model.onnx]",
		Short: "Compile a model file to ONNX",
		Long: `Compile reads a model file (format 1), reads or generates its weights,
lowers it to mhcc's IR, runs the optimisation passes and writes an ONNX model
for a target profile (--target; mhcc targets lists them).

The passes (mhcc passes lists them) fold static mHC coefficients, fold the
mHC scales into one projection GEMM per sublayer, compute the stream
collapse and mixing in one pass over the state, and pick per mHC op the
lowering the target's profile names (for onnx: the Sinkhorn iterations as
2-D Gemm + Div pairs, the cheapest standard form measured in onnxruntime).

The output is deterministic: the same model file and options give the same
bytes. It is written atomically: a failed compile leaves no file behind and
never truncates an existing one.`,
		Example: `  mhcc compile testdata/models/tiny-mhc.yaml -o tiny-mhc.onnx
  mhcc compile model.yaml --target ort -o model.ort.onnx
  mhcc compile model.yaml --verify-each --dump-dir ir-dumps/ --stats
  mhcc compile model.yaml --disable-pass fuse_stream_mix --print-ir-after-all`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := args[0]
			if out == "" {
				out = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path)) + ".onnx"
			}
			opts := build.Options{Target: target, Verify: verifyEach, DumpDir: dumpDir, Disabled: map[string]bool{}, KVCache: kvCache}
			for _, d := range disabled {
				opts.Disabled[d] = true
			}
			if stats {
				opts.Log = cmd.ErrOrStderr()
			}
			if printIR {
				opts.PrintIR = cmd.ErrOrStderr()
			}
			if dumpDir != "" {
				if err := os.MkdirAll(dumpDir, 0o755); err != nil {
					return fmt.Errorf("--dump-dir: %w", err)
				}
			}
			res, err := build.Compile(path, opts)
			if err != nil {
				return err
			}
			if reproducible {
				opts.Log, opts.DumpDir, opts.PrintIR = nil, "", nil
				again, err := build.Compile(path, opts)
				if err != nil {
					return err
				}
				if at, differ := firstDifference(res.ONNX, again.ONNX); differ {
					return fmt.Errorf("%s is not reproducible: two compiles differ at byte %d (%d and %d bytes); nothing written", path, at, len(res.ONNX), len(again.ONNX))
				}
				fmt.Fprintf(cmd.OutOrStdout(), "reproducible: two compiles gave the same %d bytes\n", len(res.ONNX))
			}
			if err := export.WriteFile(out, res.ONNX); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (%s, %d IR nodes, %d bytes)\n", out, res.Model.Name, len(res.Graph.Nodes), len(res.ONNX))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&out, "output", "o", "", "output file (default: the model file's name with .onnx, in the current folder)")
	f.StringVar(&target, "target", "onnx", "target profile: "+strings.Join(build.Targets, ", ")+", or a profile file (see mhcc targets)")
	f.BoolVar(&printIR, "print-ir-after-all", false, "print the IR to stderr after every pass")
	f.BoolVar(&verifyEach, "verify-each", false, "verify the IR after every pass")
	f.StringVar(&dumpDir, "dump-dir", "", "write the text IR after every pass into this folder")
	f.StringSliceVar(&disabled, "disable-pass", nil, "skip these passes (comma-separated names)")
	f.BoolVar(&stats, "stats", false, "print per-pass statistics to stderr")
	f.BoolVar(&reproducible, "check-reproducible", false, "compile twice and fail unless both give the same bytes")
	f.BoolVar(&kvCache, "kv-cache", false, "emit the KV-cache decoder graph (past_key_values.* inputs, present.* outputs), as inputs.kv_cache: true does")
	return cmd
}

// firstDifference returns the first offset where a and b differ.
func firstDifference(a, b []byte) (int, bool) {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return i, true
		}
	}
	return min(len(a), len(b)), len(a) != len(b)
}

func newCheckCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "check model.yaml...",
		Short: "Validate model files and their weights without writing anything",
		Long: `Check loads each model file, reports every problem it finds
(file:line:col: key: message), and checks the weights' names and shapes.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			failed := 0
			for _, path := range args {
				if _, err := build.Compile(path, build.Options{Verify: true}); err != nil {
					fmt.Fprintln(cmd.ErrOrStderr(), err)
					failed++
					continue
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: ok\n", path)
			}
			if failed > 0 {
				return fmt.Errorf("%d of %d model files have problems", failed, len(args))
			}
			return nil
		},
	}
}

func newIRCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "ir model.yaml",
		Short: "Print the IR of a model after the passes",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := build.Compile(args[0], build.Options{Verify: true})
			if err != nil {
				return err
			}
			_, err = fmt.Fprint(cmd.OutOrStdout(), res.Graph.String())
			return err
		},
	}
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print mhcc's version and the ONNX versions it writes",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, args []string) {
			fmt.Fprintf(cmd.OutOrStdout(), "mhcc %s (ONNX IR version %d, opset %d)\n", export.ProducerVersion, export.IRVersion, export.Opset)
		},
	}
}
