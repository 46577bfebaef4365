package model

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// docs/spec.md is the project's specification; these tests keep its model
// file (§5) and weight (§4) sections in step with the loader and
// WeightSpecs, so that a key, a default or a tensor added to the code
// without the docs (or the other way round) fails here.

const specPath = "../docs/spec.md"

// specSection returns the text of docs/spec.md from the heading starting
// with start up to the next heading of the same level.
func specSection(t *testing.T, start string) string {
	t.Helper()
	data, err := os.ReadFile(specPath)
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	i := strings.Index(s, "\n"+start)
	if i < 0 {
		t.Fatalf("%s: no heading %q", specPath, start)
	}
	s = s[i+1:]
	level := start[:strings.IndexByte(start, ' ')+1]
	if j := strings.Index(s[len(start):], "\n"+level); j >= 0 {
		s = s[:len(start)+j]
	}
	return s
}

// tableRows returns the cells of the table rows whose first cell is a
// backquoted name, in order.
func tableRows(text string) [][]string {
	var rows [][]string
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), " | ")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		rows = append(rows, cells)
	}
	return rows
}

func unquote(cell string) string { return strings.Trim(cell, "`") }

// The key table of §5.1 lists exactly the keys the loader accepts, and each
// default it states is the one Load fills in.
func TestSpecModelFileKeys(t *testing.T) {
	rows := tableRows(specSection(t, "### 5.1 "))
	documented := map[string][]string{}
	for _, r := range rows {
		if len(r) != 4 {
			t.Fatalf("§5.1 row %q: want 4 cells", r)
		}
		documented[unquote(r[0])] = r
	}
	var accepted []string
	for section, keys := range sectionKeys {
		for _, k := range keys {
			if section != "" {
				k = section + "." + k
			}
			accepted = append(accepted, k)
			if _, ok := documented[k]; !ok {
				t.Errorf("the loader accepts %q, docs/spec.md §5.1 does not list it", k)
			}
		}
	}
	for k := range documented {
		if !slices.Contains(accepted, k) {
			t.Errorf("docs/spec.md §5.1 lists %q, which the loader rejects", k)
		}
	}

	// Defaults, as Load fills them in minimal files (every optional key left
	// out). A getter renders a field the way the table writes its default.
	decoder := loadSpecModel(t, "decoder", `format: 1
architecture: {kind: decoder, vocab_size: 10, hidden_size: 8, layers: 1, heads: 2, ffn_hidden_size: 16}
hyper_connections: {kind: mhc}
weights: {source: random}
`)
	num := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	// The moe keys' defaults, in a file with the required moe keys only.
	moe := loadSpecModel(t, "moe", `format: 1
architecture: {kind: decoder, vocab_size: 10, hidden_size: 8, layers: 1, heads: 2, ffn_hidden_size: 16, moe: {experts: 4, experts_per_token: 2}}
hyper_connections: {kind: mhc}
weights: {source: random}
`).Arch.MoE
	getters := map[string]func(m *Model) string{
		"name": func(m *Model) string {
			if m.Name == "decoder" {
				return "the file's name without its extension"
			}
			return m.Name
		},
		"architecture.kv_heads": func(m *Model) string {
			if m.Arch.KVHeads == m.Arch.Heads {
				return "`heads`"
			}
			return strconv.Itoa(m.Arch.KVHeads)
		},
		"architecture.head_dim": func(m *Model) string {
			if m.Arch.HeadDim == m.Arch.HiddenSize/m.Arch.Heads {
				return "`hidden_size / heads`"
			}
			return strconv.Itoa(m.Arch.HeadDim)
		},
		"architecture.moe.shared_experts": func(*Model) string { return strconv.Itoa(moe.SharedExperts) },
		"architecture.moe.expert_ffn_hidden_size": func(m *Model) string {
			if moe.ExpertFFN == 16 {
				return "`ffn_hidden_size`"
			}
			return strconv.Itoa(moe.ExpertFFN)
		},
		"architecture.moe.router":                func(*Model) string { return moe.Router },
		"architecture.moe.normalize_top_k":       func(*Model) string { return strconv.FormatBool(moe.NormalizeTopK) },
		"architecture.moe.routed_scaling_factor": func(*Model) string { return num(moe.RoutedScaling) },
		"architecture.moe.dense_layers":          func(*Model) string { return strconv.Itoa(moe.DenseLayers) },
		"architecture.norm_eps":                  func(m *Model) string { return num(m.Arch.NormEps) },
		"architecture.rope_theta":                func(m *Model) string { return num(m.Arch.RopeTheta) },
		"hyper_connections.streams":              func(m *Model) string { return strconv.Itoa(m.HC.Streams) },
		"hyper_connections.dynamic":              func(m *Model) string { return strconv.FormatBool(m.HC.Dynamic) },
		"hyper_connections.sinkhorn_iterations":  func(m *Model) string { return strconv.Itoa(m.HC.Iterations) },
		"hyper_connections.eps":                  func(m *Model) string { return num(m.HC.Eps) },
		"hyper_connections.rms_eps":              func(m *Model) string { return num(m.HC.RMSEps) },
		"hyper_connections.collapse":             func(m *Model) string { return m.HC.Collapse },
		"weights.seed":                           func(m *Model) string { return strconv.FormatUint(m.Weights.Seed, 10) },
		"inputs":                                 func(m *Model) string { return "all defaults" },
		"inputs.batch":                           func(m *Model) string { return dynamicOr(m.Inputs.Batch) },
		"inputs.sequence":                        func(m *Model) string { return dynamicOr(m.Inputs.Sequence) },
		"inputs.max_sequence":                    func(m *Model) string { return strconv.Itoa(m.Inputs.MaxSequence) },
		"inputs.kv_cache":                        func(m *Model) string { return strconv.FormatBool(m.Inputs.KVCache) },
		"architecture.norm":                      func(m *Model) string { return m.Arch.Norm },
		"architecture.norm_bias":                 func(m *Model) string { return strconv.FormatBool(m.Arch.NormBias) },
		"architecture.activation":                func(m *Model) string { return m.Arch.Activation },
		"architecture.positions":                 func(m *Model) string { return m.Arch.Positions },
		"architecture.tie_embeddings":            func(m *Model) string { return strconv.FormatBool(m.Arch.TieEmbeddings) },
		"architecture.qkv_bias":                  func(m *Model) string { return strconv.FormatBool(m.Arch.QKVBias) },
		"architecture.out_bias":                  func(m *Model) string { return strconv.FormatBool(m.Arch.OutBias) },
		"architecture.mlp_bias":                  func(m *Model) string { return strconv.FormatBool(m.Arch.MLPBias) },
	}
	for k, r := range documented {
		def := r[2]
		get, ok := getters[k]
		switch {
		case def == "—" && ok:
			t.Errorf("§5.1 %s: no default documented, Load fills in %q", k, get(decoder))
		case def == "—":
		case !ok:
			t.Errorf("§5.1 %s: default %s documented; add a getter to this test to check it", k, def)
		default:
			got := get(decoder)
			if f, err := strconv.ParseFloat(unquote(def), 64); err == nil && !strings.HasPrefix(got, "`") {
				if g, err := strconv.ParseFloat(got, 64); err != nil || g != f {
					t.Errorf("§5.1 %s: default %s documented, Load fills in %s", k, def, got)
				}
			} else if got != def && "`"+got+"`" != def {
				t.Errorf("§5.1 %s: default %s documented, Load fills in %s", k, def, got)
			}
		}
	}
}

