// Package inspect is mhcc's cost model: for a model file, without its
// weights, the parameter count, FLOPs per token, activation memory and the
// residual-stream memory traffic of plain residuals, unfused
// hyper-connections and (measured by running a one-layer twin in the Go
// runtime) the graphs mhcc writes for each target. mhcc inspect prints it.
package inspect

import (
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/mhcc-dev/mhcc/compile"
	"github.com/mhcc-dev/mhcc/lower"
	"github.com/mhcc-dev/mhcc/model"
	"github.com/mhcc-dev/mhcc/onnx/meta"
	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
	mhrt "github.com/mhcc-dev/mhcc/runtime"
)

// A Report is what Inspect found (mhcc inspect prints it, or writes it as
// JSON with --json); the JSON field names are stable.
type Report struct {
	Model       string      `json:"model"`
	File        string      `json:"file"`
	Streams     int         `json:"streams"` // n (1 for a plain residual)
	Hidden      int         `json:"hidden"`  // C
	Layers      int         `json:"layers"`
	Sublayers   int         `json:"sublayers"`
	Params      Params      `json:"params"`
	WeightBytes int64       `json:"weight_bytes"` // float32, as written
	Sequence    int         `json:"sequence"`     // for flops and activations
	FLOPs       FLOPs       `json:"flops_per_token"`
	Activations Activations `json:"activation_bytes"`
	Traffic     struct {
		Unit      string     `json:"unit"` // "elements per token per sublayer"
		Residual  RW         `json:"plain_residual"`
		HCUnfused *RW        `json:"hc_unfused,omitempty"` // the paper's formula; nil for a residual model
		Targets   []TargetRW `json:"mhcc"`
	} `json:"residual_stream_traffic"`
	Targets []TargetNodes `json:"targets"`
}

// Params counts parameters: all, the mHC ones (the hc_* tensors), and
// those one token uses (Active): with a mixture of experts, the routed
// experts count k/E of theirs (each token uses k of E equal experts);
// otherwise Active is Total.
type Params struct {
	Total    int64   `json:"total"`
	MHC      int64   `json:"mhc"`
	MHCShare float64 `json:"mhc_share"`
	Active   int64   `json:"active"`
}

// FLOPs counts floating-point operations per token: all, and mHC's.
type FLOPs struct {
	Total    int64   `json:"total"`
	MHC      int64   `json:"mhc"`
	MHCShare float64 `json:"mhc_share"`
}

// Activations are activation memory sizes in bytes (float32, batch 1).
type Activations struct {
	StatePerToken int64 `json:"state_per_token"`
	State         int64 `json:"state"`
	KVCache       int64 `json:"kv_cache"`
	PeakTransient int64 `json:"peak_transient"`
}

// RW counts the elements read and written.
type RW struct {
	Reads  int64 `json:"reads"`
	Writes int64 `json:"writes"`
}

// TargetRW is the residual-stream traffic measured for one target; Error
// says why there is none.
type TargetRW struct {
	Target string `json:"target"`
	RW
	Error string `json:"error,omitempty"`
}

// TargetNodes are the IR and ONNX node counts for one target; Error says
// why there are none.
type TargetNodes struct {
	Target    string `json:"target"`
	IRNodes   int    `json:"ir_nodes"`
	ONNXNodes int    `json:"onnx_nodes"`
	Error     string `json:"error,omitempty"`
}

