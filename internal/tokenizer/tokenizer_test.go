package tokenizer

import (
	"fmt"
	"strings"
	"testing"
)

// Encoding and decoding of the two models mhcc encodes, and the errors of
// files that do not parse.
func TestTokenizer(t *testing.T) {
	bpe := `{"model": {"type": "BPE", "unk_token": "?", "vocab": {"?": 0, "l": 1, "o": 2, "w": 3, "e": 4, "r": 5, "lo": 6, "low": 7, "er": 8},
		"merges": ["l o", "lo w", "e r"]}}`
	word := `{"model": {"type": "WordLevel", "unk_token": "<unk>", "vocab": {"<unk>": 0, "a": 1, "b": 2}}, "added_tokens": [{"id": 3, "content": "</s>"}]}`
	cases := []struct {
		name, json, text string
		want             []int64
		decoded          string
	}{
		{"bpe merges by rank", bpe, "lower low", []int64{7, 8, 7}, "lowerlow"},
		{"bpe unknown characters", bpe, "lox", []int64{6, 0}, "lo?"},
		{"word level", word, "a b  c </s>", []int64{1, 2, 0, 3}, "a b <unk> </s>"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tk, err := Parse([]byte(c.json))
			if err != nil {
				t.Fatal(err)
			}
			got, err := tk.Encode(c.text)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("Encode(%q) = %v, want %v", c.text, got, c.want)
			}
			if d := tk.Decode(got); d != c.decoded {
				t.Errorf("Decode = %q, want %q", d, c.decoded)
			}
		})
	}
	bad := []struct{ json, want string }{
		{`{"model": {"type": "BPE", "vocab": {"a": 0}`, "JSON syntax error"},
		{`[1, 2]`, "not a tokenizer.json"},
		{`{"version": "1.0"}`, "no model.type"},
		{`{"model": {"type": "WordLevel", "vocab": {}}}`, "model.vocab is empty"},
		{`{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["ab"]}}`, `merge "ab" is not two tokens`},
	}
	for _, b := range bad {
		if _, err := Parse([]byte(b.json)); err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("Parse(%s): got %v, want an error with %q", b.json, err, b.want)
		}
	}
	tk, _ := Parse([]byte(`{"model": {"type": "Unigram", "vocab": [["a", -1.0]]}}`))
	if _, err := tk.Encode("a"); err == nil || !strings.Contains(err.Error(), "not implemented") {
		t.Errorf("Unigram Encode: got %v, want not implemented", err)
	}
}
