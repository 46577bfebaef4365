package lower

import (
	"strconv"
	"strings"
	"testing"

	"github.com/mhcc-dev/mhcc/model"
)

// Sublayers on the lowered (unoptimised) graphs of the test models: one
// entry per sublayer in order, with the coefficient values of the IR.
func TestSublayersOfLoweredModels(t *testing.T) {
	for _, tc := range []struct {
		model string
		want  []string // name kind layer streams iterations lowering pre post comb output
	}{
		{"tiny-mhc", []string{
			"layers.0.attn attention 0 4 20 reference layers.0.attn.pre layers.0.attn.post layers.0.attn.comb layers.0.attn.x",
			"layers.0.ffn ffn 0 4 20 reference layers.0.ffn.pre layers.0.ffn.post layers.0.ffn.comb layers.0.ffn.x",
			"layers.1.attn attention 1 4 20 reference layers.1.attn.pre layers.1.attn.post layers.1.attn.comb layers.1.attn.x",
			"layers.1.ffn ffn 1 4 20 reference layers.1.ffn.pre layers.1.ffn.post layers.1.ffn.comb layers.1.ffn.x",
		}},
		{"tiny-residual", []string{
			"layers.0.attn attention 0 1 0     layers.0.attn.residual",
			"layers.0.ffn ffn 0 1 0     layers.0.ffn.residual",
			"layers.1.attn attention 1 1 0     layers.1.attn.residual",
			"layers.1.ffn ffn 1 1 0     layers.1.ffn.residual",
		}},
		{"mlp-mhc", []string{
			"layers.0.mlp mlp 0 4 20 reference layers.0.mlp.pre layers.0.mlp.post layers.0.mlp.comb layers.0.mlp.x",
			"layers.1.mlp mlp 1 4 20 reference layers.1.mlp.pre layers.1.mlp.post layers.1.mlp.comb layers.1.mlp.x",
			"layers.2.mlp mlp 2 4 20 reference layers.2.mlp.pre layers.2.mlp.post layers.2.mlp.comb layers.2.mlp.x",
		}},
	} {
		t.Run(tc.model, func(t *testing.T) {
			m, err := model.Load("../testdata/models/" + tc.model + ".yaml")
			if err != nil {
				t.Fatal(err)
			}
			w, err := model.LoadWeights(m)
			if err != nil {
				t.Fatal(err)
			}
			g, err := Lower(m, w)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, s := range Sublayers(g, nil) {
				got = append(got, strings.Join([]string{s.Name, s.Kind, itoa(s.Layer), itoa(s.Streams), itoa(s.Iterations), s.Lowering, s.Pre, s.Post, s.Comb, s.Output}, " "))
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
