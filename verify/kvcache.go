// KV-cache decoding (formerly package kvcache): a Session runs KV-cache
// decoder graphs (a model compiled with inputs.kv_cache: true) in mhcc's Go
// runtime, one step at a time: it keeps
// the presents of a step as the pasts of the next, and it knows the names
// the exporter gives them (input_ids, attention_mask, position_ids,
// past_key_values.{i}.key/.value → logits, present.{i}.key/.value, as in
// Hugging Face's ONNX exports). It keeps the attention mask of the batch
// too, so sequences of different lengths run together, left-padded, as
// transformers.js runs them.

package verify

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/mhcc-dev/mhcc/lower"
	mhrt "github.com/mhcc-dev/mhcc/runtime"
	"github.com/mhcc-dev/mhcc/runtime/feed"
)

// A Cache pairs each past input of a model with the present output that
// replaces it after a step.
type Cache struct {
	Past    []mhrt.ValueInfo // past_key_values.{i}.key, .value, in graph order
	Present []string         // the output for Past[j]
	// Masked is set when the graph takes attention_mask and position_ids
	// (every KV graph mhcc writes since both were added; older files lack them).
	Masked bool
}

// PresentFor names the output that carries input past's next value:
// past_key_values.3.key → present.3.key; "" for a name of another form.
func PresentFor(past string) string {
	rest, ok := strings.CutPrefix(past, lower.PastPrefix)
	if !ok {
		return ""
	}
	return lower.PresentPrefix + rest
}

// Layout checks that m is a KV-cache decoder graph: inputs input_ids then
// past pairs [batch, kv_heads, past, head_dim], outputs logits and one
// present per past. It returns the pairing.
func Layout(m *mhrt.Model) (*Cache, error) {
	if len(m.Inputs) == 0 || m.Inputs[0].Name != lower.InputIDs {
		return nil, fmt.Errorf("kvcache: the first graph input is not %q", lower.InputIDs)
	}
	outs := map[string]bool{}
	for _, o := range m.Outputs {
		outs[o.Name] = true
	}
	if !outs[lower.Logits] {
		return nil, fmt.Errorf("kvcache: no %q output", lower.Logits)
	}
	c := &Cache{}
	seen := map[string]bool{}
	for _, in := range m.Inputs[1:] {
		if in.Name == lower.AttentionMask || in.Name == lower.PositionIDs {
			if !in.Ranked || len(in.Shape) != 2 || in.DType != mhrt.Int64 {
				return nil, fmt.Errorf("kvcache: input %q is %v %v, want int64 [batch_size, n]", in.Name, in.DType, in.Shape)
			}
			seen[in.Name] = true
			continue
		}
		p := PresentFor(in.Name)
		if p == "" || !outs[p] {
			return nil, fmt.Errorf("kvcache: input %q has no matching present output (want past_key_values.{i}.key/.value with present.{i}.key/.value)", in.Name)
		}
		if !in.Ranked || len(in.Shape) != 4 {
			return nil, fmt.Errorf("kvcache: input %q has shape %v, want [batch, kv_heads, past, head_dim]", in.Name, in.Shape)
		}
		c.Past = append(c.Past, in)
		c.Present = append(c.Present, p)
	}
	if len(c.Past) == 0 {
		return nil, fmt.Errorf("kvcache: the model has no past_key_values inputs; compile it with inputs.kv_cache: true")
	}
	if seen[lower.AttentionMask] != seen[lower.PositionIDs] {
		return nil, fmt.Errorf("kvcache: the model has one of %s and %s, want both or neither", lower.AttentionMask, lower.PositionIDs)
	}
	c.Masked = seen[lower.AttentionMask]
	return c, nil
}

// A Session is one sequence batch being generated: the model, its cache
// layout and the current past tensors.
type Session struct {
	Model *mhrt.Model
	Cache *Cache
	Batch int
	past  []*mhrt.Tensor
	len   int
	mask  [][]int64 // per sequence, 1 for each cached token, 0 for padding
	seen  []int64   // per sequence, the tokens (not padding) fed so far: the next position
}

