package lower_test

import (
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/mhcc-dev/mhcc/compile"
	"github.com/mhcc-dev/mhcc/onnx/meta"
	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
)

// records compiles a model for a target and returns its mhcc.sublayers.
func records(t *testing.T, path, tg string) []meta.Sublayer {
	t.Helper()
	res, err := compile.Compile(path, compile.Options{Target: tg})
	if err != nil {
		t.Fatal(err)
	}
	m := &onnxpb.ModelProto{}
	if err := proto.Unmarshal(res.ONNX, m); err != nil {
		t.Fatal(err)
	}
	for _, p := range m.MetadataProps {
		if p.GetKey() == meta.SublayersKey {
			subs, err := meta.Decode(p.GetValue())
			if err != nil {
				t.Fatal(err)
			}
			return subs
		}
	}
	t.Fatalf("%s for %s has no %s", path, tg, meta.SublayersKey)
	return nil
}

// The fused target's mhcc.sublayers (docs/fused-ops.md) names the same
// values as the onnx target's, the fused ops' outputs having kept the
// names: pre, post, comb, the state after each sublayer, the iterations;
// only the lowering differs (the fused op's, or "folded" for static mHC).
func TestFusedSublayersMatchOnnx(t *testing.T) {
	for _, name := range []string{"tiny-mhc.yaml", "tiny-mhc-static.yaml", "mlp-mhc.yaml", "tiny-mhc-gqa-fixed.yaml"} {
		path := filepath.Join("..", "testdata", "models", name)
		want, got := records(t, path, "onnx"), records(t, path, "fused")
		if len(got) != len(want) {
			t.Fatalf("%s: %d fused records, want %d: %+v", name, len(got), len(want), got)
		}
		for i := range want {
			w, g := want[i], got[i]
			if w.Lowering != "folded" {
				if g.Lowering != "function" {
					t.Errorf("%s: %s: lowering %q, want function", name, g.Name, g.Lowering)
				}
				w.Lowering, g.Lowering = "", ""
			}
			if g != w {
				t.Errorf("%s: record %d:\n got %+v\nwant %+v", name, i, g, w)
			}
		}
	}
}
