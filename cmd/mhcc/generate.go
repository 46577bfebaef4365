package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	"github.com/mhcc-dev/mhcc/compile"
	"github.com/mhcc-dev/mhcc/internal/inputfile"
	"github.com/mhcc-dev/mhcc/internal/tokenizer"
	"github.com/mhcc-dev/mhcc/lower"
	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
	mhrt "github.com/mhcc-dev/mhcc/runtime"
	"github.com/mhcc-dev/mhcc/verify"
)

// generateFlags are the options of `mhcc generate`.
type generateFlags struct {
	promptIDs   []string
	prompts     []string
	batchFile   string
	maxNew      int
	target      string
	precision   string
	showSteps   bool
	eos         int
	noEOS       bool
	temperature float64
	topK        int
	topP        float64
	seed        uint64
	synthetic   int
	limits      runtimeLimits
}

func newGenerateCmd() *cobra.Command {
	var f generateFlags
	cmd := &cobra.Command{
		Use:   "generate model.onnx|model.yaml|DIR --prompt-ids 1,2,3 [--prompt-ids 4,5] [--max-new-tokens N]",
		Short: "Generate tokens with a KV-cache graph in mhcc's Go runtime",
		Long: `Generate runs a KV-cache decoder graph (a model compiled with
inputs.kv_cache: true, or mhcc compile --kv-cache) in mhcc's pure-Go runtime:
one prefill step over the prompts, then one decode step per new token,
feeding the step's present.* outputs back as the next step's
past_key_values.* inputs.

The model is an ONNX file (its external data, if any, read from next to
it), a model file (.yaml, compiled with the KV cache for --target and
--precision first; its weights are the file's, random or safetensors), or a
package folder written by mhcc export (onnx/model*.onnx, its eos id and
tokenizer).

Prompts: --prompt-ids (token ids) or --prompt (text, when the model has a
tokenizer: generation.tokenizer in the model file, or tokenizer.json in a
package), each repeatable, or --batch FILE with one prompt per line (ids
like 1,2,3, or text). Several prompts run as one batch, left-padded with an
attention_mask, as transformers.js runs them; each row gives what it gives
alone.

Decoding is greedy (the argmax of the last logits) unless --temperature > 0,
which samples from softmax(logits / temperature), restricted to the --top-k
most likely ids and to the smallest set whose probability reaches --top-p,
with --seed for the random numbers. A row stops after the eos id
(generation.eos_token_id of the model file or the package, or --eos;
--no-eos: never). It prints the ids (and the text with a tokenizer), the
prefill time and the decode speed in tokens per second.`,
		Example: `  mhcc generate testdata/kv/tiny-mhc-kv.yaml --prompt-ids 1,2,3 --max-new-tokens 16
  mhcc generate model.yaml --prompt-ids 1,2,3 --prompt-ids 7 --prompt-ids 4,5,6,7,8
  mhcc generate pkg/ --prompt "the cat" --temperature 0.8 --top-p 0.9 --seed 3
  mhcc compile testdata/models/tiny-mhc.yaml --kv-cache -o tiny-kv.onnx
  mhcc generate tiny-kv.onnx --prompt-ids 5,17,42 --max-new-tokens 32`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("eos") {
				f.eos = -1
			}
			return generate(cmd.OutOrStdout(), args[0], f)
		},
	}
	fl := cmd.Flags()
	addLimitFlags(fl, &f.limits)
	fl.StringArrayVar(&f.promptIDs, "prompt-ids", nil, "a prompt as comma-separated token ids (repeatable: a batch)")
	fl.StringArrayVar(&f.prompts, "prompt", nil, "a prompt as text, encoded with the model's tokenizer (repeatable)")
	fl.StringVar(&f.batchFile, "batch", "", "a file of prompts, one per line: ids (1,2,3) or text")
	fl.IntVar(&f.maxNew, "max-new-tokens", 16, "number of tokens to generate per prompt (fewer if it reaches eos)")
	fl.StringVar(&f.target, "target", "onnx", "target profile for a model file (.yaml)")
	fl.StringVar(&f.precision, "precision", "", "precision for a model file (.yaml): fp32, fp16 or bf16")
	fl.BoolVar(&f.showSteps, "steps", false, "print each decode step's ids and time")
	fl.IntVar(&f.eos, "eos", -1, "stop a row after this id (default: the model's eos_token_id)")
	fl.BoolVar(&f.noEOS, "no-eos", false, "never stop before --max-new-tokens")
	fl.Float64Var(&f.temperature, "temperature", 0, "0: greedy; > 0: sample from softmax(logits / temperature)")
	fl.IntVar(&f.topK, "top-k", 0, "sampling: keep the k most likely ids (0: all)")
	fl.Float64Var(&f.topP, "top-p", 1, "sampling: keep the most likely ids up to this total probability")
	fl.Uint64Var(&f.seed, "seed", 1, "sampling: the random seed")
	fl.IntVar(&f.synthetic, "synthetic-past", 0, "benchmarks: start from a cache of this many random tokens instead of an empty one (the ids mean nothing; the decode speed is that of a real cache that long)")
	return cmd
}

