package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	"github.com/mhcc-dev/mhcc/export/onnxpb"
	"github.com/mhcc-dev/mhcc/internal/build"
	"github.com/mhcc-dev/mhcc/ir"
	"github.com/mhcc-dev/mhcc/lower"
	mhrt "github.com/mhcc-dev/mhcc/runtime"
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
  - IR and ONNX node counts for every target (build.Targets).

A table for people, or --json for tools.`,
		Example: `  mhcc inspect bench/models/paper-27b.yaml
  mhcc inspect testdata/models/tiny-mhc.yaml --json | jq .params`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rep, err := inspect(args[0], sequence)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			rep.print(cmd.OutOrStdout())
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	cmd.Flags().IntVar(&sequence, "sequence", 0, "sequence length for FLOPs and activation memory (default: the model's inputs.max_sequence)")
	return cmd
}

// An inspectReport is mhcc inspect's output; the JSON field names are stable.
type inspectReport struct {
	Model       string `json:"model"`
	File        string `json:"file"`
	Streams     int    `json:"streams"` // n (1 for a plain residual)
	Hidden      int    `json:"hidden"`  // C
	Layers      int    `json:"layers"`
	Sublayers   int    `json:"sublayers"`
	Params      params `json:"params"`
	WeightBytes int64  `json:"weight_bytes"` // float32, as written
	Sequence    int    `json:"sequence"`     // for flops and activations
	FLOPs       flops  `json:"flops_per_token"`
	Activations acts   `json:"activation_bytes"`
	Traffic     struct {
		Unit      string     `json:"unit"` // "elements per token per sublayer"
		Residual  rw         `json:"plain_residual"`
		HCUnfused *rw        `json:"hc_unfused,omitempty"` // the paper's formula; nil for a residual model
		Targets   []targetRW `json:"mhcc"`
	} `json:"residual_stream_traffic"`
	Targets []targetNodes `json:"targets"`
}

type params struct {
	Total    int64   `json:"total"`
	MHC      int64   `json:"mhc"`
	MHCShare float64 `json:"mhc_share"`
}

type flops struct {
	Total    int64   `json:"total"`
	MHC      int64   `json:"mhc"`
	MHCShare float64 `json:"mhc_share"`
}

type acts struct {
	StatePerToken int64 `json:"state_per_token"`
	State         int64 `json:"state"`
	KVCache       int64 `json:"kv_cache"`
	PeakTransient int64 `json:"peak_transient"`
}

type rw struct {
	Reads  int64 `json:"reads"`
	Writes int64 `json:"writes"`
}

type targetRW struct {
	Target string `json:"target"`
	rw
	Error string `json:"error,omitempty"`
}

type targetNodes struct {
	Target    string `json:"target"`
	IRNodes   int    `json:"ir_nodes"`
	ONNXNodes int    `json:"onnx_nodes"`
	Error     string `json:"error,omitempty"`
}

func inspect(path string, sequence int) (*inspectReport, error) {
	m, err := ir.Load(path)
	if err != nil {
		return nil, err
	}
	a, hc := m.Arch, m.HC
	n := 1
	if hc.Kind == ir.HCMHC {
		n = hc.Streams
	}
	if sequence <= 0 {
		sequence = m.Inputs.MaxSequence
		if a.Kind == ir.ArchMLP {
			sequence = 1
		}
	}
	r := &inspectReport{Model: m.Name, File: path, Streams: n, Hidden: a.HiddenSize, Layers: a.Layers, Sequence: sequence, WeightBytes: ir.WeightBytes(m)}
	r.Sublayers = a.Layers
	if a.Kind == ir.ArchDecoder {
		r.Sublayers = 2 * a.Layers
	}
	for _, s := range ir.WeightSpecs(m) {
		k := int64(1)
		for _, d := range s.Shape {
			k *= d
		}
		r.Params.Total += k
		if strings.Contains(s.Name, "hc_") {
			r.Params.MHC += k
		}
	}
	r.Params.MHCShare = float64(r.Params.MHC) / float64(r.Params.Total)
	r.FLOPs = countFLOPs(m, sequence)
	r.Activations = activations(m, sequence)

	c := int64(a.HiddenSize)
	nn := int64(n)
	r.Traffic.Unit = "elements per token per sublayer"
	r.Traffic.Residual = rw{Reads: 2 * c, Writes: c}
	if hc.Kind == ir.HCMHC {
		r.Traffic.HCUnfused = &rw{Reads: (5*nn+1)*c + nn*nn + 2*nn, Writes: (3*nn+1)*c + nn*nn + 2*nn}
	}
	for _, t := range build.Targets {
		opts := build.Options{Target: t, External: build.ExternalAlways, DataLocation: "inspect.onnx.data"}
		tn := targetNodes{Target: t}
		if res, err := build.Compile(path, opts); err != nil {
			tn.Error = err.Error()
		} else {
			var mp onnxpb.ModelProto
			if err := proto.Unmarshal(res.ONNX, &mp); err != nil {
				tn.Error = err.Error()
			}
			tn.IRNodes, tn.ONNXNodes = len(res.Graph.Nodes), len(mp.GetGraph().GetNode())
		}
		r.Targets = append(r.Targets, tn)
		tr := targetRW{Target: t}
		if x, err := measureTraffic(m, t); err != nil {
			tr.Error = err.Error()
		} else {
			tr.rw = x
		}
		r.Traffic.Targets = append(r.Traffic.Targets, tr)
	}
	return r, nil
}

// countFLOPs counts one token's forward pass at sequence length s. Matrix
// products are exact (2 per multiply-add); element-wise work is counted as
// one FLOP per element and operation (exp, sigmoid, rsqrt included), so
// those terms are estimates.
func countFLOPs(m *ir.Model, s int) flops {
	a, hc := m.Arch, m.HC
	c, f := int64(a.HiddenSize), int64(a.FFNHiddenSize)
	var total, mhc int64
	norm := 4 * c
	sub := func() int64 { // one mHC (or residual) wrapper around a sublayer
		if hc.Kind != ir.HCMHC {
			return c // x + F(x)
		}
		n := int64(hc.Streams)
		k := n*n + 2*n
		x := int64(0)
		x += 2*n*c + 2 // RMS over n·C
		if hc.Dynamic {
			x += 2*n*c*k + 2*k // projection, scale and r
		}
		x += k + 4*2*n                        // base, sigmoids of pre and post
		x += 3*n*n + 2*n*n                    // softmax and eps
		x += int64(hc.Iterations) * 4 * n * n // Sinkhorn row/column sums and divisions
		x += 2 * n * c                        // collapse Σ pre_i x_i
		x += 2*n*n*c + 2*n*c                  // mix: Σ_j comb_jk x_j + post_k y
		return x
	}
	switch a.Kind {
	case ir.ArchDecoder:
		h, kv, hd := int64(a.Heads), int64(a.KVHeads), int64(a.HeadDim)
		ctx := int64(s+1) / 2
		attn := norm + 2*c*h*hd + 2*2*c*kv*hd + 2*h*hd*c // projections
		attn += 6 * (h + kv) * hd                        // RoPE
		attn += 2*h*hd*ctx + 5*h*ctx + 2*h*hd*ctx        // scores, softmax, weighted values
		ffn := norm + 3*2*c*f + 5*f
		total = int64(a.Layers) * (attn + ffn)
		mhc = int64(a.Layers) * 2 * sub()
		total += 2*c*int64(a.VocabSize) + norm
	case ir.ArchMLP:
		ffn := norm + 2*2*c*f + 4*f
		total = 2*int64(a.InputSize)*c + int64(a.Layers)*ffn + norm + 2*c*int64(a.OutputSize)
		mhc = int64(a.Layers) * sub()
	}
	if hc.Kind == ir.HCMHC {
		n := int64(hc.Streams)
		switch hc.Collapse {
		case ir.CollapseHead:
			mhc += 2*n*c + 2*n*c*n + 4*n + 2*n*c
		default:
			mhc += n * c
		}
		total += mhc
	} else {
		total += mhc // the residual adds
		mhc = 0
	}
	return flops{Total: total, MHC: mhc, MHCShare: float64(mhc) / float64(total)}
}

// activations estimates float32 activation memory for batch 1.
func activations(m *ir.Model, s int) acts {
	a, hc := m.Arch, m.HC
	n := int64(1)
	if hc.Kind == ir.HCMHC {
		n = int64(hc.Streams)
	}
	c := int64(a.HiddenSize)
	x := acts{StatePerToken: 4 * n * c}
	x.State = x.StatePerToken * int64(s)
	if a.Kind == ir.ArchDecoder {
		S := int64(s)
		x.KVCache = 4 * 2 * int64(a.Layers) * int64(a.KVHeads) * int64(a.HeadDim) * S
		x.PeakTransient = max(4*int64(a.Heads)*S*S, 4*2*S*int64(a.FFNHiddenSize), 4*S*int64(a.VocabSize))
	} else {
		x.PeakTransient = 4 * max(int64(a.FFNHiddenSize), int64(a.OutputSize))
	}
	return x
}

// measureTraffic compiles a one-layer model with m's C, n and mHC settings
// for target, runs it with the Go runtime at two sequence lengths (batches
// for the mlp), and sums the per-token growth of every non-constant tensor
// read or written by the ONNX nodes of the first sublayer's mHC (or
// residual) nodes: the IR nodes placed at the hyper_connections section.
func measureTraffic(m *ir.Model, target string) (rw, error) {
	mini := *m
	mini.Arch.Layers = 1
	mini.Weights = ir.WeightsSpec{Source: ir.WeightsRandom, Seed: 1}
	sub := "layers.0.mlp"
	if mini.Arch.Kind == ir.ArchDecoder {
		mini.Arch.VocabSize, mini.Arch.Heads, mini.Arch.KVHeads, mini.Arch.HeadDim, mini.Arch.FFNHiddenSize = 16, 1, 1, 8, 8
		mini.Inputs = ir.InputsSpec{MaxSequence: 4}
		sub = "layers.0.attn"
	} else {
		mini.Arch.InputSize, mini.Arch.OutputSize, mini.Arch.FFNHiddenSize = 4, 4, 8
		mini.Inputs.Batch = 0
	}
	// The residual add is measured on its own: fused with the next norm
	// (fuse_add_rmsnorm) its traffic would merge with the norm's, which is
	// the sublayer's, not the residual stream's.
	res, err := build.CompileModel(&mini, ir.RandomWeights(&mini), build.Options{Target: target, Disabled: map[string]bool{"fuse_add_rmsnorm": true}})
	if err != nil {
		return rw{}, err
	}
	var mp onnxpb.ModelProto
	if err := proto.Unmarshal(res.ONNX, &mp); err != nil {
		return rw{}, err
	}
	// The first sublayer as the exporter recorded it (mhcc.sublayers);
	// the name guessed above when the metadata is missing.
	for _, p := range mp.GetMetadataProps() {
		if p.GetKey() == lower.SublayersKey {
			if subs, err := lower.DecodeSublayers(p.GetValue()); err == nil && len(subs) > 0 {
				sub = subs[0].Name
			}
		}
	}
	owners := map[string]bool{}
	for _, nd := range res.Graph.Nodes {
		if nd.Pos == m.HCPos && strings.HasPrefix(nd.Name, sub+".") {
			owners[nd.Name] = true
		}
	}
	if len(owners) == 0 {
		return rw{}, fmt.Errorf("no mHC nodes found for %s", sub)
	}
	var nodes []*onnxpb.NodeProto
	var names []string
	for _, nd := range mp.GetGraph().GetNode() {
		owner, _, _ := strings.Cut(nd.GetName(), "/")
		if owners[owner] {
			nodes = append(nodes, nd)
		}
		for _, o := range nd.GetOutput() {
			if o != "" {
				names = append(names, o)
			}
		}
	}
	rt, err := mhrt.Decode(res.ONNX)
	if err != nil {
		return rw{}, err
	}
	sizes := func(tokens int) (map[string]int64, error) {
		in := map[string]*mhrt.Tensor{}
		if mini.Arch.Kind == ir.ArchDecoder {
			in["input_ids"] = mhrt.NewInt64([]int64{1, int64(tokens)}, make([]int64, tokens))
		} else {
			in["x"] = mhrt.NewFloat32([]int64{int64(tokens), int64(mini.Arch.InputSize)}, make([]float32, tokens*mini.Arch.InputSize))
		}
		out, err := rt.RunWith(in, mhrt.RunOptions{Outputs: names})
		if err != nil {
			return nil, err
		}
		s := map[string]int64{}
		for k, v := range out {
			s[k] = int64(v.Len())
		}
		return s, nil
	}
	s1, err := sizes(1)
	if err != nil {
		return rw{}, err
	}
	s2, err := sizes(2)
	if err != nil {
		return rw{}, err
	}
	var x rw
	for _, nd := range nodes {
		for _, v := range nd.GetInput() {
			x.Reads += s2[v] - s1[v] // 0 for initializers and constants
		}
		for _, v := range nd.GetOutput() {
			x.Writes += s2[v] - s1[v]
		}
	}
	return x, nil
}

func (r *inspectReport) print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	p := func(format string, args ...any) { fmt.Fprintf(tw, format+"\n", args...) }
	p("model\t%s (%s)", r.Model, r.File)
	p("shape\t%d layers, C = %d, n = %d streams", r.Layers, r.Hidden, r.Streams)
	p("parameters\t%s (mHC: %s, %.3f%%)", count(r.Params.Total), count(r.Params.MHC), 100*r.Params.MHCShare)
	p("weights\t%s as float32", bytesString(r.WeightBytes))
	p("FLOPs per token\t%s at sequence %d (mHC: %s, %.2f%%)", count(r.FLOPs.Total), r.Sequence, count(r.FLOPs.MHC), 100*r.FLOPs.MHCShare)
	p("activations\tstate %s per token; at sequence %d: state %s, KV cache %s, largest transient %s", bytesString(r.Activations.StatePerToken), r.Sequence,
		bytesString(r.Activations.State), bytesString(r.Activations.KVCache), bytesString(r.Activations.PeakTransient))
	tw.Flush()
	fmt.Fprintf(w, "\nresidual-stream traffic, %s (C = %d, n = %d):\n", r.Traffic.Unit, r.Hidden, r.Streams)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	c := float64(r.Hidden)
	fmt.Fprintln(tw, "\treads\twrites\treads/C\twrites/C\t")
	row := func(name string, x rw) {
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
		row("mhcc --target "+t.Target, t.rw)
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
