package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mhcc-dev/mhcc/internal/safetensors"
)

// tinyDecoder is a decoder with GQA and mHC, small enough to write whole.
const tinyDecoder = `format: 1
name: tiny
architecture: {kind: decoder, vocab_size: 11, hidden_size: 8, layers: 2, heads: 2, kv_heads: 1, head_dim: 4, ffn_hidden_size: 12}
hyper_connections: {kind: mhc, streams: 2}
weights: WEIGHTS
inputs: {max_sequence: 16}
`

// hfName is the Hugging Face Llama name of a docs/spec.md §4.1 decoder
// tensor, as transformers' LlamaForCausalLM names its modules (written out
// here, not taken from the preset).
func hfName(name string) string {
	r := strings.NewReplacer(
		"attn_norm.", "input_layernorm.",
		"ffn_norm.", "post_attention_layernorm.",
		"attn.wq.", "self_attn.q_proj.", "attn.wk.", "self_attn.k_proj.",
		"attn.wv.", "self_attn.v_proj.", "attn.wo.", "self_attn.o_proj.",
		"ffn.w1.", "mlp.gate_proj.", "ffn.w2.", "mlp.down_proj.", "ffn.w3.", "mlp.up_proj.",
	)
	switch name {
	case "embed.weight":
		return "model.embed_tokens.weight"
	case "head.weight":
		return "lm_head.weight"
	}
	return "model." + r.Replace(name)
}

