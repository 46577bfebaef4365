package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/mhcc-dev/mhcc/onnx/pb"
)

// TestVerifyJSONOnEveryOutcome: `mhcc verify --json` prints one JSON
// document whatever happens, with exit status 1 on failure: when the ONNX
// file uses ops the runtime lacks (every one listed, with counts, in the
// message and the document), when the outputs differ (with the sublayer
// where they start to differ), and on a usage error.
func TestVerifyJSONOnEveryOutcome(t *testing.T) {
	const dir = "../../testdata/foreign/"
	// A torch export with two op types renamed to ops no runtime has.
	data, err := os.ReadFile(dir + "llama-opset17.onnx")
	if err != nil {
		t.Fatal(err)
	}
	var mp onnxpb.ModelProto
	if err := proto.Unmarshal(data, &mp); err != nil {
		t.Fatal(err)
	}
	for _, n := range mp.GetGraph().GetNode() {
		switch n.GetOpType() {
		case "SplitToSequence", "Trilu":
			n.OpType = proto.String(n.GetOpType() + "X")
		}
	}
	data, err = proto.Marshal(&mp)
	if err != nil {
		t.Fatal(err)
	}
	unknown := filepath.Join(t.TempDir(), "unknown-ops.onnx")
	if err := os.WriteFile(unknown, data, 0o644); err != nil {
		t.Fatal(err)
	}

	type report struct {
		OK             bool           `json:"ok"`
		Error          string         `json:"error"`
		UnsupportedOps map[string]int `json:"unsupported_ops"`
		Divergence     *struct {
			Sublayer string `json:"sublayer"`
		} `json:"divergence"`
	}
	tests := []struct {
		name   string
		args   []string
		code   int
		check  func(r report) bool
		stderr string
	}{
		{"unsupported ops", []string{unknown, "--against", dir + "llama.yaml"}, 1, func(r report) bool {
			return !r.OK && r.UnsupportedOps["SplitToSequenceX"] == 2 && r.UnsupportedOps["TriluX"] == 2 && len(r.UnsupportedOps) == 2
		}, "no kernel for 2 op types: SplitToSequenceX (2 nodes), TriluX (2 nodes)"},
		{"outputs differ", []string{dir + "llama-perturbed-layer1.onnx", "--against", dir + "llama.yaml", "--shape", "1x3"}, 1, func(r report) bool {
			return !r.OK && r.Divergence != nil && r.Divergence.Sublayer == "layers.1.attn"
		}, "start to differ at layers.1.attn"},
		{"usage error", []string{"x.onnx"}, 1, func(r report) bool {
			return !r.OK && strings.Contains(r.Error, "--against")
		}, "--against"},
		{"bad --max-memory", []string{dir + "llama-opset17.onnx", "--against", dir + "llama.yaml", "--max-memory", "lots"}, 1, func(r report) bool {
			return !r.OK && strings.Contains(r.Error, "--max-memory")
		}, "--max-memory"},
		{"passes", []string{dir + "llama-opset17.onnx", "--against", dir + "llama.yaml", "--shape", "2x5"}, 0, func(r report) bool {
			return r.OK && r.Error == "" && r.Divergence == nil
		}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := mhcc(t, append([]string{"verify", "--json"}, tc.args...)...)
			var r report
			if err := json.Unmarshal([]byte(stdout), &r); err != nil {
				t.Fatalf("stdout is not one JSON document (%v):\n%s\nstderr: %s", err, stdout, stderr)
			}
			if code != tc.code || !tc.check(r) {
				t.Errorf("exit %d (want %d), report %+v\nstdout:\n%s", code, tc.code, r, stdout)
			}
			if !strings.Contains(stderr, tc.stderr) {
				t.Errorf("stderr %q does not say %q", stderr, tc.stderr)
			}
		})
	}
}
