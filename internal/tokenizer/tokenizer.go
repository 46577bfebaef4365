// Package tokenizer reads Hugging Face tokenizer.json files, the one file a
// generation package needs to turn text into ids (transformers.js and
// onnxruntime-genai read the same file). mhcc checks that a model file's
// tokenizer parses before it copies it into a package, and mhcc generate
// encodes --prompt text and decodes the generated ids with it.
//
// Encoding covers the WordLevel model (ids by whole word, after splitting
// on whitespace) and the BPE model without a byte-level pre-tokenizer (words
// split on whitespace, characters merged by the ranks of merges); other
// models parse (so they can be packaged) but do not encode here.
package tokenizer

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// A Tokenizer is the vocabulary and model of a tokenizer.json.
type Tokenizer struct {
	Type   string           // model.type: BPE, WordLevel, WordPiece, Unigram
	Vocab  map[string]int64 // token → id
	inv    map[int64]string
	ranks  map[[2]string]int // BPE merges: pair → rank
	unk    string
	Merges int
}

type file struct {
	Model *struct {
		Type     string          `json:"type"`
		Vocab    json.RawMessage `json:"vocab"`
		Merges   json.RawMessage `json:"merges"`
		UnkToken *string         `json:"unk_token"`
	} `json:"model"`
	AddedTokens []struct {
		ID      int64  `json:"id"`
		Content string `json:"content"`
	} `json:"added_tokens"`
}

// Load reads and checks the tokenizer.json at path.
func Load(path string) (*Tokenizer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(data)
}

// Parse reads a tokenizer.json held in memory. The error says what is wrong
// (JSON syntax with its offset, a missing model or vocabulary).
func Parse(data []byte) (*Tokenizer, error) {
	var f file
	if err := json.Unmarshal(data, &f); err != nil {
		if se, ok := err.(*json.SyntaxError); ok {
			return nil, fmt.Errorf("not a tokenizer.json: JSON syntax error at byte %d: %v", se.Offset, err)
		}
		return nil, fmt.Errorf("not a tokenizer.json: %v", err)
	}
	if f.Model == nil || f.Model.Type == "" {
		return nil, fmt.Errorf("not a tokenizer.json: no model.type")
	}
	t := &Tokenizer{Type: f.Model.Type, Vocab: map[string]int64{}, inv: map[int64]string{}}
	switch f.Model.Type {
	case "Unigram": // vocab is a list of [piece, score]
		var list [][2]any
		if err := json.Unmarshal(f.Model.Vocab, &list); err != nil {
			return nil, fmt.Errorf("tokenizer.json: model.vocab: %v", err)
		}
		for i, e := range list {
			if s, ok := e[0].(string); ok {
				t.Vocab[s] = int64(i)
			}
		}
	default:
		if err := json.Unmarshal(f.Model.Vocab, &t.Vocab); err != nil {
			return nil, fmt.Errorf("tokenizer.json: model.vocab: %v", err)
		}
	}
	if len(t.Vocab) == 0 {
		return nil, fmt.Errorf("tokenizer.json: model.vocab is empty")
	}
	for _, a := range f.AddedTokens {
		t.Vocab[a.Content] = a.ID
	}
	for s, id := range t.Vocab {
		t.inv[id] = s
	}
	if f.Model.UnkToken != nil {
		t.unk = *f.Model.UnkToken
	}
	if f.Model.Type == "BPE" && len(f.Model.Merges) > 0 {
		t.ranks = map[[2]string]int{}
		var asStrings []string
		var asPairs [][2]string
		if json.Unmarshal(f.Model.Merges, &asStrings) == nil {
			for _, m := range asStrings {
				a, b, ok := strings.Cut(m, " ")
				if !ok {
					return nil, fmt.Errorf("tokenizer.json: merge %q is not two tokens", m)
				}
				asPairs = append(asPairs, [2]string{a, b})
			}
		} else if err := json.Unmarshal(f.Model.Merges, &asPairs); err != nil {
			return nil, fmt.Errorf("tokenizer.json: model.merges: %v", err)
		}
		for i, p := range asPairs {
			if _, ok := t.ranks[p]; !ok {
				t.ranks[p] = i
			}
		}
		t.Merges = len(asPairs)
	}
	return t, nil
}

// MaxID is the largest id of the vocabulary.
func (t *Tokenizer) MaxID() int64 {
	m := int64(-1)
	for _, id := range t.Vocab {
		m = max(m, id)
	}
	return m
}

// Encode turns text into ids (WordLevel and plain BPE; see the package
// comment).
func (t *Tokenizer) Encode(text string) ([]int64, error) {
	var ids []int64
	for _, w := range strings.Fields(text) {
		var pieces []string
		switch t.Type {
		case "WordLevel":
			pieces = []string{w}
		case "BPE":
			pieces = t.bpe(w)
		default:
			return nil, fmt.Errorf("tokenizer: encoding with a %s model is not implemented (use --prompt-ids)", t.Type)
		}
		for _, p := range pieces {
			id, ok := t.Vocab[p]
			if !ok {
				id, ok = t.Vocab[t.unk]
			}
			if !ok {
				return nil, fmt.Errorf("tokenizer: %q is not in the vocabulary and there is no unk_token", p)
			}
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// bpe splits a word into characters and merges the best-ranked pair until
// no pair has a rank.
func (t *Tokenizer) bpe(w string) []string {
	var parts []string
	for _, r := range w {
		parts = append(parts, string(r))
	}
	for len(parts) > 1 {
		best, at := -1, -1
		for i := 0; i+1 < len(parts); i++ {
			if r, ok := t.ranks[[2]string{parts[i], parts[i+1]}]; ok && (best < 0 || r < best) {
				best, at = r, i
			}
		}
		if at < 0 {
			break
		}
		parts = append(parts[:at], append([]string{parts[at] + parts[at+1]}, parts[at+2:]...)...)
	}
	return parts
}

// Decode turns ids into text: the tokens joined by a space for WordLevel,
// concatenated otherwise; an unknown id shows as <id>.
func (t *Tokenizer) Decode(ids []int64) string {
	var parts []string
	for _, id := range ids {
		s, ok := t.inv[id]
		if !ok {
			s = fmt.Sprintf("<%d>", id)
		}
		parts = append(parts, s)
	}
	sep := ""
	if t.Type == "WordLevel" {
		sep = " "
	}
	return strings.Join(parts, sep)
}
