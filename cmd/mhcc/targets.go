package main

import (
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/mhcc-dev/mhcc/compile"
	"github.com/mhcc-dev/mhcc/export"
	"github.com/mhcc-dev/mhcc/ir"
	"github.com/mhcc-dev/mhcc/passes"
	"github.com/mhcc-dev/mhcc/target"
	"github.com/spf13/cobra"
)

func newPassesCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "passes",
		Short: "List the optimisation passes in pipeline order",
		Long: `Passes lists the passes mhcc compile runs, in order, with what each does.
A pass can be skipped with compile --disable-pass NAME (required ones cannot);
compile --print-ir-after-all and --dump-dir show the IR after each.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			for i, p := range passes.Pipeline {
				req := ""
				if p.Required {
					req = " (required)"
				}
				fmt.Fprintf(tw, "%2d\t%s\t%s%s\n", i+1, p.Name, p.Doc, req)
			}
			return tw.Flush()
		},
	}
}

func newTargetsCmd() *cobra.Command {
	var verbose bool
	cmd := &cobra.Command{
		Use:   "targets [name|profile.yaml]",
		Short: "List the target profiles, or show one",
		Long: `A target is a profile declared as data: the ONNX IR version and opsets it
accepts, the operators it allows, the lowering mhcc picks for each IR op
(for example how the mHC Sinkhorn iterations are written) and the default
precision. Built-in profiles are listed below; a profile file of your own
(same keys as "mhcc targets onnx" shows) is used with --target file.yaml.

With a name, targets prints that profile and, for each IR op, the lowerings
the exporter knows, so a new accelerator's profile can pick among them.`,
		Example: `  mhcc targets
  mhcc targets ort
  mhcc compile model.yaml --target compact`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			w := cmd.OutOrStdout()
			if len(args) == 0 {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				for _, p := range target.Builtin() {
					fmt.Fprintf(tw, "%s\t%s\n", p.Name, p.Doc)
				}
				if err := tw.Flush(); err != nil {
					return err
				}
				if verbose {
					fmt.Fprintln(w)
					printLowerings(w)
				}
				return nil
			}
			p, err := compile.Profile(args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "name:       %s\ndoc:        %s\nsource:     %s\nir_version: %d\nprecision:  %s\n", p.Name, p.Doc, p.Source, p.IRVersion, p.Precision)
			var domains []string
			for d := range p.Opsets {
				domains = append(domains, d)
			}
			sort.Strings(domains)
			for _, d := range domains {
				name := d
				if d == "" {
					name = "ai.onnx"
				}
				fmt.Fprintf(w, "opset:      %s %d, ops: %s\n", name, p.Opsets[d], strings.Join(p.Ops[d], ", "))
			}
			fmt.Fprintln(w, "lowerings:")
			for _, op := range ir.Ops() {
				fmt.Fprintf(w, "  %-14s %s\n", op, p.LoweringOf(op.String()))
			}
			if len(p.Disable) > 0 {
				fmt.Fprintf(w, "disabled passes: %s\n", strings.Join(p.Disable, ", "))
			}
			if verbose {
				fmt.Fprintln(w)
				printLowerings(w)
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "also list every lowering the exporter knows per IR op")
	return cmd
}

func printLowerings(w interface{ Write([]byte) (int, error) }) {
	fmt.Fprintln(w, "lowerings the exporter knows:")
	for _, op := range ir.Ops() {
		fmt.Fprintf(w, "  %-14s %s\n", op, strings.Join(export.Lowerings(op), ", "))
	}
}
