package ir

import (
	"strings"
	"testing"
)

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
