package lower

import (
	"math"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/mhcc-dev/mhcc/model"
)

// TestRopeTablesLazy: lowering a model with long max_sequence computes no
// RoPE table (both are streamed constants); streamed, they hold
// cos/sin(p · theta^(-2i/d)) on both halves of each row, and a short one
// is computed at once with the same values.
func TestRopeTablesLazy(t *testing.T) {
	base, err := os.ReadFile("../testdata/models/tiny-mhc.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		maxSeq int
		lazy   bool
	}{{128, false}, {65536, true}} {
		src := strings.Replace(string(base), "max_sequence: 128", "max_sequence: "+strconv.Itoa(tc.maxSeq), 1)
		m, err := model.LoadBytes("m.yaml", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		g := lowerWithWeights(t, m, "m.yaml")
		found := 0
		for _, v := range g.Values() {
			if v.Name != "rope.cos" && v.Name != "rope.sin" {
				continue
			}
			found++
			c := v.Const
			if c.IsLazy() != tc.lazy {
				t.Fatalf("max_sequence %d: %s lazy = %v", tc.maxSeq, v.Name, c.IsLazy())
			}
			cp := *c
			if err := cp.Materialize(); err != nil {
				t.Fatal(err)
			}
			d := int(c.Shape[1])
			for _, p := range []int{0, 1, 7, tc.maxSeq - 1} {
				for i := 0; i < d/2; i++ {
					ang := float64(p) * math.Pow(m.Arch.RopeTheta, -2*float64(i)/float64(d))
					want := float32(math.Cos(ang))
					if v.Name == "rope.sin" {
						want = float32(math.Sin(ang))
					}
					if got := cp.F32[p*d+i]; got != want {
						t.Fatalf("%s[%d,%d] = %v, want %v", v.Name, p, i, got, want)
					}
					if got := cp.F32[p*d+d/2+i]; got != want {
						t.Fatalf("%s[%d,%d] = %v, want %v", v.Name, p, d/2+i, got, want)
					}
				}
			}
		}
		if found != 2 {
			t.Fatalf("found %d RoPE tables", found)
		}
	}
}
