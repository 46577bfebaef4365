package ir

import (
	"strings"
	"testing"
)

// moeText is an MoE graph over 2 experts and a shared MLP, each expert the
// tensors in ws (%<expert><w> with shapes by name: w1, w3 [4,8], w2 [8,4],
// b1, b3 [4], b2 [8]), with the given attributes added.
func moeText(ws []string, attrs string, shapes map[string]string) string {
	var b strings.Builder
	b.WriteString("graph g\ninput %x: f32[3,8]\ninput %gate: f32[2,8]\n")
	var names []string
	for _, e := range []string{"a", "b", "s"} {
		for _, w := range ws {
			b.WriteString("input %" + e + w + ": f32" + shapes[w] + "\n")
			names = append(names, "%"+e+w)
		}
	}
	b.WriteString("%y = MoE<f32[3,8]> %x, %gate, " + strings.Join(names, ", ") + " {experts=2, top_k=1, router=\"softmax\", normalize=0, scaling=1, shared=1" + attrs + "}\noutput %y\n")
	return b.String()
}

// The MoE op takes each activation's layout (gated: w1, w3, w2; not: w1,
// w2; then the biases in the same order with bias=1) and checks the shapes
// and counts against it.
func TestMoEInferLayouts(t *testing.T) {
	shapes := map[string]string{"w1": "[4,8]", "w3": "[4,8]", "w2": "[8,4]", "b1": "[4]", "b3": "[4]", "b2": "[8]"}
	for _, c := range []struct {
		ws    []string
		attrs string
		want  string // "" valid, else part of the error
	}{
		{[]string{"w1", "w3", "w2"}, "", ""},
		{[]string{"w1", "w2"}, `, activation="gelu_tanh"`, ""},
		{[]string{"w1", "w2", "b1", "b2"}, `, activation="relu2", bias=1`, ""},
		{[]string{"w1", "w3", "w2", "b1", "b3", "b2"}, `, activation="geglu", bias=1`, ""},
		{[]string{"w1", "w3", "w2"}, `, activation="gelu"`, "want 8"},
		{[]string{"w1", "w2", "b2", "b1"}, `, activation="gelu", bias=1`, "want [4]"},
		{[]string{"w1", "w2"}, `, activation="silu"`, `attribute activation: got "silu"`},
		{[]string{"w1", "w2"}, `, activation="gelu", bias=2`, "attribute bias: got 2"},
	} {
		_, err := Parse(moeText(c.ws, c.attrs, shapes))
		if c.want == "" && err != nil {
			t.Errorf("%v%s: %v", c.ws, c.attrs, err)
		}
		if c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%v%s: got %v, want an error with %q", c.ws, c.attrs, err, c.want)
		}
	}
}
