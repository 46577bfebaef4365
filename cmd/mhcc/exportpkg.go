package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mhcc-dev/mhcc/compile"
	"github.com/mhcc-dev/mhcc/export"
	"github.com/mhcc-dev/mhcc/ir"
	"github.com/mhcc-dev/mhcc/lower"
	"github.com/mhcc-dev/mhcc/model"
)

// exportFlags are the options of `mhcc export`.
type exportFlags struct {
	out, target, precision string
	force, quiet           bool
	externalData           bool
}

func newExportCmd() *cobra.Command {
	var f exportFlags
	cmd := &cobra.Command{
		Use:   "export model.yaml -o DIR [--target T] [--precision P] [--force]",
		Short: "Write a generation package: the KV-cache graph plus the config files transformers.js and onnxruntime-genai load",
		Long: `Export compiles a decoder model file to its KV-cache graph (as
mhcc compile --kv-cache) and writes a folder that generation runtimes load
as is:

  DIR/onnx/model.onnx           the step graph (model_fp16.onnx at --precision
                                fp16, the name transformers.js looks for), with
                                its weights in model.onnx_data when they are
                                external (--external-data, or past 1.75 GiB)
  DIR/config.json               model_type llama (the cache names transformers.js
                                gives llama are mhcc's), sizes, ids, dtype
  DIR/generation_config.json    bos/eos ids, max_length, greedy
  DIR/genai_config.json         onnxruntime-genai's decoder schema
  DIR/tokenizer.json            copied when the model file names one
                                (generation.tokenizer), with tokenizer_config.json

The folder is written to a temporary folder next to DIR and renamed into
place when complete, so a failure leaves nothing behind. An existing DIR that
is not empty is refused unless --force, which replaces it whole.`,
		Example: `  mhcc export testdata/kv/tiny-mhc-kv.yaml -o tiny-pkg
  mhcc export model.yaml -o pkg-ort --target ort --precision fp16 --force`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return exportPackage(cmd.OutOrStdout(), cmd.ErrOrStderr(), args[0], f)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.out, "output", "o", "", "the package folder (required)")
	fl.StringVar(&f.target, "target", "onnx", "target profile: "+strings.Join(compile.Targets, ", ")+", or a profile file")
	fl.StringVar(&f.precision, "precision", "", "fp32 or fp16 (default: the target's)")
	fl.BoolVar(&f.force, "force", false, "replace DIR if it exists and is not empty")
	fl.BoolVar(&f.externalData, "external-data", false, "put the weights in onnx/model.onnx_data (automatic past 1.75 GiB)")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "show no progress")
	return cmd
}

// Names inside a package.
const (
	pkgConfig    = "config.json"
	pkgGenConfig = "generation_config.json"
	pkgGenAI     = "genai_config.json"
	pkgTokenizer = "tokenizer.json"
	pkgTokConfig = "tokenizer_config.json"
)

