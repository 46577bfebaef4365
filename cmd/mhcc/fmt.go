package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"github.com/mhcc-dev/mhcc/internal/atomicfile"
	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
	"github.com/mhcc-dev/mhcc/onnx/text"
	"github.com/spf13/cobra"
)

func newFmtCmd() *cobra.Command {
	var (
		out          string
		initializers bool
	)
	cmd := &cobra.Command{
		Use:   "fmt model.onnx [--initializers] [-o out.txt]",
		Short: "Print an ONNX model in ONNX's textual syntax",
		Long: `Fmt prints an ONNX model — from any producer — in the textual syntax of
onnx's printer and parser (docs/Syntax.md in the onnx repository): a header
with the IR version, opsets, producer and metadata; the graph's inputs and
outputs with their types and symbolic dims; one line per node, in file order,
with its attributes sorted by name; subgraphs (If, Loop) and functions. Names
that are not plain identifiers ("layers.0.mlp.hc/Mul") are quoted, and each
node's name is its label in [brackets].

Initializers are elided by default: a comment line gives each one's type,
name and the SHA-256 of its data (the same whether the producer stored it as
raw_data or in typed fields), so any change of a weight shows. With
--initializers the values are printed in the syntax onnx's parser reads.
Externally stored data is shown as its location, not read.

The output is stable: the same model prints the same text, whatever the
order of its attributes, metadata and opsets. A model file (.yaml, .yml) is
compiled first, with the default options. The text goes to stdout, or with
-o is written atomically to a file. The package documentation of
onnx/text lists where the output goes beyond what onnx 1.12's
parser reads.`,
		Example: `  mhcc fmt model.onnx | less
  mhcc fmt testdata/models/mlp-mhc.yaml
  mhcc fmt model.onnx --initializers -o model.txt`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			defer tightGC(args...)()
			text, err := formatModel(args[0], onnxtext.Options{Initializers: initializers})
			if err != nil {
				return err
			}
			if out == "" {
				_, err := cmd.OutOrStdout().Write(text)
				return err
			}
			if err := atomicfile.Write(out, func(w io.Writer) error { _, err := w.Write(text); return err }); err != nil {
				return fmt.Errorf("writing %s: %w", out, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (%d lines)\n", out, bytes.Count(text, []byte("\n")))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&out, "output", "o", "", "write the text to this file instead of stdout")
	f.BoolVar(&initializers, "initializers", false, "print initializer values instead of their hashes")
	return cmd
}

// tightGC lets the heap grow 25% between collections, not Go's default
// 100%, while a command reads model files of 16 MB or more, and returns
// the function that restores the setting. fmt, diff and graph hold the
// decoded message of each file whole, and most of what they allocate stays
// live: the default would let the process peak near twice that.
func tightGC(paths ...string) (restore func()) {
	var size int64
	for _, p := range paths {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			size += fi.Size()
		}
	}
	if size < 16<<20 {
		return func() {}
	}
	old := debug.SetGCPercent(25)
	return func() { debug.SetGCPercent(old) }
}

// formatModel prints the model at path (loadModel's). The main graph's
// nodes are decoded one at a time as they are printed (onnxtext.SplitModel):
// a decoded node costs several times its encoding, and fmt of a
// 10^6-node chain held them all. A model that does not split, has a node
// that does not decode or nests subgraphs too deep is decoded whole, which
// says what is wrong as loadModel does.
func formatModel(path string, opts onnxtext.Options) ([]byte, error) {
	data, err := modelData(path, "")
	if err != nil {
		return nil, err
	}
	if s, ok := onnxtext.SplitModel(data); ok && graphDepth(s.Model) <= maxGraphDepth {
		text, err := onnxtext.FormatSplit(s, opts, nodeDepthOK)
		switch {
		case err == nil:
			return text, nil
		case !errors.Is(err, onnxtext.ErrSplit) && !errors.Is(err, errTooDeep):
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	m, err := decodeModel(path, data)
	if err != nil {
		return nil, err
	}
	text, err := onnxtext.Format(m, opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return text, nil
}

// errTooDeep is nodeDepthOK's error.
var errTooDeep = errors.New("subgraphs nest too deep")

// nodeDepthOK returns errTooDeep when n's subgraphs nest deeper than
// maxGraphDepth allows a main-graph node's (graphDepth).
func nodeDepthOK(n *onnxpb.NodeProto) error {
	if graphDepth(&onnxpb.ModelProto{Graph: &onnxpb.GraphProto{Node: []*onnxpb.NodeProto{n}}}) > maxGraphDepth {
		return errTooDeep
	}
	return nil
}

// splitDepthOK reports whether every node of s decodes and no subgraph
// nests deeper than maxGraphDepth (graphDepth, a node at a time).
func splitDepthOK(s *onnxtext.Split) bool {
	return graphDepth(s.Model) <= maxGraphDepth && s.EachNode(nodeDepthOK) == nil
}
