package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/mhcc-dev/mhcc/compile"
	"github.com/mhcc-dev/mhcc/internal/testenv"
	"github.com/mhcc-dev/mhcc/internal/testmodels"
	"github.com/mhcc-dev/mhcc/onnx/meta"
	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
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
	code, nodes, _ := mhcc(t, "graph", "../../testdata/models/tiny-mhc.yaml", "--view", "nodes", "--max-boxes", "0")
	if code != 0 {
		t.Fatal("nodes view failed")
	}
	perNode := strings.Count(nodes, `" [label="`) // boxes; inputs and outputs are ellipses with shape first
	m := testmodels.Compile(t, "../../testdata/models/tiny-mhc.yaml", compile.Options{})
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

// A dotPicture is what a test needs of graph's dot output: the boxes with
// their labels and the clusters (frames) they are drawn in, outermost
// first, and the edges.
type dotPicture struct {
	labels   map[string]string
	clusters map[string][]string
	edges    [][2]string
}

var (
	dotBox     = regexp.MustCompile(`^\s*"([^"]+)" \[(?:shape=\w+, )?label="((?:[^"\\]|\\.)*)"`)
	dotEdge    = regexp.MustCompile(`^\s*"([^"]+)" -> "([^"]+)"`)
	dotCluster = regexp.MustCompile(`^\s*subgraph "cluster_([^"]+)" \{`)
)

func parseDot(t *testing.T, src string) dotPicture {
	t.Helper()
	p := dotPicture{labels: map[string]string{}, clusters: map[string][]string{}}
	var stack []string
	for _, line := range strings.Split(src, "\n") {
		switch {
		case dotCluster.MatchString(line):
			stack = append(stack, dotCluster.FindStringSubmatch(line)[1])
		case strings.TrimSpace(line) == "}" && len(stack) > 0:
			stack = stack[:len(stack)-1]
		case dotEdge.MatchString(line):
			m := dotEdge.FindStringSubmatch(line)
			p.edges = append(p.edges, [2]string{m[1], m[2]})
		case dotBox.MatchString(line):
			m := dotBox.FindStringSubmatch(line)
			p.labels[m[1]] = strings.ReplaceAll(m[2], `\n`, "\n")
			p.clusters[m[1]] = append([]string(nil), stack...)
		}
	}
	if len(stack) != 0 {
		t.Fatalf("unclosed clusters %v in\n%s", stack, src)
	}
	return p
}

// twoWay lists the box pairs with edges both ways, which read as a cycle.
func (p dotPicture) twoWay() []string {
	seen := map[[2]string]bool{}
	for _, e := range p.edges {
		seen[e] = true
	}
	var l []string
	for _, e := range p.edges {
		if seen[[2]string{e[1], e[0]}] {
			l = append(l, e[0]+" <-> "+e[1])
		}
	}
	return l
}

