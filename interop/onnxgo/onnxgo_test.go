package onnxgo

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	onnx "github.com/owulveryck/onnx-go"
	"github.com/owulveryck/onnx-go/backend/x/gorgonnx"
	"google.golang.org/protobuf/proto"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/mhcc-dev/mhcc/compile"
	"github.com/mhcc-dev/mhcc/internal/safetensors"
	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
	mhrt "github.com/mhcc-dev/mhcc/runtime"
	"github.com/mhcc-dev/mhcc/verify"
)

const root = "../.."

// models returns the mlp model files of testdata (examples and golden
// cases), plus variants of mlp-mhc written into dir for the collapse modes
// and static mHC, so every minimal lowering runs.
func models(t *testing.T, dir string) []string {
	t.Helper()
	a, _ := filepath.Glob(filepath.Join(root, "testdata/models/mlp-*.yaml"))
	b, _ := filepath.Glob(filepath.Join(root, "testdata/golden/mlp-*/model.yaml"))
	if len(a) < 2 || len(b) < 2 {
		t.Fatalf("found %d mlp example and %d mlp golden model files, want at least 2 of each", len(a), len(b))
	}
	files := append(a, b...)
	src := filepath.Join(root, "testdata/models/mlp-mhc.yaml")
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []struct{ name, add string }{
		{"mlp-mhc-sum", "  collapse: sum\n"},
		{"mlp-mhc-mean-static", "  collapse: mean\n  dynamic: false\n"},
	} {
		text := strings.Replace(string(data), "  streams: 4\n", "  streams: 4\n"+v.add, 1)
		text = strings.Replace(text, "name: mlp-mhc\n", "name: "+v.name+"\n", 1)
		if !strings.Contains(text, v.add) {
			t.Fatalf("%s: cannot make variant %s", src, v.name)
		}
		path := filepath.Join(dir, v.name+".yaml")
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, path)
	}
	return files
}

func caseName(path string) string {
	if filepath.Base(path) == "model.yaml" {
		return "golden-" + filepath.Base(filepath.Dir(path))
	}
	return strings.TrimSuffix(filepath.Base(path), ".yaml")
}

// A result is one output tensor.
type result struct {
	shape []int64
	data  []float32
}

// runOnnxGo decodes the model with onnx-go and runs it with its Gorgonia
// backend on x [batch, in], returning every graph output in order. onnx-go
// builds its graph for the shapes of the first run, so each run decodes
// afresh.
func runOnnxGo(data []byte, shape []int64, x []float32) ([]result, error) {
	return runOnnxGoVM(data, shape, x, false)
}

// runOnnxGoVM is runOnnxGo; with trace, Gorgonia's TapeMachine keeps a copy
// of every node's value (by default it reuses the memory of values it no
// longer needs, so only the graph's final values can be read).
func runOnnxGoVM(data []byte, shape []int64, x []float32, trace bool) ([]result, error) {
	backend := gorgonnx.NewGraph()
	m := onnx.NewModel(backend)
	if err := m.UnmarshalBinary(data); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	in := tensor.New(tensor.WithShape(int(shape[0]), int(shape[1])), tensor.WithBacking(append([]float32(nil), x...)))
	if err := m.SetInput(0, in); err != nil {
		return nil, fmt.Errorf("set input: %w", err)
	}
	if trace {
		g, err := backend.GetExprGraph()
		if err != nil {
			return nil, fmt.Errorf("build: %w", err)
		}
		backend.SetVM(gorgonia.NewTapeMachine(g, gorgonia.TraceExec()))
	}
	if err := backend.Run(); err != nil {
		return nil, fmt.Errorf("run: %w", err)
	}
	outs, err := m.GetOutputTensors()
	if err != nil {
		return nil, err
	}
	var rs []result
	for i, o := range outs {
		if o == nil {
			return nil, fmt.Errorf("output %d is missing", i)
		}
		y, ok := o.Data().([]float32)
		if !ok {
			return nil, fmt.Errorf("output %d is %T, want []float32", i, o.Data())
		}
		var dims []int64
		for _, d := range o.Shape() {
			dims = append(dims, int64(d))
		}
		rs = append(rs, result{dims, append([]float32(nil), y...)})
	}
	return rs, nil
}

// runMhcc runs the model with mhcc's Go runtime and returns the outputs
// named.
func runMhcc(m *mhrt.Model, shape []int64, x []float32, names []string) ([]result, error) {
	outs, err := m.Run(map[string]*mhrt.Tensor{"x": mhrt.NewFloat32(shape, append([]float32(nil), x...))})
	if err != nil {
		return nil, err
	}
	var rs []result
	for _, name := range names {
		y := outs[name]
		if y == nil {
			return nil, fmt.Errorf("no output %s", name)
		}
		rs = append(rs, result{y.Shape, y.Float32s()})
	}
	return rs, nil
}

