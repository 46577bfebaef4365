package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/mhcc-dev/mhcc/model"
)

// hfLlamaName is the Hugging Face Llama name of a docs/spec.md §4.1
// decoder tensor (the layout preset hf-llama reads).
func hfLlamaName(name string) string {
	switch name {
	case "embed.weight":
		return "model.embed_tokens.weight"
	case "head.weight":
		return "lm_head.weight"
	}
	r := strings.NewReplacer(
		"attn_norm.", "input_layernorm.", "ffn_norm.", "post_attention_layernorm.",
		"attn.wq.", "self_attn.q_proj.", "attn.wk.", "self_attn.k_proj.",
		"attn.wv.", "self_attn.v_proj.", "attn.wo.", "self_attn.o_proj.",
		"ffn.w1.", "mlp.gate_proj.", "ffn.w3.", "mlp.up_proj.", "ffn.w2.", "mlp.down_proj.")
	return "model." + r.Replace(name)
}

var layerOf = regexp.MustCompile(`^layers\.([0-9]+)\.`)

// writeBF16Sharded writes the random weights of the model file at path as
// a Hugging Face checkpoint: BF16 shards of at most shardBytes (whole
// layers), HF Llama names, a model.safetensors.index.json, all streamed
// tensor by tensor; and a copy of the model file reading it with
// names: {preset: hf-llama}. It returns the new model file, the shards'
// total size and their count.
func writeBF16Sharded(path, dir string, shardBytes int64) (string, int64, int, error) {
	m, err := model.Load(path)
	if err != nil {
		return "", 0, 0, err
	}
	w, err := model.StreamWeights(m, 0)
	if err != nil {
		return "", 0, 0, err
	}
	ckDir := filepath.Join(dir, m.Name+"-sharded")
	if err := os.MkdirAll(ckDir, 0o755); err != nil {
		return "", 0, 0, err
	}
	// Group the tensors into shards, a layer never split.
	var groups [][]model.WeightSpec
	var size int64
	prevLayer := ""
	for _, s := range model.WeightSpecs(m) {
		n := int64(2)
		for _, d := range s.Shape {
			n *= d
		}
		layer := layerOf.FindString(s.Name)
		if len(groups) == 0 || size+n > shardBytes && (layer == "" || layer != prevLayer) {
			groups = append(groups, nil)
			size = 0
		}
		groups[len(groups)-1] = append(groups[len(groups)-1], s)
		size += n
		prevLayer = layer
	}
	weightMap := map[string]string{}
	total := int64(0)
	for k, g := range groups {
		file := fmt.Sprintf("model-%05d-of-%05d.safetensors", k+1, len(groups))
		for _, s := range g {
			weightMap[hfLlamaName(s.Name)] = file
		}
		n, err := writeBF16File(filepath.Join(ckDir, file), g, w, hfLlamaName)
		if err != nil {
			return "", 0, 0, err
		}
		total += n
	}
	index, _ := json.MarshalIndent(map[string]any{"metadata": map[string]any{"total_size": total}, "weight_map": weightMap}, "", "  ")
	if err := os.WriteFile(filepath.Join(ckDir, "model.safetensors.index.json"), index, 0o644); err != nil {
		return "", 0, 0, err
	}
	src, err := os.ReadFile(path)
	if err != nil {
		return "", 0, 0, err
	}
	text := strings.Replace(string(src), "weights: {source: random, seed: 1}",
		"weights: {source: safetensors, path: "+filepath.Base(ckDir)+"/model.safetensors.index.json, names: {preset: hf-llama}}", 1)
	if text == string(src) {
		return "", 0, 0, fmt.Errorf("%s: no \"weights: {source: random, seed: 1}\" line to replace", path)
	}
	text = strings.Replace(text, "name: "+m.Name, "name: "+m.Name+"-sharded", 1)
	out := filepath.Join(dir, m.Name+"-sharded.yaml")
	return out, total, len(groups), os.WriteFile(out, []byte(text), 0o644)
}
