package compile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
)

// The fused target ends tiny-mhc (collapse: head) with one ai.mhcc.HCHead
// (docs/fused-ops.md): the last sublayer's post-mix, the head's
// coefficients, the collapse and the final RMSNorm leave no node of their
// own, at fp32 and fp16, and the node writes the final norm's value
// ("norm") with its unread state output left empty. A profile file that
// allows the other fused ops but not HCHead keeps the ordinary head.
func TestFusedHead(t *testing.T) {
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
	}

	fused, err := os.ReadFile("../target/profiles/fused.yaml")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(strings.Replace(string(fused), ", HCHead]", "]", 1), "  HCHead: function\n", "", 1)
	if text == string(fused) {
		t.Fatal("fused.yaml: no HCHead to take out")
	}
	path := filepath.Join(t.TempDir(), "nohead.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	ops, head := count(t, Options{Target: path})
	if head != nil || ops["Reciprocal"] != 1 || ops["ReduceSum"] != 1 || ops["HCCoeffsBoundary"] != 3 {
		t.Errorf("profile without HCHead: %v", ops)
	}
}