// parseIDs reads "1,2,3" as token ids; what names the flag in errors.
func parseIDs(what, s string) ([]int64, error) {
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("%s: empty prompt, want ids like 1,2,3", what)
	}
	var ids []int64
	for i, part := range strings.Split(s, ",") {
		v, err := strconv.ParseInt(strings.TrimSpace(part), 10, 64)
		if err != nil || v < 0 {
			return nil, fmt.Errorf("%s: item %d is %q, want a non-negative integer", what, i+1, part)
		}
		ids = append(ids, v)
	}
	return ids, nil
}

// generationLimits reads from the ONNX model the vocabulary size (the last
// dim of logits) and the number of RoPE positions (rows of the rope.cos
// table mhcc writes); 0 where unknown.
func generationLimits(m *onnxpb.ModelProto) (vocab, positions int64) {
	if m.Graph == nil {
		return 0, 0
	}
	for _, o := range m.Graph.Output {
		if o.GetName() != lower.Logits {
			continue
		}
		if dims := o.GetType().GetTensorType().GetShape().GetDim(); len(dims) == 3 {
			vocab = dims[2].GetDimValue()
		}
	}
	for _, t := range m.Graph.Initializer {
		if t.GetName() == "rope.cos" && len(t.Dims) == 2 {
			positions = t.Dims[0]
		}
	}
	return vocab, positions
}

// genModel is what generate runs: the graph, its limits, and what the model
// file or package says about generation.
type genModel struct {
	m                *mhrt.Model
	vocab, positions int64
	eos              int
	tok              *tokenizer.Tokenizer
	loaded           time.Duration
}

// loadForGeneration reads a model file, an ONNX file or a package folder.
func loadForGeneration(path string, f generateFlags) (*genModel, error) {
	start := time.Now()
	g := &genModel{eos: -1}
	var mp onnxpb.ModelProto
	onnxPath := path
	if info, err := os.Stat(path); err == nil && info.IsDir() {
		p, eos, tok, err := readPackage(path)
		if err != nil {
			return nil, err
		}
		onnxPath, g.eos, g.tok = p, eos, tok
	}
	switch {
	case strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml"):
		// Message: every weight in memory, whatever its size (no external
		// data file to write or read).
		res, err := compile.Compile(path, compile.Options{Target: f.target, Precision: f.precision, KVCache: true, Message: true})
		if err != nil {
			return nil, err
		}
		vocab, positions := generationLimits(res.Message)
		g.vocab, g.positions = vocab, positions
		g.eos = res.Model.Generation.EOS
		if t := res.Model.Generation.Tokenizer; t != "" {
			if g.tok, err = tokenizer.Load(t); err != nil {
				return nil, fmt.Errorf("%s: %w", t, err)
			}
		}
		if g.m, err = mhrt.DecodeProto(res.Message); err != nil {
			return nil, &compile.InternalError{Err: fmt.Errorf("%s: %w", path, err)}
		}
		g.loaded = time.Since(start)
		return g, nil
	default:
		data, err := inputfile.ReadFile(onnxPath, inputfile.MaxModelBytes, "an ONNX model file")
		if err != nil {
			return nil, err
		}
		// The declarations only: initializers keep their bytes but are not decoded twice.
		if err := proto.Unmarshal(data, &mp); err != nil {
			return nil, fmt.Errorf("%s: not an ONNX model: %v", onnxPath, err)
		}
		g.vocab, g.positions = generationLimits(&mp)
		mp.Reset() // DecodeDir parses its own copy
		if g.m, err = mhrt.DecodeDir(data, filepath.Dir(onnxPath)); err != nil {
			return nil, fmt.Errorf("%s: %w", onnxPath, err)
		}
	}
	g.loaded = time.Since(start)
	return g, nil
}

