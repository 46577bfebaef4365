package verify

import (
	"testing"

	"github.com/mhcc-dev/mhcc/model"
)

// A fused-target model (docs/fused-ops.md) verifies in the Go runtime,
// which runs its own kernels for the fused ops, and its mHC invariants are
// checked on the target's own values: the comb, pre and post outputs of
// each sublayer's HCCoeffsSinkhorn, which keep the reference's names (the
// report's source is "target", not the reference's values).
func TestFusedTargetInvariantsFromTarget(t *testing.T) {
	for _, tc := range []struct{ path, precision string }{
		{"../testdata/models/tiny-mhc.yaml", "fp32"},
		{"../testdata/models/tiny-mhc.yaml", "fp16"},
		{"../testdata/models/mlp-mhc.yaml", "fp32"},
	} {
		rep, err := Model(tc.path, Options{Seed: 7, Target: "fused", Precision: tc.precision})
		if err != nil {
			t.Fatalf("%s %s: %v", tc.path, tc.precision, err)
		}
		if !rep.OK {
			t.Errorf("%s %s: verification failed:\n%s", tc.path, tc.precision, rep.Text())
		}
		m, _ := model.Load(tc.path)
		want := 2 * m.Arch.Layers
		if m.Arch.Kind == model.ArchMLP {
			want = m.Arch.Layers
		}
		if len(rep.Sublayers) != want {
			t.Fatalf("%s %s: %d sublayers checked, want %d", tc.path, tc.precision, len(rep.Sublayers), want)
		}
		for _, s := range rep.Sublayers {
			if s.Source != "target" {
				t.Errorf("%s %s: %s: invariants checked on the %s's values, want the fused op's (target)", tc.path, tc.precision, s.Name, s.Source)
			}
		}
	}
}
