package model

import "fmt"

// The mixture-of-experts FFN (docs/spec.md §3.1, §5.1 architecture.moe): the
// architecture.moe mapping of a decoder. Absent, every layer has the dense FFN.

// Routers: how the gate's logits become expert scores.
const (
	RouterSoftmax = "softmax"
	RouterSigmoid = "sigmoid"
)

// Bounds of the moe keys.
const (
	maxExperts       = 1024
	maxSharedExperts = 64
	maxRoutedScaling = 100
)

// MoE is the architecture.moe mapping: each layer from DenseLayers on has a
// router over Experts expert MLPs of width ExpertFFN, of which each token
// uses TopK, plus (SharedExperts > 0) one shared MLP of width
// SharedExperts·ExpertFFN that every token uses.
type MoE struct {
	Experts       int     // 2 … 1024
	TopK          int     // experts_per_token, 1 … Experts
	SharedExperts int     // default 0
	ExpertFFN     int     // expert_ffn_hidden_size, default ffn_hidden_size
	Router        string  // RouterSoftmax (default) or RouterSigmoid
	NormalizeTopK bool    // divide the k selected scores by their sum
	RoutedScaling float64 // routed_scaling_factor, default 1
	DenseLayers   int     // the first DenseLayers layers keep the dense FFN
}

// IsMoELayer reports whether layer i of m has the mixture-of-experts FFN.
func (m *Model) IsMoELayer(i int) bool {
	return m.Arch.MoE != nil && i >= m.Arch.MoE.DenseLayers
}

// moe checks architecture.moe (decoder only) and fills Arch.MoE when present.
func (l *loader) moe(arch *section) {
	a := &l.m.Arch
	if a.Kind == ArchMLP {
		arch.forbid("for kind mlp (decoder only)", "moe")
		return
	}
	if arch.absent("moe") {
		return
	}
	s := arch.sub("moe", false)
	if s.dead {
		return
	}
	moe := &MoE{}
	s.require("", "experts", "experts_per_token")
	experts, expOK := s.integer("experts", 2, maxExperts, "")
	moe.Experts = int(experts)
	if k, ok := s.integer("experts_per_token", 1, maxExperts, ""); ok {
		if expOK && k > experts {
			f, _ := s.field("experts_per_token")
			s.errorf(f, "experts_per_token", "got %d, want at most experts (%d)", k, experts)
		}
		moe.TopK = int(k)
	}
	moe.SharedExperts = int(s.intOr("shared_experts", 0, maxSharedExperts, 0))
	moe.ExpertFFN = int(s.intOr("expert_ffn_hidden_size", 1, maxFFN, int64(a.FFNHiddenSize)))
	moe.Router = RouterSoftmax
	if r, ok := s.enum("router", RouterSoftmax, RouterSigmoid); ok {
		moe.Router = r
	}
	moe.NormalizeTopK = s.boolOr("normalize_top_k", false)
	moe.RoutedScaling = s.numberOr("routed_scaling_factor", maxRoutedScaling, 1)
	if d, ok := s.integer("dense_layers", 0, maxLayers, ""); ok {
		if a.Layers > 0 && d > int64(a.Layers) {
			f, _ := s.field("dense_layers")
			s.errorf(f, "dense_layers", "got %d, want at most layers (%d)", d, a.Layers)
		}
		moe.DenseLayers = int(d)
	}
	if moe.SharedExperts > 0 && int64(moe.SharedExperts)*int64(moe.ExpertFFN) > maxFFN {
		f, _ := s.field("shared_experts")
		s.errorf(f, "shared_experts", "got %d, want shared_experts × expert_ffn_hidden_size (%d) at most %d", moe.SharedExperts, moe.ExpertFFN, maxFFN)
	}
	a.MoE = moe
}

// moeWeights appends the FFN tensors of MoE layer prefix p ("layers.3.") to
// add, in the order of docs/spec.md §4.1: the router, each expert's w1, w2,
// w3 (gated activations only), each followed by its bias with mlp_bias (the
// dense FFN's order), then the shared experts' (one MLP of their summed
// width).
func moeWeights(a *Architecture, c int64, p string, add func(name string, shape ...int64)) {
	moe := a.MoE
	mlp := func(q string, f int64) {
		add(q+"w1.weight", f, c)
		if a.MLPBias {
			add(q+"w1.bias", f)
		}
		add(q+"w2.weight", c, f)
		if a.MLPBias {
			add(q+"w2.bias", c)
		}
		if a.Gated() {
			add(q+"w3.weight", f, c)
			if a.MLPBias {
				add(q+"w3.bias", f)
			}
		}
	}
	f := int64(moe.ExpertFFN)
	add(p+"ffn.gate.weight", int64(moe.Experts), c)
	for e := 0; e < moe.Experts; e++ {
		mlp(fmt.Sprintf("%sffn.experts.%d.", p, e), f)
	}
	if moe.SharedExperts > 0 {
		mlp(p+"ffn.shared_experts.", int64(moe.SharedExperts)*f)
	}
}

// ffnParams is the parameter count of layer i's FFN (without its norm) and
// the part of it one token uses: all of a dense FFN; the router, k experts
// and the shared experts of an MoE one. (inspect counts the same from
// WeightSpecs.)
func ffnParams(m *Model, i int) (total, active float64) {
	a := m.Arch
	c := float64(a.HiddenSize)
	// mlp is the parameter count of one MLP of width f.
	mlp := func(f float64) float64 {
		proj := 3.0 // w1, w2, w3
		if !a.Gated() {
			proj = 2
		}
		p := proj * f * c
		if a.MLPBias {
			p += (proj-1)*f + c
		}
		return p
	}
	if !m.IsMoELayer(i) {
		p := mlp(float64(a.FFNHiddenSize))
		return p, p
	}
	moe := a.MoE
	expert := mlp(float64(moe.ExpertFFN))
	fixed := float64(moe.Experts) * c
	if moe.SharedExperts > 0 {
		fixed += mlp(float64(moe.SharedExperts * moe.ExpertFFN))
	}
	return fixed + float64(moe.Experts)*expert, fixed + float64(moe.TopK)*expert
}
