package model

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// mhcc import: a model file from a Hugging Face config.json. The keys of
// the architecture section are docs/spec.md §5.1's, the architecture
// options (norm, activation, positions, biases, tie_embeddings, moe)
// included; a key is written only when its value differs from the
// default, so a Llama-style model file reads as it always did.

// HFModelTypes are the config.json model_type values import reads.
var HFModelTypes = []string{"llama", "mistral", "qwen2", "gpt2", "deepseek_v3", "deepseek_v4"}

// An Imported is a model file written from a config.json, and what of the
// config.json it does not carry.
type Imported struct {
	YAML []byte
	// Ignored are keys with no effect on what the model computes
	// (dropouts, dtypes, ids of the training setup).
	Ignored []string
	// Unsupported are keys for features mhcc does not have, with their
	// values: the model file describes the model without them.
	Unsupported []string
	// Unknown are keys import does not know.
	Unknown []string
}

// ImportOptions are the choices config.json does not make.
type ImportOptions struct {
	Name    string // the model's name
	Weights string // weights.path, relative to the model file; "" for random weights
	HC      string // HCMHC or HCResidual when config.json does not say
}

// hfIgnored are config.json keys that change nothing mhcc computes.
var hfIgnored = []string{
	"_name_or_path", "architectures", "model_type", "torch_dtype", "dtype", "transformers_version",
	"use_cache", "initializer_range", "pad_token_id", "attention_dropout", "hidden_dropout",
	"resid_pdrop", "embd_pdrop", "attn_pdrop", "summary_activation", "summary_first_dropout",
	"summary_proj_to_labels", "summary_type", "summary_use_proj", "task_specific_params",
	"pretraining_tp", "max_window_layers", "use_sliding_window", "bos_token_id", "eos_token_id",
	"auto_map", "quantization_config", "n_ctx", "scale_attn_weights", "scale_attn_by_inverse_layer_idx",
	"reorder_and_upcast_attn", "ep_size", "aux_loss_alpha",
	"seq_aux", "num_nextn_predict_layers", "moe_layer_freq", "output_router_logits",
	"router_aux_loss_coef", "id2label", "label2id", "tokenizer_class", "transformers.js_config",
}

// hfUnsupported are keys of features mhcc lacks; a null (or, for a few,
// a false or default) value means the feature is off and the key is
// ignored.
var hfUnsupported = []string{
	"rope_scaling", "sliding_window", "q_lora_rank", "kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim",
	"v_head_dim", "o_lora_rank", "o_groups", "compress_ratios", "index_n_heads", "index_head_dim",
	"index_topk", "swiglu_limit", "num_hash_layers", "gate_temp", "partial_rotary_factor",
	"attn_logit_softcapping", "final_logit_softcapping", "linear_attn_config",
	"topk_method", "n_group", "topk_group",
}

// hfOff are the values of hfUnsupported keys that mean the feature is off:
// the key is then listed with the ignored ones.
var hfOff = map[string][]string{
	"topk_method":    {`"greedy"`}, // DeepSeek: noaux_tc adds a selection bias mhcc has not
	"n_group":        {"1"},        // group-limited routing with one group
	"topk_group":     {"1"},        //
	"swiglu_limit":   {"0", "0.0"}, //
	"sliding_window": {"null"},     // Qwen2 also has use_sliding_window: false
}

// An ImportError is a config.json mhcc cannot describe.
type ImportError struct {
	File, Key, Msg string
}

func (e *ImportError) Error() string {
	if e.Key == "" {
		return e.File + ": " + e.Msg
	}
	return e.File + ": " + e.Key + ": " + e.Msg
}

// hfConfig reads typed values out of a config.json, remembering which keys
// were used.
type hfConfig struct {
	file string
	raw  map[string]json.RawMessage
	used map[string]bool
	errs []error
}

func (c *hfConfig) has(key string) bool {
	v, ok := c.raw[key]
	return ok && string(v) != "null"
}

func (c *hfConfig) fail(key, format string, args ...any) {
	c.errs = append(c.errs, &ImportError{File: c.file, Key: key, Msg: fmt.Sprintf(format, args...)})
}

