package verify_test

import (
	"fmt"
	"log"

	"github.com/mhcc-dev/mhcc/verify"
)

// Verify a model file compiled for a target: every run's output against the
// float64 reference, and mHC's invariants in every sublayer.
func ExampleModel() {
	rep, err := verify.Model("../testdata/models/mlp-mhc.yaml", verify.Options{
		Target: "onnx",
		Seed:   1,
		Shapes: [][2]int64{{1, 0}, {3, 0}}, // batch sizes; an mlp has no sequence
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(rep.Checked, "tolerance", rep.Tolerance.Precision)
	for _, r := range rep.Runs {
		fmt.Println("input", r.Shape, "ok:", r.OK)
	}
	for _, s := range rep.Sublayers {
		fmt.Println(s.Name, "ok:", s.OK)
	}
	fmt.Println("verified:", rep.OK, "gain reported:", rep.Gain != nil)
	// Output:
	// target onnx tolerance f32
	// input [1 12] ok: true
	// input [3 12] ok: true
	// layers.0.mlp ok: true
	// layers.1.mlp ok: true
	// layers.2.mlp ok: true
	// verified: true gain reported: true
}
