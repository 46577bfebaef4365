package export_test

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/mhcc-dev/mhcc/compile"
	"github.com/mhcc-dev/mhcc/export"
	"github.com/mhcc-dev/mhcc/internal/ortrun"
	"github.com/mhcc-dev/mhcc/internal/testenv"
	"github.com/mhcc-dev/mhcc/ir"
	"github.com/mhcc-dev/mhcc/model"
	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
	mhrt "github.com/mhcc-dev/mhcc/runtime"
)

// writeExternal compiles path with external data (threshold 1 KiB) into
// dir/name.onnx + name.onnx.data, and inline into dir/name.inline.onnx.
func writeExternal(t *testing.T, path, dir, name string) (ext, inline string) {
	t.Helper()
	ext = filepath.Join(dir, name+".onnx")
	res, err := compile.Compile(path, compile.Options{External: compile.ExternalAlways, DataLocation: export.DataLocation(ext), ExternalThreshold: 1024})
	if err != nil {
		t.Fatal(err)
	}
	if res.Layout.Tensors() == 0 {
		t.Fatalf("%s: no tensor went to the data file", path)
	}
	if err := export.WriteFiles(ext, res.ONNX, res.Layout, nil); err != nil {
		t.Fatal(err)
	}
	in, err := compile.Compile(path, compile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if in.Layout != nil {
		t.Fatalf("%s: a small model got external data without asking", path)
	}
	inline = filepath.Join(dir, name+".inline.onnx")
	if err := export.WriteFiles(inline, in.ONNX, in.Layout, nil); err != nil {
		t.Fatal(err)
	}
	return ext, inline
}

func readModel(t *testing.T, path string) *onnxpb.ModelProto {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m := &onnxpb.ModelProto{}
	if err := proto.Unmarshal(data, m); err != nil {
		t.Fatal(err)
	}
	return m
}

// The data file holds each large initializer at an aligned offset, with
// exactly the bytes the inline model has as raw_data; small ones stay in
// the model.
func TestExternalLayout(t *testing.T) {
	dir := t.TempDir()
	ext, inline := writeExternal(t, "../testdata/models/tiny-mhc.yaml", dir, "m")
	data, err := os.ReadFile(ext + ".data")
	if err != nil {
		t.Fatal(err)
	}
	em, im := readModel(t, ext), readModel(t, inline)
	want := map[string]*onnxpb.TensorProto{}
	for _, p := range im.GetGraph().GetInitializer() {
		want[p.GetName()] = p
	}
	if len(em.GetGraph().GetInitializer()) != len(want) {
		t.Fatalf("%d initializers, inline has %d", len(em.GetGraph().GetInitializer()), len(want))
	}
	end, external := int64(0), 0
	for _, p := range em.GetGraph().GetInitializer() {
		w := want[p.GetName()]
		if p.GetDataLocation() != onnxpb.TensorProto_EXTERNAL {
			// Weights (IR constants) move; the lowerings' own small shared
			// constants ("const.*", e.g. Sinkhorn's 0/1 sum matrices) stay.
			if len(p.GetRawData()) >= 1024 && p.GetDataType() == int32(onnxpb.TensorProto_FLOAT) && !strings.HasPrefix(p.GetName(), "const.") {
				t.Errorf("%s: %d bytes stayed inline; threshold is 1024", p.GetName(), len(p.GetRawData()))
			}
			if !proto.Equal(p, w) {
				t.Errorf("%s: inline initializer differs from the inline model's", p.GetName())
			}
			continue
		}
		external++
		kv := map[string]string{}
		for _, e := range p.GetExternalData() {
			kv[e.GetKey()] = e.GetValue()
		}
		off, _ := strconv.ParseInt(kv["offset"], 10, 64)
		n, _ := strconv.ParseInt(kv["length"], 10, 64)
		if kv["location"] != "m.onnx.data" {
			t.Errorf("%s: location %q, want m.onnx.data", p.GetName(), kv["location"])
		}
		a := int64(4096)
		if n >= 1<<20 {
			a = 64 << 10
		}
		if off%a != 0 || off < end {
			t.Errorf("%s: offset %d not aligned to %d or overlapping the previous tensor (ends at %d)", p.GetName(), off, a, end)
		}
		end = off + n
		if p.RawData != nil || !bytes.Equal(data[off:off+n], w.GetRawData()) {
			t.Errorf("%s: data file bytes [%d, %d) differ from the inline raw_data", p.GetName(), off, off+n)
		}
	}
	if end != int64(len(data)) || external == 0 {
		t.Errorf("data file has %d bytes, the last tensor ends at %d (%d external tensors)", len(data), end, external)
	}
}

// The Go runtime, onnx's checker (given the path) and onnxruntime load the
// model with its data file and compute what the inline model computes.
func TestExternalLoads(t *testing.T) {
	dir := t.TempDir()
	for _, model := range []string{"tiny-mhc", "mlp-mhc"} {
		ext, inline := writeExternal(t, "../testdata/models/"+model+".yaml", dir, model)
		var in *mhrt.Tensor
		var oin ortrun.Tensor
		if model == "mlp-mhc" {
			x := make([]float32, 2*12)
			for i := range x {
				x[i] = float32(math.Sin(float64(i)))
			}
			in, oin = mhrt.NewFloat32([]int64{2, 12}, x), ortrun.Tensor{Name: "x", DType: "float32", Shape: []int64{2, 12}, F32: x}
		} else {
			ids := []int64{1, 5, 9, 96, 0, 42}
			in, oin = mhrt.NewInt64([]int64{2, 3}, ids), ortrun.Tensor{Name: "input_ids", DType: "int64", Shape: []int64{2, 3}, I64: ids}
		}
		got := runGo(t, ext, oin.Name, in)
		want := runGo(t, inline, oin.Name, in)
		if !equalF32(got, want) {
			t.Errorf("%s: Go runtime outputs differ between external and inline weights", model)
		}
		t.Run(model+"/checker", func(t *testing.T) {
			testenv.NeedPython(t, "onnx")
			testenv.CheckONNX(t, ext)
		})
		t.Run(model+"/onnxruntime", func(t *testing.T) {
			initORT(t)
			a, err := ortrun.Run(ext, []ortrun.Tensor{oin}, 1)
			if err != nil {
				t.Fatalf("onnxruntime, external data: %v", err)
			}
			b, err := ortrun.Run(inline, []ortrun.Tensor{oin}, 1)
			if err != nil {
				t.Fatal(err)
			}
			if !equalF32(a[0].F32, b[0].F32) || len(a[0].F32) == 0 {
				t.Errorf("%s: onnxruntime outputs differ between external and inline weights", model)
			}
		})
	}
}

func runGo(t *testing.T, path, input string, in *mhrt.Tensor) []float32 {
	t.Helper()
	m, err := mhrt.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	out, err := m.Run(map[string]*mhrt.Tensor{input: in})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range out {
		return v.Float32s()
	}
	t.Fatal("no output")
	return nil
}

func equalF32(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

// The runtime names the problem when the data file is missing, short or
// outside the model's folder.
func TestExternalRuntimeErrors(t *testing.T) {
	dir := t.TempDir()
	ext, _ := writeExternal(t, "../testdata/models/tiny-mhc.yaml", dir, "m")
	data, err := os.ReadFile(ext + ".data")
	if err != nil {
		t.Fatal(err)
	}
	check := func(what, want string) {
		t.Helper()
		_, err := mhrt.Load(ext)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want an error containing %q", what, err, want)
		}
	}
	if err := os.WriteFile(ext+".data", data[:len(data)-100], 0o644); err != nil {
		t.Fatal(err)
	}
	check("short file", "the file is short")
	if err := os.Remove(ext + ".data"); err != nil {
		t.Fatal(err)
	}
	check("missing file", "no such file")

	m := readModel(t, ext)
	for _, p := range m.GetGraph().GetInitializer() {
		for _, kv := range p.GetExternalData() {
			if kv.GetKey() == "location" {
				kv.Value = proto.String("../m.onnx.data")
			}
		}
	}
	b, _ := proto.Marshal(m)
	if err := os.WriteFile(ext, b, 0o644); err != nil {
		t.Fatal(err)
	}
	check("location outside", "not a relative path inside")
	if _, err := mhrt.Decode(b); err == nil || !strings.Contains(err.Error(), "external file") {
		t.Errorf("Decode of bytes with external data: got %v, want an error saying the data is in an external file", err)
	}
}

// failing is a weight source that breaks after its first chunk.
type failing struct{ n int64 }

func (f failing) String() string { return "failing source" }
func (f failing) Stream(fn func([]float32) error) error {
	if err := fn(make([]float32, 1)); err != nil {
		return err
	}
	return errors.New("disk on fire")
}

// A weight that fails while streaming leaves neither file behind, and the
// files of an earlier compile untouched.
func TestExternalAtomic(t *testing.T) {
	dir := t.TempDir()
	ext, _ := writeExternal(t, "../testdata/models/tiny-mhc.yaml", dir, "m")
	oldModel, _ := os.ReadFile(ext)
	oldData, _ := os.ReadFile(ext + ".data")

	m, err := model.Load("../testdata/models/tiny-mhc.yaml")
	if err != nil {
		t.Fatal(err)
	}
	w := model.RandomWeights(m)
	e := w["embed.weight"]
	w["embed.weight"] = &ir.Tensor{DType: ir.Float32, Shape: e.Shape, Lazy: failing{}}
	res, err := compile.CompileModel(m, w, compile.Options{External: compile.ExternalAlways, DataLocation: "m.onnx.data"})
	if err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{ext, filepath.Join(dir, "new.onnx")} {
		err = export.WriteFiles(out, res.ONNX, res.Layout, nil)
		if err == nil || !strings.Contains(err.Error(), "disk on fire") || !strings.Contains(err.Error(), "embed.weight") {
			t.Errorf("got %v, want the source's error naming embed.weight", err)
		}
	}
	if got, _ := os.ReadFile(ext); !bytes.Equal(got, oldModel) {
		t.Error("the old model file changed")
	}
	if got, _ := os.ReadFile(ext + ".data"); !bytes.Equal(got, oldData) {
		t.Error("the old data file changed")
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := "m.inline.onnx m.onnx m.onnx.data"; strings.Join(names, " ") != want {
		t.Errorf("folder holds %v, want %s", names, want)
	}
}

// A half-precision compile into external data writes 2-byte elements,
// typed FLOAT16, with the same values as the inline fp16 model, also for
// weights streamed from their source (rounded chunk by chunk).
func TestExternalHalfPrecision(t *testing.T) {
	dir := t.TempDir()
	path := "../testdata/models/tiny-mhc.yaml"
	ext := filepath.Join(dir, "h.onnx")
	res, err := compile.Compile(path, compile.Options{Precision: "fp16", External: compile.ExternalAlways, DataLocation: export.DataLocation(ext), ExternalThreshold: 1024})
	if err != nil {
		t.Fatal(err)
	}
	if err := export.WriteFiles(ext, res.ONNX, res.Layout, nil); err != nil {
		t.Fatal(err)
	}
	in, err := compile.Compile(path, compile.Options{Precision: "fp16"})
	if err != nil {
		t.Fatal(err)
	}
	em, err := mhrt.Load(ext)
	if err != nil {
		t.Fatal(err)
	}
	im, err := mhrt.Decode(in.ONNX)
	if err != nil {
		t.Fatal(err)
	}
	feed := map[string]*mhrt.Tensor{"input_ids": mhrt.NewInt64([]int64{1, 4}, []int64{1, 5, 9, 2})}
	a, err := em.Run(feed)
	if err != nil {
		t.Fatal(err)
	}
	b, err := im.Run(feed)
	if err != nil {
		t.Fatal(err)
	}
	if a["logits"].DType != mhrt.Float16 || !slices.Equal(a["logits"].Float32s(), b["logits"].Float32s()) {
		t.Errorf("external fp16 logits differ from inline fp16 logits")
	}
	m := readModel(t, ext)
	halves := 0
	for _, p := range m.GetGraph().GetInitializer() {
		if p.GetDataLocation() == onnxpb.TensorProto_EXTERNAL && p.GetDataType() == int32(onnxpb.TensorProto_FLOAT16) {
			halves++
		}
	}
	if halves == 0 {
		t.Error("no FLOAT16 initializer went to the data file")
	}
}
