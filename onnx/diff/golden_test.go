package graphdiff

import (
	"os"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/mhcc-dev/mhcc/internal/testenv"
	"github.com/mhcc-dev/mhcc/internal/testmodels"
	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
	onnxtext "github.com/mhcc-dev/mhcc/onnx/text"
)

// textGolden is what a graph-only golden gives back: m printed by mhcc fmt
// and read again.
func textGolden(t *testing.T, m *onnxpb.ModelProto) *onnxpb.ModelProto {
	t.Helper()
	text, err := onnxtext.Format(m, onnxtext.Options{})
	if err != nil {
		t.Fatal(err)
	}
	g, _, err := onnxtext.Parse(text)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return g
}

// TestTextGoldenEqual: every test model, compiled for every target, compares
// equal (no change at all, both ways) with its own fmt text read back, so a
// text golden of an unchanged model passes any gate.
func TestTextGoldenEqual(t *testing.T) {
	testmodels.EachTarget(t, func(t *testing.T, _, _ string, m *onnxpb.ModelProto) {
		g := textGolden(t, m)
		if len(g.Graph.Node) != len(m.Graph.Node) || len(g.Graph.Initializer) != len(m.Graph.Initializer) {
			t.Errorf("read back %d nodes, %d initializers; want %d, %d",
				len(g.Graph.Node), len(g.Graph.Initializer), len(m.Graph.Node), len(m.Graph.Initializer))
		}
		for _, r := range []*Report{mustCompare(t, g, m, Options{}), mustCompare(t, m, g, Options{})} {
			if !r.Equal() {
				t.Errorf("text golden differs from the model:\n%s", dump(r))
			}
		}
	})
}

// TestTextGoldenChanges: a text golden catches what a full .onnx golden
// catches, in the same terms: Sinkhorn iterations, and weights (by hash).
func TestTextGoldenChanges(t *testing.T) {
	golden := textGolden(t, compileVariant(t, "tiny-mhc.yaml"))
	for _, tc := range []struct {
		name string
		repl []string
		want []string // in the text report
		max  Severity
	}{
		{"iterations", []string{"sinkhorn_iterations: 20", "sinkhorn_iterations: 10"},
			[]string{"sinkhorn iterations 20 → 10", "layers.1 ffn: sinkhorn iterations 20 → 10", "deleted"}, Structure},
		{"weights", []string{"seed: 1", "seed: 2"},
			[]string{"initializer embed.weight: values changed (sha256:", "initializer head.weight: values changed"}, Attribute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fresh := compileVariant(t, "tiny-mhc.yaml", tc.repl...)
			r := mustCompare(t, golden, fresh, Options{})
			text := reportText(t, r)
			for _, w := range tc.want {
				if !strings.Contains(text, w) {
					t.Errorf("report lacks %q:\n%s", w, text)
				}
			}
			if m, _ := r.Max(); m != tc.max {
				t.Errorf("Max = %v, want %v:\n%s", m, tc.max, text)
			}
		})
	}
}

// TestTextGoldenCorpus reads back mhcc fmt's text of every model of Debian's
// libonnx-testdata (models made by onnx's own tools, with If/Loop/Scan
// subgraphs, functions and every attribute kind) and compares it with the
// model: equal, except for the models Parse refuses by design (sparse
// tensors, type_proto attributes, external data), which must fail to parse
// rather than read back wrong.
func TestTextGoldenCorpus(t *testing.T) {
	files := testenv.NeedONNXTestModels(t)
	read, refused := 0, 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m := &onnxpb.ModelProto{}
		if proto.Unmarshal(b, m) != nil {
			continue
		}
		text, err := onnxtext.Format(m, onnxtext.Options{})
		if err != nil {
			continue
		}
		g, _, err := onnxtext.Parse(text)
		if err != nil {
			refused++
			if !strings.Contains(err.Error(), "cannot be read back") {
				t.Errorf("%s: %v", f, err)
			}
			continue
		}
		read++
		r, err := Compare(m, g, Options{})
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if !r.Equal() {
			t.Errorf("%s: read back differs:\n%s", f, dump(r))
		}
	}
	t.Logf("%d models read back equal, %d refused", read, refused)
	if read < len(files)*9/10 {
		t.Errorf("read back only %d of %d models", read, len(files))
	}
}
