package export_test

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/mhcc-dev/mhcc/compile"
	"github.com/mhcc-dev/mhcc/export"
	"github.com/mhcc-dev/mhcc/internal/ortrun"
	"github.com/mhcc-dev/mhcc/internal/testenv"
	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
	mhrt "github.com/mhcc-dev/mhcc/runtime"
	"github.com/mhcc-dev/mhcc/target"
	"github.com/mhcc-dev/mhcc/verify"
)

// minimalModels returns the mlp model files (examples and golden cases) and
// variants of mlp-mhc written into dir, so that every minimal lowering runs:
// HCCoeffs dynamic and static, HCCollapse weighted (head), sum and mean.
func minimalModels(t *testing.T, dir string) []string {
	t.Helper()
	a, _ := filepath.Glob("../testdata/models/mlp-*.yaml")
	b, _ := filepath.Glob("../testdata/golden/mlp-*/model.yaml")
	if len(a) < 2 || len(b) < 2 {
		t.Fatalf("found %d mlp example and %d mlp golden model files", len(a), len(b))
	}
	files := append(a, b...)
	for _, v := range []struct{ name, add string }{
		{"mlp-mhc-sum", "  collapse: sum\n"},
		{"mlp-mhc-mean-static", "  collapse: mean\n  dynamic: false\n"},
	} {
		files = append(files, writeVariant(t, dir, v.name, "  streams: 4\n", "  streams: 4\n"+v.add))
	}
	return files
}

