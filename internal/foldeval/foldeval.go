// Package foldeval evaluates the constant subgraphs that the folding passes
// hand over (passes.Evaluator): it exports them in their reference lowering
// and runs them in mhcc's Go runtime, the kernels that verify compiled
// models, so a folded constant is exactly what executing its nodes gives.
// It lives outside passes so that passes imports neither export nor runtime.
package foldeval

import (
	"fmt"

	"github.com/mhcc-dev/mhcc/export"
	"github.com/mhcc-dev/mhcc/ir"
	mhrt "github.com/mhcc-dev/mhcc/runtime"
)

// Runtime is the passes.Evaluator of the compile driver. (This package does
// not import passes, so that the passes' own tests can fold with it.)
type Runtime struct{}

// Evaluate marshals g to ONNX (in float64 if f64), decodes it, runs it with
// no inputs and converts each output to its IR type.
func (Runtime) Evaluate(g *ir.Graph, f64 bool) ([]*ir.Tensor, error) {
	data, err := export.Marshal(g, export.Options{Float64: f64})
	if err != nil {
		return nil, err
	}
	model, err := mhrt.Decode(data)
	if err != nil {
		return nil, err
	}
	res, err := model.Run(nil)
	if err != nil {
		return nil, err
	}
	tensors := make([]*ir.Tensor, len(g.Outputs))
	for i, v := range g.Outputs {
		t := res[v.Name]
		if t == nil {
			return nil, fmt.Errorf("evaluate: runtime gave no %v", v)
		}
		tensors[i], err = toIR(t, v.Type)
		if err != nil {
			return nil, fmt.Errorf("evaluate: %v: %w", v, err)
		}
	}
	return tensors, nil
}

// toIR converts a runtime tensor to an IR constant of type want, rounding
// float64 results to float32 where the IR type says so.
func toIR(t *mhrt.Tensor, want ir.Type) (*ir.Tensor, error) {
	sizes, ok := want.Shape.Sizes()
	if !ok {
		return nil, fmt.Errorf("type %v has symbolic dims", want)
	}
	if int64(t.Len()) != want.Shape.NumElements() {
		return nil, fmt.Errorf("got %d elements, want %v", t.Len(), want)
	}
	out := &ir.Tensor{DType: want.DType, Shape: sizes}
	switch want.DType {
	case ir.Float32, ir.Float16, ir.BFloat16:
		out.F32 = t.Float32s()
	case ir.Float64:
		out.F64 = t.Float64s()
	case ir.Int64, ir.Int32, ir.Bool:
		out.I64 = t.Int64s()
	default:
		return nil, fmt.Errorf("cannot fold dtype %v", want.DType)
	}
	return out, nil
}