// readPackage finds the graph, the eos id and the tokenizer of a folder
// written by mhcc export.
func readPackage(dir string) (onnxPath string, eos int, tok *tokenizer.Tokenizer, err error) {
	eos = -1
	var cfg struct {
		JS struct {
			Dtype string `json:"dtype"`
		} `json:"transformers.js_config"`
	}
	data, err := os.ReadFile(filepath.Join(dir, pkgConfig))
	if err != nil {
		return "", -1, nil, fmt.Errorf("%s: not a package folder (mhcc export writes one): %w", dir, err)
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		return "", -1, nil, fmt.Errorf("%s: %v", filepath.Join(dir, pkgConfig), err)
	}
	name := "model.onnx"
	if cfg.JS.Dtype == "fp16" {
		name = "model_fp16.onnx"
	}
	onnxPath = filepath.Join(dir, "onnx", name)
	var gen struct {
		EOS *int `json:"eos_token_id"`
	}
	if data, err := os.ReadFile(filepath.Join(dir, pkgGenConfig)); err == nil {
		if err := json.Unmarshal(data, &gen); err != nil {
			return "", -1, nil, fmt.Errorf("%s: %v", filepath.Join(dir, pkgGenConfig), err)
		}
		if gen.EOS != nil {
			eos = *gen.EOS
		}
	}
	if p := filepath.Join(dir, pkgTokenizer); fileExists(p) {
		if tok, err = tokenizer.Load(p); err != nil {
			return "", -1, nil, fmt.Errorf("%s: %w", p, err)
		}
	}
	return onnxPath, eos, tok, nil
}

