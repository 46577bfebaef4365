package graphdiff

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/mhcc-dev/mhcc/onnx/text"
)

// Annotations that land on the right line. A CI annotation is most useful
// on the line that caused it: a model-level change (the Sinkhorn
// iterations, the streams, the layers) comes from one key of the model
// file, and everything else is a difference from the golden, whose text
// form has a line per node, initializer, input, output and metadata entry.
// Compare does not know the files; the caller maps changes to places with
// ModelKey and its own positions, and WriteGitHubAt prints them.

// A Location is where an annotation points: a file (as the workflow sees
// it, relative to the repository) and, when known, a 1-based line and column.
type Location struct {
	File      string
	Line, Col int
}

// properties prints l as workflow command properties, each followed by a
// comma: "file=m.yaml,line=12,col=3,"; "" for no file.
func (l Location) properties() string {
	if l.File == "" {
		return ""
	}
	s := "file=" + ghProperty(filepath.ToSlash(l.File)) + ","
	if l.Line > 0 {
		s += fmt.Sprintf("line=%d,", l.Line)
		if l.Col > 0 {
			s += fmt.Sprintf("col=%d,", l.Col)
		}
	}
	return s
}

// modelKeys maps the kinds of model-level changes that one model-file key
// decides to that key (dotted, as in docs/spec.md §5 and mhcc's error messages).
// Kinds decided by compile options (target, lowering, precision) or by the
// producer have none.
var modelKeys = map[string]string{
	"model_name":          "name",
	"architecture":        "architecture.kind",
	"layers":              "architecture.layers",
	"sublayer_added":      "architecture.layers",
	"sublayer_removed":    "architecture.layers",
	"hc_kind":             "hyper_connections.kind",
	"streams":             "hyper_connections.streams",
	"dynamic":             "hyper_connections.dynamic",
	"sinkhorn_iterations": "hyper_connections.sinkhorn_iterations",
	"sinkhorn":            "hyper_connections.sinkhorn_iterations",
	"sinkhorn_eps":        "hyper_connections.eps",
	"rms_eps":             "hyper_connections.rms_eps",
	"collapse":            "hyper_connections.collapse",
	"weights":             "weights.source",
}

// ModelKey is the model-file key a change comes from ("" if none): for
// model-level changes of mhcc's metadata and of the sublayers found by name.
func ModelKey(c Change) string {
	if c.Level != LevelModel {
		return ""
	}
	return modelKeys[c.Kind]
}

// GoldenLine returns the line and column in a text golden (read by
// onnxtext.Parse, which found pos) of what c is about: the node,
// initializer, input, output or metadata entry its path names; for a group
// of nodes the first one, or for inserted nodes, which the golden does not
// have, the first of their consumers it has; the first line for changes of
// the model header and opsets. ok is false when c names nothing in it.
func GoldenLine(pos *onnxtext.Positions, c Change) (line, col int, ok bool) {
	find := func(m map[string]onnxtext.Pos, names ...string) bool {
		for _, n := range names {
			if p, found := m[n]; found {
				line, col, ok = p.Line, p.Col, true
				return true
			}
		}
		return false
	}
	path := c.Path
	switch {
	case strings.HasPrefix(path, "metadata "):
		find(pos.Metadata, strings.TrimPrefix(path, "metadata "))
	case strings.HasPrefix(path, "initializer "):
		find(pos.Initializers, strings.TrimPrefix(path, "initializer "))
	case strings.HasPrefix(path, "input "), strings.HasPrefix(path, "output "):
		find(pos.Values, path[strings.IndexByte(path, ' ')+1:])
	case path == "model", strings.HasPrefix(path, "model "), strings.HasPrefix(path, "opset "):
		line, col, ok = 1, 1, true
	case path == "graph":
		if !find(pos.Nodes, c.Nodes...) {
			find(pos.Nodes, c.Consumers...)
		}
	case strings.HasPrefix(path, "graph/"):
		// graph/<node>[/<attr>/…]: node names may hold '/', so the
		// longest prefix that names a node wins.
		rest := strings.TrimPrefix(path, "graph/")
		for cut := len(rest); cut > 0; cut = strings.LastIndexByte(rest[:cut], '/') {
			if find(pos.Nodes, rest[:cut]) {
				break
			}
		}
	}
	if !ok && c.Level == LevelModel {
		// A per-sublayer change: its path is the sublayer's name prefix
		// (layers.0.attn.comb); the first of its nodes.
		for name, p := range pos.Nodes {
			if strings.HasPrefix(name, path+"/") && (!ok || p.Line < line) {
				line, col, ok = p.Line, p.Col, true
			}
		}
	}
	return line, col, ok
}