// int reads an integer key; ok is false when absent (or null).
func (c *hfConfig) int(key string) (int64, bool) {
	c.used[key] = true
	if !c.has(key) {
		return 0, false
	}
	var f float64
	if err := json.Unmarshal(c.raw[key], &f); err != nil || f != math.Trunc(f) || f < 0 || f > 1<<40 {
		c.fail(key, "got %s, want a non-negative integer", short(c.raw[key]))
		return 0, false
	}
	return int64(f), true
}

func (c *hfConfig) num(key string) (float64, bool) {
	c.used[key] = true
	if !c.has(key) {
		return 0, false
	}
	var f float64
	if err := json.Unmarshal(c.raw[key], &f); err != nil {
		c.fail(key, "got %s, want a number", short(c.raw[key]))
		return 0, false
	}
	return f, true
}

func (c *hfConfig) bool(key string) (bool, bool) {
	c.used[key] = true
	if !c.has(key) {
		return false, false
	}
	var b bool
	if err := json.Unmarshal(c.raw[key], &b); err != nil {
		c.fail(key, "got %s, want true or false", short(c.raw[key]))
		return false, false
	}
	return b, true
}

func (c *hfConfig) str(key string) (string, bool) {
	c.used[key] = true
	if !c.has(key) {
		return "", false
	}
	var s string
	if err := json.Unmarshal(c.raw[key], &s); err != nil {
		c.fail(key, "got %s, want a string", short(c.raw[key]))
		return "", false
	}
	return s, true
}

// slidingOff reports whether Qwen2's use_sliding_window turns the window
// off.
func (c *hfConfig) slidingOff() bool {
	return string(bytes.TrimSpace(c.raw["use_sliding_window"])) == "false"
}

// short renders a JSON value for a message.
func short(v json.RawMessage) string {
	s := string(bytes.TrimSpace(v))
	if len(s) > 60 {
		s = s[:60] + "…"
	}
	return s
}

