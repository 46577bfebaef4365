package lower

import (
	"fmt"
	"strings"
	"testing"

	"github.com/mhcc-dev/mhcc/ir"
	"github.com/mhcc-dev/mhcc/model"
)

// The MoE node of a model with non-gated experts and mlp_bias carries the
// activation and bias=1 and reads, per expert and for the shared MLP, w1,
// w2, b1, b2 (ir/moe.go's layout); a swiglu model's node has neither
// attribute (as before them) and reads w1, w3, w2.
func TestLowerMoEActivationBiases(t *testing.T) {
	for _, c := range []struct {
		arch, attrs, expert string
	}{
		{"activation: gelu_tanh, mlp_bias: true", "gelu_tanh 1", "w1.weight w2.weight w1.bias w2.bias"},
		{"activation: geglu, mlp_bias: true", "geglu 1", "w1.weight w3.weight w2.weight w1.bias w3.bias w2.bias"},
		{"", "<nil> <nil>", "w1.weight w3.weight w2.weight"},
	} {
		src := "format: 1\narchitecture: {kind: decoder, vocab_size: 11, hidden_size: 12, layers: 1, heads: 2, ffn_hidden_size: 20, " + c.arch +
			", moe: {experts: 2, experts_per_token: 1, shared_experts: 1}}\nhyper_connections: {kind: residual}\nweights: {source: random}\n"
		src = strings.Replace(src, ", , moe", ", moe", 1)
		m, err := model.LoadBytes("m.yaml", []byte(src))
		if err != nil {
			t.Fatalf("%s: %v", c.arch, err)
		}
		g := lowerWithWeights(t, m, "m.yaml")
		var moe *ir.Node
		for _, n := range g.Nodes {
			if n.Op == ir.OpMoE {
				moe = n
			}
		}
		if moe == nil {
			t.Fatalf("%s: no MoE node", c.arch)
		}
		if got := strings.TrimSpace(strings.Join([]string{attrString(moe.Attrs["activation"]), attrString(moe.Attrs["bias"])}, " ")); got != c.attrs {
			t.Errorf("%s: activation, bias = %s, want %s", c.arch, got, c.attrs)
		}
		for e, q := range []string{"layers.0.ffn.experts.0.", "layers.0.ffn.experts.1.", "layers.0.ffn.shared_experts."} {
			var got []string
			for _, v := range ir.MoEExpert(moe, e) {
				got = append(got, strings.TrimPrefix(v.Name, q))
			}
			if strings.Join(got, " ") != c.expert {
				t.Errorf("%s: expert %d reads %v, want %s (prefix %s)", c.arch, e, got, c.expert, q)
			}
		}
	}
}

func attrString(v any) string {
	if v == nil {
		return "<nil>"
	}
	return fmt.Sprint(v)
}
