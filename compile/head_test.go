package compile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
)

// The fused target starts tiny-mhc with one ai.mhcc.HCEntry and ends it
// (collapse: head) with one ai.mhcc.HCHead (docs/fused-ops.md): the
// expansion of the embedding, the first sublayer's two ops, the last
// sublayer's post-mix, the head's coefficients, the collapse and the final
// RMSNorm leave no node of their own, at fp32 and fp16; HCEntry reads the
// embedding and HCHead writes the final norm's value ("norm") with its
// unread state output left empty. A profile file that allows the other
// fused ops but not these two (one written before them) keeps the
// ordinary forms: the output of an old profile does not change.
func TestFusedEntryAndHead(t *testing.T) {
	count := func(t *testing.T, opts Options) (map[string]int, *onnxpb.NodeProto) {
		t.Helper()
		res, err := Compile("../testdata/models/tiny-mhc.yaml", opts)
		if err != nil {
			t.Fatal(err)
		}
		var m onnxpb.ModelProto
		if err := proto.Unmarshal(res.ONNX, &m); err != nil {
			t.Fatal(err)
		}
		ops := map[string]int{}
		var head *onnxpb.NodeProto
		for _, n := range m.GetGraph().GetNode() {
			ops[n.GetOpType()]++
			if n.GetDomain() == "ai.mhcc" && n.GetOpType() == "HCHead" {
				head = n
			}
		}
		return ops, head
	}
	for _, prec := range []string{"fp32", "fp16"} {
		ops, head := count(t, Options{Target: "fused", Precision: prec})
		if ops["HCHead"] != 1 || head == nil {
			t.Fatalf("%s: %d HCHead nodes, want 1", prec, ops["HCHead"])
		}
		if ops["Reciprocal"] != 0 || ops["ReduceSum"] != 0 || ops["HCCoeffsBoundary"] != 3 {
			t.Errorf("%s: %d Reciprocal, %d ReduceSum and %d HCCoeffsBoundary nodes, want 0, 0 and 3 (the head's RMS and collapse fused)",
				prec, ops["Reciprocal"], ops["ReduceSum"], ops["HCCoeffsBoundary"])
		}
		if got := head.GetOutput(); len(got) != 2 || got[0] != "norm" || got[1] != "" {
			t.Errorf("%s: HCHead outputs %q, want [norm, \"\"]", prec, got)
		}
		if in := head.GetInput(); len(in) != 7 || !strings.HasSuffix(in[0], ".x.mixed") || in[1] != "hc_head_fn" || in[4] != "norm.weight" {
			t.Errorf("%s: HCHead inputs %q", prec, in)
		}
		if ops["HCEntry"] != 1 || ops["Expand"] != 0 || ops["HCCoeffsSinkhorn"]+ops["HCPremixNorm"] != 0 {
			t.Errorf("%s: %d HCEntry, %d Expand, %d HCCoeffsSinkhorn, %d HCPremixNorm nodes, want 1, 0, 0, 0",
				prec, ops["HCEntry"], ops["Expand"], ops["HCCoeffsSinkhorn"], ops["HCPremixNorm"])
		}
	}

	fused, err := os.ReadFile("../target/profiles/fused.yaml")
	if err != nil {
		t.Fatal(err)
	}
	text := string(fused)
	for _, cut := range []string{", HCHead, HCEntry]", "  HCHead: function\n", "  HCEntry: function\n"} {
		if !strings.Contains(text, cut) {
			t.Fatalf("fused.yaml: no %q to take out", cut)
		}
		text = strings.Replace(text, cut, map[bool]string{true: "]", false: ""}[strings.HasSuffix(cut, "]")], 1)
	}
	path := filepath.Join(t.TempDir(), "nohead.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	ops, head := count(t, Options{Target: path})
	if head != nil || ops["Reciprocal"] != 1 || ops["ReduceSum"] != 1 || ops["HCCoeffsBoundary"] != 3 ||
		ops["HCEntry"] != 0 || ops["Expand"] != 1 || ops["HCCoeffsSinkhorn"] != 1 || ops["HCPremixNorm"] != 1 {
		t.Errorf("profile without HCEntry and HCHead: %v", ops)
	}
}
