package runtime_test

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/mhcc-dev/mhcc/compile"
	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
	mhrt "github.com/mhcc-dev/mhcc/runtime"
)

// TestFusedModelRunsKernels: tiny-mhc compiled for the fused target runs
// the runtime's kernels for its ai.mhcc nodes, not the model-local function
// bodies, unless decoded with FunctionBodies. The proof is behavioural: in
// a copy of the model whose coefficient functions return pre and post
// swapped and whose HCHead function takes base and post swapped, the
// kernels still give the onnx target's logits and the bodies do not (nor
// with HCHead's swap alone). The profile counts one kernel call per node
// and run (first sublayer HCCoeffsSinkhorn and HCPremixNorm, the three
// others one HCCoeffsBoundary each, the head one HCHead), on both engines.
//
// The runtime has no kernel for HCEntry yet (the start of the model, which
// the fused profile forms from the first sublayer's two ops): the model is
// compiled with the fused profile less HCEntry. Take the cut out when the
// kernel lands.
func TestFusedModelRunsKernels(t *testing.T) {
	const path = "../testdata/models/tiny-mhc.yaml"
	fusedProfile, err := os.ReadFile("../target/profiles/fused.yaml")
	if err != nil {
		t.Fatal(err)
	}
	text := string(fusedProfile)
	for cut, repl := range map[string]string{", HCEntry]": "]", "  HCEntry: function\n": ""} {
		if !strings.Contains(text, cut) {
			t.Fatalf("fused.yaml: no %q to take out", cut)
		}
		text = strings.Replace(text, cut, repl, 1)
	}
	noEntry := filepath.Join(t.TempDir(), "fused-noentry.yaml")
	if err := os.WriteFile(noEntry, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
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
	for tg, profile := range map[string]string{"onnx": "onnx", "fused": noEntry} {
		res, err := compile.Compile(path, compile.Options{Target: profile})
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
	heads := 0
	for _, n := range mp.GetGraph().GetNode() {
		if n.GetDomain() == "ai.mhcc" && n.GetOpType() == "HCHead" {
			heads++
		}
	}
	if heads != 1 {
		t.Fatalf("%d HCHead nodes in the fused model, want 1", heads)
	}
	var headFn *onnxpb.FunctionProto
	swapped := 0
	for _, f := range mp.GetFunctions() {
		if f.GetDomain() != "ai.mhcc" {
			continue
		}
		switch f.GetName() {
		case "HCCoeffsSinkhorn", "HCCoeffsBoundary":
			f.Output[0], f.Output[1] = f.Output[1], f.Output[0]
			swapped++
		case "HCHead":
			headFn = f
		}
	}
	if swapped != 2 || headFn == nil {
		t.Fatalf("%d coefficient functions and HCHead's %v in the fused model, want 2 and one", swapped, headFn != nil)
	}
	swapHead := func() { headFn.Input[2], headFn.Input[6] = headFn.Input[6], headFn.Input[2] } // base, post
	swapHead()
	tampered, err := proto.Marshal(&mp)
	if err != nil {
		t.Fatal(err)
	}
	var headOnly onnxpb.ModelProto // HCHead's swap alone
	if err := proto.Unmarshal(compiled["fused"], &headOnly); err != nil {
		t.Fatal(err)
	}
	for _, f := range headOnly.GetFunctions() {
		if f.GetDomain() == "ai.mhcc" && f.GetName() == "HCHead" {
			headFn = f
		}
	}
	swapHead()
	tamperedHead, err := proto.Marshal(&headOnly)
	if err != nil {
		t.Fatal(err)
	}

	for _, e := range []mhrt.Engine{mhrt.Fast, mhrt.Reference} {
		prof := &mhrt.Profile{}
		if d := maxDiff(logits(t, compiled["fused"], mhrt.DecodeOptions{}, e, prof), want); !(d <= 1e-4) {
			t.Errorf("%v: fused target, kernels: logits differ from the onnx target's by %g", e, d)
		}
		for op, n := range map[string]int{"HCCoeffsSinkhorn": 1, "HCPremixNorm": 1, "HCCoeffsBoundary": 3, "HCHead": 1} {
			if got := prof.Ops["ai.mhcc."+op]; got == nil || got.Calls != n {
				t.Errorf("%v: profile: %s called %v, want %d times", e, op, got, n)
			}
		}
		for _, op := range []string{"HCPostCoeffsSinkhorn", "HCBoundary"} { // merged into HCCoeffsBoundary
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
		if d := maxDiff(logits(t, tamperedHead, mhrt.DecodeOptions{}, e, nil), want); !(d <= 1e-4) {
			t.Errorf("%v: tampered HCHead body, kernels: logits differ from the onnx target's by %g: the body ran", e, d)
		}
		if d := maxDiff(logits(t, tamperedHead, mhrt.DecodeOptions{FunctionBodies: true}, e, nil), want); !(d > 1e-2) {
			t.Errorf("%v: tampered HCHead body run: logits within %g of the onnx target's, want them off", e, d)
		}
	}
}
