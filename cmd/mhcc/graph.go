package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mhcc-dev/mhcc/internal/atomicfile"
	"github.com/mhcc-dev/mhcc/onnx/dot"
	onnxtext "github.com/mhcc-dev/mhcc/onnx/text"
)

func newGraphCmd() *cobra.Command {
	var format, view, out, target string
	var layer, maxBoxes int
	cmd := &cobra.Command{
		Use:   "graph model.onnx [--format dot|svg|png] [--view layers|ops|nodes] [--layer N] [-o file]",
		Short: "Draw a model's graph (Graphviz)",
		Long: `Graph draws the dataflow graph of an ONNX model (or of a model file,
compiled first) in Graphviz's dot language, or renders it to SVG or PNG with
Graphviz's dot program (Debian: graphviz, installed by scripts/install-deps).

Views:
  layers  (default) every "layers.N" block is one box, labelled with what it
          holds ("attention + mHC (Sinkhorn×20)", "FFN + mHC (Sinkhorn×20)"),
          the rest one box per IR operation, so a 30-layer model stays a
          readable chain;
  ops     one box per IR operation (the part of an ONNX node's name before
          "/", which mhcc sets to the IR node it comes from), each layer's
          in a frame;
  nodes   every ONNX node, each layer's in a frame.

--layer N draws only layer N's boxes in the chosen view, with the boxes
around it as dashed context. A picture of more than --max-boxes boxes (300)
is refused with the options that draw it readably.

Graphs from torch.onnx.export are grouped by the module scopes torch writes
into node names ("/layers.0/attn/MatMul" is in layers.0, op "layers.0/attn"),
and its Constant nodes are drawn inside the box that reads them.

Values that several layers read (RoPE rows, the causal mask) are built once
under the first layer; the layers view draws them as the box "shared", with
dashed edges to the layers that read them.

Boxes say how many ONNX nodes they stand for and of which kinds; initializers
are not drawn. Only the graph is read, so a model with external data needs
no data file. dot goes to stdout unless -o is given; svg and png go to -o,
by default the model's name with .svg or .png, written atomically.`,
		Example: `  mhcc graph model.onnx -o model.dot
  mhcc graph model.onnx --format svg                  # writes model.svg
  mhcc graph testdata/models/tiny-mhc.yaml --view ops --format png -o tiny.png
  mhcc graph testdata/models/tiny-mhc.yaml --view nodes --layer 1 --format svg`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch view {
			case "layers", "ops", "nodes":
			default:
				return fmt.Errorf("--view %q: want layers, ops or nodes", view)
			}
			if layer < -1 {
				return fmt.Errorf("--layer %d: want a layer number, 0 or more", layer)
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
			defer tightGC(args[0])()
			src, err := renderModel(args[0], target, dot.Options{View: view, Layer: layer, MaxBoxes: maxBoxes})
			var tb *dot.TooBigError
			var nl *dot.NoLayerError
			switch {
			case errors.As(err, &tb):
				return tooBig(tb)
			case errors.As(err, &nl):
				return fmt.Errorf("--layer %d: the model has no layers.%d (%s)", nl.Layer, nl.Layer, nl.Layers)
			case err != nil:
				return err
			}
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
	f.IntVar(&layer, "layer", -1, "draw only layers.N (the others as context)")
	f.IntVar(&maxBoxes, "max-boxes", dot.DefaultMaxBoxes, "refuse a picture of more boxes than this (0: no limit)")
	return cmd
}

// tooBig is the refusal of a picture with too many boxes, with the views
// and layers that would draw it readably.
func tooBig(e *dot.TooBigError) error {
	name, nNodes, nBoxes, o := e.Graph, e.Nodes, e.Boxes, e.Options
	var advice []string
	if o.View != "layers" {
		advice = append(advice, "--view layers (one box per layer)")
	}
	if o.View == "nodes" {
		advice = append(advice, "--view ops (one box per IR operation or module scope)")
	}
	if o.Layer < 0 && e.Layer0Nodes > 0 {
		// the nodes of layer 0, as --layer 0 would draw them
		advice = append(advice, fmt.Sprintf("--layer 0 (only the %d nodes of layers.0, in this view)", e.Layer0Nodes))
	}
	advice = append(advice, fmt.Sprintf("--max-boxes %d (draw it anyway)", nBoxes))
	return fmt.Errorf("%s has %d nodes: the %s view would draw %d boxes, more than --max-boxes %d, which no one can read; use %s",
		name, nNodes, o.View, nBoxes, o.MaxBoxes, strings.Join(advice, ", or "))
}

// renderModel draws the model at path (loadModel's) as dot.Render does,
// decoding the main graph's nodes one at a time and keeping only what the
// picture reads of them (dot.RenderSplit) unless the model does not split
// or nests too deep, when it is decoded whole as loadModel does (its
// errors). Errors of the drawing itself are dot's, for the caller to tell
// apart.
func renderModel(path, target string, o dot.Options) (string, error) {
	data, err := modelData(path, target)
	if err != nil {
		return "", err
	}
	if s, ok := onnxtext.SplitModel(data); ok && splitDepthOK(s) {
		return dot.RenderSplit(s, o)
	}
	m, err := decodeModel(path, data)
	if err != nil {
		return "", err
	}
	return dot.Render(m, o)
}
