package main

import (
	"bytes"
	"github.com/mhcc-dev/mhcc/export/onnxpb"
	"github.com/mhcc-dev/mhcc/internal/build"
	"google.golang.org/protobuf/proto"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/mhcc-dev/mhcc/internal/testenv"
)

var boxLine = regexp.MustCompile(`(?m)^  "([^"]+)" \[label="[^"]*\\n(\d+) nodes?: `)

// The layers view has one box per layer, chained, and its boxes account for
// every ONNX node once; the nodes view has one box per node.
func TestGraphViews(t *testing.T) {
	code, out, errs := mhcc(t, "graph", "../../testdata/models/tiny-mhc.yaml")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	total := 0
	boxes := map[string]bool{}
	for _, m := range boxLine.FindAllStringSubmatch(out, -1) {
		k, _ := strconv.Atoi(m[2])
		total += k
		boxes[m[1]] = true
	}
	if !boxes["layers.0"] || !boxes["layers.1"] || boxes["layers.2"] || len(boxes) > 12 {
		t.Errorf("layers view boxes: %v", boxes)
	}
	if !strings.Contains(out, `"layers.0" -> "layers.1";`) || !strings.Contains(out, `"head" -> "out:logits";`) {
		t.Errorf("layers view lacks the layer chain:\n%s", out)
	}
	code, nodes, _ := mhcc(t, "graph", "../../testdata/models/tiny-mhc.yaml", "--view", "nodes")
	if code != 0 {
		t.Fatal("nodes view failed")
	}
	perNode := strings.Count(nodes, `" [label="`) // boxes; inputs and outputs are ellipses with shape first
	res, err := build.Compile("../../testdata/models/tiny-mhc.yaml", build.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var m onnxpb.ModelProto
	if err := proto.Unmarshal(res.ONNX, &m); err != nil {
		t.Fatal(err)
	}
	if want := len(m.GetGraph().GetNode()); total != want || perNode != want {
		t.Errorf("layers view accounts for %d ONNX nodes, nodes view draws %d boxes; tiny-mhc has %d", total, perNode, want)
	}
}

func TestGraphRender(t *testing.T) {
	dot, err := exec.LookPath("dot")
	if err != nil {
		dot = "/usr/bin/dot"
	}
	testenv.NeedPath(t, dot, "Graphviz's dot (Debian graphviz)")
	dir := t.TempDir()
	for format, magic := range map[string][]byte{"svg": []byte("<svg"), "png": []byte("\x89PNG")} {
		out := filepath.Join(dir, "g."+format)
		if code, _, errs := mhcc(t, "graph", "../../testdata/models/mlp-mhc.yaml", "--format", format, "-o", out); code != 0 {
			t.Fatalf("%s: %s", format, errs)
		}
		data, err := os.ReadFile(out)
		if err != nil || !bytes.Contains(data[:min(len(data), 400)], magic) {
			t.Errorf("%s: %d bytes, want %q near the start (%v)", format, len(data), magic, err)
		}
	}
	t.Setenv("PATH", dir) // no dot there
	code, _, errs := mhcc(t, "graph", "../../testdata/models/mlp-mhc.yaml", "--format", "svg", "-o", filepath.Join(dir, "x.svg"))
	if code != 1 || !strings.Contains(errs, "Graphviz") {
		t.Errorf("without dot: exit %d, %q; want 1 and a message naming Graphviz", code, errs)
	}
}
