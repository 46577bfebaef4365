package crosscheck

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mhcc-dev/mhcc/compile"
	"github.com/mhcc-dev/mhcc/export"
	"github.com/mhcc-dev/mhcc/internal/ortrun"
	"github.com/mhcc-dev/mhcc/ir"
	"github.com/mhcc-dev/mhcc/model"
	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
	mhrt "github.com/mhcc-dev/mhcc/runtime"
	"github.com/mhcc-dev/mhcc/target"
	"github.com/mhcc-dev/mhcc/verify"
	"google.golang.org/protobuf/proto"
)

// ortRuns reports whether onnxruntime can run a compiled model: every node
// is a standard or com.microsoft operator, or calls a model-local function.
// (An ai.mhcc custom operator without a function body needs a kernel that
// only mhcc's runtime and accelerators shipping one have.)
func ortRuns(data []byte) (bool, error) {
	var m onnxpb.ModelProto
	if err := proto.Unmarshal(data, &m); err != nil {
		return false, err
	}
	funcs := map[string]bool{}
	for _, f := range m.Functions {
		funcs[f.GetDomain()+"/"+f.GetName()] = true
	}
	for _, n := range m.Graph.Node {
		switch d := n.GetDomain(); {
		case d == "" || d == "ai.onnx" || d == "com.microsoft":
		case funcs[d+"/"+n.GetOpType()]:
		default:
			return false, nil
		}
	}
	return true, nil
}

// TestTargetsPreserveNumerics is the passes' differential test: every
// testdata model compiled for every built-in target, with the IR verified
// after each pass, must (1) pass mhcc verify in the Go runtime — outputs
// within the float32 tolerance of the float64 reference lowering (no passes,
// reference lowerings) and the mHC invariants — and (2) where onnxruntime
// can run the target, give in onnxruntime what it gives in the Go runtime.
func TestTargetsPreserveNumerics(t *testing.T) {
	initORT(t)
	dir := t.TempDir()
	files := append(exampleModels(t), goldenModels(t)...)
	var sum summary
	t.Run("cases", func(t *testing.T) {
		for _, tg := range target.Names() {
			for _, path := range files {
				name := tg + "/" + caseName(path)
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					res, err := compile.Compile(path, compile.Options{Target: tg, Verify: true})
					if compile.Refused(err) {
						t.Skipf("target %s does not take this model: %v", tg, err)
					}
					if err != nil {
						t.Fatalf("compile: %v", err)
					}
					rep, err := verify.Model(path, verify.Options{Target: tg})
					if err != nil {
						t.Fatalf("verify: %v", err)
					}
					worst := 0.0
					for _, r := range rep.Runs {
						worst = max(worst, r.MaxAbs)
						if !r.OK {
							t.Errorf("Go runtime vs float64 reference at %v: max abs %.3g, rel %.3g, cosine %.9f: %s", r.Shape, r.MaxAbs, r.MaxRel, r.Cosine, r.Problem)
						}
					}
					for _, s := range rep.Sublayers {
						if !s.OK {
							t.Errorf("invariants of %s: %v", s.Name, s.Problems)
						}
					}
					line := fmt.Sprintf("%-36s max |Go - f64 ref| %.2g", name, worst)
					runs, err := ortRuns(res.ONNX)
					if err != nil {
						t.Fatal(err)
					}
					if runs {
						_, diffs := goVsORT(t, dir, name, res)
						line += "  max |Go - ORT| " + formatDiffs(diffs)
					} else {
						line += "  (onnxruntime cannot run this target)"
					}
					sum.add(t, name, line)
				})
			}
		}
	})
	sum.log(t)
}

// TestPrecisionKeepsInvariants compiles every testdata model at fp16 and
// bf16: mhcc verify must pass in the Go runtime (outputs within the half
// precision tolerances of the float64 reference, and the mHC invariants —
// computed from the target's own float32 coefficients — within their float32
// bounds), and onnxruntime must run the fp16 form and agree with the Go
// runtime within the fp16 tolerance. (onnxruntime 1.30's CPU provider has no
// bfloat16 kernels for MatMul and most others, so bf16 is checked in the Go
// runtime only.)
func TestPrecisionKeepsInvariants(t *testing.T) {
	initORT(t)
	dir := t.TempDir()
	files := append(exampleModels(t), goldenModels(t)...)
	for _, prec := range []string{"fp16", "bf16"} {
		for _, path := range files {
			name := prec + "/" + caseName(path)
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				rep, err := verify.Model(path, verify.Options{Precision: prec})
				if err != nil {
					t.Fatalf("verify: %v", err)
				}
				if !rep.OK {
					for _, r := range rep.Runs {
						t.Errorf("at %v: max abs %.3g, max rel %.3g, cosine %.7f, ok %v %s", r.Shape, r.MaxAbs, r.MaxRel, r.Cosine, r.OK, r.Problem)
					}
					for _, s := range rep.Sublayers {
						if !s.OK {
							t.Errorf("invariants of %s: %v", s.Name, s.Problems)
						}
					}
				}
				m0, err := model.Load(path)
				if err != nil {
					t.Fatal(err)
				}
				for _, s := range rep.Sublayers {
					// Static coefficients are folded at compile time (in
					// float64), so only dynamic ones exist in the target.
					if m0.HC.Dynamic && s.Source != "target" {
						t.Errorf("%s: invariants read from the %s, want the target's own float32 coefficients", s.Name, s.Source)
					}
				}
				if prec != "fp16" {
					return
				}
				res, err := compile.Compile(path, compile.Options{Precision: prec, Verify: true})
				if err != nil {
					t.Fatal(err)
				}
				out := filepath.Join(dir, fileName(name)+".onnx")
				if err := os.WriteFile(out, res.ONNX, 0o644); err != nil {
					t.Fatal(err)
				}
				m := loadGo(t, out)
				inName, outName := ioNames(res.Model.Arch.Kind)
				for _, bs := range shapes {
					in := seededInput(res.Model, bs[0], bs[1])
					if in.rt.DType == mhrt.Float32 {
						in = halfInput(in)
					}
					got, want := runBoth(t, m, out, in, inName, outName)
					if d, where := diff(got, want); d > 2e-2 {
						t.Errorf("%v: max |Go runtime - onnxruntime| = %.3g at %s, want ≤ 2e-2 (fp16)", in, d, where)
					}
				}
			})
		}
	}
}