// ImportHFConfig writes a model file for the config.json in data (file
// names it in messages). Problems are *ImportError values, all of them.
func ImportHFConfig(file string, data []byte, opt ImportOptions) (*Imported, error) {
	c := &hfConfig{file: file, used: map[string]bool{}}
	if err := json.Unmarshal(data, &c.raw); err != nil {
		return nil, &ImportError{File: file, Msg: fmt.Sprintf("not a config.json (a JSON object): %v", err)}
	}
	mt, ok := c.str("model_type")
	if !ok {
		if len(c.errs) == 0 {
			c.fail("model_type", "missing; want one of %s", strings.Join(HFModelTypes, ", "))
		}
		return nil, joinErrs(c.errs)
	}
	if !slices.Contains(HFModelTypes, mt) {
		return nil, &ImportError{File: file, Key: "model_type", Msg: fmt.Sprintf("got %q, want one of %s", mt, strings.Join(HFModelTypes, ", "))}
	}
	gpt2 := mt == "gpt2"
	deepseek := strings.HasPrefix(mt, "deepseek")

	type kv struct {
		key string
		val any
	}
	var arch, hc, inputs, gen []kv
	var moe []kv
	set := func(dst *[]kv, key string, val any) { *dst = append(*dst, kv{key, val}) }
	// key reads the first of keys present (gpt2 names them differently).
	pick := func(keys ...string) string {
		for _, k := range keys {
			c.used[k] = true
		}
		for _, k := range keys {
			if c.has(k) {
				return k
			}
		}
		return keys[0]
	}
	require := func(key string) int64 {
		v, ok := c.int(key)
		if !ok && !c.has(key) {
			c.fail(key, "missing, want an integer")
		}
		return v
	}

	set(&arch, "kind", ArchDecoder)
	vocab := require(pick("vocab_size"))
	set(&arch, "vocab_size", vocab)
	hidden := require(pick("hidden_size", "n_embd"))
	set(&arch, "hidden_size", hidden)
	set(&arch, "layers", require(pick("num_hidden_layers", "n_layer")))
	heads := require(pick("num_attention_heads", "n_head"))
	set(&arch, "heads", heads)
	if v, ok := c.int("num_key_value_heads"); ok && v != heads {
		set(&arch, "kv_heads", v)
	}
	if v, ok := c.int("head_dim"); ok && (heads == 0 || v != hidden/heads || hidden%heads != 0) {
		set(&arch, "head_dim", v)
	}
	ffnKey := pick("intermediate_size", "n_inner")
	ffn, ok := c.int(ffnKey)
	if !ok {
		if !gpt2 {
			c.fail("intermediate_size", "missing, want an integer")
		}
		ffn = 4 * hidden // GPT-2's n_inner: null means 4·n_embd
	}
	set(&arch, "ffn_hidden_size", ffn)
	epsKey := pick("rms_norm_eps", "layer_norm_epsilon", "layer_norm_eps")
	if v, ok := c.num(epsKey); ok {
		if v <= 0 || v > maxEps {
			c.fail(epsKey, "got %g, want a number in (0, %g]", v, maxEps)
		}
		set(&arch, "norm_eps", v)
	}
	if gpt2 {
		set(&arch, "norm", "layernorm")
		set(&arch, "norm_bias", true)
	}
	// Activation: the gated families use hidden_act on w1 (SwiGLU for silu).
	actKey := pick("hidden_act", "activation_function")
	act, _ := c.str(actKey)
	gated := map[string]string{"silu": "swiglu", "swish": "swiglu", "gelu": "geglu", "gelu_pytorch_tanh": "", "relu2": ""}
	plain := map[string]string{"gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh", "gelu_fast": "", "gelu": "gelu", "relu2": "relu2"}
	table, supported := gated, []string{"silu", "gelu"}
	if gpt2 {
		table, supported = plain, []string{"gelu_new", "gelu_pytorch_tanh", "gelu", "relu2"}
		if act == "" {
			act = "gelu_new" // GPT2Config's default
		}
	} else if act == "" {
		act = "silu"
	}
	if a := table[act]; a == "" {
		c.fail(actKey, "got %q, want one of %s (for model_type %s)", act, strings.Join(supported, ", "), mt)
	} else if a != "swiglu" {
		set(&arch, "activation", a)
	}
	if gpt2 {
		set(&arch, "positions", "learned")
	} else if v, ok := c.num("rope_theta"); ok && v != DefaultRopeTheta {
		set(&arch, "rope_theta", v)
	}
	// tie_word_embeddings: transformers' default is true, but the Llama,
	// Mistral, Qwen2 and DeepSeek configs default it to false.
	tie, ok := c.bool("tie_word_embeddings")
	if !ok {
		tie = gpt2
	}
	if tie {
		set(&arch, "tie_embeddings", true)
	}
	switch {
	case gpt2:
		set(&arch, "qkv_bias", true)
		set(&arch, "out_bias", true)
		set(&arch, "mlp_bias", true)
	case mt == "qwen2":
		set(&arch, "qkv_bias", true) // Qwen2's q, k, v projections always have biases
	default:
		if b, _ := c.bool("attention_bias"); b {
			set(&arch, "qkv_bias", true)
			set(&arch, "out_bias", true)
		}
		if b, _ := c.bool("mlp_bias"); b {
			set(&arch, "mlp_bias", true)
		}
	}
	if deepseek {
		if n, ok := c.int("n_routed_experts"); ok && n > 0 {
			set(&moe, "experts", n)
			k, ok := c.int("num_experts_per_tok")
			if !ok {
				c.fail("num_experts_per_tok", "missing, want an integer (n_routed_experts is set)")
			}
			set(&moe, "experts_per_token", k)
			if v, ok := c.int("n_shared_experts"); ok && v > 0 {
				set(&moe, "shared_experts", v)
			}
			if v, ok := c.int("moe_intermediate_size"); ok && v != ffn {
				set(&moe, "expert_ffn_hidden_size", v)
			}
			if v, ok := c.str("scoring_func"); ok {
				switch v {
				case "softmax":
				case "sigmoid":
					set(&moe, "router", "sigmoid")
				default:
					c.fail("scoring_func", "got %q, want softmax or sigmoid", v)
				}
			}
			if v, ok := c.bool("norm_topk_prob"); ok && v {
				set(&moe, "normalize_top_k", true)
			}
			if v, ok := c.num("routed_scaling_factor"); ok && v != 1 {
				set(&moe, "routed_scaling_factor", v)
			}
			if v, ok := c.int("first_k_dense_replace"); ok && v > 0 {
				set(&moe, "dense_layers", v)
			}
		}
	}
	// Hyper-connections: DeepSeek-V4-style keys, else defaults.
	hcDefaults := true
	kind := opt.HC
	if kind == "" {
		kind = HCMHC
	}
	if v, ok := c.int("hc_mult"); ok {
		hcDefaults, kind = false, HCMHC
		set(&hc, "streams", v)
	}
	if v, ok := c.int("hc_sinkhorn_iters"); ok {
		set(&hc, "sinkhorn_iterations", v)
	}
	if v, ok := c.num("hc_eps"); ok {
		set(&hc, "eps", v)
	}
	c.used["mhc"] = true
	// A config.json mhcc export wrote says what the model file said.
	if raw, ok := c.raw["mhcc"]; ok {
		c.used["mhcc"] = true
		var x struct {
			HC      string `json:"hyper_connections"`
			Streams int64  `json:"streams"`
		}
		if json.Unmarshal(raw, &x) == nil && (x.HC == HCMHC || x.HC == HCResidual) && hcDefaults {
			kind = x.HC
			hc = nil
			if x.HC == HCMHC && x.Streams > 0 {
				set(&hc, "streams", x.Streams)
			}
			hcDefaults = false
		}
	}
	var seqNote string
	if v, ok := c.int(pick("max_position_embeddings", "n_positions")); ok {
		// The RoPE tables are bounded (docs/spec.md §5.1): a longer
		// context is cut, and the file says so.
		hd := hidden / max(heads, 1)
		for _, e := range arch {
			if e.key == "head_dim" {
				hd = e.val.(int64)
			}
		}
		limit := int64(maxSequence)
		if !gpt2 && hd > 0 {
			limit = min(limit, maxRopeElems/hd)
		}
		if v > limit {
			seqNote = fmt.Sprintf("  # config.json: %d; mhcc's RoPE tables stop at max_sequence × head_dim = 2^27", v)
			v = limit
		}
		set(&inputs, "max_sequence", v)
	}
	for _, k := range []string{"bos_token_id", "eos_token_id"} {
		c.used[k] = true
		id, ok := firstID(c.raw[k])
		if ok && id < vocab {
			set(&gen, k, id)
		}
	}
	if len(c.errs) > 0 {
		return nil, joinErrs(c.errs)
	}

	imp := &Imported{}
	for _, k := range mapKeys(c.raw) {
		switch {
		case c.used[k]:
		case slices.Contains(hfIgnored, k):
			imp.Ignored = append(imp.Ignored, k)
		case slices.Contains(hfUnsupported, k):
			v := string(bytes.TrimSpace(c.raw[k]))
			if v == "null" || v == "false" || slices.Contains(hfOff[k], v) || k == "sliding_window" && c.slidingOff() {
				imp.Ignored = append(imp.Ignored, k)
				continue
			}
			imp.Unsupported = append(imp.Unsupported, k+" = "+short(c.raw[k]))
		default:
			imp.Unknown = append(imp.Unknown, k)
		}
	}

	var b strings.Builder
	fmt.Fprintf(&b, "# %s: written by mhcc import from %s (model_type %s).\n", opt.Name, file, mt)
	comment := func(title string, keys []string) {
		if len(keys) == 0 {
			return
		}
		fmt.Fprintf(&b, "# %s:\n", title)
		for _, k := range keys {
			fmt.Fprintf(&b, "#   %s\n", k)
		}
	}
	comment("config.json keys for features mhcc does not have: this model file describes the\n# model WITHOUT them, so it computes something else than the checkpoint's model", imp.Unsupported)
	comment("config.json keys mhcc does not know (not used)", imp.Unknown)
	comment("config.json keys with no effect on inference (not used)", imp.Ignored)
	b.WriteString("format: 1\n")
	fmt.Fprintf(&b, "name: %s\n", yamlString(opt.Name))
	writeSection := func(name string, kvs []kv, indent string) {
		for _, e := range kvs {
			fmt.Fprintf(&b, "%s%s: %s\n", indent, e.key, yamlValue(e.val))
		}
	}
	b.WriteString("architecture:\n")
	writeSection("architecture", arch, "  ")
	if len(moe) > 0 {
		b.WriteString("  moe:\n")
		writeSection("moe", moe, "    ")
	}
	b.WriteString("hyper_connections:\n")
	if hcDefaults {
		if kind == HCMHC {
			b.WriteString("  # config.json says nothing about hyper-connections: mhcc's defaults\n" +
				"  # (docs/spec.md §5.1). Set them as the model was trained, or kind: residual\n" +
				"  # for a plain transformer.\n")
		} else {
			b.WriteString("  # config.json says nothing about hyper-connections: a plain residual model.\n")
		}
	}
	fmt.Fprintf(&b, "  kind: %s\n", kind)
	if kind == HCMHC {
		// Every key written: from config.json where it says, else mhcc's
		// default, marked.
		from := map[string]any{}
		for _, e := range hc {
			from[e.key] = e.val
		}
		for _, d := range []kv{{"streams", DefaultStreams}, {"dynamic", DefaultDynamic}, {"sinkhorn_iterations", DefaultIterations},
			{"eps", float64(DefaultEps)}, {"rms_eps", float64(DefaultRMSEps)}, {"collapse", DefaultCollapse}} {
			if v, ok := from[d.key]; ok {
				fmt.Fprintf(&b, "  %s: %s\n", d.key, yamlValue(v))
			} else if hcDefaults {
				fmt.Fprintf(&b, "  %s: %s\n", d.key, yamlValue(d.val))
			} else {
				fmt.Fprintf(&b, "  %s: %s  # mhcc's default: config.json does not say\n", d.key, yamlValue(d.val))
			}
		}
	}
	b.WriteString("weights:\n")
	if opt.Weights == "" {
		b.WriteString("  source: random  # no checkpoint given (mhcc import --weights)\n")
	} else {
		fmt.Fprintf(&b, "  source: safetensors\n  path: %s\n", yamlString(opt.Weights))
		preset := PresetHFLlama
		switch {
		case gpt2:
			preset = PresetHFGPT2
		case deepseek:
			preset = PresetDeepSeekV4
		}
		fmt.Fprintf(&b, "  names: {preset: %s}\n", preset)
	}
	if len(inputs) > 0 {
		b.WriteString("inputs:\n")
		for _, e := range inputs {
			note := ""
			if e.key == "max_sequence" {
				note = seqNote
			}
			fmt.Fprintf(&b, "  %s: %s%s\n", e.key, yamlValue(e.val), note)
		}
	}
	if len(gen) > 0 {
		b.WriteString("generation:\n")
		writeSection("generation", gen, "  ")
	}
	imp.YAML = []byte(b.String())
	return imp, nil
}

