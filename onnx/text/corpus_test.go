package onnxtext

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/mhcc-dev/mhcc/internal/testenv"
	"github.com/mhcc-dev/mhcc/onnx/pb"
	"github.com/mhcc-dev/mhcc/onnx/tensor"
	"google.golang.org/protobuf/proto"
)

// corpus loads every model of Debian's libonnx-testdata
// (testenv.ONNXTestData).
func corpus(t *testing.T) (paths []string, models []*onnxpb.ModelProto) {
	t.Helper()
	paths = testenv.NeedONNXTestModels(t)
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		m := &onnxpb.ModelProto{}
		if err := proto.Unmarshal(data, m); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		models = append(models, m)
	}
	return paths, models
}

// Every model of other producers prints in both modes, and prints the same
// again and after re-encoding its data and reordering its attributes.
func TestFormatOtherProducers(t *testing.T) {
	paths, models := corpus(t)
	for i, m := range models {
		for _, opts := range []Options{{}, {Initializers: true}} {
			first, err := Format(m, opts)
			if err != nil {
				t.Errorf("%s %+v: %v", paths[i], opts, err)
				continue
			}
			other := proto.Clone(m).(*onnxpb.ModelProto)
			toTyped(other)
			reorder(other)
			if again, err := Format(other, opts); err != nil || string(again) != string(first) {
				t.Errorf("%s %+v: re-encoded model prints differently (%v): %s", paths[i], opts, err, firstDiff(string(again), string(first)))
			}
		}
	}
	t.Logf("%d models printed", len(models))
}

// outside112 says why onnx 1.12's parser cannot read Format's text (with
// opts) of a sanitized model, or returns "" when it can. These are the gaps
// listed in parser_test.go, and without Options.Initializers the hashes
// printed for tensor attributes of more than 16 elements, which no parser
// reads.
func outside112(m *onnxpb.ModelProto, text []byte, opts Options) string {
	if strings.Contains(string(text), `\`) {
		return "string escapes"
	}
	var why string
	note := func(s string) {
		if why == "" {
			why = s
		}
	}
	visitTensor := func(t *onnxpb.TensorProto, attr bool) {
		if n, _ := tensor.NumElements(t.Dims); attr && !opts.Initializers && n > maxInlineTensor {
			note("tensor attribute summarized")
		}
		switch dt := t.GetDataType(); {
		case tensor.IsExternal(t):
			note("external data")
		case dt == tensor.Float16 || dt == tensor.BFloat16 || dt == tensor.Complex64 || dt == tensor.Complex128 || dt > tensor.BFloat16 || dt == 0:
			note("tensor of type " + dtypeName(dt))
		case dt == tensor.Float || dt == tensor.Double:
			vals, _ := tensorValues(t)
			for _, v := range vals {
				if v == "nan" || v == "inf" || v == "-inf" {
					note("nan or inf")
				}
			}
		}
	}
	var graph func(g *onnxpb.GraphProto)
	nodes := func(ns []*onnxpb.NodeProto) {
		for _, n := range ns {
			for _, name := range append(append([]string(nil), n.Input...), n.Output...) {
				if name == "" {
					note("empty name (omitted optional input or output)")
				}
			}
			for _, a := range n.Attribute {
				switch attrType(a) {
				case onnxpb.AttributeProto_INT, onnxpb.AttributeProto_STRING:
				case onnxpb.AttributeProto_FLOAT:
					if v := floatLit(float64(a.GetF()), 32); v == "nan" || v == "inf" || v == "-inf" {
						note("nan or inf")
					}
				case onnxpb.AttributeProto_INTS, onnxpb.AttributeProto_FLOATS, onnxpb.AttributeProto_STRINGS:
					if len(a.Ints)+len(a.Floats)+len(a.Strings) == 0 {
						note("empty list attribute")
					}
					for _, f := range a.Floats {
						if v := floatLit(float64(f), 32); v == "nan" || v == "inf" || v == "-inf" {
							note("nan or inf")
						}
					}
				case onnxpb.AttributeProto_TENSOR:
					visitTensor(a.T, true)
				case onnxpb.AttributeProto_GRAPH:
					if a.G.GetName() == "" {
						note("subgraph without a name")
					}
					graph(a.G)
				default:
					note(attrTypeNames[attrType(a)] + " attribute")
				}
			}
		}
	}
	graph = func(g *onnxpb.GraphProto) {
		for _, l := range [][]*onnxpb.ValueInfoProto{g.Input, g.Output, g.ValueInfo} {
			for _, v := range l {
				if v.Type != nil && v.Type.GetTensorType() == nil {
					note("value-info of seq, map, optional or sparse_tensor type")
				}
			}
		}
		for _, t := range g.Initializer {
			visitTensor(t, false)
		}
		if len(g.SparseInitializer) > 0 {
			note("sparse initializers")
		}
		nodes(g.Node)
	}
	graph(m.GetGraph())
	for _, f := range m.Functions {
		if len(f.AttributeProto) > 0 {
			note("function attribute defaults")
		}
		nodes(f.Node)
	}
	return why
}

// The models of other producers that onnx 1.12's parser can read (all but a
// few percent) parse back from Format's text to the same model.
func TestParsedByONNXOtherProducers(t *testing.T) {
	paths, models := corpus(t)
	python := testenv.NeedPython(t, "onnx")
	var texts [][]byte
	var want []*onnxpb.ModelProto
	var which []string
	outside := map[string]int{}
	for i, m := range models {
		s := sanitize(t, m)
		for _, opts := range []Options{{Initializers: true}, {}} {
			text, err := Format(s, opts)
			if err != nil {
				t.Fatalf("%s: %v", paths[i], err)
			}
			if why := outside112(s, text, opts); why != "" {
				outside[fmt.Sprintf("%s %+v", why, opts)]++
				continue
			}
			texts = append(texts, text)
			want = append(want, s)
			which = append(which, fmt.Sprintf("%s %+v", paths[i], opts))
		}
	}
	got, errs, err := parseAllWithONNX(python, texts)
	if err != nil {
		t.Fatal(err)
	}
	failed := 0
	for i := range texts {
		if errs[i] != nil {
			failed++
			if failed <= 10 {
				t.Errorf("%s: %v\ntext:\n%s", which[i], errs[i], texts[i])
			}
			continue
		}
		c := &comparer{inits: strings.HasSuffix(which[i], "{Initializers:true}")}
		c.model(want[i], got[i])
		if len(c.diffs) > 0 {
			failed++
			if failed <= 10 {
				t.Errorf("%s: the parsed text differs in %d places:\n  %s", which[i], len(c.diffs), strings.Join(c.diffs[:min(len(c.diffs), 10)], "\n  "))
			}
		}
	}
	t.Logf("%d texts of %d models (two modes each) parsed back and compared; beyond onnx 1.12's parser: %v", len(texts), len(models), outside)
	if failed > 0 {
		t.Errorf("%d of %d texts failed", failed, len(texts))
	}
	if len(texts) < 2*len(models)*9/10 {
		t.Errorf("only %d of %d texts are within onnx 1.12's parser; the check covers too little", len(texts), 2*len(models))
	}
}
