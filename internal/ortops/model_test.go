package ortops_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	ort "github.com/yalue/onnxruntime_go"
	"google.golang.org/protobuf/proto"

	"github.com/mhcc-dev/mhcc/compile"
	"github.com/mhcc-dev/mhcc/internal/ortops"
	"github.com/mhcc-dev/mhcc/internal/ortrun"
	"github.com/mhcc-dev/mhcc/internal/testenv"

	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
)

// TestFusedModel compiles tiny-mhc for the fused target and the onnx target
// and runs the fused graph in onnxruntime without the library (the function
// bodies: no kernel call) and with it (the kernels: one call per ai.mhcc
// node — the first sublayer's HCEntry, each later sublayer's coefficient
// op, the head's HCHead): both give the onnx target's logits.
// Batch 2 × 7 tokens runs the coefficient ops token by token; 2 × 20 tokens
// (at 2 threads) runs their token-tiled projection with fn packed once when
// the session was created (fn is an initializer).
func TestFusedModel(t *testing.T) {
	l := needLib(t)
	for _, seq := range []int64{7, 20} {
		t.Run(fmt.Sprint("seq", seq), func(t *testing.T) { fusedModel(t, l, seq) })
	}
}

func fusedModel(t *testing.T, l *ortops.Lib, seq int64) {
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ids := make([]int64, 2*seq)
	for i := range ids {
		ids[i] = int64((i*7 + 3) % 32)
	}
	in := []ortrun.Tensor{{Name: "input_ids", DType: "int64", Shape: []int64{2, seq}, I64: ids}}
	logits := map[string][]float32{}
	var fused []byte
	for _, tg := range []string{"onnx", "fused"} {
		res, err := compile.Compile(filepath.Join(root, "testdata/models/tiny-mhc.yaml"), compile.Options{Target: tg})
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, tg+".onnx")
		if err := os.WriteFile(path, res.ONNX, 0o644); err != nil {
			t.Fatal(err)
		}
		before := l.Calls()
		out, err := ortrun.Run(path, in, 1)
		if err != nil {
			t.Fatalf("%s without the library: %v", tg, err)
		}
		for op, n := range l.Calls() {
			if n != before[op] {
				t.Errorf("%s without the library: kernel %s ran", tg, op)
			}
		}
		logits[tg] = out[0].F32
		if tg == "fused" {
			fused = res.ONNX
		}
	}
	threads := 1
	if seq >= 16 {
		threads = 2
	}
	s, err := session(t, fused, []string{"input_ids"}, []string{"logits"}, true, threads)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Destroy()
	idv, err := ort.NewTensor(ort.NewShape(2, seq), ids)
	if err != nil {
		t.Fatal(err)
	}
	defer idv.Destroy()
	out := []ort.Value{nil}
	before := l.Calls()
	if err := s.Run([]ort.Value{idv}, out); err != nil {
		t.Fatal(err)
	}
	defer out[0].Destroy()
	after := l.Calls()
	// tiny-mhc: 2 layers, 4 sublayers, each with one coefficient op (the
	// first HCEntry, the start of the model, the others
	// HCPostCoeffsSinkhorn, or HCCoeffsBoundary where the pass merged a
	// later sublayer's two ops), and the head, HCHead; every ai.mhcc node
	// ran its kernel once.
	want := mhccNodes(t, fused)
	if c := want["HCEntry"] + want["HCPostCoeffsSinkhorn"] + want["HCCoeffsBoundary"]; c != 4 || want["HCEntry"] != 1 || want["HCCoeffsSinkhorn"] != 0 {
		t.Errorf("the fused model has ai.mhcc nodes %v; want one coefficient op per sublayer (4), the first HCEntry", want)
	}
	if want["HCHead"] != 1 {
		t.Errorf("the fused model has ai.mhcc nodes %v; want one HCHead (the end of the model)", want)
	}
	for op, n := range want {
		if d := after[op] - before[op]; d != n {
			t.Errorf("with the library: kernel %s ran %d times, want %d (one per node)", op, d, n)
		}
	}
	for op, n := range after {
		if want[op] == 0 && n != before[op] {
			t.Errorf("with the library: kernel %s ran, but the model has no such node", op)
		}
	}
	logits["fused+library"] = out[0].(*ort.Tensor[float32]).GetData()
	for _, k := range []string{"fused", "fused+library"} {
		if d := ortrun.MaxAbsDiff(logits[k], logits["onnx"]); !(d <= 1e-4) {
			t.Errorf("%s: logits differ from the onnx target's by %g", k, d)
		}
	}
}

// mhccNodes counts the ai.mhcc nodes of an ONNX model by op type.
func mhccNodes(t *testing.T, data []byte) map[string]int64 {
	t.Helper()
	var m onnxpb.ModelProto
	if err := proto.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, nd := range m.GetGraph().GetNode() {
		if nd.GetDomain() == "ai.mhcc" {
			out[nd.GetOpType()]++
		}
	}
	return out
}
