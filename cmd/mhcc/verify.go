package main

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/mhcc-dev/mhcc/compile"
	"github.com/mhcc-dev/mhcc/verify"
	"github.com/spf13/cobra"
)

func newVerifyCmd() *cobra.Command {
	var (
		target, against string
		precision       string
		seed            uint64
		shapes          []string
		asJSON, quiet   bool
		limits          runtimeLimits
	)
	cmd := &cobra.Command{
		Use:   "verify model.yaml | model.onnx --against model.yaml",
		Short: "Check a compiled model numerically with the bundled Go runtime",
		Long: `Verify compiles the model for --target and runs it with mhcc's Go runtime,
in its own precision, next to the reference lowering run in float64, on
seeded inputs of several shapes. It reports the max absolute and relative
error and the cosine similarity against tolerances derived from the
precision.

It also checks mHC's invariants on every sublayer and token: the mixing
matrix is non-negative, its columns (normalised last) sum to 1 within a
bound derived from eps, pre ∈ (0, 1+eps], post ∈ (0, 2); the row sums'
deviation is reported. And it reports the paper's stability figure: the
Amax gain (largest absolute row sum = forward, column sum = backward) of
the product of the mixing matrices over depth, per token.

With --against, the first argument is an ONNX file made elsewhere (for
example a torch.onnx export with the same weights), checked against the
reference built from the model file.

The exit status is 1 when any check fails; the message names the layer,
the sublayer and the worst token. On a terminal, stderr shows the step
verify is at and the time so far (--quiet: never); a model of a few
hundred million parameters takes seconds, mostly building the reference.`,
		Example: `  mhcc verify testdata/models/tiny-mhc.yaml
  mhcc verify testdata/models/tiny-mhc.yaml --shape 1x1 --shape 4x33 --json
  mhcc verify exported.onnx --against model.yaml`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := verify.Options{Target: target, Precision: precision, Seed: seed}
			m := newMeter(cmd.ErrOrStderr(), quiet)
			opts.Progress = m.step
			defer m.done()
			model, checked := args[0], "target "+target
			if against != "" {
				model, checked = against, args[0]
			}
			// With --json, a JSON document on every outcome, failures included.
			fail := func(err error) error {
				m.done()
				if asJSON {
					if data, jerr := json.MarshalIndent(verify.FailureReport(model, checked, err), "", "  "); jerr == nil {
						fmt.Fprintln(cmd.OutOrStdout(), string(data))
					}
				}
				return err
			}
			if err := limits.apply(); err != nil {
				return fail(err)
			}
			for _, s := range shapes {
				sh, err := parseShape(s)
				if err != nil {
					return fail(err)
				}
				opts.Shapes = append(opts.Shapes, sh)
			}
			var rep *verify.Report
			var err error
			if against != "" {
				rep, err = verify.ONNX(args[0], against, opts)
			} else {
				if strings.HasSuffix(args[0], ".onnx") {
					return fail(fmt.Errorf("%s is an ONNX file: give the model file it was made from with --against model.yaml", args[0]))
				}
				rep, err = verify.Model(args[0], opts)
			}
			m.done()
			if err != nil {
				return fail(err)
			}
			if asJSON {
				data, err := json.MarshalIndent(rep, "", "  ")
				if err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), string(data))
			} else {
				fmt.Fprint(cmd.OutOrStdout(), rep.Text())
			}
			if !rep.OK {
				return fmt.Errorf("verification failed:\n  %s", strings.Join(rep.Failures(), "\n  "))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&target, "target", "onnx", "target profile to compile for: "+strings.Join(compile.Targets, ", "))
	f.StringVar(&precision, "precision", "", "fp32, fp16 or bf16 (default: the target's); tolerances follow it")
	f.StringVar(&against, "against", "", "model file describing an ONNX file given as the argument")
	f.Uint64Var(&seed, "seed", 1, "seed of the random inputs")
	f.StringSliceVar(&shapes, "shape", nil, "input shape BATCHxSEQUENCE (or BATCH for mlp); repeatable (default 1x1, 2x7, 3x16)")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	f.BoolVarP(&quiet, "quiet", "q", false, "show no progress (it is shown only on a terminal anyway)")
	addLimitFlags(f, &limits)
	return cmd
}

// parseShape reads "2x7" (batch x sequence) or "2" (batch).
func parseShape(s string) ([2]int64, error) {
	var out [2]int64
	parts := strings.Split(s, "x")
	if len(parts) > 2 {
		return out, fmt.Errorf("--shape %q: want BATCHxSEQUENCE, e.g. 2x7", s)
	}
	for i, p := range parts {
		v, err := strconv.ParseInt(p, 10, 64)
		if err != nil || v < 1 || v > 1<<16 {
			return out, fmt.Errorf("--shape %q: %q is not a size between 1 and 65536", s, p)
		}
		out[i] = v
	}
	if len(parts) == 1 {
		out[1] = 1
	}
	return out, nil
}
