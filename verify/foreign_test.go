package verify

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mhcc-dev/mhcc/compile"
	"github.com/mhcc-dev/mhcc/internal/safetensors"
	"github.com/mhcc-dev/mhcc/onnx/meta"
	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
	"google.golang.org/protobuf/proto"
)

// The torch.onnx exports of testdata/foreign (scripts/reference/export_foreign.py):
// a Llama-style mHC model written as users write it, whose stream expansion
// by repeat_interleave exports to SplitToSequence, a Loop of SequenceAt and
// SequenceInsert, and ConcatFromSequence.
const foreign = "../testdata/foreign/"

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

// TestVerifyLocatesDivergenceByName: mhcc's own compile of the model with
// layers.0.ffn.w2 scaled by 1.5, verified against the unscaled model file,
// keeps mhcc's value names (layers.0.attn.x …) and records them in
// mhcc.sublayers, so the states are found by metadata (by name without it),
// and the first to differ is layers.0.ffn.
func TestVerifyLocatesDivergenceByName(t *testing.T) {
	dir := t.TempDir()
	f, err := safetensors.Open(foreign + "llama-weights.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	var tensors []safetensors.Tensor
	for _, info := range f.Tensors() {
		xs, err := f.ReadFloat32(info.Name)
		if err != nil {
			t.Fatal(err)
		}
		if info.Name == "layers.0.ffn.w2.weight" {
			for i := range xs {
				xs[i] *= 1.5
			}
		}
		tensors = append(tensors, safetensors.Tensor{Name: info.Name, DType: safetensors.F32, Shape: info.Shape, Data: safetensors.Float32Bytes(xs)})
	}
	f.Close()
	if err := safetensors.Write(filepath.Join(dir, "w.safetensors"), tensors, nil); err != nil {
		t.Fatal(err)
	}
	yaml, err := os.ReadFile(foreign + "llama.yaml")
	if err != nil {
		t.Fatal(err)
	}
	changed := strings.Replace(string(yaml), "path: llama-weights.safetensors", "path: w.safetensors", 1)
	if changed == string(yaml) {
		t.Fatal("llama.yaml does not name llama-weights.safetensors")
	}
	if err := os.WriteFile(filepath.Join(dir, "m.yaml"), []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := compile.Compile(filepath.Join(dir, "m.yaml"), compile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// As compiled, the mhcc.sublayers metadata names the states; with the
	// state values renamed (metadata too) only the metadata finds them; with
	// the metadata removed the names do.
	for _, tc := range []struct{ variant, by string }{{"compiled", "metadata"}, {"renamed", "metadata"}, {"stripped", "name"}} {
		t.Run(tc.variant, func(t *testing.T) {
			var mp onnxpb.ModelProto
			if err := proto.Unmarshal(res.ONNX, &mp); err != nil {
				t.Fatal(err)
			}
			switch tc.variant {
			case "renamed":
				renameValue(&mp, "layers.0.attn.x", "state_after_attention_0")
			case "stripped":
				var kept []*onnxpb.StringStringEntryProto
				for _, p := range mp.MetadataProps {
					if p.GetKey() != meta.SublayersKey {
						kept = append(kept, p)
					}
				}
				mp.MetadataProps = kept
			}
			data, err := proto.Marshal(&mp)
			if err != nil {
				t.Fatal(err)
			}
			onnx := filepath.Join(dir, tc.variant+".onnx")
			if err := os.WriteFile(onnx, data, 0o644); err != nil {
				t.Fatal(err)
			}
			rep, err := ONNX(onnx, foreign+"llama.yaml", Options{Seed: 2, Shapes: [][2]int64{{2, 3}}})
			if err != nil {
				t.Fatal(err)
			}
			d := rep.Divergence
			if rep.OK || d == nil {
				t.Fatalf("no divergence reported:\n%s", rep.Text())
			}
			t.Logf("%s", d.text())
			if d.Sublayer != "layers.0.ffn" || d.MatchedBy != tc.by || !slices.Equal(d.Matched, []string{"layers.0.attn"}) {
				t.Errorf("divergence at %q, matched %v by %q; want layers.0.ffn after [layers.0.attn] by %s", d.Sublayer, d.Matched, d.MatchedBy, tc.by)
			}
		})
	}
}

// renameValue renames the value old of m's graph (node inputs and outputs,
// graph outputs, mhcc.sublayers) to new.
func renameValue(m *onnxpb.ModelProto, old, new string) {
	for _, n := range m.Graph.Node {
		for i, v := range n.Input {
			if v == old {
				n.Input[i] = new
			}
		}
		for i, v := range n.Output {
			if v == old {
				n.Output[i] = new
			}
		}
	}
	for _, o := range m.Graph.Output {
		if o.GetName() == old {
			o.Name = proto.String(new)
		}
	}
	for _, p := range m.MetadataProps {
		if p.GetKey() == meta.SublayersKey {
			subs, err := meta.Decode(p.GetValue())
			if err != nil {
				panic(err)
			}
			for i := range subs {
				if subs[i].Output == old {
					subs[i].Output = new
				}
			}
			p.Value = proto.String(meta.Encode(subs))
		}
	}
}