func exportPackage(stdout, stderr io.Writer, path string, f exportFlags) error {
	if f.out == "" {
		return fmt.Errorf("-o: required: the package folder to write")
	}
	dir := filepath.Clean(f.out)
	if err := checkTarget(dir, f.force); err != nil {
		return err
	}
	m, err := model.Load(path)
	if err != nil {
		return err
	}
	if m.Arch.Kind != model.ArchDecoder {
		return fmt.Errorf("%s: architecture.kind is %s; a generation package needs a decoder", path, m.Arch.Kind)
	}
	onnxName := "model.onnx"
	dtype := "fp32"
	switch f.precision {
	case "", "fp32":
	case "fp16":
		onnxName, dtype = "model_fp16.onnx", "fp16" // transformers.js: onnx/model{suffix}.onnx by dtype
	default:
		return fmt.Errorf("--precision: got %q, want fp32 or fp16 (transformers.js and onnxruntime-genai load no other decoder dtype)", f.precision)
	}
	opts := compile.Options{Target: f.target, Precision: f.precision, KVCache: true, DataLocation: onnxName + "_data"}
	if f.externalData {
		opts.External = compile.ExternalAlways
	}
	res, err := compile.Compile(path, opts)
	if err != nil {
		return err
	}
	if res.Graph != nil && res.Graph.Inputs != nil {
		for _, v := range res.Graph.Inputs {
			if v.Name == lower.PastKey(0) && v.Type.DType != ir.Float32 && dtype == "fp32" {
				// the target's default precision was not fp32
				onnxName, dtype = "model_fp16.onnx", "fp16"
				if v.Type.DType != ir.Float16 {
					return fmt.Errorf("--target %s computes in %v; a generation package needs fp32 or fp16", f.target, v.Type.DType)
				}
				opts.DataLocation = onnxName + "_data"
				if res, err = compile.Compile(path, opts); err != nil {
					return err
				}
			}
		}
	}

	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".tmp-")
	if err != nil {
		return err
	}
	done := false
	defer func() {
		if !done {
			os.RemoveAll(tmp)
		}
	}()
	if err := os.Mkdir(filepath.Join(tmp, "onnx"), 0o755); err != nil {
		return err
	}
	meter := newMeter(stderr, f.quiet)
	err = export.WriteFiles(filepath.Join(tmp, "onnx", onnxName), res.ONNX, res.Layout, meter.weights)
	meter.done()
	if err != nil {
		return err
	}
	external := res.Layout.Tensors() > 0
	files := map[string]any{
		pkgConfig:    hfConfig(m, dtype, external),
		pkgGenConfig: generationConfig(m),
		pkgGenAI:     genaiConfig(m, "onnx/"+onnxName),
	}
	if m.Generation.Tokenizer != "" {
		data, err := os.ReadFile(m.Generation.Tokenizer)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(tmp, pkgTokenizer), data, 0o644); err != nil {
			return err
		}
		files[pkgTokConfig] = tokenizerConfig(m)
	}
	for name, v := range files {
		data, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return &compile.InternalError{Err: err}
		}
		if err := os.WriteFile(filepath.Join(tmp, name), append(data, '\n'), 0o644); err != nil {
			return err
		}
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	if err := replaceDir(tmp, dir); err != nil {
		return err
	}
	done = true
	fmt.Fprintf(stdout, "wrote %s: onnx/%s (%s, target %s, %s", dir, onnxName, m.Name, f.target, dtype)
	if external {
		fmt.Fprintf(stdout, ", weights in onnx/%s", res.Layout.Location)
	}
	fmt.Fprintf(stdout, "), %s, %s, %s", pkgConfig, pkgGenConfig, pkgGenAI)
	if m.Generation.Tokenizer != "" {
		fmt.Fprintf(stdout, ", %s", pkgTokenizer)
	}
	fmt.Fprintln(stdout)
	return nil
}

