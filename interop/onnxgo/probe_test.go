package onnxgo

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/mhcc-dev/mhcc/compile"
	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
	mhrt "github.com/mhcc-dev/mhcc/runtime"
)

// withProbes returns the model with every node output also exposed as a
// graph output "probe:<name>" (through an Identity node, since onnx-go
// reports only values no node reads), the names of the probes, and the count
// of the model's own outputs, which come first (onnx-go does not report them
// any more: the probes read them).
func withProbes(t *testing.T, data []byte) ([]byte, []string, int) {
	t.Helper()
	var m onnxpb.ModelProto
	if err := proto.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	g := m.Graph
	var names []string
	own := len(g.Output)
	float := &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{
		ElemType: proto.Int32(int32(onnxpb.TensorProto_FLOAT))}}}
	for _, n := range append([]*onnxpb.NodeProto(nil), g.Node...) {
		for _, o := range n.Output {
			p := "probe:" + o
			g.Node = append(g.Node, &onnxpb.NodeProto{Name: proto.String("probe/" + o), OpType: proto.String("Identity"), Input: []string{o}, Output: []string{p}})
			g.Output = append(g.Output, &onnxpb.ValueInfoProto{Name: proto.String(p), Type: float})
			names = append(names, p)
		}
	}
	out, err := proto.Marshal(&m)
	if err != nil {
		t.Fatal(err)
	}
	return out, names, own
}

// Node by node: every intermediate value of the minimal mlp-mhc model
// (softmaxes, every Sinkhorn step, every selection MatMul) is the same in
// onnx-go and in mhcc's runtime, not only the output. Sinkhorn forgives
// much (a softmax over the wrong axis converges to nearly the same
// matrix), so a semantic difference of an operator shows here first.
func TestMinimalNodeByNode(t *testing.T) {
	dir := t.TempDir()
	for _, path := range models(t, dir) {
		if filepath.Base(path) == "mlp-residual.yaml" {
			continue
		}
		t.Run(caseName(path), func(t *testing.T) {
			res, err := compile.Compile(path, compile.Options{Target: "minimal"})
			if err != nil {
				t.Fatal(err)
			}
			data, names, own := withProbes(t, res.ONNX)
			goModel, err := mhrt.Decode(data)
			if err != nil {
				t.Fatal(err)
			}
			in := int64(res.Model.Arch.InputSize)
			batch := int64(3)
			r := rand.New(rand.NewPCG(7, 0x6f6e6e78))
			shape := []int64{batch, in}
			x := make([]float32, batch*in)
			for i := range x {
				x[i] = float32(r.NormFloat64())
			}
			got, err := runOnnxGoVM(data, shape, x, true)
			if err != nil {
				t.Fatalf("onnx-go: %v", err)
			}
			want, err := runMhcc(goModel, shape, x, names)
			if err != nil {
				t.Fatalf("mhcc runtime: %v", err)
			}
			if len(got) != own+len(names) {
				t.Fatalf("onnx-go gave %d outputs, want %d", len(got), own+len(names))
			}
			worst := 0.0
			for i, name := range names {
				worst = max(worst, compare(t, fmt.Sprintf("%s: onnx-go vs mhcc runtime", name), got[own+i], want[i]))
			}
			t.Logf("%d values compared, max |onnx-go - mhcc runtime| = %.3g", len(names), worst)
		})
	}
}
