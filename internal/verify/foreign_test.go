package verify

import (
	"slices"
	"testing"
)

// The torch.onnx exports of testdata/foreign (scripts/reference/export_foreign.py):
// a Llama-style mHC model written as users write it, whose stream expansion
// by repeat_interleave exports to SplitToSequence, a Loop of SequenceAt and
// SequenceInsert, and ConcatFromSequence.
const foreign = "../../testdata/foreign/"

// TestVerifyTorchExportsWithSequences: verify --against passes on both
// exports (opsets 14 and 17), with the mHC invariants and the gain checked.
func TestVerifyTorchExportsWithSequences(t *testing.T) {
	for _, name := range []string{"llama-opset14.onnx", "llama-opset17.onnx"} {
		t.Run(name, func(t *testing.T) {
			rep, err := ONNX(foreign+name, foreign+"llama.yaml", Options{Seed: 2})
			if err != nil {
				t.Fatal(err)
			}
			if !rep.OK || len(rep.Runs) != 3 || rep.Gain == nil || len(rep.Sublayers) != 4 {
				t.Errorf("verify failed:\n%s", rep.Text())
			}
			if rep.Divergence != nil {
				t.Errorf("a divergence is reported although the outputs agree: %+v", rep.Divergence)
			}
			t.Logf("%s: max abs %.3g", name, rep.Runs[len(rep.Runs)-1].MaxAbs)
		})
	}
}

// TestVerifyLocatesDivergence: the export whose layers.1.attn.wo weight is
// scaled by 1.5 must fail, and the report must say the outputs start to
// differ at layer 1's attention, with layer 0's two sublayers found (by
// torch's name scopes) equal to the reference.
func TestVerifyLocatesDivergence(t *testing.T) {
	rep, err := ONNX(foreign+"llama-perturbed-layer1.onnx", foreign+"llama.yaml", Options{Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK {
		t.Fatalf("verify passed on the perturbed export:\n%s", rep.Text())
	}
	d := rep.Divergence
	if d == nil {
		t.Fatalf("no divergence reported:\n%s", rep.Text())
	}
	t.Logf("%s", d.text())
	if d.Sublayer != "layers.1.attn" || d.Layer != 1 || d.Kind != "attn" || d.Problem != "" {
		t.Errorf("divergence at %q (layer %d %s, problem %q), want layers.1.attn", d.Sublayer, d.Layer, d.Kind, d.Problem)
	}
	if !slices.Equal(d.Matched, []string{"layers.0.attn", "layers.0.ffn"}) || d.MatchedBy != "scope" {
		t.Errorf("matched %v by %q, want [layers.0.attn layers.0.ffn] by scope", d.Matched, d.MatchedBy)
	}
	if !(d.MaxAbs > 1e-3) || d.Closest == "" {
		t.Errorf("closest value %q differs by %g, want a clear difference", d.Closest, d.MaxAbs)
	}
	if fs := rep.Failures(); len(fs) == 0 || !slices.ContainsFunc(fs, func(s string) bool { return s == d.text() }) {
		t.Errorf("Failures() does not name the divergence: %q", fs)
	}
}
