package runtime

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
	"github.com/mhcc-dev/mhcc/runtime/internal/core"
	"github.com/mhcc-dev/mhcc/runtime/internal/ref"

	"google.golang.org/protobuf/proto"

	"github.com/mhcc-dev/mhcc/internal/ortrun"
	"github.com/mhcc-dev/mhcc/internal/testenv"
)

// Differential tests against onnxruntime: build a small model, run it with
// onnxruntime (through internal/ortrun) and with the interpreter, compare
// every graph output. They skip without the onnxruntime library and fail
// under CI=true (internal/testenv).

// needORT loads onnxruntime or skips (fails under CI).
func needORT(t *testing.T) {
	t.Helper()
	lib := testenv.NeedORT(t)
	if err := ortrun.Init(lib); err != nil {
		t.Fatal(err)
	}
}

// ortTensor converts a runtime tensor for ortrun.
func ortTensor(name string, x *core.Tensor) ortrun.Tensor {
	o := ortrun.Tensor{Name: name, DType: ortrun.DTypeName(int(x.DType)), Shape: x.Shape}
	if x.DType.IsFloat() {
		o.F32 = x.Float32s()
	} else {
		o.I64 = x.Int64s()
	}
	return o
}

// runORT runs mp with onnxruntime on feeds and returns the outputs by name.
func runORT(t *testing.T, mp *onnxpb.ModelProto, feeds map[string]*core.Tensor) (map[string]ortrun.Tensor, error) {
	t.Helper()
	b, err := proto.Marshal(mp)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "model.onnx")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	var in []ortrun.Tensor
	for name, x := range feeds {
		in = append(in, ortTensor(name, x))
	}
	outs, err := ortrun.Run(path, in, 1)
	if err != nil {
		return nil, err
	}
	res := map[string]ortrun.Tensor{}
	for _, o := range outs {
		res[o.Name] = o
	}
	return res, nil
}

// diffORT runs mp with both engines and compares every graph output: the
// same shape, integers and bools exactly, floats within
// |got − want| ≤ atol + rtol·|want|.
func diffORT(t *testing.T, mp *onnxpb.ModelProto, feeds map[string]*core.Tensor, rtol, atol float64) map[string]*core.Tensor {
	t.Helper()
	m, err := Decode(encode(t, mp))
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	got, err := m.Run(feeds)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	want, err := runORT(t, mp, feeds)
	if err != nil {
		t.Fatalf("onnxruntime: %v", err)
	}
	for _, v := range m.Outputs {
		if err := compareORT(got[v.Name], want[v.Name], rtol, atol); err != nil {
			t.Errorf("output %q: %v", v.Name, err)
		}
	}
	return got
}

func compareORT(got *core.Tensor, want ortrun.Tensor, rtol, atol float64) error {
	if got == nil {
		return fmt.Errorf("not computed")
	}
	if !ref.SameShape(got.Shape, want.Shape) {
		return fmt.Errorf("shape %v, onnxruntime %v", got.Shape, want.Shape)
	}
	if w := ortrun.DTypeName(int(got.DType)); w != want.DType {
		return fmt.Errorf("type %s, onnxruntime %s", w, want.DType)
	}
	if !got.DType.IsFloat() {
		g := got.Int64s()
		for i := range want.I64 {
			if g[i] != want.I64[i] {
				return fmt.Errorf("element %d: %d, onnxruntime %d", i, g[i], want.I64[i])
			}
		}
		return nil
	}
	g := got.Float64s()
	worst, at := 0.0, -1
	for i, w := range want.F32 {
		d := math.Abs(g[i] - float64(w))
		if !withinTol(g[i], float64(w), rtol, atol) && (at < 0 || d > worst) {
			worst, at = d, i
		}
	}
	if at >= 0 {
		return fmt.Errorf("element %d: %g, onnxruntime %g (|diff| %g)", at, g[at], want.F32[at], worst)
	}
	return nil
}
