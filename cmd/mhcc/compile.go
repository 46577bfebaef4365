package main

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/mhcc-dev/mhcc/compile"
	"github.com/mhcc-dev/mhcc/export"
	"github.com/spf13/cobra"
)

func newCompileCmd() *cobra.Command {
	var (
		out, target, dumpDir string
		precision            string
		disabled             []string
		verifyEach, stats    bool
		reproducible         bool
		printIR              bool
		externalData, quiet  bool
		noExternal           bool
		threshold            int64
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
never truncates an existing one.

Large weights go to an external data file next to the model (ONNX external
data, "<output>.data"): always with --external-data, and automatically when
the weights exceed 1.75 GiB (a model file cannot exceed 2 GiB). The weights
are then streamed from the safetensors file or the random generator to the
data file tensor by tensor, so memory use stays small whatever the model's
size. Progress is shown on stderr when it is a terminal (--quiet: never).`,
		Example: `  mhcc compile testdata/models/tiny-mhc.yaml -o tiny-mhc.onnx
  mhcc compile model.yaml --target ort -o model.ort.onnx
  mhcc compile model.yaml --verify-each --dump-dir ir-dumps/ --stats
  mhcc compile model.yaml --disable-pass fuse_stream_mix --print-ir-after-all
  mhcc compile big.yaml -o big.onnx --external-data      # writes big.onnx and big.onnx.data`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := args[0]
			if out == "" {
				out = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path)) + ".onnx"
			}
			opts := compile.Options{Target: target, Precision: precision, Verify: verifyEach, DumpDir: dumpDir, Disabled: map[string]bool{}, KVCache: kvCache}
			if externalData && noExternal {
				return fmt.Errorf("--external-data and --no-external-data contradict each other")
			}
			switch {
			case externalData:
				opts.External = compile.ExternalAlways
			case noExternal:
				opts.External = compile.ExternalNever
			}
			opts.DataLocation, opts.ExternalThreshold = export.DataLocation(out), threshold
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
			res, err := compile.Compile(path, opts)
			if err != nil {
				return err
			}
			if reproducible {
				opts.Log, opts.DumpDir, opts.PrintIR = nil, "", nil
				again, err := compile.Compile(path, opts)
				if err != nil {
					return err
				}
				if at, differ := firstDifference(res.ONNX, again.ONNX); differ {
					return fmt.Errorf("%s is not reproducible: two compiles differ at byte %d (%d and %d bytes); nothing written", path, at, len(res.ONNX), len(again.ONNX))
				}
				if err := sameData(res, again); err != nil {
					return fmt.Errorf("%s is not reproducible: %v; nothing written", path, err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "reproducible: two compiles gave the same %d bytes\n", len(res.ONNX)+int(res.Layout.Size()))
			}
			m := newMeter(cmd.ErrOrStderr(), quiet)
			err = export.WriteFiles(out, res.ONNX, res.Layout, m.weights)
			m.done()
			if err != nil {
				return err
			}
			if res.Layout.Tensors() > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (%s, %d IR nodes, %d bytes) and %s (%d tensors, %d bytes)\n", out, res.Model.Name, len(res.Graph.Nodes), len(res.ONNX),
					filepath.Join(filepath.Dir(out), res.Layout.Location), res.Layout.Tensors(), res.Layout.Size())
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (%s, %d IR nodes, %d bytes)\n", out, res.Model.Name, len(res.Graph.Nodes), len(res.ONNX))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&out, "output", "o", "", "output file (default: the model file's name with .onnx, in the current folder)")
	f.StringVar(&target, "target", "onnx", "target profile: "+strings.Join(compile.Targets, ", ")+", or a profile file (see mhcc targets)")
	f.StringVar(&precision, "precision", "", "fp32, fp16 or bf16 for weights and activations (default: the target's); the mHC coefficient path stays float32")
	f.BoolVar(&printIR, "print-ir-after-all", false, "print the IR to stderr after every pass")
	f.BoolVar(&verifyEach, "verify-each", false, "verify the IR after every pass")
	f.StringVar(&dumpDir, "dump-dir", "", "write the text IR after every pass into this folder")
	f.StringSliceVar(&disabled, "disable-pass", nil, "skip these passes (comma-separated names)")
	f.BoolVar(&stats, "stats", false, "print per-pass statistics to stderr")
	f.BoolVar(&reproducible, "check-reproducible", false, "compile twice and fail unless both give the same bytes")
	f.BoolVar(&externalData, "external-data", false, "write initializers of at least --external-threshold bytes to <output>.data (automatic past 1.75 GiB of weights)")
	f.BoolVar(&noExternal, "no-external-data", false, "keep every weight in the model file, even a large one (fails past 2 GiB)")
	f.Int64Var(&threshold, "external-threshold", export.DefaultThreshold, "with external data: the size in bytes from which an initializer goes to the data file")
	f.BoolVarP(&quiet, "quiet", "q", false, "show no progress (it is shown only on a terminal anyway)")
	f.BoolVar(&kvCache, "kv-cache", false, "emit the KV-cache decoder graph (past_key_values.* inputs, present.* outputs), as inputs.kv_cache: true does")
	return cmd
}

// sameData compares the external data two compiles would write, by SHA-256.
func sameData(a, b *compile.Result) error {
	if a.Layout.Size() != b.Layout.Size() {
		return fmt.Errorf("their data files would have %d and %d bytes", a.Layout.Size(), b.Layout.Size())
	}
	if a.Layout.Tensors() == 0 {
		return nil
	}
	ha, hb := sha256.New(), sha256.New()
	if err := a.Layout.WriteData(ha, nil); err != nil {
		return err
	}
	if err := b.Layout.WriteData(hb, nil); err != nil {
		return err
	}
	if !bytes.Equal(ha.Sum(nil), hb.Sum(nil)) {
		return fmt.Errorf("their data files differ")
	}
	return nil
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
				// As external data, large weights and RoPE tables are
				// placed, not computed: check reads and checks everything a
				// compile would and builds no tensor it does not need.
				if _, err := compile.Compile(path, compile.Options{Verify: true, External: compile.ExternalAlways}); err != nil {
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
			res, err := compile.Compile(args[0], compile.Options{Verify: true})
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