// readPrompts gathers the prompts of the flags, in order: --prompt-ids,
// --prompt, then the lines of --batch.
func readPrompts(f generateFlags, tok *tokenizer.Tokenizer) ([][]int64, error) {
	var out [][]int64
	text := func(what, s string) error {
		if tok == nil {
			return fmt.Errorf("%s: text needs a tokenizer (generation.tokenizer in the model file, or a package with tokenizer.json); give ids with --prompt-ids", what)
		}
		ids, err := tok.Encode(s)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if len(ids) == 0 {
			return fmt.Errorf("%s: %q encodes to no tokens", what, s)
		}
		out = append(out, ids)
		return nil
	}
	for _, s := range f.promptIDs {
		ids, err := parseIDs("--prompt-ids", s)
		if err != nil {
			return nil, err
		}
		out = append(out, ids)
	}
	for _, s := range f.prompts {
		if err := text("--prompt", s); err != nil {
			return nil, err
		}
	}
	if f.batchFile != "" {
		file, err := os.Open(f.batchFile)
		if err != nil {
			return nil, fmt.Errorf("--batch: %w", err)
		}
		defer file.Close()
		sc := bufio.NewScanner(file)
		sc.Buffer(make([]byte, 1<<16), 1<<24)
		for line := 1; sc.Scan(); line++ {
			s := strings.TrimSpace(sc.Text())
			if s == "" {
				continue
			}
			what := fmt.Sprintf("%s:%d", f.batchFile, line)
			if idsLine(s) {
				ids, err := parseIDs(what, s)
				if err != nil {
					return nil, err
				}
				out = append(out, ids)
			} else if err := text(what, s); err != nil {
				return nil, err
			}
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("--batch: %w", err)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--prompt-ids, --prompt or --batch: required, e.g. --prompt-ids 1,2,3")
	}
	return out, nil
}

// idsLine reports whether a --batch line is token ids (digits and commas).
func idsLine(s string) bool {
	return strings.Trim(s, "0123456789, ") == ""
}

func generate(w io.Writer, path string, f generateFlags) error {
	if f.maxNew < 0 {
		return fmt.Errorf("--max-new-tokens: got %d, want 0 or more", f.maxNew)
	}
	if err := checkSampling(f); err != nil {
		return err
	}
	if err := f.limits.apply(); err != nil {
		return err
	}
	g, err := loadForGeneration(path, f)
	if err != nil {
		return err
	}
	if _, err := verify.Layout(g.m); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	prompts, err := readPrompts(f, g.tok)
	if err != nil {
		return err
	}
	eos := g.eos
	if f.eos >= 0 {
		eos = f.eos
	}
	if f.noEOS {
		eos = -1
	}
	longest := 0
	for p, ids := range prompts {
		longest = max(longest, len(ids))
		for i, id := range ids {
			if g.vocab > 0 && id >= g.vocab {
				return fmt.Errorf("prompt %d: item %d is %d, want an id below the vocabulary size %d", p+1, i+1, id, g.vocab)
			}
		}
	}
	if f.synthetic < 0 {
		return fmt.Errorf("--synthetic-past: got %d, want 0 or more", f.synthetic)
	}
	if total := int64(f.synthetic + longest + f.maxNew); g.positions > 0 && total > g.positions {
		what := fmt.Sprintf("%d prompt + %d new tokens", longest, f.maxNew)
		if f.synthetic > 0 {
			what = fmt.Sprintf("%d cached + %s", f.synthetic, what)
		}
		fix := "raise inputs.max_sequence in the model file"
		if left := g.positions - int64(f.synthetic+longest); left > 0 {
			fix = fmt.Sprintf("pass --max-new-tokens %d or less, or %s", left, fix)
		}
		return fmt.Errorf("%s need %d positions; the model's RoPE tables have %d (inputs.max_sequence): %s", what, total, g.positions, fix)
	}
	if g.vocab > 0 && eos >= int(g.vocab) {
		return fmt.Errorf("--eos: %d is not below the vocabulary size %d", eos, g.vocab)
	}
	sess, err := verify.NewSession(g.m, len(prompts))
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	batch := len(prompts)
	if f.synthetic > 0 {
		if err := sess.FillRandom(f.synthetic, f.seed); err != nil {
			return err
		}
	}
	fmt.Fprintf(w, "model: %s (%d cache inputs, loaded in %s)\n", path, len(sess.Cache.Past), round(g.loaded))
	for i, p := range prompts {
		fmt.Fprintf(w, "%s: %d tokens %v\n", rowLabel("prompt", i, batch), len(p), p)
	}
	pad := int64(0)
	if eos >= 0 {
		pad = int64(eos)
	}
	rng := rand.New(rand.NewPCG(f.seed, 0x6d686363))
	pick := func(logits *mhrt.Tensor) []int64 {
		if f.temperature > 0 {
			return sample(logits, f, rng)
		}
		return verify.Argmax(logits)
	}
	t0 := time.Now()
	logits, err := sess.Prefill(prompts, pad)
	if err != nil {
		return fmt.Errorf("prefill: %w", err)
	}
	prefill := time.Since(t0)
	out := make([][]int64, batch)
	done := make([]bool, batch)
	var decode time.Duration
	steps := 0
	for step := 0; step < f.maxNew; step++ {
		next := pick(logits)
		all := true
		for b, id := range next {
			if !done[b] {
				out[b] = append(out[b], id)
				done[b] = eos >= 0 && id == int64(eos)
			}
			all = all && done[b]
		}
		if all || step == f.maxNew-1 {
			break // the last token's logits are not needed
		}
		t := time.Now()
		logits, err = sess.Step(next)
		if err != nil {
			return fmt.Errorf("decode step %d (past %d): %w", step+1, sess.Len(), err)
		}
		d := time.Since(t)
		decode += d
		steps++
		if f.showSteps {
			fmt.Fprintf(w, "  step %d: ids %v, past %d, %s\n", step+1, next, sess.Len()-1, round(d))
		}
	}
	for i, ids := range out {
		fmt.Fprintf(w, "%s: %d tokens %v\n", rowLabel("generated", i, batch), len(ids), ids)
		if g.tok != nil {
			fmt.Fprintf(w, "%s: %q\n", rowLabel("text", i, batch), g.tok.Decode(ids))
		}
	}
	promptTokens := 0
	for _, p := range prompts {
		promptTokens += len(p)
	}
	fmt.Fprintf(w, "prefill: %d tokens in %s (%.0f tokens/s)\n", promptTokens, round(prefill), float64(promptTokens)/prefill.Seconds())
	if steps > 0 {
		per := decode / time.Duration(steps)
		if batch == 1 {
			fmt.Fprintf(w, "decode: %d steps in %s (%.1f tokens/s, %s per token)\n", steps, round(decode), float64(steps)/decode.Seconds(), round(per))
		} else {
			fmt.Fprintf(w, "decode: %d steps of batch %d in %s (%.1f tokens/s, %s per step)\n", steps, batch, round(decode), float64(steps*batch)/decode.Seconds(), round(per))
		}
	}
	return nil
}

// rowLabel is "prompt" for one row, "prompt[2]" for row 2 of a batch.
func rowLabel(what string, i, batch int) string {
	if batch == 1 {
		return what
	}
	return fmt.Sprintf("%s[%d]", what, i)
}

// checkSampling checks the sampling flags.
func checkSampling(f generateFlags) error {
	switch {
	case f.temperature < 0 || math.IsNaN(f.temperature):
		return fmt.Errorf("--temperature: got %g, want 0 (greedy) or more", f.temperature)
	case f.topK < 0:
		return fmt.Errorf("--top-k: got %d, want 0 (all) or more", f.topK)
	case !(f.topP > 0 && f.topP <= 1):
		return fmt.Errorf("--top-p: got %g, want a probability in (0, 1]", f.topP)
	case f.temperature == 0 && (f.topK > 0 || f.topP < 1):
		return fmt.Errorf("--top-k and --top-p sample: they need --temperature > 0 (the default 0 is greedy)")
	}
	return nil
}

// sample draws one id per row from the last position's logits: softmax of
// logits / temperature over the top-k ids, cut to the smallest prefix (by
// probability) whose mass reaches top-p, renormalised.
func sample(logits *mhrt.Tensor, f generateFlags, rng *rand.Rand) []int64 {
	sh := logits.Shape
	b, n, v := int(sh[0]), int(sh[1]), int(sh[2])
	data := logits.Float32s()
	ids := make([]int64, b)
	order := make([]int, v)
	p := make([]float64, v)
	for i := range b {
		row := data[(i*n+n-1)*v : (i*n+n)*v]
		for j := range order {
			order[j] = j
		}
		sort.SliceStable(order, func(a, c int) bool { return row[order[a]] > row[order[c]] })
		k := v
		if f.topK > 0 && f.topK < v {
			k = f.topK
		}
		mx := float64(row[order[0]])
		var sum float64
		for j := range k {
			p[j] = math.Exp((float64(row[order[j]]) - mx) / f.temperature)
			sum += p[j]
		}
		var mass float64
		keep := k
		for j := range k {
			mass += p[j] / sum
			if mass >= f.topP {
				keep = j + 1
				break
			}
		}
		var kept float64
		for j := range keep {
			kept += p[j]
		}
		r := rng.Float64() * kept
		ids[i] = int64(order[keep-1])
		for j := range keep {
			if r < p[j] {
				ids[i] = int64(order[j])
				break
			}
			r -= p[j]
		}
	}
	return ids
}

// round shortens a duration for display.
func round(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}
