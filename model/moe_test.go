package model

import (
	"path/filepath"
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