// compare checks got against want with the float32 tolerance of
// mhcc verify (|got - want| ≤ 1e-4 + 1e-3·|want|) and returns the largest
// absolute difference.
func compare(t *testing.T, what string, gotR, wantR result) float64 {
	t.Helper()
	got, want := gotR.data, wantR.data
	if fmt.Sprint(gotR.shape) != fmt.Sprint(wantR.shape) || len(got) != len(want) {
		t.Fatalf("%s: shape %v (%d values), want %v (%d values)", what, gotR.shape, len(got), wantR.shape, len(want))
	}
	tol := verify.ToleranceFor("f32")
	worst := 0.0
	for i := range want {
		g, w := float64(got[i]), float64(want[i])
		d := math.Abs(g - w)
		if !(d <= tol.Abs+tol.Rel*math.Abs(w)) {
			t.Fatalf("%s: element %d: got %v, want %v (|diff| %.3g)", what, i, g, w, d)
		}
		worst = max(worst, d)
	}
	return worst
}

// opTypes lists the operator types of an ONNX model.
func opTypes(t *testing.T, data []byte) map[string]int {
	t.Helper()
	var m onnxpb.ModelProto
	if err := proto.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	ops := map[string]int{}
	for _, n := range m.GetGraph().GetNode() {
		ops[n.GetOpType()]++
	}
	return ops
}

// Every mlp model compiled for the minimal target runs in onnx-go and gives
// the outputs of mhcc's Go runtime, at several batch sizes.
func TestMinimalRunsInOnnxGo(t *testing.T) {
	dir := t.TempDir()
	for _, path := range models(t, dir) {
		t.Run(caseName(path), func(t *testing.T) {
			res, err := compile.Compile(path, compile.Options{Target: "minimal", Verify: true})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%d ONNX ops: %v", len(opTypes(t, res.ONNX)), opTypes(t, res.ONNX))
			goModel, err := mhrt.Decode(res.ONNX)
			if err != nil {
				t.Fatal(err)
			}
			in := int64(res.Model.Arch.InputSize)
			for _, batch := range []int64{1, 2, 5} {
				r := rand.New(rand.NewPCG(uint64(batch), 0x6f6e6e78))
				shape := []int64{batch, in}
				x := make([]float32, batch*in)
				for i := range x {
					x[i] = float32(r.NormFloat64())
				}
				got, err := runOnnxGo(res.ONNX, shape, x)
				if err != nil {
					t.Fatalf("batch %d: onnx-go: %v", batch, err)
				}
				want, err := runMhcc(goModel, shape, x, []string{"y"})
				if err != nil {
					t.Fatalf("batch %d: mhcc runtime: %v", batch, err)
				}
				if len(got) != 1 {
					t.Fatalf("batch %d: onnx-go gave %d outputs, want 1", batch, len(got))
				}
				d := compare(t, fmt.Sprintf("batch %d: onnx-go vs mhcc runtime", batch), got[0], want[0])
				t.Logf("batch %d: max |onnx-go - mhcc runtime| = %.3g", batch, d)
			}
		})
	}
}

// On the golden mlp cases onnx-go also reproduces the outputs of the
// independent PyTorch reference (scripts/reference) stored with them.
func TestMinimalOnnxGoMatchesTorch(t *testing.T) {
	cases, _ := filepath.Glob(filepath.Join(root, "testdata/golden/mlp-*/model.yaml"))
	if len(cases) < 2 {
		t.Fatalf("found %d golden mlp cases", len(cases))
	}
	for _, path := range cases {
		t.Run(caseName(path), func(t *testing.T) {
			res, err := compile.Compile(path, compile.Options{Target: "minimal"})
			if err != nil {
				t.Fatal(err)
			}
			io, err := safetensors.Open(filepath.Join(filepath.Dir(path), "io.safetensors"))
			if err != nil {
				t.Fatal(err)
			}
			defer io.Close()
			runs := 0
			for k := 0; ; k++ {
				xi, ok := io.Lookup(fmt.Sprintf("run%d.x", k))
				if !ok {
					break
				}
				runs++
				yi, ok := io.Lookup(fmt.Sprintf("run%d.y", k))
				if !ok {
					t.Fatalf("run%d has no y", k)
				}
				x, err := io.ReadFloat32(xi.Name)
				if err != nil {
					t.Fatal(err)
				}
				want, err := io.ReadFloat32(yi.Name)
				if err != nil {
					t.Fatal(err)
				}
				got, err := runOnnxGo(res.ONNX, xi.Shape, x)
				if err != nil {
					t.Fatalf("run%d: onnx-go: %v", k, err)
				}
				if len(got) != 1 {
					t.Fatalf("run%d: onnx-go gave %d outputs, want 1", k, len(got))
				}
				d := compare(t, fmt.Sprintf("run%d %v: onnx-go vs torch", k, xi.Shape), got[0], result{yi.Shape, want})
				t.Logf("run%d %v: max |onnx-go - torch| = %.3g", k, xi.Shape, d)
			}
			if runs < 2 {
				t.Fatalf("%d runs in io.safetensors, want at least 2", runs)
			}
		})
	}
}
