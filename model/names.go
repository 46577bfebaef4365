package model

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/mhcc-dev/mhcc/internal/safetensors"
	"github.com/mhcc-dev/mhcc/ir"
	"go.yaml.in/yaml/v3"
)

// weights.names (docs/spec.md §4.2): how the tensor names of a checkpoint
// map onto the names of docs/spec.md §4.1. Absent, names are used as they
// are.

// Names presets.
const (
	PresetHFLlama    = "hf-llama"
	PresetDeepSeekV4 = "deepseek-v4"
	PresetNanoGPT    = "nanogpt"
	PresetHFGPT2     = "hf-gpt2"
)

// Presets lists the names presets.
var Presets = []string{PresetHFLlama, PresetDeepSeekV4, PresetNanoGPT, PresetHFGPT2}

// NamesSpec is the weights.names section.
type NamesSpec struct {
	Preset      string // "" for none
	StripPrefix string
	Ignore      []NamePattern
	Rules       []NameRule
	// Positions, for errors: the names key, preset and strip_prefix.
	Pos, PresetPos, StripPos ir.Pos
}

// A NamePattern is one regular expression of weights.names.ignore.
type NamePattern struct {
	Text string
	re   *regexp.Regexp
	Pos  ir.Pos
	Key  string // "weights.names.ignore[0]"
	// beyond, for a preset's pattern with a {i} capture: the pattern
	// matches only when i is at least this (DeepSeek's multi-token
	// prediction layers come after the model's); 0: always.
	beyond int
}

// matches reports whether the pattern drops the tensor name.
func (p NamePattern) matches(name string) bool {
	sub := p.re.FindStringSubmatch(name)
	if sub == nil {
		return false
	}
	if p.beyond > 0 {
		i, err := strconv.Atoi(sub[p.re.SubexpIndex("i")])
		return err == nil && i >= p.beyond
	}
	return true
}

// A NameRule renames the checkpoint tensors its pattern matches (whole
// names): From is a regular expression in which {x} stands for a run of
// digits captured as x (a layer or expert number); To are templates in which
// {x} is replaced by the capture (a named group (?P<x>…) works too). One
// template renames; several split the tensor along dimension 0 into parts of
// Sizes rows (equal parts without Sizes), after a transpose if Transpose.
type NameRule struct {
	From      string
	To        []string
	Sizes     []int64
	Transpose bool
	Pos       ir.Pos // the rule in the file (for a preset's rules, the preset key)
	Key       string // "weights.names.rules[2]", or "weights.names.preset"
	re        *regexp.Regexp
	preset    bool
}

