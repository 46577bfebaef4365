package main

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/mhcc-dev/mhcc/ir"
	"github.com/mhcc-dev/mhcc/model"
)

func newNamesCmd() *cobra.Command {
	var (
		asJSON bool
		preset string
	)
	cmd := &cobra.Command{
		Use:   "names model.yaml [checkpoint]",
		Short: "List the tensors a model expects and where its checkpoint has them",
		Long: `Names lists every tensor the model file's model expects (docs/spec.md
§4.1), with its shape and dtype, and for a checkpoint (the model file's
weights.path, or the safetensors file or *.safetensors.index.json given as
the second argument) where each one comes from under weights.names: the
checkpoint's name, the rule or preset that mapped it, splits, transposes
and FP8 scales. Then every problem: expected tensors not found (with the
unused tensor each most likely is), checkpoint tensors nothing expects,
rules that match nothing, shards that are missing or corrupt. Only the
headers are read.

Exit status 1 when there is a problem, as for check.`,
		Example: `  mhcc names testdata/golden/decoder-hf-sharded/model.yaml
  mhcc names model.yaml ~/ckpt/model.safetensors.index.json   # another checkpoint
  mhcc names model.yaml --preset nanogpt                      # try a preset
  mhcc names model.yaml --json | jq '.Problems'`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := model.Load(args[0])
			if err != nil {
				return err
			}
			if len(args) == 2 {
				m.Weights.Source, m.Weights.Path, m.Weights.PathPos = model.WeightsSafetensors, filepath.Clean(args[1]), ir.Pos{File: args[1]}
			}
			if preset != "" {
				if !slices.Contains(model.Presets, preset) {
					return fmt.Errorf("--preset: got %q, want one of %s", preset, strings.Join(model.Presets, ", "))
				}
				if m.Weights.Names == nil {
					m.Weights.Names = &model.NamesSpec{}
				}
				m.Weights.Names.Preset = preset
			}
			rep, err := model.Names(m)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				if err := enc.Encode(namesJSON(rep)); err != nil {
					return err
				}
			} else {
				printNames(cmd.OutOrStdout(), m, rep)
			}
			if n := len(rep.Problems); n > 0 {
				return fmt.Errorf("%s: %d problems with the checkpoint's names (listed above)", args[0], n)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	cmd.Flags().StringVar(&preset, "preset", "", "try this names preset instead of the model file's: "+strings.Join(model.Presets, ", "))
	return cmd
}

// namesJSON is the report with the problems as text.
func namesJSON(r *model.NamesReport) any {
	problems := []string{}
	for _, e := range r.Problems {
		problems = append(problems, e.Error())
	}
	return struct {
		Expected   []model.WeightSpec
		Checkpoint string
		Sharded    bool
		Tensors    int
		Found      []model.NameFound
		Ignored    []string
		Scales     []string
		Problems   []string
	}{r.Expected, r.Checkpoint, r.Sharded, r.Tensors, r.Found, r.Ignored, r.Scales, problems}
}

func printNames(w io.Writer, m *model.Model, r *model.NamesReport) {
	fmt.Fprintf(w, "%s (%s/%s): %s\n\n", m.Name, m.Arch.Kind, m.HC.Kind, r.Summary())
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if r.Checkpoint == "" {
		fmt.Fprintln(tw, "tensor\tshape\tdtype")
		for _, s := range r.Expected {
			fmt.Fprintf(tw, "%s\t%v\tF32\n", s.Name, s.Shape)
		}
		tw.Flush()
		return
	}
	fmt.Fprintln(tw, "tensor\tshape\tdtype\tcheckpoint tensor\thow")
	for _, s := range r.Expected {
		f, ok := r.Lookup(s.Name)
		if !ok {
			fmt.Fprintf(tw, "%s\t%v\t\t(not found)\t\n", s.Name, s.Shape)
			continue
		}
		src := f.Source
		if f.Source == s.Name {
			src = "="
		}
		fmt.Fprintf(tw, "%s\t%v\t%s\t%s\t%s\n", s.Name, s.Shape, f.DType, src, f.Via)
	}
	tw.Flush()
	if len(r.Ignored) > 0 {
		fmt.Fprintf(w, "\nignored (%d): %s\n", len(r.Ignored), strings.Join(r.Ignored, ", "))
	}
	if len(r.Problems) > 0 {
		fmt.Fprintf(w, "\nproblems (%d):\n", len(r.Problems))
		for _, e := range r.Problems {
			fmt.Fprintf(w, "  %s\n", e.Error())
		}
	}
}
