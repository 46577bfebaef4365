package runtime_test

import (
	"math"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/mhcc-dev/mhcc/compile"
	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
	mhrt "github.com/mhcc-dev/mhcc/runtime"
)

// TestFusedModelRunsKernels: tiny-mhc compiled for the fused target runs
// the runtime's kernels for its ai.mhcc nodes, not the model-local function
// bodies, unless decoded with FunctionBodies. The proof is behavioural: in
// a copy of the model whose coefficient functions (HCEntry's and
// HCCoeffsBoundary's) return pre and post swapped and whose HCHead
// function takes base and post swapped, the kernels still give the onnx
// target's logits and the bodies do not (nor with HCEntry's swap alone, nor
// HCHead's alone). The profile counts one kernel call per node and run
// (the first sublayer's HCEntry, the three others one HCCoeffsBoundary
// each, the head one HCHead), on both engines.
func TestFusedModelRunsKernels(t *testing.T) {
	const path = "../testdata/models/tiny-mhc.yaml"
	ids := mhrt.NewInt64([]int64{2, 7}, []int64{3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7})
	logits := func(t *testing.T, data []byte, opt mhrt.DecodeOptions, e mhrt.Engine, prof *mhrt.Profile) []float64 {
		t.Helper()
		m, err := mhrt.DecodeWith(data, opt)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range m.Nodes() {
			if n.Domain == "ai.mhcc" && (n.Fn != nil) != opt.FunctionBodies {
				t.Errorf("%v: function body attached %v, want %v", n, n.Fn != nil, opt.FunctionBodies)
			}
		}
		out, err := m.RunWith(map[string]*mhrt.Tensor{"input_ids": ids}, mhrt.RunOptions{Engine: e, Profile: prof})
		if err != nil {
			t.Fatal(err)
		}
		return out["logits"].Float64s()
	}
	maxDiff := func(a, b []float64) float64 {
		d := 0.0
		for i := range a {
			d = max(d, math.Abs(a[i]-b[i]))
		}
		return d
	}
	compiled := map[string][]byte{}
	for _, tg := range []string{"onnx", "fused"} {
		res, err := compile.Compile(path, compile.Options{Target: tg})
		if err != nil {
			t.Fatal(err)
		}
		compiled[tg] = res.ONNX
	}
	want := logits(t, compiled["onnx"], mhrt.DecodeOptions{}, mhrt.Fast, nil)

	var mp onnxpb.ModelProto
	if err := proto.Unmarshal(compiled["fused"], &mp); err != nil {
		t.Fatal(err)
	}
	nodes := map[string]int{}
	for _, n := range mp.GetGraph().GetNode() {
		if n.GetDomain() == "ai.mhcc" {
			nodes[n.GetOpType()]++
		}
	}
	if nodes["HCHead"] != 1 || nodes["HCEntry"] != 1 {
		t.Fatalf("ai.mhcc nodes of the fused model %v, want one HCEntry and one HCHead", nodes)
	}
	// tamper swaps, in the functions of the model data named, pre and post
	// in the coefficient functions' outputs, base and post in HCHead's inputs.
	tamper := func(data []byte, names ...string) []byte {
		t.Helper()
		var mp onnxpb.ModelProto
		if err := proto.Unmarshal(data, &mp); err != nil {
			t.Fatal(err)
		}
		done := 0
		for _, f := range mp.GetFunctions() {
			if f.GetDomain() != "ai.mhcc" || !slices.Contains(names, f.GetName()) {
				continue
			}
			if f.GetName() == "HCHead" {
				f.Input[2], f.Input[6] = f.Input[6], f.Input[2]
			} else {
				f.Output[0], f.Output[1] = f.Output[1], f.Output[0]
			}
			done++
		}
		if done != len(names) {
			t.Fatalf("%d of the functions %v in the fused model", done, names)
		}
		out, err := proto.Marshal(&mp)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	tampered := tamper(compiled["fused"], "HCEntry", "HCCoeffsBoundary", "HCHead")
	alone := map[string][]byte{"HCEntry": tamper(compiled["fused"], "HCEntry"), "HCHead": tamper(compiled["fused"], "HCHead")}

	for _, e := range []mhrt.Engine{mhrt.Fast, mhrt.Reference} {
		prof := &mhrt.Profile{}
		if d := maxDiff(logits(t, compiled["fused"], mhrt.DecodeOptions{}, e, prof), want); !(d <= 1e-4) {
			t.Errorf("%v: fused target, kernels: logits differ from the onnx target's by %g", e, d)
		}
		for op, n := range map[string]int{"HCEntry": 1, "HCCoeffsBoundary": 3, "HCHead": 1} {
			if got := prof.Ops["ai.mhcc."+op]; got == nil || got.Calls != n {
				t.Errorf("%v: profile: %s called %v, want %d times", e, op, got, n)
			}
		}
		for _, op := range []string{"HCCoeffsSinkhorn", "HCPremixNorm", "HCPostCoeffsSinkhorn", "HCBoundary"} { // merged into HCEntry and HCCoeffsBoundary
			if got := prof.Ops["ai.mhcc."+op]; got != nil {
				t.Errorf("%v: profile: %s called %v, want no such node", e, op, got)
			}
		}
		if d := maxDiff(logits(t, compiled["fused"], mhrt.DecodeOptions{FunctionBodies: true}, e, nil), want); !(d <= 1e-4) {
			t.Errorf("%v: fused target, function bodies: logits differ from the onnx target's by %g", e, d)
		}
		if d := maxDiff(logits(t, tampered, mhrt.DecodeOptions{}, e, nil), want); !(d <= 1e-4) {
			t.Errorf("%v: tampered bodies, kernels: logits differ from the onnx target's by %g: a body ran", e, d)
		}
		if d := maxDiff(logits(t, tampered, mhrt.DecodeOptions{FunctionBodies: true}, e, nil), want); !(d > 1e-2) {
			t.Errorf("%v: tampered bodies run: logits within %g of the onnx target's, want them off", e, d)
		}
		for _, op := range []string{"HCEntry", "HCHead"} {
			if d := maxDiff(logits(t, alone[op], mhrt.DecodeOptions{}, e, nil), want); !(d <= 1e-4) {
				t.Errorf("%v: tampered %s body, kernels: logits differ from the onnx target's by %g: the body ran", e, op, d)
			}
			if d := maxDiff(logits(t, alone[op], mhrt.DecodeOptions{FunctionBodies: true}, e, nil), want); !(d > 1e-2) {
				t.Errorf("%v: tampered %s body run: logits within %g of the onnx target's, want them off", e, op, d)
			}
		}
	}
}
