package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	"github.com/mhcc-dev/mhcc/export/onnxpb"
	"github.com/mhcc-dev/mhcc/internal/build"
	"github.com/mhcc-dev/mhcc/internal/kvcache"
	mhrt "github.com/mhcc-dev/mhcc/runtime"
)

// generateFlags are the options of `mhcc generate`.
type generateFlags struct {
	prompt    string
	maxNew    int
	target    string
	showSteps bool
}

func newGenerateCmd() *cobra.Command {
	var f generateFlags
	cmd := &cobra.Command{
		Use:   "generate model.onnx|model.yaml --prompt-ids 1,2,3 [--max-new-tokens N]",
		Short: "Generate tokens greedily with a KV-cache graph in mhcc's Go runtime",
		Long: `Generate runs a KV-cache decoder graph (a model compiled with
inputs.kv_cache: true, or mhcc compile --kv-cache) in mhcc's pure-Go runtime:
one prefill step over the prompt, then one decode step per new token, each
taking the argmax of the last position's logits (greedy) and feeding the
step's present.* outputs back as the next step's past_key_values.* inputs.

The model is an ONNX file or a model file (.yaml), which is compiled with
the KV cache for --target first; its weights are the file's (random or
safetensors). It prints the generated ids and the time per phase: the
prefill, and the decode steps in tokens per second (batch 1). No Python or
onnxruntime is needed: it is a quick check that a cache graph generates.`,
		Example: `  mhcc generate testdata/kv/tiny-mhc-kv.yaml --prompt-ids 1,2,3 --max-new-tokens 16
  mhcc compile testdata/models/tiny-mhc.yaml --kv-cache -o tiny-kv.onnx
  mhcc generate tiny-kv.onnx --prompt-ids 5,17,42 --max-new-tokens 32`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return generate(cmd.OutOrStdout(), args[0], f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.prompt, "prompt-ids", "", "the prompt: comma-separated token ids (required)")
	fl.IntVar(&f.maxNew, "max-new-tokens", 16, "number of tokens to generate")
	fl.StringVar(&f.target, "target", "onnx", "target profile for a model file (.yaml)")
	fl.BoolVar(&f.showSteps, "steps", false, "print each decode step's id and time")
	return cmd
}

// parseIDs reads "1,2,3" as token ids.
func parseIDs(s string) ([]int64, error) {
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("--prompt-ids: required, e.g. --prompt-ids 1,2,3")
	}
	var ids []int64
	for i, part := range strings.Split(s, ",") {
		v, err := strconv.ParseInt(strings.TrimSpace(part), 10, 64)
		if err != nil || v < 0 {
			return nil, fmt.Errorf("--prompt-ids: item %d is %q, want a non-negative integer", i+1, part)
		}
		ids = append(ids, v)
	}
	return ids, nil
}

// generationLimits reads from the ONNX model the vocabulary size (the last
// dim of logits) and the number of RoPE positions (rows of the rope.cos
// table mhcc writes); 0 where unknown.
func generationLimits(data []byte) (vocab, positions int64) {
	var m onnxpb.ModelProto
	if proto.Unmarshal(data, &m) != nil || m.Graph == nil {
		return 0, 0
	}
	for _, o := range m.Graph.Output {
		if o.GetName() != kvcache.Logits {
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

func generate(w io.Writer, path string, f generateFlags) error {
	prompt, err := parseIDs(f.prompt)
	if err != nil {
		return err
	}
	if f.maxNew < 0 {
		return fmt.Errorf("--max-new-tokens: got %d, want 0 or more", f.maxNew)
	}
	var data []byte
	if strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml") {
		res, err := build.Compile(path, build.Options{Target: f.target, KVCache: true})
		if err != nil {
			return err
		}
		data = res.ONNX
	} else if data, err = os.ReadFile(path); err != nil {
		return err
	}
	start := time.Now()
	m, err := mhrt.Decode(data)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	sess, err := kvcache.NewSession(m, 1)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	loaded := time.Since(start)
	vocab, positions := generationLimits(data)
	for i, id := range prompt {
		if vocab > 0 && id >= vocab {
			return fmt.Errorf("--prompt-ids: item %d is %d, want an id below the vocabulary size %d", i+1, id, vocab)
		}
	}
	if total := int64(len(prompt) + f.maxNew); positions > 0 && total > positions {
		return fmt.Errorf("%d prompt + %d new tokens need %d positions; the model's RoPE tables have %d (inputs.max_sequence)", len(prompt), f.maxNew, total, positions)
	}

	fmt.Fprintf(w, "model: %s (%d cache inputs, loaded in %s)\n", path, len(sess.Cache.Past), round(loaded))
	fmt.Fprintf(w, "prompt: %d tokens %v\n", len(prompt), prompt)
	t0 := time.Now()
	logits, err := sess.Step(prompt)
	if err != nil {
		return fmt.Errorf("prefill: %w", err)
	}
	prefill := time.Since(t0)
	var out []int64
	var decode time.Duration
	for len(out) < f.maxNew {
		next := kvcache.Argmax(logits)[0]
		out = append(out, next)
		if len(out) == f.maxNew {
			break // the last token's logits are not needed
		}
		t := time.Now()
		logits, err = sess.Step([]int64{next})
		if err != nil {
			return fmt.Errorf("decode step %d (past %d): %w", len(out), sess.Len(), err)
		}
		d := time.Since(t)
		decode += d
		if f.showSteps {
			fmt.Fprintf(w, "  step %d: id %d, past %d, %s\n", len(out), next, sess.Len()-1, round(d))
		}
	}
	fmt.Fprintf(w, "generated: %d tokens %v\n", len(out), out)
	fmt.Fprintf(w, "prefill: %d tokens in %s (%.0f tokens/s)\n", len(prompt), round(prefill), float64(len(prompt))/prefill.Seconds())
	if steps := len(out) - 1; steps > 0 {
		fmt.Fprintf(w, "decode: %d steps in %s (%.1f tokens/s, %s per token)\n", steps, round(decode), float64(steps)/decode.Seconds(), round(decode/time.Duration(steps)))
	}
	return nil
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