// placeholder matches {x} in a rule's pattern and templates.
var placeholder = regexp.MustCompile(`\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// compileFrom turns a rule pattern into an anchored regular expression.
func compileFrom(from string) (*regexp.Regexp, error) {
	seen := map[string]bool{}
	var dup string
	expr := placeholder.ReplaceAllStringFunc(from, func(p string) string {
		name := p[1 : len(p)-1]
		if seen[name] {
			dup = name
			return `(?:[0-9]+)`
		}
		seen[name] = true
		return `(?P<` + name + `>[0-9]+)`
	})
	if dup != "" {
		return nil, fmt.Errorf("placeholder {%s} appears twice", dup)
	}
	return regexp.Compile(`^(?:` + expr + `)$`)
}

// checkTemplate reports a placeholder of to that re does not capture.
func checkTemplate(re *regexp.Regexp, to string) error {
	for _, m := range placeholder.FindAllStringSubmatch(to, -1) {
		if re.SubexpIndex(m[1]) < 0 {
			return fmt.Errorf("template %q uses {%s}, which the pattern does not capture", to, m[1])
		}
	}
	return nil
}

// expand fills the template to with the captures of re in sub.
func expand(re *regexp.Regexp, sub []string, to string) string {
	return placeholder.ReplaceAllStringFunc(to, func(p string) string {
		return sub[re.SubexpIndex(p[1:len(p)-1])]
	})
}

// names reads weights.names (safetensors only).
func (l *loader) names(s *section) {
	f, ok := s.field("names")
	if !ok {
		return
	}
	ns := l.section("weights.names", l.pos(f.key), f.val, false)
	if ns.dead {
		return
	}
	spec := &NamesSpec{Pos: l.pos(f.key)}
	if p, ok := ns.enum("preset", Presets...); ok {
		spec.Preset = p
		pf, _ := ns.field("preset")
		spec.PresetPos = l.pos(pf.at)
	}
	if p, ok := ns.str("strip_prefix", "a name prefix such as \"model.\""); ok {
		spec.StripPrefix = p
		pf, _ := ns.field("strip_prefix")
		spec.StripPos = l.pos(pf.at)
	}
	if g, ok := ns.field("ignore"); ok {
		items, ok := l.list(g, "weights.names.ignore", "a list of regular expressions")
		for k, it := range items {
			key := fmt.Sprintf("weights.names.ignore[%d]", k)
			if !isString(it) || it.Value == "" {
				l.errs.Add(l.pos(it), key, "got %s, want a regular expression", describe(it))
				continue
			}
			re, err := regexp.Compile(`^(?:` + it.Value + `)$`)
			if err != nil {
				l.errs.Add(l.pos(it), key, "got %s, want a regular expression: %v", describe(it), err)
				continue
			}
			spec.Ignore = append(spec.Ignore, NamePattern{Text: it.Value, re: re, Pos: l.pos(it), Key: key})
		}
		_ = ok
	}
	if g, ok := ns.field("rules"); ok {
		items, _ := l.list(g, "weights.names.rules", "a list of rules {from: pattern, to: name}")
		for k, it := range items {
			if r, ok := l.rule(it, fmt.Sprintf("weights.names.rules[%d]", k)); ok {
				spec.Rules = append(spec.Rules, r)
			}
		}
	}
	if spec.Preset == "" && spec.StripPrefix == "" && len(spec.Rules) == 0 && len(spec.Ignore) == 0 && len(l.errs) == 0 {
		l.errs.Add(spec.Pos, "weights.names", "got no preset, strip_prefix, rules or ignore, want at least one (or leave names out)")
	}
	l.m.Weights.Names = spec
}

// list reads a YAML sequence.
func (l *loader) list(f field, key, want string) ([]*yaml.Node, bool) {
	if f.val.Kind != yaml.SequenceNode {
		l.errs.Add(l.pos(f.at), key, "got %s, want %s", describe(f.val), want)
		return nil, false
	}
	out := make([]*yaml.Node, len(f.val.Content))
	for i, n := range f.val.Content {
		out[i] = deref(n)
	}
	return out, true
}

// ruleKeys are the keys of a rename rule.
var ruleKeys = []string{"from", "to", "sizes", "transpose"}

// rule reads one rule of weights.names.rules.
func (l *loader) rule(n *yaml.Node, key string) (NameRule, bool) {
	r := NameRule{Pos: l.pos(n), Key: key}
	if n.Kind != yaml.MappingNode {
		l.errs.Add(l.pos(n), key, "got %s, want a mapping {from: pattern, to: name}", describe(n))
		return r, false
	}
	fields := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), deref(n.Content[i+1])
		if k.Kind != yaml.ScalarNode || !slices.Contains(ruleKeys, k.Value) {
			l.errs.Add(l.pos(k), key, "unknown key %s%s (a rule has from, to, sizes, transpose)", quoteShort(k.Value), didYouMean(k.Value, ruleKeys))
			continue
		}
		if _, dup := fields[k.Value]; dup {
			l.errs.Add(l.pos(k), key, "duplicate key %q", k.Value)
			continue
		}
		fields[k.Value] = v
	}
	before := len(l.errs)
	from, ok := fields["from"]
	switch {
	case !ok:
		l.errs.Add(r.Pos, key, `missing key "from"`)
	case !isString(from) || from.Value == "":
		l.errs.Add(l.pos(from), key+".from", "got %s, want a regular expression (with {i} for a captured number)", describe(from))
	default:
		re, err := compileFrom(from.Value)
		if err != nil {
			l.errs.Add(l.pos(from), key+".from", "got %s, want a regular expression: %v", describe(from), err)
		}
		r.From, r.re = from.Value, re
	}
	to, ok := fields["to"]
	switch {
	case !ok:
		l.errs.Add(r.Pos, key, `missing key "to"`)
	case isString(to) && to.Value != "":
		r.To = []string{to.Value}
	case to.Kind == yaml.SequenceNode && len(to.Content) >= 2:
		for _, t := range to.Content {
			t = deref(t)
			if !isString(t) || t.Value == "" {
				l.errs.Add(l.pos(t), key+".to", "got %s, want a tensor name", describe(t))
				continue
			}
			r.To = append(r.To, t.Value)
		}
	default:
		l.errs.Add(l.pos(to), key+".to", "got %s, want a tensor name, or a list of two or more (a split)", describe(to))
	}
	if r.re != nil {
		for _, t := range r.To {
			if err := checkTemplate(r.re, t); err != nil {
				l.errs.Add(l.pos(to), key+".to", "%v", err)
			}
		}
	}
	if sz, ok := fields["sizes"]; ok {
		switch {
		case len(r.To) < 2:
			l.errs.Add(l.pos(sz), key+".sizes", "not allowed without a list of names in to (sizes split a tensor)")
		case sz.Kind != yaml.SequenceNode || len(sz.Content) != len(r.To):
			l.errs.Add(l.pos(sz), key+".sizes", "got %s, want a list of %d positive integers, one per name in to", describe(sz), len(r.To))
		default:
			for _, d := range sz.Content {
				d = deref(d)
				v, res := intValue(d)
				if res != intOK || v < 1 || v > maxFFN*64 {
					l.errs.Add(l.pos(d), key+".sizes", "got %s, want a positive integer (rows along dimension 0)", describe(d))
					continue
				}
				r.Sizes = append(r.Sizes, v)
			}
		}
	}
	if tr, ok := fields["transpose"]; ok {
		if tr.Kind != yaml.ScalarNode || tr.ShortTag() != "!!bool" || tr.Decode(&r.Transpose) != nil {
			l.errs.Add(l.pos(tr), key+".transpose", "got %s, want true or false", describe(tr))
		}
	}
	return r, len(l.errs) == before
}

// presetRules are the rules of a preset for model m, applied after the
// file's own rules. Sizes of fused tensors come from m's architecture.
func presetRules(spec *NamesSpec, m *Model) (rules []NameRule, ignore []NamePattern) {
	a := m.Arch
	q, kv, f := int64(a.Heads*a.HeadDim), int64(a.KVHeads*a.HeadDim), int64(a.FFNHiddenSize)
	add := func(from string, to ...string) *NameRule {
		re, err := compileFrom(from)
		if err != nil {
			panic(err) // the presets are constants
		}
		rules = append(rules, NameRule{From: from, To: to, re: re, preset: true, Pos: spec.PresetPos, Key: "weights.names.preset"})
		return &rules[len(rules)-1]
	}
	ign := func(from string) {
		re, err := compileFrom(from)
		if err != nil {
			panic(err) // the presets are constants
		}
		ignore = append(ignore, NamePattern{Text: from, re: re, Pos: spec.PresetPos, Key: "weights.names.preset"})
	}
	const p = `(?P<p>weight|bias)`
	switch spec.Preset {
	case PresetHFLlama, PresetDeepSeekV4:
		// Hugging Face Llama, Mistral, Qwen2 (and their MoE variants:
		// Mixtral, Qwen2-MoE, DeepSeek-V3's Hugging Face layout).
		const m = `(?:model\.)?`
		const L = m + `layers\.{i}\.`
		add(m+`embed_tokens\.weight`, "embed.weight")
		add(L+`input_layernorm\.`+p, "layers.{i}.attn_norm.{p}")
		add(L+`post_attention_layernorm\.`+p, "layers.{i}.ffn_norm.{p}")
		for _, hf := range []string{"q", "k", "v", "o"} {
			ours := "w" + hf
			add(L+`self_attn\.`+hf+`_proj\.`+p, "layers.{i}.attn."+ours+".{p}")
		}
		add(L+`self_attn\.qkv_proj\.weight`, "layers.{i}.attn.wq.weight", "layers.{i}.attn.wk.weight", "layers.{i}.attn.wv.weight").Sizes = []int64{q, kv, kv}
		for _, pair := range [][2]string{{"gate", "w1"}, {"up", "w3"}, {"down", "w2"}} {
			hf, ours := pair[0], pair[1]
			add(L+`mlp\.`+hf+`_proj\.`+p, "layers.{i}.ffn."+ours+".{p}")
			add(L+`mlp\.experts\.{e}\.`+hf+`_proj\.`+p, "layers.{i}.ffn.experts.{e}."+ours+".{p}")
			add(L+`mlp\.shared_experts?\.`+hf+`_proj\.`+p, "layers.{i}.ffn.shared_experts."+ours+".{p}")
		}
		add(L+`mlp\.gate_up_proj\.weight`, "layers.{i}.ffn.w1.weight", "layers.{i}.ffn.w3.weight").Sizes = []int64{f, f}
		add(L+`mlp\.gate\.weight`, "layers.{i}.ffn.gate.weight")
		add(L+`block_sparse_moe\.gate\.weight`, "layers.{i}.ffn.gate.weight")
		add(L+`block_sparse_moe\.experts\.{e}\.(?P<w>w[123])\.weight`, "layers.{i}.ffn.experts.{e}.{w}.weight")
		add(m+`norm\.`+p, "norm.{p}")
		add(`lm_head\.weight`, "head.weight")
		// mHC parameters keep their names under the "model." prefix.
		add(`model\.(?P<rest>(?:layers\.[0-9]+\.)?hc_.*)`, "{rest}")
		ign(`.*\.rotary_emb\.inv_freq`)
		if spec.Preset == PresetDeepSeekV4 {
			// The multi-token-prediction modules DeepSeek checkpoints carry
			// after the last layer (num_nextn_predict_layers): not part of
			// the next-token model.
			ign(`(?:model\.)?layers\.{i}\..*`)
			ignore[len(ignore)-1].beyond = max(a.Layers, 1)
		}
	case PresetNanoGPT, PresetHFGPT2:
		// nanoGPT (nn.Linear, [out, in]) and Hugging Face GPT-2 (Conv1D,
		// [in, out]: transposed).
		tr := spec.Preset == PresetHFGPT2
		const t = `(?:transformer\.)?`
		const H = t + `h\.{i}\.`
		add(t+`wte\.weight`, "embed.weight")
		add(t+`wpe\.weight`, "pos_embed.weight")
		add(H+`ln_1\.`+p, "layers.{i}.attn_norm.{p}")
		add(H+`ln_2\.`+p, "layers.{i}.ffn_norm.{p}")
		for _, leaf := range []string{"weight", "bias"} {
			r := add(H+`attn\.c_attn\.`+leaf, "layers.{i}.attn.wq."+leaf, "layers.{i}.attn.wk."+leaf, "layers.{i}.attn.wv."+leaf)
			r.Sizes, r.Transpose = []int64{q, kv, kv}, tr && leaf == "weight"
			add(H+`attn\.c_proj\.`+leaf, "layers.{i}.attn.wo."+leaf).Transpose = tr && leaf == "weight"
			add(H+`mlp\.c_fc\.`+leaf, "layers.{i}.ffn.w1."+leaf).Transpose = tr && leaf == "weight"
			add(H+`mlp\.c_proj\.`+leaf, "layers.{i}.ffn.w2."+leaf).Transpose = tr && leaf == "weight"
		}
		add(t+`ln_f\.`+p, "norm.{p}")
		if a.TieEmbeddings {
			// nanoGPT ties lm_head to wte (GPT.__init__), so its
			// state_dict holds the same matrix twice; GPT-2 likewise
			// when saved with torch.save. The head is the embedding.
			ign(`lm_head\.weight`)
		} else {
			add(`lm_head\.weight`, "head.weight")
		}
		add(H+`(?P<rest>hc_.*)`, "layers.{i}.{rest}")
		add(`transformer\.(?P<rest>hc_.*)`, "{rest}")
		ign(H + `attn\.(?:masked_)?bias`) // GPT-2's causal-mask buffers
	}
	return rules, ignore
}

// A NameEntry is where one tensor of the model comes from.
type NameEntry struct {
	Target    string     // the docs/spec.md §4.1 name
	Source    ckptTensor // the checkpoint tensor
	Scale     *ckptTensor
	Via       string // "", "strip_prefix", "weights.names.rules[2]", "preset hf-llama"
	Transpose bool
	Row0      int64   // first row along dimension 0 (after the transpose)
	Shape     []int64 // the shape the target gets
	split     bool
	// broken: the tensor cannot be had and the reason is reported (its
	// shard failed, its split does not divide); not reported as missing.
	broken bool
}

// A NameMap is a checkpoint's tensors under their §4.1 names.
type NameMap struct {
	Entries []*NameEntry // sorted by checkpoint name, then part
	Ignored []string     // checkpoint names weights.names.ignore (or the preset) drops
	Scales  []string     // FP8 block scales, read with their tensors
	target  map[string]*NameEntry
}

// mapNames maps the checkpoint's names with m's weights.names. Problems are
// added to errs at the rule, prefix or pattern they concern.
func mapNames(m *Model, ck *checkpoint, errs *ErrorList) *NameMap {
	nm := &NameMap{target: map[string]*NameEntry{}}
	spec := m.Weights.Names
	if spec == nil {
		spec = &NamesSpec{}
	}
	rules := slices.Clone(spec.Rules)
	ignore := slices.Clone(spec.Ignore)
	pr, pi := presetRules(spec, m)
	rules = append(rules, pr...)
	ignore = append(ignore, pi...)
	used := make([]bool, len(rules))
	ignoreUsed := make([]bool, len(ignore))
	stripUsed := false

	// FP8 block scales go with their tensors.
	scaleOf := map[string]*ckptTensor{}
	isScale := map[string]bool{}
	for _, t := range ck.tensors {
		if t.Info.DType != safetensors.F8E4M3 {
			continue
		}
		for _, s := range fp8ScaleNames(t.Name) {
			if st, ok := ck.lookup(s); ok {
				scaleOf[t.Name] = &st
				isScale[s] = true
				nm.Scales = append(nm.Scales, s)
				break
			}
		}
	}
	claim := func(e *NameEntry) {
		if prev, ok := nm.target[e.Target]; ok {
			pos, key := m.Weights.PathPos, "weights.path"
			if r := ruleByKey(rules, e.Via); r != nil {
				pos, key = r.Pos, r.Key
			} else if e.Via == "strip_prefix" {
				pos, key = spec.StripPos, "weights.names.strip_prefix"
			}
			errs.Add(pos, key, "tensors %q and %q both map to %q; want one tensor per name", prev.Source.Name, e.Source.Name, e.Target)
			return
		}
		nm.target[e.Target] = e
		nm.Entries = append(nm.Entries, e)
	}
	tensors := ck.tensors
	for _, name := range ck.broken {
		tensors = append(tensors, ckptTensor{Name: name})
	}
	brokenName := map[string]bool{}
	for _, name := range ck.broken {
		brokenName[name] = true
	}
	for _, t := range tensors {
		if isScale[t.Name] {
			continue
		}
		if k := slices.IndexFunc(ignore, func(p NamePattern) bool { return p.matches(t.Name) }); k >= 0 {
			ignoreUsed[k] = true
			nm.Ignored = append(nm.Ignored, t.Name)
			continue
		}
		name, via := t.Name, ""
		if spec.StripPrefix != "" {
			if rest, ok := strings.CutPrefix(name, spec.StripPrefix); ok && rest != "" {
				name, via, stripUsed = rest, "strip_prefix", true
			}
		}
		k := slices.IndexFunc(rules, func(r NameRule) bool { return r.re.MatchString(name) })
		if brokenName[t.Name] {
			if k >= 0 {
				used[k] = true
			}
			if k < 0 || len(rules[k].To) == 1 {
				target := name
				if k >= 0 {
					target = expand(rules[k].re, rules[k].re.FindStringSubmatch(name), rules[k].To[0])
				}
				claim(&NameEntry{Target: target, Source: t, Via: via, broken: true})
			} else {
				for _, to := range rules[k].To {
					claim(&NameEntry{Target: expand(rules[k].re, rules[k].re.FindStringSubmatch(name), to), Source: t, Via: via, broken: true})
				}
			}
			continue
		}
		if k < 0 {
			claim(&NameEntry{Target: name, Source: t, Scale: scaleOf[t.Name], Via: via, Shape: t.Info.Shape})
			continue
		}
		r := &rules[k]
		used[k] = true
		via = r.Key
		if r.preset {
			via = "preset " + spec.Preset
		}
		sub := r.re.FindStringSubmatch(name)
		shape := slices.Clone(t.Info.Shape)
		if r.Transpose {
			if len(shape) != 2 {
				errs.Add(r.Pos, r.Key, "tensor %q has shape %v; transpose wants a matrix", t.Name, shape)
				continue
			}
			shape[0], shape[1] = shape[1], shape[0]
		}
		if len(r.To) == 1 {
			claim(&NameEntry{Target: expand(r.re, sub, r.To[0]), Source: t, Scale: scaleOf[t.Name], Via: via, Transpose: r.Transpose, Shape: shape})
			continue
		}
		sizes, ok := splitSizes(r, shape)
		if !ok {
			want := fmt.Sprintf("they do not split into %d equal parts", len(r.To))
			if r.Sizes != nil {
				want = fmt.Sprintf("sizes %v sum to %d", r.Sizes, sum(r.Sizes))
			}
			rows := "a scalar"
			if len(shape) > 0 {
				rows = fmt.Sprintf("%d rows", shape[0])
			}
			errs.Add(r.Pos, r.Key, "tensor %q (shape %v%s) has %s along dimension 0; %s", t.Name, t.Info.Shape, map[bool]string{true: ", transposed", false: ""}[r.Transpose], rows, want)
			for _, to := range r.To {
				claim(&NameEntry{Target: expand(r.re, sub, to), Source: t, Via: via, broken: true})
			}
			continue
		}
		row := int64(0)
		for i, to := range r.To {
			part := slices.Clone(shape)
			part[0] = sizes[i]
			claim(&NameEntry{Target: expand(r.re, sub, to), Source: t, Scale: scaleOf[t.Name], Via: via, Transpose: r.Transpose, Row0: row, Shape: part, split: true})
			row += sizes[i]
		}
	}
	total := len(ck.tensors)
	for k, r := range rules {
		if !used[k] && !r.preset {
			errs.Add(r.Pos, r.Key, "pattern %s matches no tensor of %s (%d tensors)%s", quoteShort(r.From), ck.path, total, nearHint(r.From, ck))
		}
	}
	for k, p := range ignore {
		if !ignoreUsed[k] && p.Key != "weights.names.preset" {
			errs.Add(p.Pos, p.Key, "pattern %s matches no tensor of %s (%d tensors)", quoteShort(p.Text), ck.path, total)
		}
	}
	if spec.StripPrefix != "" && !stripUsed {
		errs.Add(spec.StripPos, "weights.names.strip_prefix", "no tensor of %s (%d tensors) starts with %s", ck.path, total, quoteShort(spec.StripPrefix))
	}
	return nm
}

// ruleByKey finds the file's rule with key k.
func ruleByKey(rules []NameRule, k string) *NameRule {
	for i := range rules {
		if rules[i].Key == k && !rules[i].preset {
			return &rules[i]
		}
	}
	return nil
}

// nearHint names a checkpoint tensor close to what a rule that matched
// nothing may have meant: the name nearest to its pattern's text.
func nearHint(from string, ck *checkpoint) string {
	if len(ck.tensors) > 5000 {
		return ""
	}
	names := make([]string, len(ck.tensors))
	for i, t := range ck.tensors {
		names[i] = t.Name
	}
	lit := strings.NewReplacer(`\.`, ".", `\`, "").Replace(placeholder.ReplaceAllString(from, "0"))
	if s := Nearest(lit, names); s != "" {
		return fmt.Sprintf("; the nearest name is %q", s)
	}
	return ""
}

// splitSizes are the rows of each part of a split of shape by r.
func splitSizes(r *NameRule, shape []int64) ([]int64, bool) {
	if len(shape) == 0 {
		return nil, false
	}
	if r.Sizes != nil {
		return r.Sizes, sum(r.Sizes) == shape[0]
	}
	n := int64(len(r.To))
	if shape[0]%n != 0 {
		return nil, false
	}
	out := make([]int64, n)
	for i := range out {
		out[i] = shape[0] / n
	}
	return out, true
}

func sum(v []int64) int64 {
	s := int64(0)
	for _, x := range v {
		s += x
	}
	return s
}

// describeVia says how an entry got its name, for mhcc names.
func (e *NameEntry) describeVia() string {
	var parts []string
	if e.Via != "" {
		parts = append(parts, e.Via)
	}
	if e.Transpose {
		parts = append(parts, "transposed")
	}
	if e.split {
		parts = append(parts, "rows "+strconv.FormatInt(e.Row0, 10)+"…"+strconv.FormatInt(e.Row0+e.Shape[0]-1, 10))
	}
	if e.Scale != nil {
		parts = append(parts, "FP8 × "+e.Scale.Name)
	}
	return strings.Join(parts, ", ")
}
