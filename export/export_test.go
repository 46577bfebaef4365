package export_test

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/mhcc-dev/mhcc/compile"
	"github.com/mhcc-dev/mhcc/internal/ortrun"
	"github.com/mhcc-dev/mhcc/internal/safetensors"
	"github.com/mhcc-dev/mhcc/internal/testenv"
	"github.com/mhcc-dev/mhcc/ir"
	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
	mhrt "github.com/mhcc-dev/mhcc/runtime"
	"github.com/mhcc-dev/mhcc/target"
)

// modelFiles returns every valid model file of the repository: the examples
// and the golden cases.
func modelFiles(t *testing.T) []string {
	t.Helper()
	a, _ := filepath.Glob("../testdata/models/*.yaml")
	b, _ := filepath.Glob("../testdata/golden/*/model.yaml")
	files := append(a, b...)
	if len(a) == 0 || len(b) == 0 {
		t.Fatalf("found %d example and %d golden model files, want some of each", len(a), len(b))
	}
	sort.Strings(files)
	return files
}

// kvModelFiles returns the KV-cache model files (testdata/kv), which take
// past_key_values inputs besides input_ids.
func kvModelFiles(t *testing.T) []string {
	t.Helper()
	files, _ := filepath.Glob("../testdata/kv/*.yaml")
	if len(files) == 0 {
		t.Fatal("no model files in testdata/kv")
	}
	sort.Strings(files)
	return files
}

func caseName(path string) string {
	if filepath.Base(path) == "model.yaml" {
		return filepath.Base(filepath.Dir(path))
	}
	return strings.TrimSuffix(filepath.Base(path), ".yaml")
}

// compileTo compiles a model file into dir and returns the ONNX path.
func compileTo(t *testing.T, path, dir string) (string, *compile.Result) {
	return compileFor(t, path, "onnx", dir)
}

// compileFor compiles a model file for a target into dir.
func compileFor(t *testing.T, path, tg, dir string) (string, *compile.Result) {
	t.Helper()
	res, err := compile.Compile(path, compile.Options{Target: tg, Verify: true})
	if err != nil {
		t.Fatalf("compile %s for %s: %v", path, tg, err)
	}
	out := filepath.Join(dir, tg+"-"+caseName(path)+".onnx")
	if err := os.WriteFile(out, res.ONNX, 0o644); err != nil {
		t.Fatal(err)
	}
	return out, res
}

// Every model, compiled for every built-in target, passes the ONNX checker
// (full_check) and strict shape inference of Debian's python3-onnx.
func TestCheckerAcceptsModels(t *testing.T) {
	testenv.NeedPython(t, "onnx")
	dir := t.TempDir()
	for _, tg := range target.Names() {
		for _, path := range append(modelFiles(t), kvModelFiles(t)...) {
			t.Run(tg+"/"+caseName(path), func(t *testing.T) {
				if !compiles(path, tg) {
					t.Skipf("target %s does not take this model", tg)
				}
				out, _ := compileFor(t, path, tg, dir)
				testenv.CheckONNX(t, out)
			})
		}
	}
}

// Compiling the same file twice gives the same bytes.
func TestReproducible(t *testing.T) {
	for _, path := range append(modelFiles(t), kvModelFiles(t)...) {
		a, err := compile.Compile(path, compile.Options{})
		if err != nil {
			t.Fatal(err)
		}
		b, err := compile.Compile(path, compile.Options{Verify: true})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a.ONNX, b.ONNX) {
			t.Errorf("%s: two compiles differ (%d and %d bytes)", path, len(a.ONNX), len(b.ONNX))
		}
	}
}