func dynamicOr(n int) string {
	if n == 0 {
		return "dynamic"
	}
	return strconv.Itoa(n)
}

func loadSpecModel(t *testing.T, name, src string) *Model {
	t.Helper()
	m, err := LoadBytes(name+".yaml", []byte(src))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return m
}

// Every YAML example of §5 is a valid model file.
func TestSpecModelFileExample(t *testing.T) {
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(specSection(t, "## 5. "), -1)
	if len(blocks) == 0 {
		t.Fatal("docs/spec.md §5 has no yaml example")
	}
	for i, b := range blocks {
		if _, err := LoadBytes(fmt.Sprintf("spec-example-%d.yaml", i), []byte(b[1])); err != nil {
			t.Errorf("§5 example %d does not load: %v", i, err)
		}
	}
}

// The weight tables of §4.1 list, for each architecture and each kind of
// model, exactly the tensors WeightSpecs asks for, with their shapes and in
// its order.
func TestSpecWeightNames(t *testing.T) {
	text := specSection(t, "### 4.1 ")
	dec, mlp, ok := strings.Cut(text, "\nmlp:\n")
	if !ok {
		t.Fatal("§4.1: no line \"mlp:\" between the decoder and the mlp tables")
	}
	tables := map[string][][]string{ArchDecoder: tableRows(dec), ArchMLP: tableRows(mlp)}
	cases := []struct {
		name string
		arch string
		hc   string
	}{
		{"decoder dynamic head", "{kind: decoder, vocab_size: 11, hidden_size: 12, layers: 2, heads: 3, kv_heads: 1, head_dim: 6, ffn_hidden_size: 20}", "{kind: mhc, streams: 3}"},
		{"decoder static sum", "{kind: decoder, vocab_size: 11, hidden_size: 12, layers: 2, heads: 2, ffn_hidden_size: 20}", "{kind: mhc, streams: 2, dynamic: false, collapse: sum}"},
		{"decoder dynamic mean", "{kind: decoder, vocab_size: 11, hidden_size: 12, layers: 1, heads: 2, ffn_hidden_size: 20}", "{kind: mhc, streams: 5, collapse: mean}"},
		{"decoder residual", "{kind: decoder, vocab_size: 11, hidden_size: 12, layers: 3, heads: 2, ffn_hidden_size: 20}", "{kind: residual}"},
		{"decoder moe shared", "{kind: decoder, vocab_size: 11, hidden_size: 12, layers: 3, heads: 2, ffn_hidden_size: 20, moe: {experts: 3, experts_per_token: 2, shared_experts: 2, expert_ffn_hidden_size: 5, dense_layers: 1}}", "{kind: mhc, streams: 2}"},
		{"decoder moe", "{kind: decoder, vocab_size: 11, hidden_size: 12, layers: 2, heads: 2, ffn_hidden_size: 20, moe: {experts: 2, experts_per_token: 1}}", "{kind: residual}"},
		{"decoder moe gelu biases", "{kind: decoder, vocab_size: 11, hidden_size: 12, layers: 2, heads: 2, ffn_hidden_size: 20, activation: gelu_tanh, mlp_bias: true, moe: {experts: 3, experts_per_token: 2, shared_experts: 2, expert_ffn_hidden_size: 5}}", "{kind: mhc, streams: 2}"},
		{"decoder moe geglu biases", "{kind: decoder, vocab_size: 11, hidden_size: 12, layers: 2, heads: 2, ffn_hidden_size: 20, activation: geglu, mlp_bias: true, moe: {experts: 2, experts_per_token: 1, shared_experts: 1, expert_ffn_hidden_size: 5, dense_layers: 1}}", "{kind: residual}"},
		{"mlp dynamic head", "{kind: mlp, hidden_size: 12, layers: 2, ffn_hidden_size: 20, input_size: 7, output_size: 5}", "{kind: mhc, streams: 4}"},
		{"mlp static head", "{kind: mlp, hidden_size: 12, layers: 2, ffn_hidden_size: 20, input_size: 7, output_size: 5}", "{kind: mhc, streams: 4, dynamic: false}"},
		{"decoder nanogpt", "{kind: decoder, vocab_size: 11, hidden_size: 12, layers: 2, heads: 3, ffn_hidden_size: 20, norm: layernorm, norm_bias: true, activation: gelu_tanh, positions: learned, tie_embeddings: true, qkv_bias: true, out_bias: true, mlp_bias: true}", "{kind: mhc, streams: 2}"},
		{"decoder geglu biases", "{kind: decoder, vocab_size: 11, hidden_size: 12, layers: 2, heads: 3, kv_heads: 1, head_dim: 5, ffn_hidden_size: 20, activation: geglu, positions: none, mlp_bias: true, out_bias: true}", "{kind: residual}"},
		{"decoder qwen2", "{kind: decoder, vocab_size: 11, hidden_size: 12, layers: 1, heads: 2, kv_heads: 1, ffn_hidden_size: 20, qkv_bias: true}", "{kind: mhc, streams: 3}"},
		{"mlp residual", "{kind: mlp, hidden_size: 12, layers: 2, ffn_hidden_size: 20, input_size: 7, output_size: 5}", "{kind: residual}"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := loadSpecModel(t, "w", fmt.Sprintf("format: 1\narchitecture: %s\nhyper_connections: %s\nweights: {source: random}\n", c.arch, c.hc))
			var want []string
			for _, s := range WeightSpecs(m) {
				want = append(want, fmt.Sprintf("%s %v", s.Name, s.Shape))
			}
			got, err := documentedWeights(m, tables[m.Arch.Kind])
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("docs/spec.md §4.1 gives\n\t%s\nWeightSpecs gives\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
			}
		})
	}
}