// Inspect loads the model file at path (without its weights) and reports
// its costs at the given sequence length (0: the model's
// inputs.max_sequence; 1 for an mlp). It compiles the model for every
// built-in target to count nodes and measure residual-stream traffic; a
// target that refuses the model gets an Error in its rows, not a failure.
func Inspect(path string, sequence int) (*Report, error) {
	m, err := model.Load(path)
	if err != nil {
		return nil, err
	}
	a, hc := m.Arch, m.HC
	n := 1
	if hc.Kind == model.HCMHC {
		n = hc.Streams
	}
	if sequence <= 0 {
		sequence = m.Inputs.MaxSequence
		if a.Kind == model.ArchMLP {
			sequence = 1
		}
	}
	r := &Report{Model: m.Name, File: path, Streams: n, Hidden: a.HiddenSize, Layers: a.Layers, Sequence: sequence, WeightBytes: model.WeightBytes(m)}
	r.Sublayers = a.Layers
	if a.Kind == model.ArchDecoder {
		r.Sublayers = 2 * a.Layers
	}
	for _, s := range model.WeightSpecs(m) {
		k := int64(1)
		for _, d := range s.Shape {
			k *= d
		}
		r.Params.Total += k
		if strings.Contains(s.Name, "hc_") {
			r.Params.MHC += k
		}
		r.Params.Active += k
		if moe := a.MoE; moe != nil && strings.Contains(s.Name, ".ffn.experts.") {
			r.Params.Active -= k * int64(moe.Experts-moe.TopK) / int64(moe.Experts)
		}
	}
	r.Params.MHCShare = float64(r.Params.MHC) / float64(r.Params.Total)
	r.FLOPs = CountFLOPs(m, sequence)
	r.Activations = ActivationBytes(m, sequence)

	c := int64(a.HiddenSize)
	nn := int64(n)
	r.Traffic.Unit = "elements per token per sublayer"
	r.Traffic.Residual = RW{Reads: 2 * c, Writes: c}
	if hc.Kind == model.HCMHC {
		r.Traffic.HCUnfused = &RW{Reads: (5*nn+1)*c + nn*nn + 2*nn, Writes: (3*nn+1)*c + nn*nn + 2*nn}
	}
	for _, t := range compile.Targets {
		opts := compile.Options{Target: t, External: compile.ExternalAlways, DataLocation: "inspect.onnx.data"}
		tn := TargetNodes{Target: t}
		if res, err := compile.Compile(path, opts); err != nil {
			tn.Error = err.Error()
		} else {
			var mp onnxpb.ModelProto
			if err := proto.Unmarshal(res.ONNX, &mp); err != nil {
				tn.Error = err.Error()
			}
			tn.IRNodes, tn.ONNXNodes = len(res.Graph.Nodes), len(mp.GetGraph().GetNode())
		}
		r.Targets = append(r.Targets, tn)
		tr := TargetRW{Target: t}
		if x, err := MeasureTraffic(m, t); err != nil {
			tr.Error = err.Error()
		} else {
			tr.RW = x
		}
		r.Traffic.Targets = append(r.Traffic.Targets, tr)
	}
	return r, nil
}

