// Command memfiles writes the ONNX files that bench/memory.md measures mhcc's
// peak memory on (issue 17, point 8: large files in run, fmt, diff and
// graph):
//
//	chain-relu.onnx     10^6 Relu nodes in a row on x: f32[2] (about 26 MB)
//	chain-sigmoid.onnx  the same chain of Sigmoid nodes (shares no op with it)
//	weights.onnx        24 MatMul+Relu layers of 1024×1024 f32 weights (about 100 MB)
//	weights-b.onnx      weights.onnx with one element of one weight changed
//
// The files are the same on every run (weights from a fixed seed).
//
//	go run ./bench/memfiles -dir /tmp/memfiles
package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"

	"google.golang.org/protobuf/proto"

	"github.com/mhcc-dev/mhcc/internal/onnxbuild"
	"github.com/mhcc-dev/mhcc/onnx/pb"
	"github.com/mhcc-dev/mhcc/onnx/tensor"
	mhrt "github.com/mhcc-dev/mhcc/runtime"
)

func main() {
	dir := flag.String("dir", ".", "folder to write the files into")
	nodes := flag.Int("nodes", 1_000_000, "nodes of the chain models")
	layers := flag.Int("layers", 24, "layers of the weights models")
	width := flag.Int("width", 1024, "width of the weights models' square matrices")
	flag.Parse()
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		fail(err)
	}
	write(*dir, "chain-relu.onnx", Chain(*nodes, "Relu"))
	write(*dir, "chain-sigmoid.onnx", Chain(*nodes, "Sigmoid"))
	write(*dir, "weights.onnx", Weights(*layers, *width, false))
	write(*dir, "weights-b.onnx", Weights(*layers, *width, true))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "memfiles:", err)
	os.Exit(1)
}

func write(dir, name string, m *onnxpb.ModelProto) {
	b, err := proto.Marshal(m)
	if err != nil {
		fail(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
		fail(err)
	}
	fmt.Printf("%s\t%d bytes\n", filepath.Join(dir, name), len(b))
}

// Chain is n unnamed op nodes in a row, x: f32[2] to y (onnxbuild.Chain,
// the shape of cmd/mhcc's hostile chain cases).
func Chain(n int, op string) *onnxpb.ModelProto {
	g := onnxbuild.Chain(n, op)
	g.Name = proto.String("chain")
	return onnxbuild.Model(g)
}

// Weights is x: f32[1,width] through layers of MatMul by a width×width
// initializer (raw_data) and Relu; changed alters one element of the last
// weight.
func Weights(layers, width int, changed bool) *onnxpb.ModelProto {
	rng := rand.New(rand.NewPCG(1, 2))
	g := &onnxpb.GraphProto{Name: proto.String("weights"), Input: []*onnxpb.ValueInfoProto{onnxbuild.Info("x", tensor.Float, 1, width)}}
	prev := "x"
	for l := range layers {
		w := make([]float32, width*width)
		for i := range w {
			w[i] = float32(rng.NormFloat64()) / 32
		}
		if changed && l == layers-1 {
			w[0] += 1
		}
		name := fmt.Sprintf("layers.%d.w", l)
		g.Initializer = append(g.Initializer, mhrt.NewFloat32([]int64{int64(width), int64(width)}, w).Proto(name))
		mm, out := fmt.Sprintf("layers.%d.mm", l), fmt.Sprintf("layers.%d.y", l)
		if l == layers-1 {
			out = "y"
		}
		g.Node = append(g.Node,
			&onnxpb.NodeProto{Name: proto.String(mm), OpType: proto.String("MatMul"), Input: []string{prev, name}, Output: []string{mm}},
			&onnxpb.NodeProto{Name: proto.String(fmt.Sprintf("layers.%d.relu", l)), OpType: proto.String("Relu"), Input: []string{mm}, Output: []string{out}})
		prev = out
	}
	g.Output = []*onnxpb.ValueInfoProto{onnxbuild.Info("y", tensor.Float, 1, width)}
	return onnxbuild.Model(g)
}
