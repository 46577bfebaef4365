package target

import (
	"strings"
	"testing"
)

func TestBuiltinProfilesParse(t *testing.T) {
	names := Names()
	for _, want := range []string{"compact", "kernel", "minimal", "onnx", "ort"} {
		found := false
		for _, n := range names {
			found = found || n == want
		}
		if !found {
			t.Errorf("no built-in profile %q in %v", want, names)
		}
	}
	for _, p := range Builtin() {
		if p.Doc == "" || p.Source != "builtin" {
			t.Errorf("%s: doc %q, source %q", p.Name, p.Doc, p.Source)
		}
		if !p.Allows("", "Add") {
			t.Errorf("%s does not allow Add", p.Name)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, c := range []struct{ text, want string }{
		{"name: x\nir_version: 8\nopsets: {\"\": 17}\nlowerings: {}\n", "field lowerings not found"},
		{"name: x\nir_version: 2\nopsets: {\"\": 17}\n", "ir_version: got 2"},
		{"name: x\nir_version: 8\nopsets: {\"\": 17}\nops: {com.microsoft: [\"*\"]}\n", `ops."com.microsoft": domain has no opsets entry`},
		{"name: x\nir_version: 8\nopsets: {\"\": 17}\nprecision: fp8\n", `precision: got "fp8"`},
		{"ir_version: 8\nopsets: {\"\": 17}\n", "name: missing"},
	} {
		_, err := Parse("p.yaml", []byte(c.text))
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "p.yaml") {
			t.Errorf("Parse(%q): got %v, want %q", c.text, err, c.want)
		}
	}
	if _, err := Get("nosuch"); err == nil || !strings.Contains(err.Error(), "want one of compact") {
		t.Errorf("Get(nosuch): %v", err)
	}
}

func TestAllows(t *testing.T) {
	p, err := Get("ort")
	if err != nil {
		t.Fatal(err)
	}
	if !p.Allows("com.microsoft", "GroupQueryAttention") || p.Allows("com.microsoft", "Frob") || p.Allows("ai.mhcc", "Sinkhorn") {
		t.Error("ort's allowed operators are not what its profile says")
	}
	if p.LoweringOf("Sinkhorn") != "gemm" || p.LoweringOf("Gather") != "reference" {
		t.Errorf("lowerings: Sinkhorn %s, Gather %s", p.LoweringOf("Sinkhorn"), p.LoweringOf("Gather"))
	}
}