// firstID reads a token id, or the first of a list of ids.
func firstID(v json.RawMessage) (int64, bool) {
	var id int64
	if json.Unmarshal(v, &id) == nil && id >= 0 {
		return id, true
	}
	var ids []int64
	if json.Unmarshal(v, &ids) == nil && len(ids) > 0 && ids[0] >= 0 {
		return ids[0], true
	}
	return 0, false
}

func yamlValue(v any) string {
	switch x := v.(type) {
	case string:
		return yamlString(x)
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1e15 {
			return strconv.FormatFloat(x, 'f', 1, 64)
		}
		s := strconv.FormatFloat(x, 'g', -1, 64)
		if !strings.ContainsAny(s, ".eEn") {
			s += ".0"
		} else if strings.Contains(s, "e") && !strings.Contains(s, ".") {
			// YAML 1.1 readers want 1.0e-06, not 1e-06.
			m, e, _ := strings.Cut(s, "e")
			s = m + ".0e" + e
		}
		return s
	}
	return fmt.Sprint(v)
}

// yamlString quotes s unless it is a plain YAML string.
func yamlString(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./", r))
	}) < 0 && !strings.ContainsAny(s[:1], "0123456789-.") {
		return s
	}
	q, _ := json.Marshal(s)
	return string(q)
}

func mapKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// joinErrs is every import error, one per line.
func joinErrs(errs []error) error {
	if len(errs) == 1 {
		return errs[0]
	}
	var b strings.Builder
	for i, e := range errs {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return fmt.Errorf("%s", b.String())
}
