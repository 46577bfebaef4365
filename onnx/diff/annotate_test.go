package graphdiff

import (
	"strings"
	"testing"

	"github.com/mhcc-dev/mhcc/onnx/text"
)

// TestGoldenLine: changes find their line in a text golden by the path and
// nodes graphdiff gives them, node names with '/' included.
func TestGoldenLine(t *testing.T) {
	src := `<
  ir_version: 8,
  opset_import: ["" : 17],
  metadata_props: [
    "mhcc.hc.streams": "4",
    "mhcc.target": "onnx"
  ]
>
g (float[2] x) => (float[2] y)
<
  # float[2] "w.weight" = sha256:0000000000000000000000000000000000000000000000000000000000000000
>
{
  ["a/1_Add"] t = Add (x, "w.weight")
  ["layers.0.mlp.comb/3_Div"] u = Div (t, t)
  ["layers.0.mlp.comb/4_Div"] y = Div (u, t)
}
`
	_, pos, err := onnxtext.Parse([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		c    Change
		line int // 0: not found
	}{
		{Change{Level: LevelModel, Path: "metadata mhcc.target"}, 6},
		{Change{Level: LevelInterface, Path: "input x"}, 9},
		{Change{Level: LevelInterface, Path: "opset "}, 1},
		{Change{Level: LevelGraph, Path: "initializer w.weight"}, 11},
		{Change{Level: LevelGraph, Path: "graph/a/1_Add"}, 14},
		{Change{Level: LevelGraph, Path: "graph/layers.0.mlp.comb/4_Div/then_branch/n"}, 16},
		{Change{Level: LevelGraph, Path: "graph", Nodes: []string{"new/1", "layers.0.mlp.comb/3_Div"}}, 15},
		{Change{Level: LevelGraph, Path: "graph", Nodes: []string{"new/1"}, Consumers: []string{"a/1_Add"}}, 14},
		{Change{Level: LevelModel, Kind: "sinkhorn_iterations", Path: "layers.0.mlp.comb"}, 15},
		{Change{Level: LevelGraph, Path: "graph/nowhere"}, 0},
	} {
		line, _, ok := GoldenLine(pos, tc.c)
		if !ok {
			line = 0
		}
		if line != tc.line {
			t.Errorf("%+v: line %d, want %d", tc.c, line, tc.line)
		}
	}
}

// TestWriteGitHubAt: the location's properties come before the title,
// escaped; no file, no properties.
func TestWriteGitHubAt(t *testing.T) {
	r := &Report{Changes: []Change{
		{Level: LevelModel, Severity: Metadata, Kind: "streams", Message: "streams 4 → 2"},
		{Level: LevelGraph, Severity: Structure, Kind: "node_deleted", Message: "deleted"},
		{Level: LevelGraph, Severity: Attribute, Kind: "attribute", Message: "x"},
	}}
	at := func(c Change) Location {
		switch c.Kind {
		case "streams":
			return Location{File: "models/m,1.yaml", Line: 12, Col: 3}
		case "node_deleted":
			return Location{File: "golden/m.txt"}
		}
		return Location{}
	}
	var b strings.Builder
	if err := r.WriteGitHubAt(&b, at); err != nil {
		t.Fatal(err)
	}
	want := "::notice file=models/m%2C1.yaml,line=12,col=3,title=mhcc diff model streams::streams 4 → 2\n" +
		"::error file=golden/m.txt,title=mhcc diff graph node_deleted::deleted\n" +
		"::warning title=mhcc diff graph attribute::x\n"
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
	if ModelKey(r.Changes[0]) != "hyper_connections.streams" || ModelKey(r.Changes[1]) != "" {
		t.Errorf("ModelKey: %q, %q", ModelKey(r.Changes[0]), ModelKey(r.Changes[1]))
	}
}