// checkTarget refuses a package folder that exists and is not empty
// (without force) or that is not a folder.
func checkTarget(dir string, force bool) error {
	info, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !info.IsDir() {
		return fmt.Errorf("-o %s: exists and is not a folder", dir)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	if len(entries) > 0 && !force {
		return fmt.Errorf("-o %s: the folder exists and is not empty (%d entries); pass --force to replace it", dir, len(entries))
	}
	return nil
}

// replaceDir moves the finished folder tmp to dir: a rename, after moving
// an existing dir aside (removed once the new one is in place, restored if
// the rename fails), so dir is at every moment either the old folder or the
// new one.
func replaceDir(tmp, dir string) error {
	old := ""
	if _, err := os.Stat(dir); err == nil {
		old = tmp + ".old"
		if err := os.Rename(dir, old); err != nil {
			return err
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		if old != "" {
			os.Rename(old, dir)
		}
		return err
	}
	if old != "" {
		return os.RemoveAll(old)
	}
	return nil
}

// optID is an id for a JSON file, or nil when absent.
func optID(id int) any {
	if id < 0 {
		return nil
	}
	return id
}

// hfConfig is config.json. model_type llama: transformers.js (4.3.1) gives
// llama the cache names past_key_values.{i}.key/.value and
// present.{i}.key/.value, mhcc's, and feeds attention_mask and
// position_ids because the graph declares them. The mhcc block says what
// the graph really is: llama's attention and MLP with mHC around them.
func hfConfig(m *model.Model, dtype string, external bool) map[string]any {
	a := m.Arch
	torchDtype := "float32"
	if dtype == "fp16" {
		torchDtype = "float16"
	}
	js := map[string]any{"dtype": dtype}
	if external {
		js["use_external_data_format"] = true
	}
	return map[string]any{
		"architectures":           []string{"LlamaForCausalLM"},
		"model_type":              "llama",
		"vocab_size":              a.VocabSize,
		"hidden_size":             a.HiddenSize,
		"intermediate_size":       a.FFNHiddenSize,
		"num_hidden_layers":       a.Layers,
		"num_attention_heads":     a.Heads,
		"num_key_value_heads":     a.KVHeads,
		"head_dim":                a.HeadDim,
		"max_position_embeddings": m.Inputs.MaxSequence,
		"rms_norm_eps":            a.NormEps,
		"rope_theta":              a.RopeTheta,
		"bos_token_id":            optID(m.Generation.BOS),
		"eos_token_id":            optID(m.Generation.EOS),
		"tie_word_embeddings":     a.TieEmbeddings,
		"use_cache":               true,
		"torch_dtype":             torchDtype,
		"transformers.js_config":  js,
		"mhcc": map[string]any{
			"name":              m.Name,
			"hyper_connections": m.HC.Kind,
			"streams":           m.HC.Streams,
			"note":              "an mhcc KV-cache graph: llama's interface, mHC (or a plain residual) inside; not loadable by transformers' PyTorch LlamaForCausalLM",
		},
	}
}

// generationConfig is generation_config.json: greedy, capped at the RoPE
// tables (max_length = inputs.max_sequence).
func generationConfig(m *model.Model) map[string]any {
	return map[string]any{
		"bos_token_id": optID(m.Generation.BOS),
		"eos_token_id": optID(m.Generation.EOS),
		"pad_token_id": optID(m.Generation.EOS),
		"max_length":   m.Inputs.MaxSequence,
		"do_sample":    false,
	}
}

// genaiConfig is genai_config.json in onnxruntime-genai's schema for
// decoder models. past_present_share_buffer is false: mhcc's presents are
// the pasts with the new tokens appended (T = P + S), not a preallocated
// max-length buffer. onnxruntime-genai reads every token id as a number
// (a JSON null fails the whole config), so an absent bos is left out and an
// absent eos is -1 (never generated) with pad 0.
func genaiConfig(m *model.Model, file string) map[string]any {
	a := m.Arch
	eos, pad := optID(m.Generation.EOS), optID(m.Generation.EOS)
	if eos == nil {
		eos, pad = -1, 0
	}
	model := map[string]any{
		"type":           "llama",
		"eos_token_id":   eos,
		"pad_token_id":   pad,
		"context_length": m.Inputs.MaxSequence,
		"vocab_size":     a.VocabSize,
		"decoder": map[string]any{
			"filename":            file,
			"session_options":     map[string]any{"log_id": "onnxruntime-genai", "provider_options": []any{}},
			"head_size":           a.HeadDim,
			"hidden_size":         a.HiddenSize,
			"num_attention_heads": a.Heads,
			"num_key_value_heads": a.KVHeads,
			"num_hidden_layers":   a.Layers,
			"inputs": map[string]any{
				"input_ids":        lower.InputIDs,
				"attention_mask":   lower.AttentionMask,
				"position_ids":     lower.PositionIDs,
				"past_key_names":   lower.PastPrefix + "%d" + lower.KeySuffix,
				"past_value_names": lower.PastPrefix + "%d" + lower.ValueSuffix,
			},
			"outputs": map[string]any{
				"logits":              lower.Logits,
				"present_key_names":   lower.PresentPrefix + "%d" + lower.KeySuffix,
				"present_value_names": lower.PresentPrefix + "%d" + lower.ValueSuffix,
			},
		},
	}
	if m.Generation.BOS >= 0 {
		model["bos_token_id"] = m.Generation.BOS
	}
	return map[string]any{
		"model": model,
		"search": map[string]any{
			"diversity_penalty":         0.0,
			"do_sample":                 false,
			"early_stopping":            true,
			"length_penalty":            1.0,
			"max_length":                m.Inputs.MaxSequence,
			"min_length":                0,
			"no_repeat_ngram_size":      0,
			"num_beams":                 1,
			"num_return_sequences":      1,
			"past_present_share_buffer": false,
			"repetition_penalty":        1.0,
			"temperature":               1.0,
			"top_k":                     1,
			"top_p":                     1.0,
		},
	}
}

// tokenizerConfig is tokenizer_config.json, which transformers.js's
// AutoTokenizer reads next to tokenizer.json: left padding, as generation
// needs.
func tokenizerConfig(m *model.Model) map[string]any {
	return map[string]any{
		"tokenizer_class":  "PreTrainedTokenizerFast",
		"model_max_length": m.Inputs.MaxSequence,
		"padding_side":     "left",
	}
}
