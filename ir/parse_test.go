package ir

import (
	"path/filepath"
	"strings"
	"testing"
)

// Print(Parse(s)) == s for the lowered IR of every testdata model.
func TestParseRoundTrip(t *testing.T) {
	files, _ := filepath.Glob("../testdata/models/*.yaml")
	if len(files) == 0 {
		t.Fatal("no testdata models")
	}
	for _, path := range files {
		m, err := Load(path)
		if err != nil {
			t.Fatal(err)
		}
		g := lowerWithWeights(t, m, path)
		text := g.String()
		back, err := Parse(text)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if err := Verify(back); err != nil {
			t.Fatalf("%s: parsed graph: %v", path, err)
		}
		if got := back.String(); got != text {
			t.Errorf("%s: round trip differs:\n%s", path, firstDiffLine(got, text))
		}
	}
}

// lowerWithWeights loads m's weights and lowers it; file names m in a
// failure.
func lowerWithWeights(t *testing.T, m *Model, file string) *Graph {
	t.Helper()
	w, err := LoadWeights(m)
	if err != nil {
		t.Fatalf("%s: weights: %v", file, err)
	}
	g, err := Lower(m, w)
	if err != nil {
		t.Fatalf("%s: lower: %v", file, err)
	}
	return g
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

func TestParseErrors(t *testing.T) {
	for _, c := range []struct{ text, want string }{
		{"input %x: f32[2]", "want \"graph NAME\" first"},
		{"graph g\ninput %x: f32[2]\n%y = Add<f32[3]> %x, %x", "line 3: Add infers <f32[2]>, the text says <f32[3]>"},
		{"graph g\n%y = Add<f32[2]> %x, %x", "line 2: %x is not defined"},
		{"graph g\nconst %c: f32[2] = [1]", "line 2: const %c: 1 values for 2 elements"},
		{"graph g\ninput %x: f32[2]\n%y = Frob<f32[2]> %x", "unknown op \"Frob\""},
		{"graph g\ninput %x: f32[4,4]\n%y = Sinkhorn<f32[4,4]> %x {iters=2, epsilon=0}", "Sinkhorn has no attribute \"epsilon\""},
		{"graph g\noutput %z", "output %z is not defined"},
	} {
		_, err := Parse(c.text)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Parse(%q): got %v, want %q", c.text, err, c.want)
		}
	}
}
