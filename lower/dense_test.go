package lower

import (
	"strings"
	"testing"

	"github.com/mhcc-dev/mhcc/ir"
	"github.com/mhcc-dev/mhcc/model"
)

// The dense options lower to the ops and weights docs/spec.md §3.1 names: a
// nanoGPT-shaped model has LayerNorms with biases, a not-gated MLP with
// biases, learned positions and no RoPE tables, and its head reads
// embed.weight (one constant, read by the embedding and the head); in a
// KV-cache step the positions come from position_ids.
func TestLowerNanoGPT(t *testing.T) {
	for _, kv := range []bool{false, true} {
		m, err := model.Load("../testdata/models/tiny-nanogpt.yaml")
		if err != nil {
			t.Fatal(err)
		}
		m.Inputs.KVCache = kv
		g := lowerWithWeights(t, m, m.File)
		count := map[ir.Op]int{}
		for _, n := range g.Nodes {
			count[n.Op]++
			switch n.Op {
			case ir.OpLayerNorm:
				if len(n.Inputs) != 3 || !strings.HasSuffix(n.Inputs[2].Name, "norm.bias") {
					t.Errorf("kv %v: %s: inputs %v, want x, weight and bias", kv, n.Name, n.Inputs)
				}
			case ir.OpMLP:
				if n.Attrs.String("activation") != model.ActGELUTanh || n.Inputs[3] != nil || len(n.Inputs) != 6 {
					t.Errorf("kv %v: %s: %v %v, want gelu_tanh with x, w1, w2, no w3, b1, b2", kv, n.Name, n.Attrs, n.Inputs)
				}
			case ir.OpAttention, ir.OpAttentionKV:
				if n.Inputs[5] != nil || n.Inputs[6] != nil || n.Attrs.Int("max_sequence") != 128 {
					t.Errorf("kv %v: %s: cos, sin = %v, %v, max_sequence %d; want no RoPE and 128", kv, n.Name, n.Inputs[5], n.Inputs[6], n.Attrs.Int("max_sequence"))
				}
				if b := n.Inputs[len(n.Inputs)-4:]; b[0] == nil || b[3] == nil || b[3].Name != strings.TrimSuffix(n.Name, "attn")+"attn.wo.bias" {
					t.Errorf("kv %v: %s: biases %v", kv, n.Name, b)
				}
			case ir.OpAddPositions:
				if want := 2 + map[bool]int{false: 0, true: 1}[kv]; len(n.Inputs) != want {
					t.Errorf("kv %v: AddPositions has %d inputs, want %d", kv, len(n.Inputs), want)
				}
			case ir.OpLinear:
				if n.Name == "head" && n.Inputs[1].Name != "embed.weight" {
					t.Errorf("kv %v: head reads %s, want embed.weight", kv, n.Inputs[1].Name)
				}
			}
		}
		if count[ir.OpLayerNorm] != 5 || count[ir.OpRMSNorm] != 0 || count[ir.OpMLP] != 2 || count[ir.OpSwiGLU] != 0 || count[ir.OpAddPositions] != 1 {
			t.Errorf("kv %v: op counts %v", kv, count)
		}
		for _, c := range g.Consts {
			if c.Name == "head.weight" || strings.HasPrefix(c.Name, "rope.") {
				t.Errorf("kv %v: constant %s, want none", kv, c.Name)
			}
		}
	}
}

// The defaults keep SwiGLU (not MLP) and RMSNorm, so old files lower to the
// same graph; a Qwen2-style model adds only the q, k, v biases.
func TestLowerQwen2Biases(t *testing.T) {
	m, err := model.Load("../testdata/models/tiny-qwen2.yaml")
	if err != nil {
		t.Fatal(err)
	}
	g := lowerWithWeights(t, m, m.File)
	for _, n := range g.Nodes {
		switch n.Op {
		case ir.OpMLP, ir.OpLayerNorm, ir.OpAddPositions:
			t.Errorf("%s: %v in a Qwen2-style model", n.Name, n.Op)
		case ir.OpAttention:
			if len(n.Inputs) != 11 || n.Inputs[5] == nil || n.Inputs[7] == nil || n.Inputs[10] != nil {
				t.Errorf("%s: inputs %v, want RoPE, bq, bk, bv and no bo", n.Name, n.Inputs)
			}
		}
	}
}
