package export_test

import (
	"flag"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/txtar"
	"google.golang.org/protobuf/proto"

	"github.com/mhcc-dev/mhcc/export"
	"github.com/mhcc-dev/mhcc/internal/ortrun"
	"github.com/mhcc-dev/mhcc/internal/testenv"
	"github.com/mhcc-dev/mhcc/ir"
	onnxtext "github.com/mhcc-dev/mhcc/onnx/text"
	mhrt "github.com/mhcc-dev/mhcc/runtime"
	"github.com/mhcc-dev/mhcc/target"
)

var update = flag.Bool("update", false, "rewrite the out.onnx sections of testdata/lowering/*.txtar")

// A lowering case: testdata/lowering/<Op>_<lowering>[.<variant>].txtar holds a one-line
// purpose, the IR graph in.ir (its node annotated @<lowering>), an optional
// target section (the profile; default onnx) and out.onnx, the ONNX the
// graph lowers to as `mhcc fmt` prints it.
type loweringCase struct {
	file, name string
	ar         *txtar.Archive
	sections   map[string]string
	g          *ir.Graph
	prof       *target.Profile
}

func loweringCases(t *testing.T) []*loweringCase {
	files, _ := filepath.Glob("testdata/lowering/*.txtar")
	if len(files) == 0 {
		t.Fatal("no testdata/lowering/*.txtar")
	}
	var out []*loweringCase
	for _, file := range files {
		ar, err := txtar.ParseFile(file)
		if err != nil {
			t.Fatal(err)
		}
		c := &loweringCase{file: file, name: strings.TrimSuffix(filepath.Base(file), ".txtar"), ar: ar, sections: map[string]string{}}
		for _, f := range ar.Files {
			c.sections[f.Name] = string(f.Data)
		}
		if strings.TrimSpace(string(ar.Comment)) == "" {
			t.Errorf("%s: no one-line purpose before the first section", file)
		}
		if c.g, err = ir.Parse(c.sections["in.ir"]); err != nil {
			t.Fatalf("%s: in.ir: %v", file, err)
		}
		name := strings.TrimSpace(c.sections["target"])
		if name == "" {
			name = "onnx"
		}
		if c.prof, err = target.Get(name); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		out = append(out, c)
	}
	return out
}