// writeTensors writes the tensors as F32 safetensors files: one per group
// of names, as shard i of a sharded checkpoint, plus its index when there
// is more than one file.
func writeTensors(t *testing.T, dir string, tensors map[string][]float32, shapes map[string][]int64, shards int) string {
	t.Helper()
	names := slices.Sorted(maps.Keys(tensors))
	if shards == 1 {
		path := filepath.Join(dir, "model.safetensors")
		var ts []safetensors.Tensor
		for _, n := range names {
			ts = append(ts, safetensors.Tensor{Name: n, DType: safetensors.F32, Shape: shapes[n], Data: safetensors.Float32Bytes(tensors[n])})
		}
		if err := safetensors.Write(path, ts, nil); err != nil {
			t.Fatal(err)
		}
		return path
	}
	weightMap := map[string]string{}
	for k := range shards {
		file := fmt.Sprintf("model-%05d-of-%05d.safetensors", k+1, shards)
		var ts []safetensors.Tensor
		for i, n := range names {
			if i%shards == k {
				ts = append(ts, safetensors.Tensor{Name: n, DType: safetensors.F32, Shape: shapes[n], Data: safetensors.Float32Bytes(tensors[n])})
				weightMap[n] = file
			}
		}
		if err := safetensors.Write(filepath.Join(dir, file), ts, nil); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := json.Marshal(map[string]any{"metadata": map[string]any{"total_size": 0}, "weight_map": weightMap})
	path := filepath.Join(dir, "model.safetensors.index.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// A checkpoint with Hugging Face Llama names, in one file and in three
// shards, loads under preset hf-llama to exactly the weights it was written
// from; without the preset every tensor is reported, with a did-you-mean
// and the preset to use.
func TestPresetHFLlama(t *testing.T) {
	m := loadString(t, tinyDecoder, "{source: random, seed: 5}")
	ref := RandomWeights(m)
	tensors, shapes := map[string][]float32{}, map[string][]int64{}
	for _, s := range WeightSpecs(m) {
		tensors[hfName(s.Name)] = ref[s.Name].F32
		shapes[hfName(s.Name)] = s.Shape
	}
	// transformers' older checkpoints carry the RoPE frequencies: ignored.
	tensors["model.layers.0.self_attn.rotary_emb.inv_freq"] = []float32{1, 2}
	shapes["model.layers.0.self_attn.rotary_emb.inv_freq"] = []int64{2}
	for _, shards := range []int{1, 3} {
		path := writeTensors(t, t.TempDir(), tensors, shapes, shards)
		m := loadString(t, tinyDecoder, fmt.Sprintf("{source: safetensors, path: %s, names: {preset: hf-llama}}", path))
		got, err := LoadWeights(m)
		if err != nil {
			t.Fatalf("%d shards: %v", shards, err)
		}
		sameBits(t, fmt.Sprintf("%d shards", shards), got, ref)
		streamed, err := StreamWeights(m, 0)
		if err != nil {
			t.Fatal(err)
		}
		for name, tt := range streamed {
			// Streamed from its shard when written: no data held now.
			if !strings.Contains(name, "hc_") && (!tt.IsLazy() || tt.F32 != nil) {
				t.Errorf("%d shards: %s is not streamed", shards, name)
			}
		}
		sameBits(t, fmt.Sprintf("%d shards, streamed", shards), streamed, ref)

		m = loadString(t, tinyDecoder, fmt.Sprintf("{source: safetensors, path: %s}", path))
		_, err = LoadWeights(m)
		if err == nil {
			t.Fatal("HF names without a preset loaded")
		}
		text := err.Error()
		for _, want := range []string{
			`tensor "embed.weight" is missing (want shape [11 8])`,
			`tensor "layers.1.ffn.w3.weight" is missing (want shape [12 8])`,
			`unexpected tensor "model.layers.1.mlp.up_proj.weight"`,
			`tensor "embed.weight" is missing (want shape [11 8]); did you mean "model.embed_tokens.weight"?`,
			`tensor "hc_head_fn" is missing (want shape [2 16]); did you mean "model.hc_head_fn"?`,
			"look like hf-llama's: add names: {preset: hf-llama} under weights",
		} {
			if !strings.Contains(text, want) {
				t.Errorf("%d shards, no preset: error lacks %q:\n%s", shards, want, text)
			}
		}
		// Every problem is listed: 2 layers × 9 + 6 missing, as many unexpected.
		if n := strings.Count(text, " is missing "); n != len(WeightSpecs(m)) {
			t.Errorf("%d missing tensors reported, want %d", n, len(WeightSpecs(m)))
		}
	}
}

// fakeCheckpoint is a checkpoint of the given names and shapes, F32, with
// no files: enough for mapNames.
func fakeCheckpoint(shapes map[string][]int64) *checkpoint {
	ck := &checkpoint{path: "ck.safetensors", byName: map[string]int{}}
	for _, n := range slices.Sorted(maps.Keys(shapes)) {
		ck.add(ckptTensor{Name: n, Shard: "ck.safetensors", Info: safetensors.Info{Name: n, DType: safetensors.F32, Shape: shapes[n]}})
	}
	return ck
}

// The presets map the layouts people have onto the names of docs/spec.md
// §4.1, including those of the architecture options (biases, LayerNorm biases, learned
// positions, MoE experts), with fused tensors split by the model's sizes.
func TestPresetNames(t *testing.T) {
	m := loadString(t, tinyDecoder, "{source: random}") // q 8 rows, k and v 4, ffn 12
	type part struct {
		from      string
		shape     []int64
		transpose bool
		row0      int64
	}
	tests := []struct {
		preset string
		in     map[string][]int64
		want   map[string]part
		ignore []string
	}{
		{PresetHFLlama, map[string][]int64{
			"model.layers.3.self_attn.q_proj.bias":                {8},
			"model.layers.3.input_layernorm.bias":                 {8},
			"model.norm.bias":                                     {8},
			"model.layers.0.mlp.gate_up_proj.weight":              {24, 8},
			"model.layers.1.mlp.experts.7.down_proj.weight":       {8, 5},
			"model.layers.1.mlp.shared_experts.up_proj.weight":    {5, 8},
			"model.layers.1.mlp.shared_expert.gate_proj.weight":   {5, 8},
			"model.layers.1.mlp.gate.weight":                      {4, 8},
			"model.layers.2.block_sparse_moe.experts.3.w2.weight": {8, 5},
			"model.layers.2.hc_attn_fn":                           {8, 16},
			"model.hc_head_base":                                  {2},
			"model.layers.0.self_attn.qkv_proj.weight":            {16, 8},
			"model.layers.0.self_attn.rotary_emb.inv_freq":        {2},
		}, map[string]part{
			"layers.3.attn.wq.bias":                 {"model.layers.3.self_attn.q_proj.bias", []int64{8}, false, 0},
			"layers.3.attn_norm.bias":               {"model.layers.3.input_layernorm.bias", []int64{8}, false, 0},
			"norm.bias":                             {"model.norm.bias", []int64{8}, false, 0},
			"layers.0.ffn.w1.weight":                {"model.layers.0.mlp.gate_up_proj.weight", []int64{12, 8}, false, 0},
			"layers.0.ffn.w3.weight":                {"model.layers.0.mlp.gate_up_proj.weight", []int64{12, 8}, false, 12},
			"layers.1.ffn.experts.7.w2.weight":      {"model.layers.1.mlp.experts.7.down_proj.weight", []int64{8, 5}, false, 0},
			"layers.1.ffn.shared_experts.w3.weight": {"model.layers.1.mlp.shared_experts.up_proj.weight", []int64{5, 8}, false, 0},
			"layers.1.ffn.shared_experts.w1.weight": {"model.layers.1.mlp.shared_expert.gate_proj.weight", []int64{5, 8}, false, 0},
			"layers.1.ffn.gate.weight":              {"model.layers.1.mlp.gate.weight", []int64{4, 8}, false, 0},
			"layers.2.ffn.experts.3.w2.weight":      {"model.layers.2.block_sparse_moe.experts.3.w2.weight", []int64{8, 5}, false, 0},
			"layers.2.hc_attn_fn":                   {"model.layers.2.hc_attn_fn", []int64{8, 16}, false, 0},
			"hc_head_base":                          {"model.hc_head_base", []int64{2}, false, 0},
			"layers.0.attn.wq.weight":               {"model.layers.0.self_attn.qkv_proj.weight", []int64{8, 8}, false, 0},
			"layers.0.attn.wk.weight":               {"model.layers.0.self_attn.qkv_proj.weight", []int64{4, 8}, false, 8},
			"layers.0.attn.wv.weight":               {"model.layers.0.self_attn.qkv_proj.weight", []int64{4, 8}, false, 12},
		}, []string{"model.layers.0.self_attn.rotary_emb.inv_freq"}},
		{PresetNanoGPT, map[string][]int64{
			"transformer.wte.weight":             {11, 8},
			"transformer.wpe.weight":             {16, 8},
			"transformer.h.0.ln_1.bias":          {8},
			"transformer.h.0.attn.c_attn.weight": {16, 8},
			"transformer.h.0.attn.c_attn.bias":   {16},
			"transformer.h.0.attn.c_proj.weight": {8, 8},
			"transformer.h.0.mlp.c_fc.weight":    {12, 8},
			"transformer.h.0.mlp.c_proj.bias":    {8},
			"transformer.h.0.hc_ffn_base":        {8},
			"transformer.h.0.attn.bias":          {1, 1, 16, 16},
			"transformer.ln_f.weight":            {8},
			"lm_head.weight":                     {11, 8},
		}, map[string]part{
			"embed.weight":            {"transformer.wte.weight", []int64{11, 8}, false, 0},
			"pos_embed.weight":        {"transformer.wpe.weight", []int64{16, 8}, false, 0},
			"layers.0.attn_norm.bias": {"transformer.h.0.ln_1.bias", []int64{8}, false, 0},
			"layers.0.attn.wq.weight": {"transformer.h.0.attn.c_attn.weight", []int64{8, 8}, false, 0},
			"layers.0.attn.wk.weight": {"transformer.h.0.attn.c_attn.weight", []int64{4, 8}, false, 8},
			"layers.0.attn.wv.weight": {"transformer.h.0.attn.c_attn.weight", []int64{4, 8}, false, 12},
			"layers.0.attn.wq.bias":   {"transformer.h.0.attn.c_attn.bias", []int64{8}, false, 0},
			"layers.0.attn.wk.bias":   {"transformer.h.0.attn.c_attn.bias", []int64{4}, false, 8},
			"layers.0.attn.wv.bias":   {"transformer.h.0.attn.c_attn.bias", []int64{4}, false, 12},
			"layers.0.attn.wo.weight": {"transformer.h.0.attn.c_proj.weight", []int64{8, 8}, false, 0},
			"layers.0.ffn.w1.weight":  {"transformer.h.0.mlp.c_fc.weight", []int64{12, 8}, false, 0},
			"layers.0.ffn.w2.bias":    {"transformer.h.0.mlp.c_proj.bias", []int64{8}, false, 0},
			"layers.0.hc_ffn_base":    {"transformer.h.0.hc_ffn_base", []int64{8}, false, 0},
			"norm.weight":             {"transformer.ln_f.weight", []int64{8}, false, 0},
			"head.weight":             {"lm_head.weight", []int64{11, 8}, false, 0},
		}, []string{"transformer.h.0.attn.bias"}},
		{PresetHFGPT2, map[string][]int64{
			"h.0.attn.c_attn.weight": {8, 16}, // Conv1D: [in, out]
			"h.0.attn.c_attn.bias":   {16},
			"h.0.mlp.c_fc.weight":    {8, 12},
			"wte.weight":             {11, 8},
		}, map[string]part{
			"layers.0.attn.wq.weight": {"h.0.attn.c_attn.weight", []int64{8, 8}, true, 0},
			"layers.0.attn.wk.weight": {"h.0.attn.c_attn.weight", []int64{4, 8}, true, 8},
			"layers.0.attn.wv.weight": {"h.0.attn.c_attn.weight", []int64{4, 8}, true, 12},
			"layers.0.attn.wq.bias":   {"h.0.attn.c_attn.bias", []int64{8}, false, 0},
			"layers.0.attn.wk.bias":   {"h.0.attn.c_attn.bias", []int64{4}, false, 8},
			"layers.0.attn.wv.bias":   {"h.0.attn.c_attn.bias", []int64{4}, false, 12},
			"layers.0.ffn.w1.weight":  {"h.0.mlp.c_fc.weight", []int64{12, 8}, true, 0},
			"embed.weight":            {"wte.weight", []int64{11, 8}, false, 0},
		}, nil},
		{PresetDeepSeekV4, map[string][]int64{
			"model.layers.2.eh_proj.weight": {8, 16}, // multi-token prediction: layers ≥ 2
			"layers.3.attn.wq.weight":       {8, 8},
			"layers.0.attn.wq.weight":       {8, 8},
			"layers.0.hc_attn_fn":           {8, 16},
			"layers.0.ffn.gate.weight":      {4, 8},
			"embed.weight":                  {11, 8},
		}, map[string]part{
			"layers.0.attn.wq.weight":  {"layers.0.attn.wq.weight", []int64{8, 8}, false, 0},
			"layers.0.hc_attn_fn":      {"layers.0.hc_attn_fn", []int64{8, 16}, false, 0},
			"layers.0.ffn.gate.weight": {"layers.0.ffn.gate.weight", []int64{4, 8}, false, 0},
			"embed.weight":             {"embed.weight", []int64{11, 8}, false, 0},
		}, []string{"layers.3.attn.wq.weight", "model.layers.2.eh_proj.weight"}},
	}
	for _, tc := range tests {
		t.Run(tc.preset, func(t *testing.T) {
			m.Weights.Names = &NamesSpec{Preset: tc.preset}
			var errs ErrorList
			nm := mapNames(m, fakeCheckpoint(tc.in), &errs)
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			got := map[string]part{}
			for _, e := range nm.Entries {
				got[e.Target] = part{e.Source.Name, e.Shape, e.Transpose, e.Row0}
			}
			for name, w := range tc.want {
				g, ok := got[name]
				if !ok {
					t.Errorf("%s: no tensor maps to it (got %v)", name, slices.Sorted(maps.Keys(got)))
					continue
				}
				if g.from != w.from || !slices.Equal(g.shape, w.shape) || g.transpose != w.transpose || g.row0 != w.row0 {
					t.Errorf("%s = %+v, want %+v", name, g, w)
				}
			}
			if len(got) != len(tc.want) {
				t.Errorf("mapped %d tensors, want %d: %v", len(got), len(tc.want), slices.Sorted(maps.Keys(got)))
			}
			if !slices.Equal(nm.Ignored, tc.ignore) {
				t.Errorf("ignored %v, want %v", nm.Ignored, tc.ignore)
			}
		})
	}
}

// Splits and transposes read the right elements: a GPT-2 Conv1D c_attn
// ([C, 3C], stored [in, out]) and a nanoGPT one ([3C, C]) give the same
// wq, wk, wv, computed here element by element.
func TestSplitTranspose(t *testing.T) {
	const c = 4
	fused := make([]float32, 3*c*c) // nanoGPT layout [3C, C]: row r, column j
	for i := range fused {
		fused[i] = float32(i)
	}
	conv := make([]float32, 3*c*c) // GPT-2 layout [C, 3C] = transpose
	for r := range 3 * c {
		for j := range c {
			conv[j*3*c+r] = fused[r*c+j]
		}
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "w.safetensors")
	err := safetensors.Write(path, []safetensors.Tensor{
		{Name: "nano", DType: safetensors.F32, Shape: []int64{3 * c, c}, Data: safetensors.Float32Bytes(fused)},
		{Name: "conv", DType: safetensors.F32, Shape: []int64{c, 3 * c}, Data: safetensors.Float32Bytes(conv)},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ck, problems := openCheckpoint(path)
	if problems != nil {
		t.Fatal(problems)
	}
	for _, name := range []string{"nano", "conv"} {
		src, _ := ck.lookup(name)
		for part := range 3 {
			e := &NameEntry{Source: src, Transpose: name == "conv", Row0: int64(part * c), Shape: []int64{c, c}, split: true}
			var got []float32
			if err := (&entrySource{e}).Stream(func(v []float32) error { got = append(got, v...); return nil }); err != nil {
				t.Fatal(err)
			}
			want := fused[part*c*c : (part+1)*c*c]
			if !slices.Equal(got, want) {
				t.Errorf("%s part %d = %v, want %v", name, part, got, want)
			}
		}
	}
}

// TestWeightErrors loads the model files of testdata/errors/weights, which
// load, and their checkpoints, which do not: every error is marked in the
// file (as in TestErrors) and names its line, column and key.
func TestWeightErrors(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(errorsDir, "weights", "*.yaml"))
	if len(files) < 8 {
		t.Errorf("%s/weights has %d files, want at least 8", errorsDir, len(files))
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			checkFirstLineComment(t, file)
			want := expectations(t, file)
			if len(want) == 0 {
				t.Fatal("no ERROR marks")
			}
			m, err := Load(file)
			if err != nil {
				t.Fatal(err)
			}
			for _, load := range []func(*Model) (Weights, error){LoadWeights, func(m *Model) (Weights, error) { return StreamWeights(m, 0) }} {
				for _, w := range want {
					w.used = false
				}
				_, err = load(m)
				var list ErrorList
				if !errors.As(err, &list) {
					t.Fatalf("got %T %v, want an ErrorList", err, err)
				}
				for _, e := range list {
					checkError(t, file, e, want)
				}
				for _, w := range want {
					if !w.used {
						t.Errorf("%s:%d: no error matching %q", file, w.line, w.text)
					}
				}
			}
		})
	}
}

// Fused and transposed tensors load to exactly the separate ones: Phi-3's
// qkv_proj and gate_up_proj under preset hf-llama, and a user rule that
// splits a GPT-2-style Conv1D c_attn ([in, out], transposed) and renames
// with a strip_prefix and an ignore pattern.
func TestFusedLoad(t *testing.T) {
	m := loadString(t, tinyDecoder, "{source: random, seed: 6}")
	ref := RandomWeights(m)
	a := m.Arch
	rowsCat := func(names ...string) ([]float32, []int64) {
		var out []float32
		rows := int64(0)
		for _, n := range names {
			out = append(out, ref[n].F32...)
			rows += ref[n].Shape[0]
		}
		return out, []int64{rows, int64(a.HiddenSize)}
	}
	transpose := func(v []float32, shape []int64) ([]float32, []int64) {
		r, c := shape[0], shape[1]
		out := make([]float32, len(v))
		for i := int64(0); i < r; i++ {
			for j := int64(0); j < c; j++ {
				out[j*r+i] = v[i*c+j]
			}
		}
		return out, []int64{c, r}
	}
	hf, hfShapes := map[string][]float32{}, map[string][]int64{}
	user, userShapes := map[string][]float32{}, map[string][]int64{}
	for _, s := range WeightSpecs(m) {
		switch {
		case strings.Contains(s.Name, ".attn.wk.") || strings.Contains(s.Name, ".attn.wv.") || strings.Contains(s.Name, ".ffn.w3."):
			continue // in a fused tensor
		case strings.Contains(s.Name, ".attn.wq."):
			p := strings.TrimSuffix(s.Name, "wq.weight")
			v, sh := rowsCat(p+"wq.weight", p+"wk.weight", p+"wv.weight")
			hf[strings.Replace(hfName(s.Name), "q_proj", "qkv_proj", 1)] = v
			hfShapes[strings.Replace(hfName(s.Name), "q_proj", "qkv_proj", 1)] = sh
			tv, tsh := transpose(v, sh)
			user["net."+p+"c_attn.weight"], userShapes["net."+p+"c_attn.weight"] = tv, tsh
			continue
		case strings.Contains(s.Name, ".ffn.w1."):
			p := strings.TrimSuffix(s.Name, "w1.weight")
			v, sh := rowsCat(p+"w1.weight", p+"w3.weight")
			name := strings.Replace(hfName(s.Name), "gate_proj", "gate_up_proj", 1)
			hf[name], hfShapes[name] = v, sh
			user["net."+p+"w13.weight"], userShapes["net."+p+"w13.weight"] = v, sh
			continue
		}
		hf[hfName(s.Name)], hfShapes[hfName(s.Name)] = ref[s.Name].F32, s.Shape
		user["net."+s.Name], userShapes["net."+s.Name] = ref[s.Name].F32, s.Shape
	}
	user["net.step"], userShapes["net.step"] = []float32{1000}, []int64{1}

	path := writeTensors(t, t.TempDir(), hf, hfShapes, 2)
	m = loadString(t, tinyDecoder, fmt.Sprintf("{source: safetensors, path: %s, names: {preset: hf-llama}}", path))
	got, err := LoadWeights(m)
	if err != nil {
		t.Fatal(err)
	}
	sameBits(t, "hf-llama fused", got, ref)

	path = writeTensors(t, t.TempDir(), user, userShapes, 1)
	names := `{strip_prefix: net., ignore: ['net\.step'], rules: [
    {from: 'layers\.{i}\.attn\.c_attn\.weight', to: ['layers.{i}.attn.wq.weight', 'layers.{i}.attn.wk.weight', 'layers.{i}.attn.wv.weight'], sizes: [8, 4, 4], transpose: true},
    {from: 'layers\.{i}\.ffn\.w13\.weight', to: ['layers.{i}.ffn.w1.weight', 'layers.{i}.ffn.w3.weight']}]}`
	m = loadString(t, tinyDecoder, fmt.Sprintf("{source: safetensors, path: %s, names: %s}", path, names))
	for _, load := range []func(*Model) (Weights, error){LoadWeights, func(m *Model) (Weights, error) { return StreamWeights(m, 0) }} {
		got, err := load(m)
		if err != nil {
			t.Fatal(err)
		}
		sameBits(t, "user rules", got, ref)
	}
}