// writeVariant writes a copy of testdata/models/mlp-mhc.yaml named name with
// old replaced by new, and returns its path.
func writeVariant(t *testing.T, dir, name, old, new string) string {
	t.Helper()
	data, err := os.ReadFile("../testdata/models/mlp-mhc.yaml")
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	if !strings.Contains(text, old) {
		t.Fatalf("mlp-mhc.yaml has no %q", old)
	}
	text = strings.Replace(text, old, new, 1)
	text = strings.Replace(text, "name: mlp-mhc\n", "name: "+name+"\n", 1)
	path := filepath.Join(dir, name+".yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func minimalName(path string) string {
	if filepath.Base(path) == "model.yaml" {
		return "golden-" + caseName(path)
	}
	return caseName(path)
}

// The minimal models use only the profile's operators at its opset and IR
// version, and mhcc's Go runtime runs them within float32 tolerance of the
// float64 reference lowering, with mHC's invariants holding (mhcc verify).
func TestMinimalVerifies(t *testing.T) {
	prof, err := target.Get("minimal")
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range minimalModels(t, t.TempDir()) {
		t.Run(minimalName(path), func(t *testing.T) {
			res, err := compile.Compile(path, compile.Options{Target: "minimal", Verify: true})
			if err != nil {
				t.Fatal(err)
			}
			var m onnxpb.ModelProto
			if err := proto.Unmarshal(res.ONNX, &m); err != nil {
				t.Fatal(err)
			}
			if m.GetIrVersion() != 6 || len(m.OpsetImport) != 1 || m.OpsetImport[0].GetDomain() != "" || m.OpsetImport[0].GetVersion() != 11 {
				t.Errorf("IR version %d, opsets %v; want IR 6, ai.onnx 11", m.GetIrVersion(), m.OpsetImport)
			}
			for _, n := range m.Graph.Node {
				if n.GetDomain() != "" || !slices.Contains(prof.Ops[""], n.GetOpType()) {
					t.Errorf("node %s: %s is not in the minimal profile", n.GetName(), n.GetOpType())
				}
				if n.GetOpType() == "Softmax" && len(n.Attribute) == 1 && n.Attribute[0].GetI() < 0 {
					t.Errorf("node %s: Softmax with a negative axis (opset 11 flattens at it)", n.GetName())
				}
			}
			rep, err := verify.Model(path, verify.Options{Target: "minimal", Seed: 3})
			if err != nil {
				t.Fatal(err)
			}
			if !rep.OK || len(rep.Runs) < 2 {
				t.Fatalf("verification failed or ran %d shapes:\n%s", len(rep.Runs), rep.Text())
			}
			for _, r := range rep.Runs {
				t.Logf("%v: max |runtime - f64 reference| = %.3g", r.Shape, r.MaxAbs)
			}
		})
	}
}

// The minimal models are standard ONNX: the checker accepts them and
// onnxruntime gives the outputs of mhcc's Go runtime.
func TestMinimalCheckerAndOnnxruntime(t *testing.T) {
	testenv.NeedPython(t, "onnx")
	initORT(t)
	dir := t.TempDir()
	for _, path := range minimalModels(t, dir) {
		t.Run(minimalName(path), func(t *testing.T) {
			res, err := compile.Compile(path, compile.Options{Target: "minimal"})
			if err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(dir, minimalName(path)+".minimal.onnx")
			if err := os.WriteFile(out, res.ONNX, 0o644); err != nil {
				t.Fatal(err)
			}
			testenv.CheckONNX(t, out)
			goModel, err := mhrt.Decode(res.ONNX)
			if err != nil {
				t.Fatal(err)
			}
			in := int64(res.Model.Arch.InputSize)
			for _, batch := range []int64{1, 3} {
				r := rand.New(rand.NewPCG(uint64(batch), 11))
				x := make([]float32, batch*in)
				for i := range x {
					x[i] = float32(r.NormFloat64())
				}
				shape := []int64{batch, in}
				outs, err := ortrun.Run(out, []ortrun.Tensor{{Name: "x", DType: "float32", Shape: shape, F32: x}}, 1)
				if err != nil {
					t.Fatalf("onnxruntime: %v", err)
				}
				goOuts, err := goModel.Run(map[string]*mhrt.Tensor{"x": mhrt.NewFloat32(shape, x)})
				if err != nil {
					t.Fatalf("Go runtime: %v", err)
				}
				got, want := outs[0].F32, goOuts["y"].Float32s()
				if fmt.Sprint(outs[0].Shape) != fmt.Sprint(goOuts["y"].Shape) {
					t.Fatalf("batch %d: onnxruntime shape %v, Go runtime %v", batch, outs[0].Shape, goOuts["y"].Shape)
				}
				worst := 0.0
				for i := range want {
					d := math.Abs(float64(got[i]) - float64(want[i]))
					if !(d <= 1e-4+1e-3*math.Abs(float64(want[i]))) {
						t.Fatalf("batch %d: element %d: onnxruntime %v, Go runtime %v", batch, i, got[i], want[i])
					}
					worst = max(worst, d)
				}
				t.Logf("batch %d: max |onnxruntime - Go runtime| = %.3g", batch, worst)
			}
		})
	}
}

// On the golden mlp cases, onnxruntime running the minimal models reproduces
// the outputs of the independent PyTorch reference.
func TestMinimalGoldenOutputs(t *testing.T) {
	initORT(t)
	dir := t.TempDir()
	cases, _ := filepath.Glob("../testdata/golden/mlp-*/model.yaml")
	if len(cases) < 2 {
		t.Fatalf("found %d golden mlp cases", len(cases))
	}
	for _, path := range cases {
		t.Run(caseName(path), func(t *testing.T) { testGolden(t, path, dir, "minimal", false, 1e-4) })
	}
}

// A decoder cannot be compiled for the minimal target: the error is the
// user's (not an internal one) and names the node, the operator and the
// target.
func TestMinimalRefusesDecoder(t *testing.T) {
	_, err := compile.Compile("../testdata/models/tiny-mhc.yaml", compile.Options{Target: "minimal"})
	if err == nil {
		t.Fatal("compiled a decoder for the minimal target")
	}
	var te *export.TargetError
	if compile.IsInternal(err) || !errors.As(err, &te) {
		t.Errorf("got %T (internal %v), want an export.TargetError", err, compile.IsInternal(err))
	}
	for _, want := range []string{"tiny-mhc.yaml", "node embed (Gather", "emits Gather", "target minimal does not allow"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

// A model too large for the minimal lowerings' 0/1 constants is refused
// with an error naming the node and the constant.
func TestMinimalRefusesLargeModel(t *testing.T) {
	path := writeVariant(t, t.TempDir(), "mlp-mhc-wide", "  hidden_size: 16\n", "  hidden_size: 1100\n")
	_, err := compile.Compile(path, compile.Options{Target: "minimal"})
	var te *export.TargetError
	if err == nil || !errors.As(err, &te) {
		t.Fatalf("got %v, want an export.TargetError", err)
	}
	for _, want := range []string{"node ", "constant", "the minimal target is for small models"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	// The same model compiles for the default target.
	if _, err := compile.Compile(path, compile.Options{}); err != nil {
		t.Fatalf("default target: %v", err)
	}
}

// A profile of the user's that lets a decoder's Gather through still cannot
// compile it: the minimal lowerings take [batch, features] tensors, and the
// error names the first node whose tensor has a sequence axis.
func TestMinimalLoweringsNeedBatchOnly(t *testing.T) {
	data, err := os.ReadFile("../target/profiles/minimal.yaml")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(data), "[Add, Concat,", "[Gather, Add, Concat,", 1)
	text = strings.Replace(text, "name: minimal\n", "name: minimal-gather\n", 1)
	prof := filepath.Join(t.TempDir(), "minimal-gather.yaml")
	if err := os.WriteFile(prof, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = compile.Compile("../testdata/models/tiny-mhc.yaml", compile.Options{Target: prof})
	var te *export.TargetError
	if err == nil || !errors.As(err, &te) {
		t.Fatalf("got %v, want an export.TargetError", err)
	}
	for _, want := range []string{"node streams (HCExpand", "rank [2]", "[batch,sequence,32]"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}
