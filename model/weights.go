package model

import (
	"fmt"

	"github.com/mhcc-dev/mhcc/ir"
)

// A WeightSpec names one tensor the model needs (docs/spec.md §4) and its shape.
type WeightSpec struct {
	Name  string
	Shape []int64
	// Tied marks embed.weight when it is the head as well
	// (tie_embeddings): random weights draw it as the head, a linear weight.
	Tied bool
}

// WeightSpecs lists the tensors m needs, in the order of docs/spec.md §4: embedding
// or input projection, then per layer, then the collapse head and the output.
func WeightSpecs(m *Model) []WeightSpec {
	a, hc := m.Arch, m.HC
	c := int64(a.HiddenSize)
	n := int64(hc.Streams)
	mhc := hc.Kind == HCMHC
	var ws []WeightSpec
	add := func(name string, shape ...int64) { ws = append(ws, WeightSpec{Name: name, Shape: shape}) }
	hcParams := func(prefix string) {
		if !mhc {
			return
		}
		if hc.Dynamic {
			add(prefix+"_fn", n*n+2*n, n*c)
		}
		add(prefix+"_base", n*n+2*n)
		if hc.Dynamic {
			add(prefix+"_scale", 3)
		}
	}
	switch a.Kind {
	case ArchDecoder:
		hd, h, kv, f := int64(a.HeadDim), int64(a.Heads), int64(a.KVHeads), int64(a.FFNHiddenSize)
		add("embed.weight", int64(a.VocabSize), c)
		ws[len(ws)-1].Tied = a.TieEmbeddings
		if a.Positions == PosLearned {
			add("pos_embed.weight", int64(m.Inputs.MaxSequence), c)
		}
		// bias adds a bias tensor when the option on is set.
		bias := func(on bool, name string, size int64) {
			if on {
				add(name, size)
			}
		}
		for i := 0; i < a.Layers; i++ {
			p := fmt.Sprintf("layers.%d.", i)
			add(p+"attn_norm.weight", c)
			bias(a.NormBias, p+"attn_norm.bias", c)
			add(p+"attn.wq.weight", h*hd, c)
			bias(a.QKVBias, p+"attn.wq.bias", h*hd)
			add(p+"attn.wk.weight", kv*hd, c)
			bias(a.QKVBias, p+"attn.wk.bias", kv*hd)
			add(p+"attn.wv.weight", kv*hd, c)
			bias(a.QKVBias, p+"attn.wv.bias", kv*hd)
			add(p+"attn.wo.weight", c, h*hd)
			bias(a.OutBias, p+"attn.wo.bias", c)
			add(p+"ffn_norm.weight", c)
			bias(a.NormBias, p+"ffn_norm.bias", c)
			if m.IsMoELayer(i) {
				moeWeights(&a, c, p, add)
			} else {
				add(p+"ffn.w1.weight", f, c)
				bias(a.MLPBias, p+"ffn.w1.bias", f)
				add(p+"ffn.w2.weight", c, f)
				bias(a.MLPBias, p+"ffn.w2.bias", c)
				if a.Gated() {
					add(p+"ffn.w3.weight", f, c)
					bias(a.MLPBias, p+"ffn.w3.bias", f)
				}
			}
			hcParams(p + "hc_attn")
			hcParams(p + "hc_ffn")
		}
	case ArchMLP:
		f := int64(a.FFNHiddenSize)
		add("in_proj.weight", c, int64(a.InputSize))
		for i := 0; i < a.Layers; i++ {
			p := fmt.Sprintf("layers.%d.", i)
			add(p+"norm.weight", c)
			add(p+"mlp.w1.weight", f, c)
			add(p+"mlp.w2.weight", c, f)
			hcParams(p + "hc")
		}
	}
	if mhc && hc.Collapse == CollapseHead {
		add("hc_head_fn", n, n*c)
		add("hc_head_base", n)
		add("hc_head_scale", 1)
	}
	add("norm.weight", c)
	if a.NormBias {
		add("norm.bias", c)
	}
	if a.Kind == ArchDecoder {
		if !a.TieEmbeddings {
			add("head.weight", int64(a.VocabSize), c)
		}
	} else {
		add("out_proj.weight", int64(a.OutputSize), c)
	}
	return ws
}

// Weights maps tensor names to their data, float32 (f16 and bf16 sources are
// widened exactly).
type Weights map[string]*ir.Tensor

// LoadWeights returns the weights m's weights section names: generated from
// the seed, or read from the safetensors file and checked against
// WeightSpecs. Every missing, unexpected or misshapen tensor is reported.
func LoadWeights(m *Model) (Weights, error) {
	switch m.Weights.Source {
	case WeightsRandom:
		return RandomWeights(m), nil
	case WeightsSafetensors:
		return readSafetensors(m, nil)
	}
	return nil, fmt.Errorf("%v: weights.source: got %q, want random or safetensors", m.WeightsPos, m.Weights.Source)
}

// RandomWeights generates every tensor of WeightSpecs(m) from m.Weights.Seed.
// Each tensor has its own generator seeded by (seed, FNV-1a of its name), so
// a tensor's values do not depend on the others. Scales follow common
// initialisations so the model computes something non-degenerate:
//
//	linear weights [out, in]   U(-1/√in, 1/√in)
//	embed.weight               N(0, 1); tied to the head: as a linear weight [vocab, C]
//	*norm.weight               1 + 0.1·N(0, 1)
//	hc_*_fn [m, nC]            U(-1/√(nC), 1/√(nC))
//	hc_*_base                  N(0, 1)
//	hc_*_scale                 U(0.5, 1.5)
//	*.bias                     0.1·N(0, 1)
//	pos_embed.weight           0.1·N(0, 1)
func RandomWeights(m *Model) Weights {
	w := Weights{}
	for _, s := range WeightSpecs(m) {
		w[s.Name] = randomTensor(m.Weights.Seed, s)
	}
	return w
}