// CountFLOPs counts one token's forward pass at sequence length s. Matrix
// products are exact (2 per multiply-add); element-wise work is counted as
// one FLOP per element and operation (exp, sigmoid, rsqrt included), so
// those terms are estimates.
func CountFLOPs(m *model.Model, s int) FLOPs {
	a, hc := m.Arch, m.HC
	c, f := int64(a.HiddenSize), int64(a.FFNHiddenSize)
	var total, mhc int64
	norm := 4 * c
	sub := func() int64 { // one mHC (or residual) wrapper around a sublayer
		if hc.Kind != model.HCMHC {
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
	case model.ArchDecoder:
		h, kv, hd := int64(a.Heads), int64(a.KVHeads), int64(a.HeadDim)
		ctx := int64(s+1) / 2
		attn := norm + 2*c*h*hd + 2*2*c*kv*hd + 2*h*hd*c // projections
		attn += 6 * (h + kv) * hd                        // RoPE
		attn += 2*h*hd*ctx + 5*h*ctx + 2*h*hd*ctx        // scores, softmax, weighted values
		ffn := norm + 3*2*c*f + 5*f
		total = int64(a.Layers) * attn
		for i := 0; i < a.Layers; i++ {
			if m.IsMoELayer(i) {
				total += norm + moeFLOPs(a.MoE, c)
			} else {
				total += ffn
			}
		}
		mhc = int64(a.Layers) * 2 * sub()
		total += 2*c*int64(a.VocabSize) + norm
	case model.ArchMLP:
		ffn := norm + 2*2*c*f + 4*f
		total = 2*int64(a.InputSize)*c + int64(a.Layers)*ffn + norm + 2*c*int64(a.OutputSize)
		mhc = int64(a.Layers) * sub()
	}
	if hc.Kind == model.HCMHC {
		n := int64(hc.Streams)
		switch hc.Collapse {
		case model.CollapseHead:
			mhc += 2*n*c + 2*n*c*n + 4*n + 2*n*c
		default:
			mhc += n * c
		}
		total += mhc
	} else {
		total += mhc // the residual adds
		mhc = 0
	}
	return FLOPs{Total: total, MHC: mhc, MHCShare: float64(mhc) / float64(total)}
}

// moeFLOPs counts one token's mixture-of-experts FFN: the router (its
// product and the scores), the k experts it is routed to, the shared MLP
// and the weighted sum.
func moeFLOPs(moe *model.MoE, c int64) int64 {
	e, k, f := int64(moe.Experts), int64(moe.TopK), int64(moe.ExpertFFN)
	sf := int64(moe.SharedExperts) * f
	x := 2*c*e + 3*e       // router product, scores
	x += k * (6*c*f + 5*f) // the chosen experts (SwiGLU)
	if sf > 0 {
		x += 6*c*sf + 5*sf + c
	}
	return x + 2*k*c // Σ w·expert
}

// ActivationBytes estimates float32 activation memory for batch 1.
func ActivationBytes(m *model.Model, s int) Activations {
	a, hc := m.Arch, m.HC
	n := int64(1)
	if hc.Kind == model.HCMHC {
		n = int64(hc.Streams)
	}
	c := int64(a.HiddenSize)
	x := Activations{StatePerToken: 4 * n * c}
	x.State = x.StatePerToken * int64(s)
	if a.Kind == model.ArchDecoder {
		S := int64(s)
		x.KVCache = 4 * 2 * int64(a.Layers) * int64(a.KVHeads) * int64(a.HeadDim) * S
		x.PeakTransient = max(4*int64(a.Heads)*S*S, 4*2*S*int64(a.FFNHiddenSize), 4*S*int64(a.VocabSize))
	} else {
		x.PeakTransient = 4 * max(int64(a.FFNHiddenSize), int64(a.OutputSize))
	}
	return x
}

// MeasureTraffic compiles a two-layer model with m's C, n and mHC settings
// for target, runs it with the Go runtime at two sequence lengths (batches
// for the mlp), and sums the per-token growth of every non-constant tensor
// read or written by the ONNX nodes of the second sublayer's mHC (or
// residual) nodes: the IR nodes placed at the hyper_connections section.
// The second sublayer is the typical one: the first reads the embedding
// (in the fused target one HCEntry, which reads C values per token) and
// the last has its post-mix in the head.
func MeasureTraffic(m *model.Model, target string) (RW, error) {
	mini := *m
	mini.Arch.Layers = 2
	mini.Arch.MoE = nil // the sublayer's mHC is measured; experts would only cost time
	mini.Weights = model.WeightsSpec{Source: model.WeightsRandom, Seed: 1}
	sub := "layers.1.mlp"
	if mini.Arch.Kind == model.ArchDecoder {
		mini.Arch.VocabSize, mini.Arch.Heads, mini.Arch.KVHeads, mini.Arch.HeadDim, mini.Arch.FFNHiddenSize = 16, 1, 1, 8, 8
		mini.Inputs = model.InputsSpec{MaxSequence: 4}
		sub = "layers.0.ffn"
	} else {
		mini.Arch.InputSize, mini.Arch.OutputSize, mini.Arch.FFNHiddenSize = 4, 4, 8
		mini.Inputs.Batch = 0
	}
	// The residual add is measured on its own: fused with the next norm
	// (fuse_add_rmsnorm) its traffic would merge with the norm's, which is
	// the sublayer's, not the residual stream's.
	res, err := compile.CompileModel(&mini, model.RandomWeights(&mini), compile.Options{Target: target, Disabled: map[string]bool{"fuse_add_rmsnorm": true}})
	if err != nil {
		return RW{}, err
	}
	var mp onnxpb.ModelProto
	if err := proto.Unmarshal(res.ONNX, &mp); err != nil {
		return RW{}, err
	}
	// The second sublayer as the exporter recorded it (mhcc.sublayers);
	// the name guessed above when the metadata is missing.
	for _, p := range mp.GetMetadataProps() {
		if p.GetKey() == meta.SublayersKey {
			if subs, err := meta.Decode(p.GetValue()); err == nil && len(subs) > 1 {
				sub = subs[1].Name
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
		return RW{}, fmt.Errorf("no mHC nodes found for %s", sub)
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
		return RW{}, err
	}
	sizes := func(tokens int) (map[string]int64, error) {
		in := map[string]*mhrt.Tensor{}
		if mini.Arch.Kind == model.ArchDecoder {
			in[lower.InputIDs] = mhrt.NewInt64([]int64{1, int64(tokens)}, make([]int64, tokens))
		} else {
			in[lower.MLPInput] = mhrt.NewFloat32([]int64{int64(tokens), int64(mini.Arch.InputSize)}, make([]float32, tokens*mini.Arch.InputSize))
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
		return RW{}, err
	}
	s2, err := sizes(2)
	if err != nil {
		return RW{}, err
	}
	var x RW
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