// documentedWeights expands a §4.1 table for model m: the rows whose "when"
// holds, per layer in the table's order, shapes evaluated with m's sizes.
func documentedWeights(m *Model, rows [][]string) ([]string, error) {
	a, hc := m.Arch, m.HC
	sym := map[string]int64{
		"vocab_size": int64(a.VocabSize), "C": int64(a.HiddenSize), "heads": int64(a.Heads),
		"kv_heads": int64(a.KVHeads), "head_dim": int64(a.HeadDim), "ffn_hidden_size": int64(a.FFNHiddenSize),
		"n": int64(hc.Streams), "input_size": int64(a.InputSize), "output_size": int64(a.OutputSize),
		"max_sequence": int64(m.Inputs.MaxSequence),
	}
	options := map[string]bool{
		"norm_bias": a.NormBias, "qkv_bias": a.QKVBias, "out_bias": a.OutBias, "mlp_bias": a.MLPBias,
		"gated": a.Gated(), "untied": !a.TieEmbeddings, "positions learned": a.Positions == PosLearned,
	}
	experts := 0
	if a.MoE != nil {
		experts = a.MoE.Experts
		sym["experts"], sym["expert_ffn_hidden_size"] = int64(a.MoE.Experts), int64(a.MoE.ExpertFFN)
		sym["shared_experts"] = int64(a.MoE.SharedExperts)
	}
	layer := 0 // the layer do is expanding
	holds := func(when string) (bool, error) {
		for _, cond := range strings.Split(when, ", ") {
			switch cond {
			case "dense FFN":
				if m.IsMoELayer(layer) {
					return false, nil
				}
			case "MoE":
				if !m.IsMoELayer(layer) {
					return false, nil
				}
			case "shared":
				if a.MoE == nil || a.MoE.SharedExperts == 0 {
					return false, nil
				}
			case "always":
			case "norm_bias", "qkv_bias", "out_bias", "mlp_bias", "gated", "untied", "positions learned":
				if !options[cond] {
					return false, nil
				}
			case "mHC":
				if hc.Kind != HCMHC {
					return false, nil
				}
			case "dynamic":
				if !hc.Dynamic {
					return false, nil
				}
			case "collapse head":
				if hc.Collapse != CollapseHead {
					return false, nil
				}
			default:
				return false, fmt.Errorf("unknown condition %q", cond)
			}
		}
		return true, nil
	}
	var out []string
	emit := func(name, shape string) error {
		var dims []int64
		for _, d := range strings.Split(strings.Trim(unquote(shape), "[]"), ", ") {
			v, err := evalDim(d, sym)
			if err != nil {
				return fmt.Errorf("%s: %v", name, err)
			}
			dims = append(dims, v)
		}
		out = append(out, fmt.Sprintf("%s %v", name, dims))
		return nil
	}
	// Rows before the first per-layer row, the per-layer rows for each
	// layer, then the rows after them.
	first, last := -1, -1
	for i, r := range rows {
		if strings.Contains(r[0], "{i}") {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	row := func(r []string, e int) error {
		if len(r) != 3 {
			return fmt.Errorf("row %q: want 3 cells", r)
		}
		ok, err := holds(r[2])
		if err != nil || !ok {
			return err
		}
		name := strings.ReplaceAll(unquote(r[0]), "{i}", strconv.Itoa(layer))
		return emit(strings.ReplaceAll(name, "{e}", strconv.Itoa(e)), r[1])
	}
	do := func(rs [][]string, l int) error {
		layer = l
		for i := 0; i < len(rs); i++ {
			if !strings.Contains(rs[i][0], "{e}") {
				if err := row(rs[i], 0); err != nil {
					return err
				}
				continue
			}
			// A run of {e} rows: the whole run for each expert.
			j := i
			for j < len(rs) && strings.Contains(rs[j][0], "{e}") {
				j++
			}
			for e := 0; e < experts; e++ {
				for _, r := range rs[i:j] {
					if err := row(r, e); err != nil {
						return err
					}
				}
			}
			i = j - 1
		}
		return nil
	}
	if first < 0 {
		return nil, fmt.Errorf("no per-layer rows")
	}
	if err := do(rows[:first], 0); err != nil {
		return nil, err
	}
	for i := 0; i < a.Layers; i++ {
		if err := do(rows[first:last+1], i); err != nil {
			return nil, err
		}
	}
	return out, do(rows[last+1:], 0)
}

// evalDim evaluates a shape entry of the tables: sums of products of
// symbols and numbers, "n²" a square and "2n" a multiple.
func evalDim(expr string, sym map[string]int64) (int64, error) {
	factor := regexp.MustCompile(`^(\d*)([A-Za-z_]*)(²?)$`)
	var sum int64
	for _, term := range strings.Split(expr, "+") {
		prod := int64(1)
		for _, f := range strings.Split(term, "·") {
			m := factor.FindStringSubmatch(f)
			if m == nil || m[1] == "" && m[2] == "" {
				return 0, fmt.Errorf("cannot read %q in %q", f, expr)
			}
			v := int64(1)
			if m[1] != "" {
				v, _ = strconv.ParseInt(m[1], 10, 64)
			}
			if m[2] != "" {
				s, ok := sym[m[2]]
				if !ok {
					return 0, fmt.Errorf("unknown size %q in %q", m[2], expr)
				}
				if m[3] != "" {
					s *= s
				}
				v *= s
			}
			prod *= v
		}
		sum += prod
	}
	return sum, nil
}
