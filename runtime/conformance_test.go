package runtime

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
	"github.com/mhcc-dev/mhcc/runtime/internal/core"
	"github.com/mhcc-dev/mhcc/runtime/internal/ref"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/mhcc-dev/mhcc/internal/testenv"
)

// ONNX's operator conformance cases, as Debian's libonnx-testdata (onnx 1.12)
// installs them: data/node/<case>/model.onnx with test_data_set_*/input_*.pb
// and output_*.pb as TensorProtos.
const onnxNodeTests = "/usr/share/libonnx-testdata/data/node"

// Tolerances of ONNX's backend test runner (onnx/backend/test/runner).
const (
	conformanceRtol = 1e-3
	conformanceAtol = 1e-7
)

// conformanceExcluded lists the cases whose ops are all in the kernel table
// but which the runtime cannot do, with the reason. A case listed here that
// passes fails the test, so the list cannot go stale.
var conformanceExcluded = map[string]string{
	// Strings and optionals are not types the runtime stores.
	"test_cast_FLOAT_to_STRING":              reasonString,
	"test_cast_STRING_to_FLOAT":              reasonString,
	"test_castlike_FLOAT_to_STRING":          reasonString,
	"test_castlike_FLOAT_to_STRING_expanded": reasonString,
	"test_castlike_STRING_to_FLOAT":          reasonString,
	"test_castlike_STRING_to_FLOAT_expanded": reasonString,
	"test_identity_opt":                      "uses optional types",

	// onnx 1.12 made the expected bfloat16 by truncating float32; the runtime
	// rounds to nearest even, as onnx ≥ 1.14 and onnxruntime do.
	"test_cast_FLOAT_to_BFLOAT16": "expected bfloat16 values are truncated, not rounded",

	// The data set feeds "like" as shape [1] where the model declares a
	// rank-2 input; the runtime checks declared shapes, as onnxruntime does.
	"test_castlike_BFLOAT16_to_FLOAT":          reasonShape,
	"test_castlike_BFLOAT16_to_FLOAT_expanded": reasonShape,
	"test_castlike_FLOAT_to_BFLOAT16":          reasonShape,
	"test_castlike_FLOAT_to_BFLOAT16_expanded": reasonShape,

	// Training-mode Dropout draws a random mask; the expected outputs come
	// from numpy's generator, which a conforming runtime need not reproduce.
	"test_training_dropout":              reasonRandom,
	"test_training_dropout_default":      reasonRandom,
	"test_training_dropout_default_mask": reasonRandom,
	"test_training_dropout_mask":         reasonRandom,
}

const (
	reasonString = "uses string tensors"
	reasonRandom = "training-mode Dropout is random"
	reasonShape  = "input data contradicts the declared input shape"
)

// TestConformance runs every ONNX node case whose ops the runtime implements
// (at the case's opset) and compares with the expected outputs.
func TestConformance(t *testing.T) {
	testenv.NeedPath(t, onnxNodeTests, "ONNX node tests (Debian's libonnx-testdata)")
	dirs, err := os.ReadDir(onnxNodeTests)
	if err != nil {
		t.Fatal(err)
	}
	var cases []string
	for _, d := range dirs {
		if d.IsDir() {
			cases = append(cases, d.Name())
		}
	}
	sort.Strings(cases)

	var passed, runnable, excluded int
	missing := map[string]int{} // op@opset not implemented → cases
	for _, name := range cases {
		dir := filepath.Join(onnxNodeTests, name)
		data, err := os.ReadFile(filepath.Join(dir, "model.onnx"))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if ops := unimplementedOps(data); len(ops) > 0 {
			for _, op := range ops {
				missing[op]++
			}
			continue
		}
		runnable++
		reason, isExcluded := conformanceExcluded[name]
		err = runNodeCase(dir, data)
		switch {
		case isExcluded && err == nil:
			t.Errorf("%s: passes but is excluded (%s); remove it from conformanceExcluded", name, reason)
		case isExcluded:
			excluded++
		case err != nil:
			t.Errorf("%s: %v", name, err)
		default:
			passed++
		}
	}
	for name := range conformanceExcluded {
		if _, err := os.Stat(filepath.Join(onnxNodeTests, name)); err != nil {
			t.Errorf("conformanceExcluded names %s, which is not a case", name)
		}
	}
	t.Logf("passed %d of %d node cases (%d excluded)", passed, runnable, excluded)
	var ops []string
	skipped := 0
	for op, n := range missing {
		ops = append(ops, fmt.Sprintf("%s %d", op, n))
	}
	sort.Strings(ops)
	skipped = len(cases) - runnable
	t.Logf("%d of %d cases use ops the runtime does not implement: %s", skipped, len(cases), strings.Join(ops, ", "))
}