// Layer boxes say what the layer holds, and the layers view has no two-way
// edges: the shared box (RoPE rows and the mask, built under layers.0)
// only feeds the layers, and a residual stream read by two layers (the
// residual add fused into the next norm) is not mistaken for shared values.
func TestGraphLayerBoxes(t *testing.T) {
	cases := []struct {
		model string
		args  []string
		want  []string // lines of layers.0's label
	}{
		{"tiny-mhc", nil, []string{"attention + mHC (Sinkhorn×20)", "FFN + mHC (Sinkhorn×20)"}},
		{"tiny-mhc", []string{"--target", "kernel"}, []string{"attention + mHC (Sinkhorn×20)", "FFN + mHC (Sinkhorn×20)"}},
		{"tiny-mhc-static", nil, []string{"attention + mHC (static)", "FFN + mHC (static)"}},
		{"tiny-residual", nil, []string{"attention + residual", "FFN + residual"}},
		{"mlp-mhc", nil, []string{"MLP + mHC (Sinkhorn×20)"}},
		{"mlp-residual", nil, []string{"MLP + residual"}},
	}
	for _, c := range cases {
		t.Run(c.model+strings.Join(c.args, ""), func(t *testing.T) {
			args := append([]string{"graph", "../../testdata/models/" + c.model + ".yaml"}, c.args...)
			code, out, errs := mhcc(t, args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			p := parseDot(t, out)
			label, ok := p.labels["layers.0"]
			if !ok {
				t.Fatalf("no box layers.0 in\n%s", out)
			}
			lines := strings.Split(label, "\n")
			if len(lines) < len(c.want)+2 || strings.Join(lines[1:1+len(c.want)], "|") != strings.Join(c.want, "|") {
				t.Errorf("layers.0 label %q, want the lines %q after the name", label, c.want)
			}
			if tw := p.twoWay(); len(tw) > 0 {
				t.Errorf("edges both ways (a cycle): %v\n%s", tw, out)
			}
			if sh, ok := p.labels["shared"]; ok && !strings.Contains(sh, "sizes read from layers.0") {
				t.Errorf("shared box label %q does not say where it reads from", sh)
			}
		})
	}
}

// The nodes view frames each layer's nodes (and, inside, each IR op's);
// past --max-boxes it refuses with the options that draw readably, and
// --layer draws one layer with its neighbours as context.
func TestGraphNodesView(t *testing.T) {
	const model = "../../testdata/models/tiny-mhc.yaml"
	dir := t.TempDir()
	out := filepath.Join(dir, "n.dot")
	code, _, errs := mhcc(t, "graph", model, "--view", "nodes", "-o", out)
	for _, want := range []string{"585 nodes", "--view layers", "--view ops", "--layer 0 (only the 275 nodes of layers.0", "--max-boxes 585"} {
		if !strings.Contains(errs, want) {
			t.Errorf("refusal lacks %q: %s", want, errs)
		}
	}
	if _, err := os.Stat(out); code != 1 || err == nil {
		t.Errorf("nodes view of 585 nodes: exit %d, file written: %v; want exit 1 and no file", code, err == nil)
	}

	code, src, errs := mhcc(t, "graph", model, "--view", "nodes", "--max-boxes", "0")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	p := parseDot(t, src)
	inLayer := map[string]int{}
	for id, cl := range p.clusters {
		m := regexp.MustCompile(`^(layers\.\d+)\.`).FindStringSubmatch(id)
		if m == nil {
			continue
		}
		if len(cl) == 0 || cl[0] != m[1] && cl[0] != "shared" {
			t.Errorf("node %s drawn in clusters %v, want inside %s", id, cl, m[1])
			continue
		}
		inLayer[cl[0]]++
		if op, _, _ := strings.Cut(id, "/"); cl[0] != "shared" && (len(cl) != 2 || cl[1] != op) {
			t.Errorf("node %s drawn in clusters %v, want %s inside %s", id, cl, op, m[1])
		}
	}
	if inLayer["layers.0"] < 200 || inLayer["layers.1"] < 200 {
		t.Errorf("nodes per layer frame: %v", inLayer)
	}

	code, src, errs = mhcc(t, "graph", model, "--view", "nodes", "--layer", "1")
	if code != 0 {
		t.Fatalf("--layer 1: exit %d: %s", code, errs)
	}
	p = parseDot(t, src)
	for id, label := range p.labels {
		context := strings.Contains(label, "(outside the layer)")
		if !context && !strings.HasPrefix(id, "layers.1.") {
			t.Errorf("--layer 1 draws %s (%q) as a node of the layer", id, label)
		}
	}
	for _, want := range []string{"layers.0", "shared", "hc_head"} {
		if !strings.Contains(p.labels[want], "(outside the layer)") {
			t.Errorf("--layer 1: no context box %s", want)
		}
	}
	if _, ok := p.labels["in:input_ids"]; ok {
		t.Errorf("--layer 1 draws the graph input, which the layer does not read")
	}
	if code, _, errs := mhcc(t, "graph", model, "--layer", "7"); code != 1 || !strings.Contains(errs, "layers.0 to layers.1") {
		t.Errorf("--layer 7: exit %d, %q", code, errs)
	}
}

// torchLikeModel is a graph named the way torch.onnx.export (torch 1.13)
// names a model whose layers are modules in a ModuleList: scoped names
// "/layers.0/attn/MatMul", a Constant per literal (some unscoped,
// "Constant_21", read by both layers), and the model's own nodes at the
// top level ("/Unsqueeze"). The names are copied from an export of
// scripts/reference's decoder with each layer called as a module.
func torchLikeModel() *onnxpb.ModelProto {
	type n struct {
		name, op string
		in       []string
		out      string
	}
	nodes := []n{
		{"/embed/Gather", "Gather", []string{"embed.weight", "input_ids"}, "e"},
		{"/Constant", "Constant", nil, "c0"},
		{"/Unsqueeze", "Unsqueeze", []string{"e", "c0"}, "x0"},
		{"Constant_21", "Constant", nil, "axes"},
		{"/layers.0/attn_norm/Mul", "Mul", []string{"x0", "x0"}, "a0"},
		{"/layers.0/attn/MatMul", "MatMul", []string{"a0", "w"}, "q0"},
		{"/layers.0/Constant_3", "Constant", nil, "k0"},
		{"/layers.0/ReduceSum", "ReduceSum", []string{"q0", "axes"}, "r0"},
		{"/layers.0/Add", "Add", []string{"x0", "r0"}, "x1"},
		{"/layers.0/Mul", "Mul", []string{"x1", "k0"}, "x1b"},
		{"/layers.1/attn_norm/Mul", "Mul", []string{"x1b", "x1b"}, "a1"},
		{"/layers.1/attn/MatMul", "MatMul", []string{"a1", "w"}, "q1"},
		{"/layers.1/ReduceSum", "ReduceSum", []string{"q1", "axes"}, "r1"},
		{"/layers.1/Add", "Add", []string{"x1b", "r1"}, "x2"},
		{"/Constant_9", "Constant", nil, "c9"},
		{"/ReduceSum", "ReduceSum", []string{"x2", "c9"}, "y"},
		{"/norm/Mul", "Mul", []string{"y", "y"}, "nm"},
		{"/head/MatMul", "MatMul", []string{"nm", "w"}, "logits"},
	}
	g := &onnxpb.GraphProto{Name: proto.String("torch_jit")}
	for _, x := range nodes {
		g.Node = append(g.Node, &onnxpb.NodeProto{Name: proto.String(x.name), OpType: proto.String(x.op), Input: x.in, Output: []string{x.out}})
	}
	for _, name := range []string{"embed.weight", "w"} {
		g.Initializer = append(g.Initializer, &onnxpb.TensorProto{Name: proto.String(name)})
	}
	g.Input = []*onnxpb.ValueInfoProto{{Name: proto.String("input_ids")}}
	g.Output = []*onnxpb.ValueInfoProto{{Name: proto.String("logits")}}
	return &onnxpb.ModelProto{IrVersion: proto.Int64(8), Graph: g}
}

// A torch.onnx export draws as one box per layer scope, its Constants
// inside the boxes that read them, its top-level nodes as the runs before
// and after the layers; the ops view frames each layer's module scopes.
func TestGraphTorchScopes(t *testing.T) {
	data, err := proto.Marshal(torchLikeModel())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "torch.onnx")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs := mhcc(t, "graph", path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	p := parseDot(t, out)
	var ids []string
	for id := range p.labels {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	if want := "embed head in:input_ids layers.0 layers.1 norm out:logits top level top level 2"; strings.Join(ids, " ") != want {
		t.Errorf("boxes %q, want %q", strings.Join(ids, " "), want)
	}
	for _, e := range [][2]string{{"top level", "layers.0"}, {"layers.0", "layers.1"}, {"layers.1", "top level 2"}} {
		if !slices.Contains(p.edges, e) {
			t.Errorf("no edge %s -> %s in\n%s", e[0], e[1], out)
		}
	}
	if tw := p.twoWay(); len(tw) > 0 {
		t.Errorf("edges both ways: %v", tw)
	}
	if l := p.labels["layers.0"]; !strings.Contains(l, "modules: attn_norm, attn\n") || !strings.Contains(l, "7 nodes: ") {
		t.Errorf("layers.0 label %q, want its modules and its 7 nodes (2 Constants folded in)", l)
	}
	if !strings.Contains(out, "4 Constant nodes drawn inside the box that reads them") {
		t.Errorf("title does not count the folded Constants:\n%s", out)
	}

	code, out, errs = mhcc(t, "graph", path, "--view", "ops")
	if code != 0 {
		t.Fatalf("ops view: exit %d: %s", code, errs)
	}
	p = parseDot(t, out)
	for id, want := range map[string][]string{"layers.0/attn": {"layers.0"}, "layers.1/attn_norm": {"layers.1"}, "layers.0": {"layers.0"}, "norm": nil} {
		if got := p.clusters[id]; !slices.Equal(got, want) {
			t.Errorf("ops view: %s in clusters %v, want %v", id, got, want)
		}
	}
	if tw := p.twoWay(); len(tw) > 0 {
		t.Errorf("ops view: edges both ways: %v\n%s", tw, out)
	}
}

// The layers view describes each sublayer from the mhcc.sublayers
// metadata when the graph has it (here edited to say 7 iterations for
// layers.1, the graph unchanged), and from node names and the model-wide
// metadata without it.
func TestGraphLayerTitlesFromSublayers(t *testing.T) {
	res, err := compile.Compile("../../testdata/models/tiny-mhc.yaml", compile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		edit   string
		layer1 string
	}{{"metadata", "attention + mHC (Sinkhorn×7)"}, {"stripped", "attention + mHC (Sinkhorn×20)"}} {
		t.Run(tc.edit, func(t *testing.T) {
			var mp onnxpb.ModelProto
			if err := proto.Unmarshal(res.ONNX, &mp); err != nil {
				t.Fatal(err)
			}
			found := false
			var kept []*onnxpb.StringStringEntryProto
			for _, p := range mp.MetadataProps {
				if p.GetKey() != meta.SublayersKey {
					kept = append(kept, p)
					continue
				}
				found = true
				subs, err := meta.Decode(p.GetValue())
				if err != nil {
					t.Fatal(err)
				}
				for i := range subs {
					if subs[i].Layer == 1 {
						subs[i].Iterations = 7
					}
				}
				p.Value = proto.String(meta.Encode(subs))
				if tc.edit == "metadata" {
					kept = append(kept, p)
				}
			}
			if !found {
				t.Fatal("no mhcc.sublayers in the compiled model")
			}
			mp.MetadataProps = kept
			p := graphOfModel(t, &mp)
			for layer, want := range map[string]string{"layers.0": "attention + mHC (Sinkhorn×20)", "layers.1": tc.layer1} {
				if lines := strings.Split(p.labels[layer], "\n"); len(lines) < 2 || lines[1] != want {
					t.Errorf("%s label %q, want the line %q after the name", layer, p.labels[layer], want)
				}
			}
		})
	}
}

// graphOfModel writes m to a file and parses what mhcc graph draws of it.
func graphOfModel(t *testing.T, m *onnxpb.ModelProto) dotPicture {
	t.Helper()
	data, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "m.onnx")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs := mhcc(t, "graph", path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	return parseDot(t, out)
}
