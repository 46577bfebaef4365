package crosscheck

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/mhcc-dev/mhcc/compile"
	"github.com/mhcc-dev/mhcc/export"
	"github.com/mhcc-dev/mhcc/ir"
	"github.com/mhcc-dev/mhcc/lower"
	mhrt "github.com/mhcc-dev/mhcc/runtime"
	"github.com/mhcc-dev/mhcc/target"
	"github.com/mhcc-dev/mhcc/verify"
)

// moeGolden is the mixture-of-experts golden case (8 experts, top-2, one
// shared expert, sigmoid router with normalize_top_k; scripts/reference).
const moeGolden = "../../testdata/golden/decoder-moe/model.yaml"

// moeGoldens are the mixture-of-experts golden cases with their MoE layer
// counts: moeGolden (swiglu experts, 2 MoE layers after a dense one) and
// decoder-moe-gelu (gelu_tanh experts with mlp_bias, no w3; 2 MoE layers).
var moeGoldens = []struct {
	path string
	moes int
}{
	{moeGolden, 2},
	{"../../testdata/golden/decoder-moe-gelu/model.yaml", 2},
}

// moeTargets are the built-in targets plus, on top of onnx, a profile
// forcing each MoE lowering, so that every lowering meets the torch outputs
// whichever lowering the built-in profiles pick.
func moeTargets(t *testing.T, dir string) []string {
	tgs := target.Names()
	for _, l := range export.Lowerings(ir.OpMoE) {
		p := filepath.Join(dir, "moe-"+l+".yaml")
		text := fmt.Sprintf("name: moe-%s\nir_version: 8\nopsets: {\"\": 17}\nops: {\"\": [\"*\"]}\nlowering: {Sinkhorn: gemm, MoE: %s}\n", l, l)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		tgs = append(tgs, p)
	}
	return tgs
}

// TestMoEMatchesTorch: for every MoE golden decoder, every target that
// takes it and every MoE lowering, the compiled graph run in the Go runtime and (where
// it can run the target) in onnxruntime reproduces the PyTorch reference's
// logits on the golden inputs within 1e-4; and so does its KV-cache graph,
// fed each golden sequence as a prefill of all tokens but the last and a
// one-token decode step.
func TestMoEMatchesTorch(t *testing.T) {
	initORT(t)
	dir := t.TempDir()
	tgs := moeTargets(t, dir)
	for _, gc := range moeGoldens {
		moeGolden, wantMoEs := gc.path, gc.moes
		runs := readGolden(t, filepath.Dir(moeGolden), "decoder")
		for _, tg := range tgs {
			name := filepath.Base(filepath.Dir(moeGolden)) + "-" + filepath.Base(tg)
			t.Run(filepath.Base(filepath.Dir(moeGolden))+"/"+filepath.Base(tg), func(t *testing.T) {
				t.Parallel()
				res, err := compile.Compile(moeGolden, compile.Options{Target: tg, Verify: true})
				if compile.Refused(err) {
					t.Skipf("target %s does not take this model: %v", tg, err)
				}
				if err != nil {
					t.Fatal(err)
				}
				moes := 0
				for _, n := range res.Graph.Nodes {
					if n.Op == ir.OpMoE {
						moes++
					}
				}
				if moes != wantMoEs {
					t.Fatalf("%d MoE nodes, want %d", moes, wantMoEs)
				}
				out := filepath.Join(dir, fileName(name)+".onnx")
				if err := os.WriteFile(out, res.ONNX, 0o644); err != nil {
					t.Fatal(err)
				}
				goM, err := mhrt.Decode(res.ONNX)
				if err != nil {
					t.Fatal(err)
				}
				ortOK, err := ortRuns(res.ONNX)
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range runs {
					got, err := runGo(goM, r.in, lower.InputIDs, lower.Logits)
					if err != nil {
						t.Fatal(err)
					}
					compare(t, "Go runtime - torch", r.in, got, r.want)
					if ortOK {
						got, err := runORT(out, r.in)
						if err != nil {
							t.Fatal(err)
						}
						compare(t, "onnxruntime - torch", r.in, got, r.want)
					}
				}

				m, _, kvBytes := compileKV(t, moeGolden, tg)
				kvPath := filepath.Join(dir, fileName(name)+"-cache.onnx")
				if err := os.WriteFile(kvPath, kvBytes, 0o644); err != nil {
					t.Fatal(err)
				}
				goKV, err := mhrt.Decode(kvBytes)
				if err != nil {
					t.Fatal(err)
				}
				for _, g := range runs {
					batch, seq := int(g.in.ort.Shape[0]), int(g.in.ort.Shape[1])
					r := kvRun{batch, []int{seq}}
					if seq > 1 {
						r.schedule = []int{seq - 1, 1}
					}
					sess, err := verify.NewSession(goKV, batch)
					if err != nil {
						t.Fatal(err)
					}
					worst := checkRun(t, "Go runtime (cache)", r, false, goCache{sess}, g.in.ort.I64, g.want)
					t.Logf("Go runtime, cache, %v: max |cache - torch| = %.2g", r, worst)
					if ortOK {
						worst := checkRun(t, "onnxruntime (cache)", r, false, newORTCache(kvPath, m, batch), g.in.ort.I64, g.want)
						t.Logf("onnxruntime, cache, %v: max |cache - torch| = %.2g", r, worst)
					}
				}
			})
		}
	}
}