// unimplementedOps lists "op@opset" for the nodes of a model that no kernel
// row covers; nil if the model cannot be decoded (Decode reports that).
func unimplementedOps(data []byte) []string {
	var mp onnxpb.ModelProto
	if err := proto.Unmarshal(data, &mp); err != nil {
		return nil
	}
	opsets := map[string]int64{}
	for _, o := range mp.GetOpsetImport() {
		opsets[core.CanonicalDomain(o.GetDomain())] = o.GetVersion()
	}
	seen := map[string]bool{}
	var out []string
	var walk func(g *onnxpb.GraphProto)
	walk = func(g *onnxpb.GraphProto) {
		for _, n := range g.GetNode() {
			for _, a := range n.GetAttribute() {
				if a.GetG() != nil {
					walk(a.GetG()) // Loop bodies, If branches
				}
			}
			d := core.CanonicalDomain(n.GetDomain())
			v := opsets[d]
			if ref.LookupKernel(d, n.GetOpType(), v) == nil {
				key := fmt.Sprintf("%s@%d", n.GetOpType(), v)
				if d != "" {
					key = d + "." + key
				}
				if !seen[key] {
					seen[key] = true
					out = append(out, key)
				}
			}
		}
	}
	walk(mp.GetGraph())
	return out
}

// runNodeCase decodes a case's model and checks it on each of its data sets,
// under each engine: both are held to the expected outputs with ONNX's
// tolerances, and to each other with the same (the engines' differential
// test on the operator cases).
func runNodeCase(dir string, model []byte) error {
	m, err := Decode(model)
	if err != nil {
		return err
	}
	sets, _ := filepath.Glob(filepath.Join(dir, "test_data_set_*"))
	if len(sets) == 0 {
		return fmt.Errorf("no test data sets")
	}
	for _, set := range sets {
		inputs := map[string]*core.Tensor{}
		for i := 0; ; i++ {
			path := filepath.Join(set, fmt.Sprintf("input_%d.pb", i))
			if i < len(m.Inputs) && m.Inputs[i].DType.IsSequence() {
				sq, err := readSequenceProto(path)
				if err != nil {
					return err
				}
				inputs[m.Inputs[i].Name] = sq
				continue
			}
			p, err := readTensorProto(path)
			if os.IsNotExist(err) {
				break
			}
			if err != nil {
				return err
			}
			name := p.GetName()
			if name == "" && i < len(m.Inputs) {
				name = m.Inputs[i].Name
			}
			tn, err := core.FromProto(p)
			if err != nil {
				return err
			}
			if v, ok := m.DeclIn[name]; ok {
				tn = bfloat16Quirk(tn, v.DType)
			}
			inputs[name] = tn
		}
		got, err := m.RunWith(inputs, core.RunOptions{Engine: core.Fast})
		if err != nil {
			return fmt.Errorf("%s: %v", filepath.Base(set), err)
		}
		ref, err := m.RunWith(inputs, core.RunOptions{Engine: core.Reference})
		if err != nil {
			return fmt.Errorf("%s: reference engine: %v", filepath.Base(set), err)
		}
		for _, v := range m.Outputs {
			if v.DType.IsSequence() {
				if err := compareSequences(got[v.Name], ref[v.Name]); err != nil {
					return fmt.Errorf("%s: output %q: fast against reference engine: %v", filepath.Base(set), v.Name, err)
				}
			} else if err := compareTensors(got[v.Name], ref[v.Name], conformanceRtol, conformanceAtol); err != nil {
				return fmt.Errorf("%s: output %q: fast against reference engine: %v", filepath.Base(set), v.Name, err)
			}
		}
		for _, res := range []map[string]*core.Tensor{got, ref} {
			if err := checkNodeOutputs(m, set, res); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkNodeOutputs compares one run's outputs with a data set's expected ones.
func checkNodeOutputs(m *core.Model, set string, got map[string]*core.Tensor) error {
	{
		for i, v := range m.Outputs {
			if v.DType.IsSequence() {
				want, err := readSequenceProto(filepath.Join(set, fmt.Sprintf("output_%d.pb", i)))
				if err != nil {
					return err
				}
				if err := compareSequences(got[v.Name], want); err != nil {
					return fmt.Errorf("%s: output %q: %v", filepath.Base(set), v.Name, err)
				}
				continue
			}
			p, err := readTensorProto(filepath.Join(set, fmt.Sprintf("output_%d.pb", i)))
			if err != nil {
				return err
			}
			want, err := core.FromProto(p)
			if err != nil {
				return err
			}
			want = bfloat16Quirk(want, v.DType)
			if err := compareTensors(got[v.Name], want, conformanceRtol, conformanceAtol); err != nil {
				return fmt.Errorf("%s: output %q: %v", filepath.Base(set), v.Name, err)
			}
		}
	}
	return nil
}

// bfloat16Quirk reads a uint16 tensor as bfloat16 when the graph declares
// bfloat16 there: onnx 1.12's numpy_helper has no bfloat16, so its test data
// stores the bit patterns as uint16.
func bfloat16Quirk(t *core.Tensor, declared core.DType) *core.Tensor {
	if t.DType == core.Uint16 && declared == core.BFloat16 {
		return &core.Tensor{DType: core.BFloat16, Shape: t.Shape, Elems: t.Elems}
	}
	return t
}

func readTensorProto(path string) (*onnxpb.TensorProto, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var p onnxpb.TensorProto
	if err := proto.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return &p, nil
}

// compareTensors checks type and shape exactly and the values as numpy's
// assert_allclose does: |got − want| ≤ atol + rtol·|want|, NaN matching NaN.
// Float16 and bfloat16 compare in float32; integers and bools exactly.
func compareTensors(got, want *core.Tensor, rtol, atol float64) error {
	if got == nil {
		return fmt.Errorf("missing")
	}
	if got.DType != want.DType {
		return fmt.Errorf("got type %v, want %v", got.DType, want.DType)
	}
	if !ref.SameShape(got.Shape, want.Shape) {
		return fmt.Errorf("got shape %v, want %v", got.Shape, want.Shape)
	}
	if !got.DType.IsFloat() {
		g, w := got.Int64s(), want.Int64s()
		for i := range w {
			if g[i] != w[i] {
				return fmt.Errorf("element %d: got %d, want %d", i, g[i], w[i])
			}
		}
		return nil
	}
	g, w := got.Float64s(), want.Float64s()
	bad, first := 0, -1
	for i := range w {
		if !withinTol(g[i], w[i], rtol, atol) {
			bad++
			if first < 0 {
				first = i
			}
		}
	}
	if bad > 0 {
		return fmt.Errorf("%d of %d elements differ; first at %d: got %g, want %g", bad, len(w), first, g[first], w[first])
	}
	return nil
}

// withinTol is numpy.isclose(got, want, rtol, atol, equal_nan=True).
func withinTol(got, want, rtol, atol float64) bool {
	switch {
	case math.IsNaN(got) || math.IsNaN(want):
		return math.IsNaN(got) && math.IsNaN(want)
	case math.IsInf(want, 0) || math.IsInf(got, 0):
		return got == want
	}
	return math.Abs(got-want) <= atol+rtol*math.Abs(want)
}

// readSequenceProto reads an onnx SequenceProto of tensors (onnx-ml's
// message, which onnxpb does not carry): field 2 elem_type, field 3 the
// tensor_values.
func readSequenceProto(path string) (*core.Tensor, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var elem core.DType
	var items []*core.Tensor
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, fmt.Errorf("%s: bad tag", path)
		}
		b = b[n:]
		switch {
		case num == 3 && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return nil, fmt.Errorf("%s: bad tensor", path)
			}
			var p onnxpb.TensorProto
			if err := proto.Unmarshal(v, &p); err != nil {
				return nil, err
			}
			t, err := core.FromProto(&p)
			if err != nil {
				return nil, err
			}
			items = append(items, t)
			elem = t.DType
			b = b[n:]
		default:
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return nil, fmt.Errorf("%s: bad field %d", path, num)
			}
			b = b[n:]
		}
	}
	if elem == core.Undefined {
		elem = core.Float32 // an empty sequence's type is not in the data
	}
	return core.NewSequence(elem, items)
}

// compareSequences compares item by item as compareTensors does.
func compareSequences(got, want *core.Tensor) error {
	if got == nil || !got.DType.IsSequence() {
		return fmt.Errorf("got %v, want a sequence", got)
	}
	g, w := got.Sequence(), want.Sequence()
	if len(g) != len(w) {
		return fmt.Errorf("got %d items, want %d", len(g), len(w))
	}
	for i := range w {
		if err := compareTensors(g[i], w[i], conformanceRtol, conformanceAtol); err != nil {
			return fmt.Errorf("item %d: %v", i, err)
		}
	}
	return nil
}
