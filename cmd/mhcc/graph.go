package main

import (
	"bytes"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mhcc-dev/mhcc/export/onnxpb"
	"github.com/mhcc-dev/mhcc/internal/atomicfile"
)

func newGraphCmd() *cobra.Command {
	var format, view, out, target string
	cmd := &cobra.Command{
		Use:   "graph model.onnx [--format dot|svg|png] [--view layers|ops|nodes] [-o file]",
		Short: "Draw a model's graph (Graphviz)",
		Long: `Graph draws the dataflow graph of an ONNX model (or of a model file,
compiled first) in Graphviz's dot language, or renders it to SVG or PNG with
Graphviz's dot program (Debian: graphviz, installed by scripts/install-deps).

Views:
  layers  (default) every "layers.N" block is one box, the rest one box per
          IR operation, so a 30-layer model stays a readable chain;
  ops     one box per IR operation (the part of an ONNX node's name before
          "/", which mhcc sets to the IR node it comes from);
  nodes   every ONNX node.

Boxes say how many ONNX nodes they stand for and of which kinds; initializers
are not drawn. Only the graph is read, so a model with external data needs
no data file. dot goes to stdout unless -o is given; svg and png go to -o,
by default the model's name with .svg or .png, written atomically.`,
		Example: `  mhcc graph model.onnx -o model.dot
  mhcc graph model.onnx --format svg                  # writes model.svg
  mhcc graph testdata/models/tiny-mhc.yaml --view ops --format png -o tiny.png`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch view {
			case "layers", "ops", "nodes":
			default:
				return fmt.Errorf("--view %q: want layers, ops or nodes", view)
			}
			switch format {
			case "dot", "svg", "png":
			default:
				return fmt.Errorf("--format %q: want dot, svg or png", format)
			}
			var dotPath string
			if format != "dot" {
				p, err := exec.LookPath("dot")
				if err != nil {
					return fmt.Errorf("--format %s needs Graphviz's dot program, which is not on PATH (Debian: apt-get install graphviz, or run scripts/install-deps); --format dot needs nothing", format)
				}
				dotPath = p
			}
			m, err := loadModel(args[0], target)
			if err != nil {
				return err
			}
			src := graphDot(m, view)
			if format == "dot" {
				if out == "" || out == "-" {
					_, err := io.WriteString(cmd.OutOrStdout(), src)
					return err
				}
				return atomicfile.Write(out, func(w io.Writer) error { _, err := io.WriteString(w, src); return err })
			}
			if out == "" {
				base := filepath.Base(args[0])
				out = strings.TrimSuffix(base, filepath.Ext(base)) + "." + format
			}
			var stdout, stderr bytes.Buffer
			c := exec.Command(dotPath, "-T"+format)
			c.Stdin, c.Stdout, c.Stderr = strings.NewReader(src), &stdout, &stderr
			if err := c.Run(); err != nil {
				return fmt.Errorf("dot -T%s: %v: %s", format, err, strings.TrimSpace(stderr.String()))
			}
			if err := atomicfile.Write(out, func(w io.Writer) error { _, err := w.Write(stdout.Bytes()); return err }); err != nil {
				return fmt.Errorf("writing %s: %w", out, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s\n", out)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&format, "format", "dot", "output format: dot, svg or png (svg and png need Graphviz)")
	f.StringVar(&view, "view", "layers", "granularity: layers, ops or nodes")
	f.StringVarP(&out, "output", "o", "", "output file (dot: stdout by default)")
	f.StringVar(&target, "target", "", "target to compile a model file for")
	return cmd
}

var layerPrefix = regexp.MustCompile(`^layers\.(\d+)\.`)

// groupOf is the box an ONNX node belongs to in a view.
func groupOf(n *onnxpb.NodeProto, index int, view string) string {
	name := n.GetName()
	if view == "nodes" || name == "" {
		if name == "" {
			return fmt.Sprintf("#%d %s", index, n.GetOpType())
		}
		return name
	}
	owner, _, _ := strings.Cut(name, "/")
	if view == "layers" {
		if m := layerPrefix.FindStringSubmatch(owner); m != nil {
			return "layers." + m[1]
		}
	}
	return owner
}

// graphDot renders m's graph in the dot language: boxes in file order,
// edges between boxes that pass a value, graph inputs and outputs as
// ellipses.
func graphDot(m *onnxpb.ModelProto, view string) string {
	g := m.GetGraph()
	inits := map[string]bool{}
	for _, t := range g.GetInitializer() {
		inits[t.GetName()] = true
	}
	type box struct {
		id    string
		nodes int
		ops   map[string]int
	}
	var order []*box
	boxes := map[string]*box{}
	producer := map[string]*box{}
	for _, in := range g.GetInput() {
		if !inits[in.GetName()] {
			producer[in.GetName()] = &box{id: "in:" + in.GetName()}
		}
	}
	keys := make([]string, len(g.GetNode()))
	for i, n := range g.GetNode() {
		keys[i] = groupOf(n, i, view)
	}
	if view == "layers" {
		sharedNodes(g.GetNode(), keys)
	}
	nodeBox := make([]*box, len(g.GetNode()))
	for i, n := range g.GetNode() {
		key := keys[i]
		b := boxes[key]
		if b == nil {
			b = &box{id: key, ops: map[string]int{}}
			boxes[key] = b
			order = append(order, b)
		}
		b.nodes++
		b.ops[n.GetOpType()]++
		nodeBox[i] = b
		for _, o := range n.GetOutput() {
			producer[o] = b
		}
	}
	type edge struct{ from, to string }
	seen := map[edge]bool{}
	var edges []edge
	addEdge := func(e edge) {
		if e.from != e.to && !seen[e] {
			seen[e] = true
			edges = append(edges, e)
		}
	}
	for i, n := range g.GetNode() {
		for _, in := range n.GetInput() {
			if p := producer[in]; p != nil {
				addEdge(edge{p.id, nodeBox[i].id})
			}
		}
	}
	for _, o := range g.GetOutput() {
		if p := producer[o.GetName()]; p != nil {
			addEdge(edge{p.id, "out:" + o.GetName()})
		}
	}

	var b strings.Builder
	fmt.Fprintf(&b, "digraph %s {\n", strconv.Quote(g.GetName()))
	fmt.Fprintf(&b, "  label=%s;\n  labelloc=t;\n  rankdir=TB;\n  node [shape=box, fontname=\"Helvetica\", fontsize=10];\n",
		strconv.Quote(fmt.Sprintf("%s: %d nodes, %d initializers (%s view)", g.GetName(), len(g.GetNode()), len(g.GetInitializer()), view)))
	for _, in := range g.GetInput() {
		if !inits[in.GetName()] {
			fmt.Fprintf(&b, "  %s [shape=ellipse, label=%s];\n", strconv.Quote("in:"+in.GetName()), strconv.Quote(in.GetName()+"\n"+typeString(in)))
		}
	}
	for _, bx := range order {
		var label string
		if bx.nodes == 1 && view == "nodes" {
			for op := range bx.ops {
				label = op + "\n" + bx.id
			}
		} else {
			label = fmt.Sprintf("%s\n%s", bx.id, opSummary(bx.nodes, bx.ops))
		}
		fmt.Fprintf(&b, "  %s [label=%s];\n", strconv.Quote(bx.id), strconv.Quote(label))
	}
	for _, o := range g.GetOutput() {
		fmt.Fprintf(&b, "  %s [shape=ellipse, label=%s];\n", strconv.Quote("out:"+o.GetName()), strconv.Quote(o.GetName()+"\n"+typeString(o)))
	}
	for _, e := range edges {
		attrs := ""
		if e.to == "shared" || e.from == "shared" {
			// Shape information, not the residual stream: keep it out of
			// the layout's ranking so the layers stay one chain.
			attrs = " [style=dashed, constraint=false]"
		}
		fmt.Fprintf(&b, "  %s -> %s%s;\n", strconv.Quote(e.from), strconv.Quote(e.to), attrs)
	}
	b.WriteString("}\n")
	return b.String()
}

// sharedNodes moves to a box "shared" the nodes of a layer that other
// layers read too (the exporter builds values such as the RoPE slices and
// the causal mask once, under the first node that needs them), and the nodes
// only those feed; otherwise the first layer would seem to feed every other.
func sharedNodes(nodes []*onnxpb.NodeProto, keys []string) {
	const shared = "shared"
	consumers := map[string][]int{}
	for i, n := range nodes {
		for _, in := range n.GetInput() {
			consumers[in] = append(consumers[in], i)
		}
	}
	isLayer := func(k string) bool { return strings.HasPrefix(k, "layers.") }
	// Backwards, so a node's consumers are decided before it.
	for i := len(nodes) - 1; i >= 0; i-- {
		if !isLayer(keys[i]) {
			continue
		}
		layers := map[string]bool{}
		sharedOnly, used := true, false
		for _, o := range nodes[i].GetOutput() {
			for _, c := range consumers[o] {
				used = true
				if keys[c] != shared {
					sharedOnly = false
				}
				if isLayer(keys[c]) {
					layers[keys[c]] = true
				}
			}
		}
		if len(layers) >= 2 || used && sharedOnly {
			keys[i] = shared
		}
	}
}

// opSummary says "12 nodes: MatMul×4, Add×3, …" (the three most frequent).
func opSummary(n int, ops map[string]int) string {
	type kv struct {
		op string
		n  int
	}
	var l []kv
	for op, k := range ops {
		l = append(l, kv{op, k})
	}
	sort.Slice(l, func(i, j int) bool {
		if l[i].n != l[j].n {
			return l[i].n > l[j].n
		}
		return l[i].op < l[j].op
	})
	var parts []string
	for i, x := range l {
		if i == 3 {
			parts = append(parts, "…")
			break
		}
		parts = append(parts, fmt.Sprintf("%s×%d", x.op, x.n))
	}
	word := "nodes"
	if n == 1 {
		word = "node"
	}
	return fmt.Sprintf("%d %s: %s", n, word, strings.Join(parts, ", "))
}

// typeString renders a value's declared tensor type, "int64[batch,sequence]".
func typeString(vi *onnxpb.ValueInfoProto) string {
	tt := vi.GetType().GetTensorType()
	if tt == nil {
		return "?"
	}
	var dims []string
	for _, d := range tt.GetShape().GetDim() {
		if d.GetDimParam() != "" {
			dims = append(dims, d.GetDimParam())
		} else {
			dims = append(dims, strconv.FormatInt(d.GetDimValue(), 10))
		}
	}
	return strings.ToLower(onnxpb.TensorProto_DataType(tt.GetElemType()).String()) + "[" + strings.Join(dims, ",") + "]"
}