// halfInput rounds a float32 input to float16 for an fp16 graph.
func halfInput(in input) input {
	rt := mhrt.NewFloat16(in.rt.Shape, in.rt.Float32s())
	return input{ort: ortrun.Tensor{Name: in.ort.Name, DType: "float16", Shape: in.ort.Shape, F32: rt.Float32s()}, rt: rt}
}

// TestEveryLowering compiles the dynamic and static mHC decoders, the mHC mlp
// and the residual decoder of testdata, with the default pipeline and
// without the fusions, for a profile forcing each lowering the exporter
// knows, one op at a time, and
// checks the result against the float64 reference in the Go runtime (mhcc
// verify), and against the Go runtime in onnxruntime where it runs. It
// covers lowerings no built-in profile picks (e.g. Sinkhorn "log", "loop").
func TestEveryLowering(t *testing.T) {
	initORT(t)
	dir := t.TempDir()
	models := []string{"../../testdata/models/tiny-mhc.yaml", "../../testdata/models/mlp-mhc.yaml", "../../testdata/models/tiny-mhc-static.yaml", "../../testdata/models/tiny-residual.yaml"}
	for _, op := range ir.Ops() {
		for _, l := range export.Lowerings(op) {
			if l == "reference" {
				continue
			}
			// Each lowering runs after the default pipeline and after one
			// without the fusions, which leave HCCoeffs, HCMix and the
			// residual Add in their unfused forms (some lowerings have a
			// path for each).
			for _, variant := range []struct{ name, extra string }{
				{"", ""},
				{"/unfused", "disable: [fuse_hc_projection, fuse_stream_mix, fuse_add_rmsnorm]\n"},
			} {
				profile := filepath.Join(dir, op.String()+"-"+l+strings.TrimPrefix(variant.name, "/")+".yaml")
				text := fmt.Sprintf("name: %s-%s\nir_version: 8\nopsets: {\"\": 17, \"ai.mhcc\": 1, \"com.microsoft\": 1}\nops: {\"\": [\"*\"], \"ai.mhcc\": [Sinkhorn], \"com.microsoft\": [\"*\"]}\nlowering: {%s: %s}\n%s", op, l, op, l, variant.extra)
				if err := os.WriteFile(profile, []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
				everyLoweringCases(t, dir, op, l+variant.name, l, profile, models)
			}
		}
	}
}

// everyLoweringCases runs TestEveryLowering's checks of lowering l of op,
// forced by profile, on each model.
func everyLoweringCases(t *testing.T, dir string, op ir.Op, label, l, profile string, models []string) {
	for _, path := range models {
		t.Run(op.String()+"@"+label+"/"+caseName(path), func(t *testing.T) {
			res, err := compile.Compile(path, compile.Options{Target: profile, Verify: true})
			if compile.Refused(err) {
				t.Skipf("the lowering does not take this model: %v", err)
			}
			if err != nil {
				t.Fatal(err)
			}
			used := false
			for _, n := range res.Graph.Nodes {
				used = used || n.Lowering == l
			}
			if !used {
				t.Skipf("the model has no %v node after the passes", op)
			}
			rep, err := verify.Model(path, verify.Options{Target: profile})
			if err != nil {
				t.Fatal(err)
			}
			if !rep.OK {
				t.Errorf("verify failed: %+v", rep.Runs)
			}
			runs, err := ortRuns(res.ONNX)
			if err != nil || !runs {
				return
			}
			out := filepath.Join(dir, fileName(op.String()+"-"+label+"-"+caseName(path))+".onnx")
			if err := os.WriteFile(out, res.ONNX, 0o644); err != nil {
				t.Fatal(err)
			}
			m := loadGo(t, out)
			inName, outName := ioNames(res.Model.Arch.Kind)
			in := seededInput(res.Model, 2, 5)
			got, want := runBoth(t, m, out, in, inName, outName)
			compare(t, "Go runtime - onnxruntime", in, got, want)
		})
	}
}