// The interface of the models: IR 8, opset 17, dim_params, metadata.
func TestInterface(t *testing.T) {
	res, err := compile.Compile("../testdata/models/tiny-mhc.yaml", compile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var m onnxpb.ModelProto
	if err := proto.Unmarshal(res.ONNX, &m); err != nil {
		t.Fatal(err)
	}
	if m.GetIrVersion() != 8 || len(m.OpsetImport) != 1 || m.OpsetImport[0].GetVersion() != 17 || m.OpsetImport[0].GetDomain() != "" {
		t.Errorf("ir_version %d, opsets %v; want 8 and ai.onnx 17", m.GetIrVersion(), m.OpsetImport)
	}
	g := m.GetGraph()
	if got := shapeString(g.Input[0]); got != "input_ids:7[batch,sequence]" {
		t.Errorf("input %s, want input_ids:7[batch,sequence]", got)
	}
	if got := shapeString(g.Output[0]); got != "logits:1[batch,sequence,97]" {
		t.Errorf("output %s, want logits:1[batch,sequence,97]", got)
	}
	meta := map[string]string{}
	for _, p := range m.MetadataProps {
		meta[p.GetKey()] = p.GetValue()
	}
	for k, want := range map[string]string{"mhcc.hc.kind": "mhc", "mhcc.hc.streams": "4", "mhcc.hc.sinkhorn_iterations": "20", "mhcc.hc.collapse": "head", "mhcc.target": "onnx"} {
		if meta[k] != want {
			t.Errorf("metadata %s = %q, want %q", k, meta[k], want)
		}
	}
	if !strings.HasPrefix(meta["mhcc.producer"], "mhcc ") || m.GetProducerName() != "mhcc" {
		t.Errorf("producer %q / %q", m.GetProducerName(), meta["mhcc.producer"])
	}
	for _, init := range g.Initializer {
		if len(init.RawData) == 0 && len(init.Dims) > 0 && init.Dims[0] != 0 {
			t.Errorf("initializer %s is not stored as raw data", init.GetName())
		}
	}
	fixed, err := compile.Compile("../testdata/models/tiny-mhc-gqa-fixed.yaml", compile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var fm onnxpb.ModelProto
	if err := proto.Unmarshal(fixed.ONNX, &fm); err != nil {
		t.Fatal(err)
	}
	if got := shapeString(fm.Graph.Input[0]); got != "input_ids:7[2,8]" {
		t.Errorf("fixed-shape input %s, want input_ids:7[2,8]", got)
	}
}

func shapeString(v *onnxpb.ValueInfoProto) string {
	tt := v.GetType().GetTensorType()
	var dims []string
	for _, d := range tt.GetShape().GetDim() {
		if p := d.GetDimParam(); p != "" {
			dims = append(dims, p)
		} else {
			dims = append(dims, fmt.Sprint(d.GetDimValue()))
		}
	}
	return fmt.Sprintf("%s:%d[%s]", v.GetName(), tt.GetElemType(), strings.Join(dims, ","))
}

// Every model loads and runs in onnxruntime 1.30, at shapes other than any
// fixed in the file where the dims are dynamic, and gives finite outputs of
// the declared shape.
func TestRunsInOnnxruntime(t *testing.T) {
	initORT(t)
	dir := t.TempDir()
	for _, path := range modelFiles(t) {
		t.Run(caseName(path), func(t *testing.T) {
			out, res := compileTo(t, path, dir)
			m := res.Model
			for _, bs := range [][2]int{{1, 3}, {2, 7}} {
				b, s := bs[0], bs[1]
				if m.Inputs.Batch > 0 {
					b = m.Inputs.Batch
				}
				if m.Inputs.Sequence > 0 {
					s = m.Inputs.Sequence
				}
				r := rand.New(rand.NewPCG(uint64(b), uint64(s)))
				var in ortrun.Tensor
				var wantShape []int64
				if m.Arch.Kind == "decoder" {
					in = ortrun.Tensor{Name: "input_ids", DType: "int64", Shape: []int64{int64(b), int64(s)}}
					for i := 0; i < b*s; i++ {
						in.I64 = append(in.I64, int64(r.IntN(m.Arch.VocabSize)))
					}
					wantShape = []int64{int64(b), int64(s), int64(m.Arch.VocabSize)}
				} else {
					in = ortrun.Tensor{Name: "x", DType: "float32", Shape: []int64{int64(b), int64(m.Arch.InputSize)}}
					for i := 0; i < b*m.Arch.InputSize; i++ {
						in.F32 = append(in.F32, float32(r.NormFloat64()))
					}
					wantShape = []int64{int64(b), int64(m.Arch.OutputSize)}
				}
				outs, err := ortrun.Run(out, []ortrun.Tensor{in}, 1)
				if err != nil {
					t.Fatalf("onnxruntime: %v", err)
				}
				if len(outs) != 1 || fmt.Sprint(outs[0].Shape) != fmt.Sprint(wantShape) {
					t.Fatalf("got outputs %v, want one of shape %v", outs, wantShape)
				}
				for _, v := range outs[0].F32 {
					if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
						t.Fatalf("output has a non-finite value %v", v)
					}
				}
			}
		})
	}
}

func initORT(t *testing.T) {
	t.Helper()
	lib := testenv.NeedORT(t)
	if err := ortrun.Init(lib); err != nil {
		t.Fatalf("onnxruntime: %v", err)
	}
}

// The golden cases: onnxruntime runs mhcc's ONNX on the inputs of each case
// and must reproduce the outputs of the independent PyTorch implementation
// (scripts/reference, computed in float64 and stored as float32) within 1e-4.
// (The float64 form of the lowering is checked with the Go runtime:
// onnxruntime 1.30's CPU optimiser fuses x·sigmoid(x) into a QuickGelu that
// has no float64 kernel, so it cannot load it.)
func TestGoldenOutputs(t *testing.T) {
	initORT(t)
	dir := t.TempDir()
	cases, _ := filepath.Glob("../testdata/golden/*/model.yaml")
	if len(cases) == 0 {
		t.Fatal("no golden cases")
	}
	for _, path := range cases {
		t.Run(caseName(path), func(t *testing.T) { testGolden(t, path, dir, "", false, 1e-4) })
	}
}

// testGolden compiles a golden case for target ("" = onnx), runs it in
// onnxruntime on the case's inputs and compares with the torch outputs.
func testGolden(t *testing.T, path, dir, target string, f64 bool, tol float64) {
	res, err := compile.Compile(path, compile.Options{Target: target, Verify: true, Float64: f64})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, fmt.Sprintf("%s-%s-%v.onnx", caseName(path), target, f64))
	if err := os.WriteFile(out, res.ONNX, 0o644); err != nil {
		t.Fatal(err)
	}
	io, err := safetensors.Open(filepath.Join(filepath.Dir(path), "io.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer io.Close()
	inName, outName := "input_ids", "logits"
	if res.Model.Arch.Kind == "mlp" {
		inName, outName = "x", "y"
	}
	runs := 0
	for k := 0; ; k++ {
		info, ok := io.Lookup(fmt.Sprintf("run%d.%s", k, inName))
		if !ok {
			break
		}
		runs++
		in := ortrun.Tensor{Name: inName, Shape: info.Shape}
		if inName == "input_ids" {
			in.DType = "int64"
			in.I64, err = io.ReadInt64(info.Name)
		} else {
			in.DType = "float32"
			if f64 {
				in.DType = "float64"
			}
			in.F32, err = io.ReadFloat32(info.Name)
		}
		if err != nil {
			t.Fatal(err)
		}
		wantInfo, _ := io.Lookup(fmt.Sprintf("run%d.%s", k, outName))
		want, err := io.ReadFloat32(wantInfo.Name)
		if err != nil {
			t.Fatal(err)
		}
		outs, err := ortrun.Run(out, []ortrun.Tensor{in}, 1)
		if err != nil {
			t.Fatalf("run%d: onnxruntime: %v", k, err)
		}
		got := outs[0]
		if fmt.Sprint(got.Shape) != fmt.Sprint(wantInfo.Shape) {
			t.Fatalf("run%d: output shape %v, want %v", k, got.Shape, wantInfo.Shape)
		}
		worst, at := 0.0, 0
		for i := range want {
			if d := math.Abs(float64(got.F32[i]) - float64(want[i])); d > worst || d != d {
				worst, at = d, i
			}
		}
		t.Logf("run%d %v: max |onnxruntime - torch| = %.3g", k, info.Shape, worst)
		if !(worst <= tol) {
			t.Errorf("run%d %v: element %d: got %v, want %v (|diff| %.3g > %g)", k, info.Shape, at, got.F32[at], want[at], worst, tol)
		}
	}
	if runs < 2 {
		t.Errorf("%d runs in io.safetensors, want at least 2", runs)
	}
}

// Every ONNX op the exporter emits for any testdata model is one the Go
// runtime implements at the model's opset, and every IR op appears in some
// testdata model, so a new lowering without a kernel fails here. Besides
// the built-in targets, the fused profile as a profile file written before
// HCEntry had it (no HCEntry): the first sublayer's two ops
// (HCCoeffsSinkhorn, HCPremixNorm) that such a file still gets.
func TestRuntimeCoversEmittedOps(t *testing.T) {
	seenIR := map[string]bool{}
	fused, err := os.ReadFile("../target/profiles/fused.yaml")
	if err != nil {
		t.Fatal(err)
	}
	old := strings.Replace(strings.Replace(string(fused), ", HCEntry]", "]", 1), "  HCEntry: function\n", "", 1)
	if old == string(fused) {
		t.Fatal("fused.yaml: no HCEntry to take out")
	}
	oldFused := filepath.Join(t.TempDir(), "fused-without-entry.yaml")
	if err := os.WriteFile(oldFused, []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tg := range append(target.Names(), oldFused) {
		for _, path := range append(modelFiles(t), kvModelFiles(t)...) {
			if !compiles(path, tg) {
				continue
			}
			coversOps(t, path, tg, "", seenIR)
		}
	}
	for _, path := range modelFiles(t) {
		coversOps(t, path, "onnx", "fp16", seenIR) // Cast appears with a half precision
	}
	for _, op := range ir.Ops() {
		if !seenIR[op.String()] {
			t.Errorf("IR op %v appears in no testdata model, so its lowering is untested", op)
		}
	}
}

// compiles reports whether a target takes a model: false only when the
// target refuses it (compile.Refused, e.g. minimal and a decoder); any other
// error counts as compiling, so the test that follows reports it.
func compiles(path, tg string) bool {
	_, err := compile.Compile(path, compile.Options{Target: tg})
	return !compile.Refused(err)
}

func coversOps(t *testing.T, path, tg, precision string, seenIR map[string]bool) {
	t.Helper()
	{
		res, err := compile.Compile(path, compile.Options{Target: tg, Precision: precision})
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range res.Graph.Nodes {
			seenIR[n.Op.String()] = true
		}
		var m onnxpb.ModelProto
		if err := proto.Unmarshal(res.ONNX, &m); err != nil {
			t.Fatal(err)
		}
		opsets := map[string]int64{}
		for _, o := range m.OpsetImport {
			opsets[o.GetDomain()] = o.GetVersion()
		}
		funcs := map[string]bool{}
		for _, f := range m.Functions {
			funcs[f.GetDomain()+"/"+f.GetName()] = true
		}
		for _, n := range m.Graph.Node {
			d := n.GetDomain()
			if !mhrt.Implements(d, n.GetOpType(), opsets[d]) && !funcs[d+"/"+n.GetOpType()] {
				t.Errorf("%s for %s: the exporter emits %s, which the Go runtime does not implement", caseName(path), tg, n.GetOpType())
			}
		}
	}
}
