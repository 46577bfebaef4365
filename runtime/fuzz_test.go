package runtime

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
	"github.com/mhcc-dev/mhcc/runtime/internal/core"
)

// fuzzSeeds are ONNX node cases that cover the op families and both axes
// conventions; FuzzDecode starts from their model.onnx files.
var fuzzSeeds = []string{
	"test_add_bcast", "test_cast_FLOAT_to_FLOAT16", "test_einsum_batch_matmul",
	"test_gather_negative_indices", "test_layer_normalization_2d_axis0",
	"test_reduce_sum_keepdims_example", "test_reshape_negative_dim", "test_slice_neg_steps",
	"test_softmax_axis_1", "test_split_variable_parts_1d", "test_unsqueeze_negative_axes",
	"test_where_example",
}

// FuzzDecode feeds arbitrary bytes to Decode, which must return a model or
// an error and never panic. A model that decodes is also run on zero inputs
// when its inputs are small and static; Run may fail, but only with an error,
// and never with an internal error (a kernel indexing out of bounds).
func FuzzDecode(f *testing.F) {
	for _, name := range fuzzSeeds {
		if b, err := os.ReadFile(filepath.Join(onnxNodeTests, name, "model.onnx")); err == nil {
			f.Add(b)
		}
	}
	g := graph([]*onnxpb.NodeProto{
		node("a", "Add", []string{"x", "w"}, []string{"s"}),
		node("m", "MatMul", []string{"s", "w2"}, []string{"y"}),
	}, ins(xf), ins(untypedInfo("y")), f32(sh(2), 1, 2).Proto("w"), f32(sh(2, 2), 1, 2, 3, 4).Proto("w2"))
	f.Add(encode(f, modelProto(17, g)))
	// Subgraphs, captures and model functions.
	f.Add(encode(f, loopModel(true, true)))
	f.Add(encode(f, nestedLoopModel()))
	f.Add(encode(f, ifModel()))
	f.Add(encode(f, functionModel()))
	f.Add(encode(f, loopFunctionModel()))
	// Sequences.
	f.Add(encode(f, modelProto(17, graph([]*onnxpb.NodeProto{
		constNode("one", i64(sh(), 1)),
		node("s", "SplitToSequence", []string{"x"}, []string{"seq"}, aInt("axis", 0), aInt("keepdims", 0)),
		node("i", "SequenceInsert", []string{"seq", "one2", "one"}, []string{"seq2"}),
		node("e", "SequenceErase", []string{"seq2", "one"}, []string{"seq3"}),
		node("at", "SequenceAt", []string{"seq3", "one"}, []string{"a"}),
		node("c", "ConcatFromSequence", []string{"seq3"}, []string{"y"}, aInt("axis", 0), aInt("new_axis", 1)),
		node("n", "SequenceLength", []string{"seq3"}, []string{"len"}),
	}, ins(xf), ins(untypedInfo("y"), untypedInfo("a"), untypedInfo("len")), f32(sh(), 7).Proto("one2")))))

	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Decode(data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "runtime: ") {
				t.Fatalf("error without the package prefix: %v", err)
			}
			return
		}
		feeds, ok := zeroInputs(m)
		if !ok {
			return
		}
		fast, errF := m.RunWith(feeds, core.RunOptions{Engine: core.Fast})
		ref, errR := m.RunWith(feeds, core.RunOptions{Engine: core.Reference})
		for _, err := range []error{errF, errR} {
			if err != nil && strings.Contains(err.Error(), "internal error") {
				t.Fatal(err)
			}
		}
		enginesAgree(t, m, fast, errF, ref, errR)
	})
}

// enginesAgree is the engines' differential check on one run: both fail or
// neither does, and the outputs agree within ONNX's conformance tolerances.
func enginesAgree(t *testing.T, m *core.Model, fast map[string]*core.Tensor, errF error, ref map[string]*core.Tensor, errR error) {
	t.Helper()
	if (errF == nil) != (errR == nil) {
		t.Fatalf("fast engine: %v; reference engine: %v", errF, errR)
	}
	if errF != nil {
		return
	}
	for _, v := range m.Outputs {
		var err error
		if fast[v.Name] != nil && fast[v.Name].DType.IsSequence() {
			err = compareSequences(fast[v.Name], ref[v.Name])
		} else {
			err = compareTensors(fast[v.Name], ref[v.Name], conformanceRtol, conformanceAtol)
		}
		if err != nil {
			t.Fatalf("output %q: fast against reference engine: %v", v.Name, err)
		}
	}
}

// zeroInputs makes a zero tensor for each graph input, if every input has a
// static shape of at most 256 elements and the graph has no op that sizes its
// output from data (those may legitimately allocate up to maxElements).
func zeroInputs(m *core.Model) (map[string]*core.Tensor, bool) {
	if !boundedWork(m) {
		return nil, false
	}
	feeds := map[string]*core.Tensor{}
	for _, v := range m.Inputs {
		if !v.Ranked || !v.DType.Supported() {
			return nil, false
		}
		n := 1
		for _, d := range v.Shape {
			if d < 0 || d > 256 {
				return nil, false
			}
			n *= int(d)
		}
		if n > 256 {
			return nil, false
		}
		feeds[v.Name] = &core.Tensor{DType: v.DType, Shape: v.Shape, Elems: core.MakeSlice(v.DType, n)}
	}
	return feeds, true
}

// boundedWork reports whether m, its subgraphs and function bodies are free of
// ops whose work or output size comes from data: those may legitimately
// allocate up to maxElements, and Loop and Sinkhorn may run for as many
// iterations as a (fuzzed) constant says.
func boundedWork(m *core.Model) bool {
	for _, n := range m.TopoNodes {
		switch n.OpType {
		case "ConstantOfShape", "Range", "Expand", "Tile", "Loop", "Sinkhorn", "Pad":
			return false
		}
		for _, g := range n.Graphs {
			if !boundedWork(g) {
				return false
			}
		}
		if n.Fn != nil && !boundedWork(n.Fn) {
			return false
		}
	}
	return true
}