// NewSession starts an empty cache (past length 0) for batch sequences.
func NewSession(m *mhrt.Model, batch int) (*Session, error) {
	c, err := Layout(m)
	if err != nil {
		return nil, err
	}
	if batch < 1 {
		return nil, fmt.Errorf("kvcache: batch %d, want 1 or more", batch)
	}
	s := &Session{Model: m, Cache: c, Batch: batch, mask: make([][]int64, batch), seen: make([]int64, batch)}
	for _, in := range c.Past {
		if in.Shape[0] >= 0 && in.Shape[0] != int64(batch) {
			return nil, fmt.Errorf("kvcache: input %q has batch %d, want %d", in.Name, in.Shape[0], batch)
		}
		if in.Shape[1] < 0 || in.Shape[3] < 0 {
			return nil, fmt.Errorf("kvcache: input %q has shape %v, want kv_heads and head_dim fixed", in.Name, in.Shape)
		}
		shape := []int64{int64(batch), in.Shape[1], 0, in.Shape[3]}
		var t *mhrt.Tensor
		switch in.DType {
		case mhrt.Float32, mhrt.Undefined:
			t = mhrt.NewFloat32(shape, []float32{})
		case mhrt.Float64:
			t = mhrt.NewFloat64(shape, []float64{})
		case mhrt.Float16: // --precision fp16
			t = mhrt.NewFloat16(shape, []float32{})
		case mhrt.BFloat16: // --precision bf16
			t = mhrt.NewBFloat16(shape, []float32{})
		default:
			return nil, fmt.Errorf("kvcache: input %q has type %v, want a float type", in.Name, in.DType)
		}
		s.past = append(s.past, t)
	}
	return s, nil
}

// Len is the number of tokens in the cache.
func (s *Session) Len() int { return s.len }

// Step runs the graph on ids [batch, n] (n ≥ 1 new tokens of each
// sequence, row-major, none of them padding) and returns the logits
// [batch, n, vocab]; the presents become the cache.
func (s *Session) Step(ids []int64) (*mhrt.Tensor, error) {
	return s.StepMasked(ids, nil)
}

// Prefill starts the sequences of a batch from prompts of any lengths,
// left-padded with pad to the longest (as transformers.js pads), and
// returns the logits [batch, longest, vocab]: a sequence's next-token
// logits are at the last position whatever its length. On a filled cache
// the padding sits between the cached tokens and the prompt, masked the
// same.
func (s *Session) Prefill(prompts [][]int64, pad int64) (*mhrt.Tensor, error) {
	if len(prompts) != s.Batch {
		return nil, fmt.Errorf("kvcache: got %d prompts, want the batch %d", len(prompts), s.Batch)
	}
	n := 0
	for i, p := range prompts {
		if len(p) == 0 {
			return nil, fmt.Errorf("kvcache: prompt %d is empty", i+1)
		}
		n = max(n, len(p))
	}
	ids := make([]int64, 0, s.Batch*n)
	mask := make([]int64, 0, s.Batch*n)
	for _, p := range prompts {
		for range n - len(p) {
			ids, mask = append(ids, pad), append(mask, 0)
		}
		ids = append(ids, p...)
		for range p {
			mask = append(mask, 1)
		}
	}
	return s.StepMasked(ids, mask)
}

