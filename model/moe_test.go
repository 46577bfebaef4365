package model

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// A DeepSeek-V3-style config.json imports (mhcc import, hfconfig.go) to a
// model file whose architecture.moe the loader takes with exactly the
// config's routing, and whose MoE layers have the experts' tensors.
func TestImportMoELoads(t *testing.T) {
	imp, err := ImportHFConfig("config.json", []byte(`{"model_type": "deepseek_v3", "vocab_size": 1000, "hidden_size": 64,
		"num_hidden_layers": 3, "num_attention_heads": 4, "num_key_value_heads": 4, "intermediate_size": 256,
		"moe_intermediate_size": 32, "n_routed_experts": 8, "num_experts_per_tok": 2, "n_shared_experts": 1,
		"scoring_func": "sigmoid", "norm_topk_prob": true, "routed_scaling_factor": 2.5, "first_k_dense_replace": 1,
		"rms_norm_eps": 1e-06, "max_position_embeddings": 64}`), ImportOptions{Name: "m", HC: HCMHC})
	if err != nil {
		t.Fatal(err)
	}
	m, err := LoadBytes(filepath.Join(t.TempDir(), "m.yaml"), imp.YAML)
	if err != nil {
		t.Fatalf("%v\n%s", err, imp.YAML)
	}
	want := MoE{Experts: 8, TopK: 2, SharedExperts: 1, ExpertFFN: 32, Router: RouterSigmoid, NormalizeTopK: true, RoutedScaling: 2.5, DenseLayers: 1}
	if m.Arch.MoE == nil || *m.Arch.MoE != want {
		t.Fatalf("Arch.MoE = %+v, want %+v\n%s", m.Arch.MoE, want, imp.YAML)
	}
	names := map[string][]int64{}
	for _, s := range WeightSpecs(m) {
		names[s.Name] = s.Shape
	}
	for name, shape := range map[string][]int64{
		"layers.0.ffn.w1.weight":                {256, 64},
		"layers.1.ffn.gate.weight":              {8, 64},
		"layers.2.ffn.experts.7.w2.weight":      {64, 32},
		"layers.2.ffn.shared_experts.w3.weight": {32, 64},
	} {
		if got := names[name]; len(got) != 2 || got[0] != shape[0] || got[1] != shape[1] {
			t.Errorf("%s: shape %v, want %v", name, got, shape)
		}
	}
	if _, ok := names["layers.1.ffn.w1.weight"]; ok {
		t.Error("an MoE layer has the dense layers.1.ffn.w1.weight")
	}
}

// The parameter count the loader's size guard uses (approxParams, with
// ffnParams for the FFN) differs from the sum of WeightSpecs' tensors by
// the same amount (its mHC terms are approximate) whether the layers'
// FFNs are dense or MoE, for every activation, with and without mlp_bias,
// shared experts and dense layers; and the experts have w3 only when gated
// and biases only with mlp_bias.
func TestMoEParamsMatchWeightSpecs(t *testing.T) {
	// count loads the model and returns WeightSpecs' sum, approxParams and
	// the number of expert w3 tensors and expert biases.
	count := func(act string, bias bool, moe string) (sum int64, approx float64, w3, biases int) {
		t.Helper()
		src := fmt.Sprintf("format: 1\narchitecture: {kind: decoder, vocab_size: 11, hidden_size: 12, layers: 2, heads: 2, ffn_hidden_size: 20, activation: %s, mlp_bias: %v%s}\nhyper_connections: {kind: mhc, streams: 2}\nweights: {source: random}\n", act, bias, moe)
		m, err := LoadBytes("m.yaml", []byte(src))
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		for _, s := range WeightSpecs(m) {
			n := int64(1)
			for _, d := range s.Shape {
				n *= d
			}
			sum += n
			if strings.Contains(s.Name, "experts") && strings.HasSuffix(s.Name, ".w3.weight") {
				w3++
			}
			if strings.Contains(s.Name, "experts") && strings.HasSuffix(s.Name, ".bias") {
				biases++
			}
		}
		return sum, approxParams(m), w3, biases
	}
	for _, act := range []string{ActSwiGLU, ActGeGLU, ActGELU, ActGELUTanh, ActReLU2} {
		for _, bias := range []bool{false, true} {
			dSum, dApprox, _, _ := count(act, bias, "")
			for _, moe := range []string{", moe: {experts: 3, experts_per_token: 2}", ", moe: {experts: 4, experts_per_token: 1, shared_experts: 2, expert_ffn_hidden_size: 5, dense_layers: 1}"} {
				sum, approx, w3, biases := count(act, bias, moe)
				if float64(sum)-approx != float64(dSum)-dApprox {
					t.Errorf("%s, mlp_bias %v%s: WeightSpecs %d − approxParams %g, dense %d − %g", act, bias, moe, sum, approx, dSum, dApprox)
				}
				if gated, _ := map[string]bool{ActSwiGLU: true, ActGeGLU: true}[act]; (w3 > 0) != gated || (biases > 0) != bias {
					t.Errorf("%s, mlp_bias %v%s: %d expert w3, %d expert biases", act, bias, moe, w3, biases)
				}
			}
		}
	}
}
