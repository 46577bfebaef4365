package crosscheck

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/mhcc-dev/mhcc/compile"
	"github.com/mhcc-dev/mhcc/target"
)

// TestGoldensOnEveryTarget compiles every golden case for every built-in
// target that takes it and runs the result on the case's inputs in the Go
// runtime and (unless the target's Sinkhorn is a bodiless custom op) in
// onnxruntime: both must reproduce the independent PyTorch outputs within
// 1e-4. TestGoldenOutputs (export) does this for the onnx target in
// onnxruntime only; the targets' own lowerings (LayerNormalization, the
// webgpu MLP, GroupQueryAttention's neighbours, the Sinkhorn forms) are
// checked against torch here, not only against mhcc's float64 reference.
func TestGoldensOnEveryTarget(t *testing.T) {
	initORT(t)
	dir := t.TempDir()
	for _, path := range goldenModels(t) {
		for _, tg := range target.Names() {
			name := tg + "/" + caseName(path)
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				res, err := compile.Compile(path, compile.Options{Target: tg})
				if compile.Refused(err) {
					t.Skipf("target %s does not take this model: %v", tg, err)
				}
				if err != nil {
					t.Fatalf("compile: %v", err)
				}
				out := filepath.Join(dir, fileName(name)+".onnx")
				if err := os.WriteFile(out, res.ONNX, 0o644); err != nil {
					t.Fatal(err)
				}
				p, err := compile.Profile(tg)
				if err != nil {
					t.Fatal(err)
				}
				ort := p.LoweringOf("Sinkhorn") != "custom"
				m := loadGo(t, out)
				inName, outName := ioNames(res.Model.Arch.Kind)
				for _, r := range readGolden(t, filepath.Dir(path), res.Model.Arch.Kind) {
					got, err := runGo(m, r.in, inName, outName)
					if err != nil {
						t.Fatalf("%v: Go runtime: %v", r.in, err)
					}
					compare(t, "Go runtime - torch golden", r.in, got, r.want)
					if ort {
						got, err := runORT(out, r.in)
						if err != nil {
							t.Fatalf("%v: onnxruntime: %v", r.in, err)
						}
						compare(t, "onnxruntime - torch golden", r.in, got, r.want)
					}
				}
			})
		}
	}
}
