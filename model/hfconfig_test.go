package model

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Each family's config.json becomes the model-file keys of docs/spec.md
// §5.1, the architecture options included, written only when not the default;
// every key not carried over is listed.
func TestImportHFConfig(t *testing.T) {
	tests := []struct {
		name, json string
		want       []string // lines of the YAML
		unknown    []string
		unsupport  []string
	}{
		{"llama", `{"model_type": "llama", "vocab_size": 97, "hidden_size": 32, "num_hidden_layers": 2,
			"num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 64, "rms_norm_eps": 1e-05,
			"rope_theta": 500000.0, "max_position_embeddings": 128, "hidden_act": "silu", "tie_word_embeddings": false,
			"attention_bias": false, "bos_token_id": 1, "eos_token_id": [2, 3], "torch_dtype": "bfloat16",
			"rope_scaling": null, "my_key": 1}`,
			[]string{"  kind: decoder", "  vocab_size: 97", "  hidden_size: 32", "  layers: 2", "  heads: 4", "  kv_heads: 2",
				"  ffn_hidden_size: 64", "  norm_eps: 1.0e-05", "  rope_theta: 500000.0", "  kind: mhc", "  streams: 4",
				"  names: {preset: hf-llama}", "  max_sequence: 128", "  bos_token_id: 1", "  eos_token_id: 2"},
			[]string{"my_key"}, nil},
		{"qwen2", `{"model_type": "qwen2", "vocab_size": 151936, "hidden_size": 896, "num_hidden_layers": 24,
			"num_attention_heads": 14, "num_key_value_heads": 2, "intermediate_size": 4864, "rms_norm_eps": 1e-06,
			"rope_theta": 1000000.0, "max_position_embeddings": 32768, "hidden_act": "silu", "tie_word_embeddings": true,
			"sliding_window": 32768, "use_sliding_window": false, "max_window_layers": 21,
			"rope_scaling": {"type": "yarn", "factor": 4.0}}`,
			[]string{"  kv_heads: 2", "  rope_theta: 1000000.0", "  tie_embeddings: true", "  qkv_bias: true"},
			nil, []string{`rope_scaling = {"type": "yarn", "factor": 4.0}`}},
		{"gpt2", `{"model_type": "gpt2", "vocab_size": 50257, "n_embd": 768, "n_layer": 12, "n_head": 12,
			"n_positions": 1024, "n_inner": null, "layer_norm_epsilon": 1e-05, "activation_function": "gelu_new",
			"resid_pdrop": 0.1, "bos_token_id": 50256, "eos_token_id": 50256}`,
			[]string{"  hidden_size: 768", "  layers: 12", "  heads: 12", "  ffn_hidden_size: 3072", "  norm: layernorm",
				"  norm_bias: true", "  activation: gelu_tanh", "  positions: learned", "  tie_embeddings: true",
				"  qkv_bias: true", "  out_bias: true", "  mlp_bias: true", "  names: {preset: hf-gpt2}", "  max_sequence: 1024"},
			nil, nil},
		{"deepseek", `{"model_type": "deepseek_v3", "vocab_size": 1000, "hidden_size": 64, "num_hidden_layers": 4,
			"num_attention_heads": 4, "num_key_value_heads": 4, "intermediate_size": 256, "moe_intermediate_size": 32,
			"n_routed_experts": 8, "num_experts_per_tok": 2, "n_shared_experts": 1, "scoring_func": "sigmoid",
			"norm_topk_prob": true, "routed_scaling_factor": 2.5, "first_k_dense_replace": 1, "rms_norm_eps": 1e-06,
			"hc_mult": 4, "hc_sinkhorn_iters": 20, "hc_eps": 1e-06, "q_lora_rank": 1536, "topk_method": "noaux_tc"}`,
			[]string{"  moe:", "    experts: 8", "    experts_per_token: 2", "    shared_experts: 1",
				"    expert_ffn_hidden_size: 32", "    router: sigmoid", "    normalize_top_k: true",
				"    routed_scaling_factor: 2.5", "    dense_layers: 1", "  streams: 4", "  sinkhorn_iterations: 20",
				"  eps: 1.0e-06", "  names: {preset: deepseek-v4}"},
			nil, []string{"q_lora_rank = 1536", `topk_method = "noaux_tc"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			imp, err := ImportHFConfig("config.json", []byte(tc.json), ImportOptions{Name: tc.name, Weights: "model.safetensors", HC: HCMHC})
			if err != nil {
				t.Fatal(err)
			}
			text := string(imp.YAML)
			lines := strings.Split(text, "\n")
			for _, w := range tc.want {
				found := false
				for _, l := range lines {
					found = found || l == w
				}
				if !found {
					t.Errorf("no line %q in\n%s", w, text)
				}
			}
			if strings.Join(imp.Unknown, ",") != strings.Join(tc.unknown, ",") {
				t.Errorf("unknown %v, want %v", imp.Unknown, tc.unknown)
			}
			if strings.Join(imp.Unsupported, ",") != strings.Join(tc.unsupport, ",") {
				t.Errorf("unsupported %v, want %v", imp.Unsupported, tc.unsupport)
			}
			for _, k := range append(append([]string{}, tc.unknown...), imp.Ignored...) {
				if !strings.Contains(text, "#   "+k+"\n") {
					t.Errorf("key %q not listed in the file's comment", k)
				}
			}
		})
	}
}

// A config.json of each family imports to a model file that loads with
// exactly the config's settings: Mistral (Llama), Qwen2 (q/k/v biases, tied
// embeddings), GPT-2 (layernorm, gelu_tanh, learned positions, biases) and
// DeepSeek-V3 (mixture of experts, mHC settings).
func TestImportLlamaLoads(t *testing.T) {
	tests := []struct {
		name, json string
		hc         string
		want       Architecture
		moe        *MoE
	}{
		{"mistral", `{"model_type": "mistral", "vocab_size": 97, "hidden_size": 32,
		"num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 1, "head_dim": 16,
		"intermediate_size": 64, "rms_norm_eps": 1e-05, "rope_theta": 1000000.0, "max_position_embeddings": 64}`,
			HCResidual,
			Architecture{Kind: ArchDecoder, VocabSize: 97, HiddenSize: 32, Layers: 2, Heads: 4, KVHeads: 1, HeadDim: 16,
				FFNHiddenSize: 64, NormEps: 1e-5, RopeTheta: 1e6, Norm: NormRMS, Activation: ActSwiGLU, Positions: PosRoPE}, nil},
		{"qwen2", `{"model_type": "qwen2", "vocab_size": 89, "hidden_size": 32, "num_hidden_layers": 2,
		"num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 48, "rms_norm_eps": 1e-06,
		"rope_theta": 1000000.0, "max_position_embeddings": 64, "hidden_act": "silu", "tie_word_embeddings": true}`,
			HCMHC,
			Architecture{Kind: ArchDecoder, VocabSize: 89, HiddenSize: 32, Layers: 2, Heads: 4, KVHeads: 2, HeadDim: 8,
				FFNHiddenSize: 48, NormEps: 1e-6, RopeTheta: 1e6, Norm: NormRMS, Activation: ActSwiGLU, Positions: PosRoPE,
				TieEmbeddings: true, QKVBias: true}, nil},
		{"gpt2", `{"model_type": "gpt2", "vocab_size": 97, "n_embd": 32, "n_layer": 2, "n_head": 4,
		"n_positions": 64, "n_inner": null, "layer_norm_epsilon": 1e-05, "activation_function": "gelu_new"}`,
			HCMHC,
			Architecture{Kind: ArchDecoder, VocabSize: 97, HiddenSize: 32, Layers: 2, Heads: 4, KVHeads: 4, HeadDim: 8,
				FFNHiddenSize: 128, NormEps: 1e-5, RopeTheta: 10000, Norm: NormLayer, NormBias: true, Activation: ActGELUTanh,
				Positions: PosLearned, TieEmbeddings: true, QKVBias: true, OutBias: true, MLPBias: true}, nil},
		{"deepseek", `{"model_type": "deepseek_v3", "vocab_size": 97, "hidden_size": 32, "num_hidden_layers": 3,
		"num_attention_heads": 4, "num_key_value_heads": 4, "intermediate_size": 64, "moe_intermediate_size": 16,
		"n_routed_experts": 8, "num_experts_per_tok": 2, "n_shared_experts": 1, "scoring_func": "sigmoid",
		"norm_topk_prob": true, "routed_scaling_factor": 2.5, "first_k_dense_replace": 1, "rms_norm_eps": 1e-06,
		"max_position_embeddings": 64, "hc_mult": 2, "hc_sinkhorn_iters": 7, "hc_eps": 1e-05}`,
			HCMHC,
			Architecture{Kind: ArchDecoder, VocabSize: 97, HiddenSize: 32, Layers: 3, Heads: 4, KVHeads: 4, HeadDim: 8,
				FFNHiddenSize: 64, NormEps: 1e-6, RopeTheta: 10000, Norm: NormRMS, Activation: ActSwiGLU, Positions: PosRoPE},
			&MoE{Experts: 8, TopK: 2, SharedExperts: 1, ExpertFFN: 16, Router: RouterSigmoid, NormalizeTopK: true,
				RoutedScaling: 2.5, DenseLayers: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			imp, err := ImportHFConfig("config.json", []byte(tc.json), ImportOptions{Name: "m", HC: tc.hc})
			if err != nil {
				t.Fatal(err)
			}
			m, err := LoadBytes(filepath.Join(t.TempDir(), "m.yaml"), imp.YAML)
			if err != nil {
				t.Fatalf("%v\n%s", err, imp.YAML)
			}
			arch, moe := m.Arch, m.Arch.MoE
			arch.MoE = nil
			if arch != tc.want || (moe == nil) != (tc.moe == nil) || (moe != nil && *moe != *tc.moe) {
				t.Errorf("Arch %+v MoE %+v, want %+v MoE %+v\n%s", arch, moe, tc.want, tc.moe, imp.YAML)
			}
			if m.HC.Kind != tc.hc || m.Inputs.MaxSequence != 64 || m.Weights.Source != WeightsRandom {
				t.Errorf("HC %+v Inputs %+v Weights %+v", m.HC, m.Inputs, m.Weights)
			}
			if tc.name == "deepseek" && (m.HC.Streams != 2 || m.HC.Iterations != 7 || m.HC.Eps != 1e-5) {
				t.Errorf("HC %+v, want the config's hc_mult 2, hc_sinkhorn_iters 7, hc_eps 1e-5", m.HC)
			}
		})
	}
}

// A context longer than the RoPE tables allow is cut to the bound, said in
// a comment, and the file loads.
func TestImportLongContext(t *testing.T) {
	imp, err := ImportHFConfig("config.json", []byte(`{"model_type": "qwen2", "vocab_size": 97, "hidden_size": 32,
		"num_hidden_layers": 1, "num_attention_heads": 2, "head_dim": 128, "intermediate_size": 64,
		"max_position_embeddings": 1010000}`), ImportOptions{Name: "m", HC: HCMHC})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(imp.YAML), "  max_sequence: 1010000\n") { // 1010000 × 128 < 2^27: kept
		t.Errorf("want max_sequence: 1010000 in\n%s", imp.YAML)
	}
	imp, err = ImportHFConfig("config.json", []byte(`{"model_type": "llama", "vocab_size": 97, "hidden_size": 32,
		"num_hidden_layers": 1, "num_attention_heads": 2, "head_dim": 256, "intermediate_size": 64,
		"max_position_embeddings": 1000000}`), ImportOptions{Name: "m", HC: HCMHC})
	if err != nil {
		t.Fatal(err)
	}
	if want := "  max_sequence: 524288  # config.json: 1000000; mhcc's RoPE tables stop at max_sequence × head_dim = 2^27\n"; !strings.Contains(string(imp.YAML), want) {
		t.Errorf("want %q in\n%s", want, imp.YAML)
	}
	if _, err := LoadBytes(filepath.Join(t.TempDir(), "m.yaml"), imp.YAML); err != nil {
		t.Error(err)
	}
}

// A config.json import cannot describe is refused with the key, the value
// and what would do, all problems at once.
func TestImportHFConfigErrors(t *testing.T) {
	tests := []struct{ json, want string }{
		{`{"model_type": "bert"}`, `config.json: model_type: got "bert", want one of llama, mistral, qwen2, gpt2, deepseek_v3, deepseek_v4`},
		{`{"vocab_size": 3}`, `config.json: model_type: missing; want one of llama, mistral, qwen2, gpt2, deepseek_v3, deepseek_v4`},
		{`{"model_type": "llama", "vocab_size": 97, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
			"intermediate_size": 64, "hidden_act": "tanh"}`,
			`config.json: hidden_act: got "tanh", want one of silu, gelu (for model_type llama)`},
		{`{"model_type": "gpt2", "vocab_size": 97, "n_embd": 32, "n_layer": 2, "n_head": 4, "activation_function": "relu"}`,
			`config.json: activation_function: got "relu", want one of gelu_new, gelu_pytorch_tanh, gelu, relu2 (for model_type gpt2)`},
		{`{"model_type": "llama", "vocab_size": "97", "num_hidden_layers": 2.5, "num_attention_heads": 4, "intermediate_size": 64}`,
			"config.json: vocab_size: got \"97\", want a non-negative integer\nconfig.json: hidden_size: missing, want an integer\nconfig.json: num_hidden_layers: got 2.5, want a non-negative integer"},
		{`{"model_type": "deepseek_v3", "vocab_size": 97, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
			"intermediate_size": 64, "n_routed_experts": 8, "num_experts_per_tok": 2, "scoring_func": "sqrtsoftplus"}`,
			`config.json: scoring_func: got "sqrtsoftplus", want softmax or sigmoid`},
		{`[1, 2]`, "config.json: not a config.json (a JSON object)"},
	}
	for _, tc := range tests {
		_, err := ImportHFConfig("config.json", []byte(tc.json), ImportOptions{Name: "m", HC: HCMHC})
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%s:\ngot  %v\nwant %s", tc.json, err, tc.want)
		}
	}
}

// The config.json files of testdata/errors/import are refused with the
// message next to each, every problem of a file at once.
func TestImportErrorFixtures(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(errorsDir, "import", "*.json"))
	if len(files) < 5 {
		t.Fatalf("%d fixtures in %s/import", len(files), errorsDir)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(strings.TrimSuffix(file, ".json") + ".err")
		if err != nil {
			t.Fatal(err)
		}
		_, err = ImportHFConfig(filepath.Base(file), data, ImportOptions{Name: "m", HC: HCMHC})
		if err == nil || err.Error() != strings.TrimSpace(string(want)) {
			t.Errorf("%s:\ngot  %v\nwant %s", file, err, want)
		}
	}
}
