package main

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/mhcc-dev/mhcc/ir"
	"github.com/mhcc-dev/mhcc/model"
	"github.com/mhcc-dev/mhcc/onnx/tensor/half"
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
	buf := make([]byte, 2*ir.ChunkElems)
	for k, g := range groups {
		file := fmt.Sprintf("model-%05d-of-%05d.safetensors", k+1, len(groups))
		var hdr strings.Builder
		hdr.WriteString("{")
		off := int64(0)
		for i, s := range g {
			n := int64(2)
			for _, d := range s.Shape {
				n *= d
			}
			if i > 0 {
				hdr.WriteString(",")
			}
			shape := strings.Trim(strings.Join(strings.Fields(fmt.Sprint(s.Shape)), ","), "[]")
			fmt.Fprintf(&hdr, "%q:{\"dtype\":\"BF16\",\"shape\":[%s],\"data_offsets\":[%d,%d]}", hfLlamaName(s.Name), shape, off, off+n)
			off += n
			weightMap[hfLlamaName(s.Name)] = file
		}
		hdr.WriteString("}")
		for hdr.Len()%8 != 0 {
			hdr.WriteString(" ")
		}
		f, err := os.Create(filepath.Join(ckDir, file))
		if err != nil {
			return "", 0, 0, err
		}
		bw := bufio.NewWriterSize(f, 1<<20)
		binary.Write(bw, binary.LittleEndian, uint64(hdr.Len()))
		bw.WriteString(hdr.String())
		for _, s := range g {
			err := w[s.Name].Stream(func(c []float32) error {
				for i, x := range c {
					binary.LittleEndian.PutUint16(buf[2*i:], half.Float32ToBFloat16(x))
				}
				_, err := bw.Write(buf[:2*len(c)])
				return err
			})
			if err != nil {
				f.Close()
				return "", 0, 0, err
			}
		}
		if err := bw.Flush(); err != nil {
			f.Close()
			return "", 0, 0, err
		}
		if err := f.Close(); err != nil {
			return "", 0, 0, err
		}
		total += int64(8+hdr.Len()) + off
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