// StepMasked is Step with a mask over the new tokens ([batch, n], 1 for a
// token, 0 for padding; nil: all tokens). Positions continue per sequence
// over its tokens only, so padding moves no token's position. A graph
// without attention_mask (one written by an mhcc before it had one) takes
// no padding.
func (s *Session) StepMasked(ids, mask []int64) (*mhrt.Tensor, error) {
	if len(ids) == 0 || len(ids)%s.Batch != 0 {
		return nil, fmt.Errorf("kvcache: got %d token ids, want a positive multiple of the batch %d", len(ids), s.Batch)
	}
	n := len(ids) / s.Batch
	if mask != nil && len(mask) != len(ids) {
		return nil, fmt.Errorf("kvcache: got %d mask entries for %d token ids", len(mask), len(ids))
	}
	in := map[string]*mhrt.Tensor{lower.InputIDs: mhrt.NewInt64([]int64{int64(s.Batch), int64(n)}, ids)}
	pos := make([]int64, len(ids))
	fullMask := make([]int64, 0, s.Batch*(s.len+n))
	seen := slices.Clone(s.seen)
	rows := make([][]int64, s.Batch)
	for b := range s.Batch {
		rows[b] = slices.Clone(s.mask[b])
		for i := range n {
			m := int64(1)
			if mask != nil {
				m = mask[b*n+i]
			}
			if m != 0 && m != 1 {
				return nil, fmt.Errorf("kvcache: mask entry %d is %d, want 0 or 1", b*n+i, m)
			}
			if m == 0 && !s.Cache.Masked {
				return nil, fmt.Errorf("kvcache: the graph has no %s input (compiled by an older mhcc), so it takes no padding", lower.AttentionMask)
			}
			rows[b] = append(rows[b], m)
			if m == 1 {
				pos[b*n+i] = seen[b]
				seen[b]++
			}
		}
		fullMask = append(fullMask, rows[b]...)
	}
	if s.Cache.Masked {
		in[lower.AttentionMask] = mhrt.NewInt64([]int64{int64(s.Batch), int64(s.len + n)}, fullMask)
		in[lower.PositionIDs] = mhrt.NewInt64([]int64{int64(s.Batch), int64(n)}, pos)
	}
	for j, p := range s.Cache.Past {
		in[p.Name] = s.past[j]
	}
	out, err := s.Model.Run(in)
	if err != nil {
		return nil, err
	}
	dead := make([]*mhrt.Tensor, 0, len(s.past))
	for j, name := range s.Cache.Present {
		t := out[name]
		if t == nil || len(t.Shape) != 4 || t.Shape[2] != int64(s.len+n) {
			return nil, fmt.Errorf("kvcache: output %q is %v, want past length %d", name, t, s.len+n)
		}
		dead = append(dead, s.past[j])
		s.past[j] = t
	}
	// The replaced cache goes back to the runtime's buffer pool for the
	// next step's presents (the session made it and nothing else holds it),
	// unless the new outputs share its storage.
	live := []*mhrt.Tensor{out[lower.Logits]}
	mhrt.Recycle(dead, append(live, s.past...)...)
	s.len += n
	s.mask, s.seen = rows, seen
	return out[lower.Logits], nil
}

// FillRandom replaces an empty cache by past tokens of N(0, 1) keys and
// values (seeded), every one a token (mask 1): decode steps then cost what
// they cost after a real prompt of that length, without its prefill. For
// benchmarks (mhcc generate --synthetic-past); the logits mean nothing.
func (s *Session) FillRandom(past int, seed uint64) error {
	if s.len != 0 {
		return fmt.Errorf("kvcache: FillRandom on a cache of %d tokens, want an empty one", s.len)
	}
	if past < 0 {
		return fmt.Errorf("kvcache: FillRandom of %d tokens", past)
	}
	rng := rand.New(rand.NewPCG(seed, uint64(past)))
	for j, t := range s.past {
		shape := []int64{t.Shape[0], t.Shape[1], int64(past), t.Shape[3]}
		xs := make([]float32, shape[0]*shape[1]*shape[2]*shape[3])
		for i := range xs {
			xs[i] = float32(rng.NormFloat64())
		}
		c, err := feed.FromFloat32s(t.DType, shape, xs)
		if err != nil {
			return fmt.Errorf("kvcache: FillRandom: %w", err)
		}
		s.past[j] = c
	}
	for b := range s.Batch {
		s.mask[b] = make([]int64, past)
		for i := range s.mask[b] {
			s.mask[b][i] = 1
		}
		s.seen[b] = int64(past)
	}
	s.len = past
	return nil
}

// Positions returns, per sequence, the number of its tokens (not padding)
// in the cache: the RoPE position of its next token.
func (s *Session) Positions() []int64 { return slices.Clone(s.seen) }

// Argmax returns, for each sequence of logits [batch, n, vocab], the id of
// the largest logit of its last position (the first on ties).
func Argmax(logits *mhrt.Tensor) []int64 {
	sh := logits.Shape
	b, n, v := int(sh[0]), int(sh[1]), int(sh[2])
	data := logits.Float32s()
	ids := make([]int64, b)
	for i := range b {
		row := data[(i*n+n-1)*v : (i*n+n)*v]
		best := 0
		for j, x := range row {
			if x > row[best] {
				best = j
			}
		}
		ids[i] = int64(best)
	}
	return ids
}
