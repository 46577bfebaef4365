package onnxtext

import (
	"strings"
	"testing"
)

// TestParseReformat: Parse reads Format's text of every model of Debian's
// libonnx-testdata so that formatting the result prints the same text again
// (initializers come back as hashes, which print as the same summaries).
// graphdiff's TestTextGoldenCorpus compares the models themselves.
func TestParseReformat(t *testing.T) {
	files, models := corpus(t)
	read := 0
	for i, m := range models {
		f := files[i]
		text, err := Format(m, Options{})
		if err != nil {
			continue
		}
		g, _, err := Parse(text)
		if err != nil {
			if !strings.Contains(err.Error(), "cannot be read back") {
				t.Errorf("%s: %v", f, err)
			}
			continue
		}
		again, err := Format(g, Options{})
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if string(again) != string(text) {
			t.Errorf("%s: text changes when read back and printed:\n%s", f, lineDiff(string(text), string(again)))
		}
		read++
	}
	if read < len(files)*9/10 {
		t.Errorf("read back only %d of %d models", read, len(files))
	}
}

func lineDiff(a, b string) string {
	la, lb := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range min(len(la), len(lb)) {
		if la[i] != lb[i] {
			return "want: " + la[i] + "\ngot:  " + lb[i]
		}
	}
	return "lengths differ"
}

// TestParseErrors: what is not Format's output is an error at its line and
// column, never a panic, however deep or cut short.
func TestParseErrors(t *testing.T) {
	head := "<\n  ir_version: 8,\n  opset_import: [\"\" : 17]\n>\n"
	deep := head + "g () => ()\n{\n  = If () <then_branch = " + strings.Repeat("g () => () { = If () <then_branch = ", 200) + "\n"
	for _, tc := range []struct{ src, want string }{
		{"", "1:1: want \"<\", got end of text"},
		{"<\n  ir_version: \"8\"\n>", "2:15: want an integer"},
		{"<\n  colour: 1\n>", "2:3: unknown model field \"colour\""},
		{head + "g (float[2 x) => ()\n{\n}\n", "5:12: want \"]\""},
		{head + "g () => ()\n{\n  y = Add (x\n", "8:1: want \")\""},
		{head + "g () => ()\n{\n  y = Add (\"x)\n}\n", "7:12: unterminated string"},
		{head + "g () => ()\n<\n  # float[2] w = sha256:12\n>\n{\n}\n", "7:3: sha256:12: want 64 hex digits"},
		{head + "g () => ()\n<\n  # float[2] w = [\"location\": \"w.bin\"]\n>\n{\n}\n", "7:3: initializer \"w\": [\"location\": \"w.bin\"] cannot be read back"},
		{head + "g () => ()\n{\n  y = Constant <value: sparse_tensor = sparse(float[2], float[1] {1.0}, int64[1] {0})> ()\n}\n", "cannot be read back"},
		{head + "g () => ()\n{\n  y = Constant <value = float[2] {1.0, \"a\"}> ()\n}\n", "float tensor: got \"a\""},
		{deep, "nested more than 64 levels deep"},
		{head + "g () => ()\n{\n  y = Add (x) $\n}\n", "7:15: unexpected character '$'"},
	} {
		_, _, err := Parse([]byte(tc.src))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%.60q):\n got %v\nwant %s", tc.src, err, tc.want)
		}
	}
}

// TestParsePositions: Positions records where the main graph's nodes,
// initializers, inputs, outputs and metadata keys are.
func TestParsePositions(t *testing.T) {
	src := `<
  ir_version: 8,
  opset_import: ["" : 17],
  metadata_props: [
    "mhcc.hc.streams": "4"
  ]
>
g (float[2] x) => (float[2] "y.out")
<
  # initializer values elided: type, name and sha256 of the data
  # float[2] "w.weight" = sha256:0000000000000000000000000000000000000000000000000000000000000000
>
{
  ["layers.0/Add"] "y.out" = Add (x, "w.weight")
}
`
	m, pos, err := Parse([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	got := []Pos{pos.Metadata["mhcc.hc.streams"], pos.Values["x"], pos.Values["y.out"], pos.Initializers["w.weight"], pos.Nodes["layers.0/Add"]}
	want := []Pos{{5, 5}, {8, 4}, {8, 20}, {11, 3}, {14, 3}}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("position %d: %v, want %v", i, got[i], want[i])
		}
	}
	w := m.GetGraph().GetInitializer()[0]
	if h, ok := HashOnly(w); !ok || h != "sha256:"+strings.Repeat("0", 64) || w.GetDataType() != 1 || len(w.GetDims()) != 1 {
		t.Errorf("initializer %v", w)
	}
}
