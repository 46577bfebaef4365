package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/mhcc-dev/mhcc/inspect"
)

func newInspectCmd() *cobra.Command {
	var (
		asJSON   bool
		sequence int
	)
	cmd := &cobra.Command{
		Use:   "inspect model.yaml [--json] [--sequence N]",
		Short: "Report a model's parameters, FLOPs, activation memory and residual-stream traffic",
		Long: `Inspect reports what a model costs, without generating or reading its
weights:

  - parameters, total and mHC's share (hc_* tensors);
  - FLOPs per token at a given sequence length (a multiply-add counts 2;
    attention over a causal context of (S+1)/2 positions on average);
  - activation memory (float32, batch 1): the residual state per token
    (n·C values, C for a plain residual), and for one sequence the state,
    the KV cache and the largest transient tensor;
  - residual-stream memory traffic per token and sublayer, in elements, in
    the accounting of the mHC paper: a plain residual reads 2C and writes C;
    unfused hyper-connections read (5n+1)C+n²+2n and write (3n+1)C+n²+2n;
    and what mhcc's graph for each target reads and writes, measured: the
    mHC nodes of the first sublayer are run by the Go runtime on a
    one-layer model with the same C, n and settings at two sequence lengths,
    and the per-token growth of every tensor they read or write is summed
    (each ONNX node reads its inputs and writes its outputs once);
  - IR and ONNX node counts for every target (compile.Targets).

A table for people, or --json for tools.`,
		Example: `  mhcc inspect bench/models/paper-27b.yaml
  mhcc inspect testdata/models/tiny-mhc.yaml --json | jq .params`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rep, err := inspect.Inspect(args[0], sequence)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			printInspect(cmd.OutOrStdout(), rep)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	cmd.Flags().IntVar(&sequence, "sequence", 0, "sequence length for FLOPs and activation memory (default: the model's inputs.max_sequence)")
	return cmd
}

// printInspect writes r as mhcc inspect's table.
func printInspect(w io.Writer, r *inspect.Report) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	p := func(format string, args ...any) { fmt.Fprintf(tw, format+"\n", args...) }
	p("model\t%s (%s)", r.Model, r.File)
	p("shape\t%d layers, C = %d, n = %d streams", r.Layers, r.Hidden, r.Streams)
	p("parameters\t%s (mHC: %s, %.3f%%)", count(r.Params.Total), count(r.Params.MHC), 100*r.Params.MHCShare)
	if r.Params.Active != r.Params.Total {
		p("active per token\t%s (%.1f%%: the routed experts a token uses, plus everything else)", count(r.Params.Active), 100*float64(r.Params.Active)/float64(r.Params.Total))
	}
	p("weights\t%s as float32", bytesString(r.WeightBytes))
	p("FLOPs per token\t%s at sequence %d (mHC: %s, %.2f%%)", count(r.FLOPs.Total), r.Sequence, count(r.FLOPs.MHC), 100*r.FLOPs.MHCShare)
	p("activations\tstate %s per token; at sequence %d: state %s, KV cache %s, largest transient %s", bytesString(r.Activations.StatePerToken), r.Sequence,
		bytesString(r.Activations.State), bytesString(r.Activations.KVCache), bytesString(r.Activations.PeakTransient))
	tw.Flush()
	fmt.Fprintf(w, "\nresidual-stream traffic, %s (C = %d, n = %d):\n", r.Traffic.Unit, r.Hidden, r.Streams)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	c := float64(r.Hidden)
	fmt.Fprintln(tw, "\treads\twrites\treads/C\twrites/C\t")
	row := func(name string, x inspect.RW) {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.2f\t%.2f\t\n", name, x.Reads, x.Writes, float64(x.Reads)/c, float64(x.Writes)/c)
	}
	row("plain residual (2C / C)", r.Traffic.Residual)
	if r.Traffic.HCUnfused != nil {
		row("HC unfused ((5n+1)C+n²+2n / (3n+1)C+n²+2n)", *r.Traffic.HCUnfused)
	}
	var notes []string
	note := func(target, err string) string {
		notes = append(notes, fmt.Sprintf("  [%d] %s: %s", len(notes)+1, target, err))
		return fmt.Sprintf("n/a [%d]", len(notes))
	}
	for _, t := range r.Traffic.Targets {
		if t.Error != "" {
			fmt.Fprintf(tw, "mhcc --target %s\t%s\t\t\t\t\n", t.Target, note(t.Target, t.Error))
			continue
		}
		row("mhcc --target "+t.Target, t.RW)
	}
	tw.Flush()
	fmt.Fprintln(w, "  (mhcc rows: every tensor the graph's nodes read and write, as written; a runtime's own fusions read less)")
	fmt.Fprintln(w, "\nnodes per target:")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\tIR nodes\tONNX nodes\t")
	for _, t := range r.Targets {
		if t.Error != "" {
			if !strings.Contains(strings.Join(notes, "\n"), t.Error) {
				note(t.Target, t.Error)
			}
			fmt.Fprintf(tw, "%s\tn/a\tn/a\t\n", t.Target)
			continue
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t\n", t.Target, t.IRNodes, t.ONNXNodes)
	}
	tw.Flush()
	if len(notes) > 0 {
		fmt.Fprintln(w, "\ntargets that do not take this model:")
		for _, n := range notes {
			fmt.Fprintln(w, n)
		}
	}
}

// count renders a large number with a metric suffix ("2.29 G").
func count(n int64) string {
	switch {
	case n >= 1e12:
		return fmt.Sprintf("%.2f T", float64(n)/1e12)
	case n >= 1e9:
		return fmt.Sprintf("%.2f G", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.2f M", float64(n)/1e6)
	case n >= 1e4:
		return fmt.Sprintf("%.1f k", float64(n)/1e3)
	}
	return fmt.Sprint(n)
}
