package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/mhcc-dev/mhcc/compile"
	"github.com/mhcc-dev/mhcc/internal/atomicfile"
	"github.com/mhcc-dev/mhcc/model"
	graphdiff "github.com/mhcc-dev/mhcc/onnx/diff"
	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
	"github.com/mhcc-dev/mhcc/onnx/tensor"
	"github.com/mhcc-dev/mhcc/onnx/tensor/extdata"
	onnxtext "github.com/mhcc-dev/mhcc/onnx/text"
	"google.golang.org/protobuf/proto"
)

// Goldens of mhcc diff --golden DIR come in two kinds, told apart by what
// DIR holds for a model <name>:
//
//   - graph-only: <name>.txt alone, the model as mhcc fmt prints it, each
//     initializer as its dtype, shape and sha256. It is what --update writes
//     by default: a few hundred kilobytes for a model whose weights are
//     gigabytes, reviewable line by line in a pull request, and compared
//     as a graph (onnxtext.Parse, then graphdiff) with weights by hash.
//   - full: <name>.onnx (and its text beside it), weights included, so that
//     a change of weights can be measured against --rtol/--atol. --update
//     keeps a full golden full, and --full writes new ones.

// goldenPaths are a model's golden files in dir.
func goldenPaths(dir, model string) (onnxPath, txtPath string) {
	name := strings.TrimSuffix(strings.TrimSuffix(filepath.Base(model), ".yaml"), ".yml")
	return filepath.Join(dir, name+".onnx"), filepath.Join(dir, name+".txt")
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// readTextGolden reads a graph-only golden; errors are file:line:col.
func readTextGolden(path string) (*onnxpb.ModelProto, *onnxtext.Positions, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	m, pos, err := onnxtext.Parse(src)
	if err != nil {
		return nil, nil, fmt.Errorf("%s:%v (not a golden written by mhcc diff --update or mhcc fmt)", path, err)
	}
	return m, pos, nil
}

// writeTextGolden writes m's mhcc fmt text to path.
func writeTextGolden(path string, m *onnxpb.ModelProto) error {
	text, err := onnxtext.Format(m, onnxtext.Options{})
	if err != nil {
		return err
	}
	if err := atomicfile.Write(path, func(w io.Writer) error { _, err := w.Write(text); return err }); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// writeFullGolden writes the golden model and its readable text form.
func writeFullGolden(onnxPath, txtPath string, data []byte) error {
	m := &onnxpb.ModelProto{}
	if err := proto.Unmarshal(data, m); err != nil {
		return err
	}
	if err := atomicfile.Write(onnxPath, func(w io.Writer) error { _, err := w.Write(data); return err }); err != nil {
		return fmt.Errorf("writing %s: %w", onnxPath, err)
	}
	return writeTextGolden(txtPath, m)
}

// annotationPlaces says where each change's GitHub annotation goes: a
// change that one key of the model file decides (graphdiff.ModelKey) at
// that key's line in the model file (or, for a key left to its default, at
// its section); anything else at the golden: at its line when the golden is
// text (gpos not nil), else at the file. model is the loaded model file (nil
// when the fresh side is not one); golden may be "" (no golden: the fresh
// side's file).
func annotationPlaces(modelPath string, mf *model.Model, golden string, gpos *onnxtext.Positions) func(graphdiff.Change) graphdiff.Location {
	return func(c graphdiff.Change) graphdiff.Location {
		if key := graphdiff.ModelKey(c); key != "" && mf != nil {
			if p := mf.PosOf(key); p.IsKnown() {
				return graphdiff.Location{File: modelPath, Line: p.Line, Col: p.Col}
			}
		}
		if golden == "" {
			return graphdiff.Location{File: modelPath}
		}
		if gpos != nil {
			if line, col, ok := graphdiff.GoldenLine(gpos, c); ok {
				return graphdiff.Location{File: golden, Line: line, Col: col}
			}
		}
		return graphdiff.Location{File: golden}
	}
}

// modelFile loads path's model file for annotationPlaces, or nil when path
// is not a model file (or does not load: Compare already said why).
func modelFile(path string) *model.Model {
	if !strings.HasSuffix(path, ".yaml") && !strings.HasSuffix(path, ".yml") {
		return nil
	}
	m, err := model.Load(path)
	if err != nil {
		return nil
	}
	return m
}

// compileHashed compiles a model file for a graph-only golden: the graph
// with each weight as its hash (onnxtext.HashOnly), as a golden's text reads
// back. The weights are not held in memory: the compiler lays every
// initializer of 1 KiB or more out as external data, as for a model past
// 2 GiB, and streams that data through one hash per tensor instead of into
// a file. So a decoder with 426 MB of weights is compared in the memory of
// its graph.
func compileHashed(path, target string) (*onnxpb.ModelProto, *model.Model, error) {
	res, err := compile.Compile(path, compile.Options{Target: target, External: compile.ExternalAlways})
	if err != nil {
		return nil, nil, err
	}
	m := &onnxpb.ModelProto{}
	if err := proto.Unmarshal(res.ONNX, m); err != nil {
		return nil, nil, &compile.InternalError{Err: err}
	}
	if res.Layout == nil {
		return m, res.Model, nil
	}
	type ext struct {
		t              *onnxpb.TensorProto
		offset, length int64
	}
	var exts []ext
	for _, t := range m.GetGraph().GetInitializer() {
		if t.GetDataLocation() != onnxpb.TensorProto_EXTERNAL {
			continue
		}
		ref, err := extdata.Parse(t, ".", false)
		if err != nil || ref.Length < 0 {
			return nil, nil, &compile.InternalError{Err: fmt.Errorf("initializer %q: external data: %v", t.GetName(), err)}
		}
		exts = append(exts, ext{t, ref.Offset, ref.Length})
	}
	sort.Slice(exts, func(i, j int) bool { return exts[i].offset < exts[j].offset })
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(res.Layout.WriteData(pw, nil)) }()
	defer pr.Close()
	var pos int64
	for _, e := range exts {
		if _, err := io.CopyN(io.Discard, pr, e.offset-pos); err != nil {
			return nil, nil, &compile.InternalError{Err: err}
		}
		h, err := tensor.HashReader(e.t, io.LimitReader(pr, e.length))
		if err != nil {
			return nil, nil, &compile.InternalError{Err: fmt.Errorf("initializer %q: %v", e.t.GetName(), err)}
		}
		pos = e.offset + e.length
		e.t.ExternalData = []*onnxpb.StringStringEntryProto{{Key: proto.String(onnxtext.ContentHashKey), Value: proto.String(h)}}
	}
	return m, res.Model, nil
}

// compileFresh compiles a model file to compare with its golden: with the
// weights for a full golden, as hashes (compileHashed) for a graph-only one.
func compileFresh(path, target string, full bool) (*onnxpb.ModelProto, *model.Model, error) {
	if !full {
		return compileHashed(path, target)
	}
	res, err := compile.Compile(path, compile.Options{Target: target})
	if err != nil {
		return nil, nil, err
	}
	m := &onnxpb.ModelProto{}
	if err := proto.Unmarshal(res.ONNX, m); err != nil {
		return nil, nil, err
	}
	return m, res.Model, nil
}
