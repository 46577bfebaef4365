package graphdiff

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/mhcc-dev/mhcc/compile"
	"github.com/mhcc-dev/mhcc/internal/testmodels"
	"github.com/mhcc-dev/mhcc/onnx/meta"
	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
)

// compileMLP compiles testdata/models/mlp-mhc.yaml with iters Sinkhorn
// iterations for a profile whose Sinkhorn lowering is lowering (the
// minimal target for "minimal").
func compileMLP(t *testing.T, lowering string, iters int) *onnxpb.ModelProto {
	t.Helper()
	tgt := "minimal"
	if lowering != "minimal" {
		tgt = filepath.Join(t.TempDir(), "p.yaml")
		prof := fmt.Sprintf("name: p\ndoc: Sinkhorn %s\nir_version: 8\nopsets: {\"\": 17, \"ai.mhcc\": 1}\nops:\n  \"\": [\"*\"]\n  ai.mhcc: [Sinkhorn]\nlowering:\n  Sinkhorn: %s\nprecision: fp32\n", lowering, lowering)
		if err := os.WriteFile(tgt, []byte(prof), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return testmodels.Variant(t, "mlp-mhc.yaml", compile.Options{Target: tgt}, "  streams: 4\n", fmt.Sprintf("  streams: 4\n  sinkhorn_iterations: %d\n", iters))
}

// stripSublayers removes the mhcc.sublayers metadata, as a graph from an
// older mhcc or another tool lacks it.
func stripSublayers(m *onnxpb.ModelProto) *onnxpb.ModelProto {
	m = clone(m)
	var kept []*onnxpb.StringStringEntryProto
	for _, p := range m.MetadataProps {
		if p.GetKey() != meta.SublayersKey {
			kept = append(kept, p)
		}
	}
	m.MetadataProps = kept
	return m
}

// Every Sinkhorn lowering reports its true iteration count per sublayer,
// read from mhcc.sublayers; by names (the fallback) it is right for the
// lowerings that spell out one Div per normalisation and for those whose
// ai.mhcc node states its iters.
func TestSinkhornIterationsEachLowering(t *testing.T) {
	divsRight := map[string]bool{"reference": true, "gemm": true, "minimal": true, "function": true, "custom": true}
	for _, l := range []string{"reference", "gemm", "log", "loop", "function", "custom", "minimal"} {
		t.Run(l, func(t *testing.T) {
			a, b := compileMLP(t, l, 20), compileMLP(t, l, 7)
			for _, m := range []*onnxpb.ModelProto{a, b} {
				want := 20
				if m == b {
					want = 7
				}
				info := sublayerInfo(m)
				if len(info) != 3 {
					t.Fatalf("found %d sublayers, want 3: %v", len(info), info)
				}
				for k, it := range info {
					if it != want {
						t.Errorf("%v: %d iterations, want %d", k, it, want)
					}
				}
				fallback := sublayerInfo(stripSublayers(m))
				for k, it := range fallback {
					if (it == want) != divsRight[l] {
						t.Errorf("by names: %v: %d iterations (want right: %v)", k, it, divsRight[l])
					}
				}
			}
			var got []string
			for _, c := range mustCompare(t, a, b, Options{}).byLevel(LevelModel) {
				if c.Kind == "sinkhorn_iterations" && strings.HasPrefix(c.Path, "layers.") {
					got = append(got, c.Message)
				}
			}
			want := "layers.0 mlp: sinkhorn iterations 20 → 7\nlayers.1 mlp: sinkhorn iterations 20 → 7\nlayers.2 mlp: sinkhorn iterations 20 → 7"
			if strings.Join(got, "\n") != want {
				t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), want)
			}
		})
	}
}

// A graph made elsewhere (torch.onnx, no mhcc metadata, other names) has no
// sublayers to report, and its comparison with itself is empty.
func TestForeignGraphNoSublayers(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "foreign", "llama-opset17.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	m := &onnxpb.ModelProto{}
	if err := proto.Unmarshal(data, m); err != nil {
		t.Fatal(err)
	}
	if _, ok := metadata(m)[meta.SublayersKey]; ok {
		t.Fatal("foreign graph has mhcc.sublayers")
	}
	if info := sublayerInfo(m); len(info) != 0 {
		t.Errorf("sublayers of a foreign graph: %v", info)
	}
	r := mustCompare(t, m, clone(m), Options{})
	if len(r.byLevel(LevelModel)) != 0 {
		t.Errorf("changes:\n%s", dump(r))
	}
}

// A golden compiled before mhcc.sublayers existed compared with the same
// model compiled now reports no per-sublayer change, for every lowering
// (both sides are then counted by names).
func TestSublayersOneSideWithoutMetadata(t *testing.T) {
	for _, l := range []string{"gemm", "log", "loop", "function"} {
		a := compileMLP(t, l, 20)
		for _, r := range []*Report{mustCompare(t, stripSublayers(a), a, Options{}), mustCompare(t, a, stripSublayers(a), Options{})} {
			for _, c := range r.byLevel(LevelModel) {
				if strings.HasPrefix(c.Path, "layers.") {
					t.Errorf("%s: %s: %s", l, c.Path, c.Message)
				}
			}
		}
	}
}

// The fused target (docs/fused-ops.md): each sublayer's iterations come
// from its HCEntry's or HCCoeffsBoundary's iters attribute, through
// mhcc.sublayers and, with the metadata stripped, read from the node; the
// diff reports them.
func TestSinkhornIterationsFused(t *testing.T) {
	var ms []*onnxpb.ModelProto
	for _, iters := range []int{20, 7} {
		m := testmodels.Variant(t, "mlp-mhc.yaml", compile.Options{Target: "fused"}, "  streams: 4\n", fmt.Sprintf("  streams: 4\n  sinkhorn_iterations: %d\n", iters))
		fused := map[string]int{}
		for _, n := range m.GetGraph().GetNode() {
			if n.GetDomain() == "ai.mhcc" && (strings.Contains(n.GetOpType(), "Coeffs") || n.GetOpType() == "HCEntry") {
				fused[n.GetOpType()]++
			}
		}
		if fused["HCEntry"] != 1 || fused["HCCoeffsBoundary"] != 2 || len(fused) != 2 {
			t.Fatalf("fused coefficient nodes %v, want one per sublayer: HCEntry for the first, HCCoeffsBoundary for the two others", fused)
		}
		for _, info := range []map[sublayer]int{sublayerInfo(m), sublayerInfo(stripSublayers(m))} {
			if len(info) != 3 {
				t.Fatalf("found %d sublayers, want 3: %v", len(info), info)
			}
			for k, it := range info {
				if it != iters {
					t.Errorf("%v: %d iterations, want %d", k, it, iters)
				}
			}
		}
		ms = append(ms, m)
	}
	for _, pair := range [][2]*onnxpb.ModelProto{{ms[0], ms[1]}, {stripSublayers(ms[0]), stripSublayers(ms[1])}} {
		var got []string
		for _, c := range mustCompare(t, pair[0], pair[1], Options{}).byLevel(LevelModel) {
			if c.Kind == "sinkhorn_iterations" && strings.HasPrefix(c.Path, "layers.") {
				got = append(got, c.Message)
			}
		}
		want := "layers.0 mlp: sinkhorn iterations 20 → 7\nlayers.1 mlp: sinkhorn iterations 20 → 7\nlayers.2 mlp: sinkhorn iterations 20 → 7"
		if strings.Join(got, "\n") != want {
			t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), want)
		}
	}
}
