package lower

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/mhcc-dev/mhcc/ir"
	"github.com/mhcc-dev/mhcc/model"
)

// Print(Parse(s)) == s for the lowered IR of every testdata model.
func TestParseRoundTrip(t *testing.T) {
	files, _ := filepath.Glob("../testdata/models/*.yaml")
	if len(files) == 0 {
		t.Fatal("no testdata models")
	}
	for _, path := range files {
		m, err := model.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		g := lowerWithWeights(t, m, path)
		text := g.String()
		back, err := ir.Parse(text)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if err := ir.Verify(back); err != nil {
			t.Fatalf("%s: parsed graph: %v", path, err)
		}
		if got := back.String(); got != text {
			t.Errorf("%s: round trip differs:\n%s", path, firstDiffLine(got, text))
		}
	}
}

// lowerWithWeights loads m's weights and lowers it; file names m in a
// failure.
func lowerWithWeights(t *testing.T, m *model.Model, file string) *ir.Graph {
	t.Helper()
	w, err := model.LoadWeights(m)
	if err != nil {
		t.Fatalf("%s: weights: %v", file, err)
	}
	g, err := Lower(m, w)
	if err != nil {
		t.Fatalf("%s: lower: %v", file, err)
	}
	return g
}

// A kv_cache model lowers to the KV-cache step: input_ids and a past key and
// value per layer in, logits and a present key and value per layer out,
// with Hugging Face's names and a symbolic past length.
func TestLowerKVCache(t *testing.T) {
	m, err := model.Load("../testdata/kv/tiny-mhc-kv.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !m.Inputs.KVCache {
		t.Fatal("kv_cache: true did not load")
	}
	g := lowerWithWeights(t, m, "tiny-mhc-kv.yaml")
	var ins, outs []string
	for _, v := range g.Inputs {
		ins = append(ins, v.Name+":"+v.Type.String())
	}
	for _, v := range g.Outputs {
		outs = append(outs, v.Name+":"+v.Type.String())
	}
	wantIn := "input_ids:i64[batch_size,sequence] attention_mask:i64[batch_size,total_sequence] position_ids:i64[batch_size,sequence] " +
		"past_key_values.0.key:f32[batch_size,2,past_sequence,8] past_key_values.0.value:f32[batch_size,2,past_sequence,8] " +
		"past_key_values.1.key:f32[batch_size,2,past_sequence,8] past_key_values.1.value:f32[batch_size,2,past_sequence,8]"
	wantOut := "logits:f32[batch_size,sequence,97] present.0.key:f32[batch_size,2,total_sequence,8] present.0.value:f32[batch_size,2,total_sequence,8] " +
		"present.1.key:f32[batch_size,2,total_sequence,8] present.1.value:f32[batch_size,2,total_sequence,8]"
	if got := strings.Join(ins, " "); got != wantIn {
		t.Errorf("inputs\n got %s\nwant %s", got, wantIn)
	}
	if got := strings.Join(outs, " "); got != wantOut {
		t.Errorf("outputs\n got %s\nwant %s", got, wantOut)
	}
	attn := 0
	for _, n := range g.Nodes {
		switch n.Op {
		case ir.OpAttention:
			t.Errorf("node %s is a plain Attention in a kv_cache graph", n.Name)
		case ir.OpAttentionKV:
			attn++
		}
	}
	if attn != m.Arch.Layers {
		t.Errorf("%d AttentionKV nodes, want one per layer (%d)", attn, m.Arch.Layers)
	}
}

func firstDiffLine(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(al) && i < len(bl); i++ {
		if al[i] != bl[i] {
			return "got:  " + al[i] + "\nwant: " + bl[i]
		}
	}
	return "lengths differ"
}