// encode lowers the case's graph for its target.
func (c *loweringCase) encode(t *testing.T) []byte {
	m, err := export.Encode(c.g, export.Options{Profile: c.prof})
	if err != nil {
		t.Fatal(err)
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestLoweringGoldens compares the text of each case's ONNX with out.onnx;
// go test ./export -run LoweringGoldens -update rewrites out.onnx (read the
// diff, and TestLoweringGoldensRun, before committing it). The file name
// must be the op and the lowering its node is annotated with.
func TestLoweringGoldens(t *testing.T) {
	for _, c := range loweringCases(t) {
		t.Run(c.name, func(t *testing.T) {
			op, l, _ := strings.Cut(c.name, "_")
			l, _, _ = strings.Cut(l, ".") // <Op>_<lowering>.<variant>
			found := false
			for _, n := range c.g.Nodes {
				nl := n.Lowering
				if nl == "" {
					nl = "reference"
				}
				found = found || (n.Op.String() == op && nl == l)
			}
			if !found {
				t.Errorf("in.ir has no %s node with lowering %s", op, l)
			}
			mp, err := export.Encode(c.g, export.Options{Profile: c.prof})
			if err != nil {
				t.Fatal(err)
			}
			text, err := onnxtext.Format(mp, onnxtext.Options{})
			if err != nil {
				t.Fatal(err)
			}
			got := string(text)
			if *update {
				found := false
				for i := range c.ar.Files {
					if c.ar.Files[i].Name == "out.onnx" {
						c.ar.Files[i].Data, found = text, true
					}
				}
				if !found {
					c.ar.Files = append(c.ar.Files, txtar.File{Name: "out.onnx", Data: text})
				}
				if err := os.WriteFile(c.file, txtar.Format(c.ar), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, ok := c.sections["out.onnx"]
			if !ok {
				t.Fatalf("no out.onnx section")
			}
			if got != want {
				t.Errorf("lowered:\n%s\nwant:\n%s\n(go test ./export -run LoweringGoldens -update rewrites out.onnx)", got, want)
			}
		})
	}
}

// TestLoweringGoldensRun runs each case's ONNX on seeded random inputs in
// the Go runtime (with its kernels for mhcc's fused ops, and again with
// their function bodies where the lowering has them) and, unless the target
// needs a kernel onnxruntime lacks (an ai.mhcc op without a function body),
// in onnxruntime, and compares
// both with the float64 reference lowering of the same graph run by the Go
// runtime: the text of out.onnx is what computes the op, not only what the
// exporter printed.
func TestLoweringGoldensRun(t *testing.T) {
	lib := testenv.NeedORT(t)
	if err := ortrun.Init(lib); err != nil {
		t.Fatalf("onnxruntime: %v", err)
	}
	dir := t.TempDir()
	for _, c := range loweringCases(t) {
		t.Run(c.name, func(t *testing.T) {
			data := c.encode(t)
			got, err := mhrt.Decode(data)
			if err != nil {
				t.Fatal(err)
			}
			// The bodies of model-local functions: for the fused mHC ops
			// the runtime runs its kernels (got), and these run the bodies.
			bodies, err := mhrt.DecodeWith(data, mhrt.DecodeOptions{FunctionBodies: true})
			if err != nil {
				t.Fatal(err)
			}
			refProto, err := export.Encode(c.g, export.Options{Float64: true})
			if err != nil {
				t.Fatal(err)
			}
			ref, err := mhrt.DecodeProto(refProto)
			if err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewPCG(1, uint64(len(c.name))))
			in32 := map[string]*mhrt.Tensor{}
			in64 := map[string]*mhrt.Tensor{}
			var ortIn []ortrun.Tensor
			for _, v := range c.g.Inputs {
				var shape []int64
				n := 1
				for _, d := range v.Type.Shape {
					if !d.Known() {
						t.Fatalf("input %s: give every input a static shape", v.Name)
					}
					shape = append(shape, d.Size)
					n *= int(d.Size)
				}
				switch v.Type.DType {
				case ir.Float32:
					f32, f64 := make([]float32, n), make([]float64, n)
					for i := range f32 {
						f32[i] = float32(r.NormFloat64())
						f64[i] = float64(f32[i])
					}
					in32[v.Name], in64[v.Name] = mhrt.NewFloat32(shape, f32), mhrt.NewFloat64(shape, f64)
					ortIn = append(ortIn, ortrun.Tensor{Name: v.Name, DType: "float32", Shape: shape, F32: f32})
				default:
					t.Fatalf("input %s: dtype %v not fed here", v.Name, v.Type.DType)
				}
			}
			want, err := ref.Run(in64)
			if err != nil {
				t.Fatalf("float64 reference: %v", err)
			}
			outs, err := got.Run(in32)
			if err != nil {
				t.Fatalf("Go runtime: %v", err)
			}
			check := func(who, name string, vals []float32) {
				w := want[name].Float64s()
				if len(vals) != len(w) {
					t.Fatalf("%s: %s has %d values, want %d", who, name, len(vals), len(w))
				}
				for i := range w {
					if d := math.Abs(float64(vals[i]) - w[i]); !(d <= 1e-4*(1+math.Abs(w[i]))) {
						t.Fatalf("%s: %s[%d] = %v, float64 reference %v", who, name, i, vals[i], w[i])
					}
				}
			}
			for _, o := range c.g.Outputs {
				check("Go runtime", o.Name, outs[o.Name].Float32s())
			}
			bouts, err := bodies.Run(in32)
			if err != nil {
				t.Fatalf("Go runtime, function bodies: %v", err)
			}
			for _, o := range c.g.Outputs {
				check("Go runtime, function bodies", o.Name, bouts[o.Name].Float32s())
			}
			if c.prof.Lowering["Sinkhorn"] == "custom" || strings.Contains(c.sections["in.ir"], "@custom") {
				return // ai.mhcc.Sinkhorn has no body: only mhcc's runtime runs it
			}
			path := filepath.Join(dir, c.name+".onnx")
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
			res, err := ortrun.Run(path, ortIn, 1)
			if err != nil {
				t.Fatalf("onnxruntime: %v", err)
			}
			for i, o := range c.g.Outputs {
				check("onnxruntime", o.Name, res[i].F32)
			}
		})
	}
}

// notYetCovered lists the lowerings without a testdata/lowering case: their
// graphs take int64 inputs (positions, masks) or a non-float32 output that
// TestLoweringGoldensRun does not feed or compare yet. They are covered by
// the whole-model tests (TestRunsInOnnxruntime, the KV-cache crosschecks).
var notYetCovered = map[string]bool{
	"AttentionKV_reference": true,
	"AttentionKV_gqa":       true,
	"AttentionKV_webgpu":    true,
	"Cast_reference":        true,
}

// Every lowering the exporter knows has a case, or is listed in notYetCovered.
func TestLoweringGoldensCoverAll(t *testing.T) {
	have := map[string]bool{}
	for _, c := range loweringCases(t) {
		base, _, _ := strings.Cut(c.name, ".")
		have[base] = true
	}
	for _, op := range ir.Ops() {
		for _, l := range export.Lowerings(op) {
			name := op.String() + "_" + l
			switch {
			case have[name] && notYetCovered[name]:
				t.Errorf("%s has a case: remove it from notYetCovered", name)
			case !have[name] && !notYetCovered[name]:
				t.Errorf("no testdata/lowering/%s.txtar", name)
			}
		}
	}
}
