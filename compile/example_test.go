package compile_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/mhcc-dev/mhcc/compile"
	"github.com/mhcc-dev/mhcc/lower"
	mhrt "github.com/mhcc-dev/mhcc/runtime"
	"github.com/mhcc-dev/mhcc/verify"
)

// A model file written by the program: an mlp with mHC over 4 streams and
// random weights (docs/spec.md §5).
const modelFile = `format: 1
name: example
architecture:
  kind: mlp
  input_size: 6
  output_size: 3
  hidden_size: 8
  layers: 2
  ffn_hidden_size: 16
hyper_connections:
  kind: mhc
  streams: 4
weights:
  source: random
  seed: 7
`

// Compile a model file to ONNX, run it with mhcc's Go runtime, and verify
// it against the float64 reference with mHC's invariants.
func ExampleCompile() {
	dir, err := os.MkdirTemp("", "mhcc-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "example.yaml")
	if err := os.WriteFile(path, []byte(modelFile), 0o644); err != nil {
		log.Fatal(err)
	}

	res, err := compile.Compile(path, compile.Options{Target: "onnx"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s: %s with %d layers\n", res.Model.Name, res.Model.Arch.Kind, res.Model.Arch.Layers)

	// Run the ONNX bytes: a batch of 2 rows of 6 features.
	m, err := mhrt.Decode(res.ONNX)
	if err != nil {
		log.Fatal(err)
	}
	x := mhrt.NewFloat32([]int64{2, 6}, make([]float32, 12))
	out, err := m.Run(map[string]*mhrt.Tensor{lower.MLPInput: x})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(lower.MLPOutput, out[lower.MLPOutput].Shape)

	// Verify: the compiled graph against the float64 reference, on seeded
	// inputs, with the invariants of every sublayer's mixing matrices.
	rep, err := verify.Model(path, verify.Options{Target: "onnx", Seed: 1})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("verified:", rep.OK)
	for _, s := range rep.Sublayers {
		fmt.Println(s.Name, s.OK)
	}
	// Output:
	// example: mlp with 2 layers
	// y [2 3]
	// verified: true
	// layers.0.mlp true
	// layers.1.mlp true
}
