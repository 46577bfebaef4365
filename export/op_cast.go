package export

import "github.com/mhcc-dev/mhcc/ir"

// Cast: to the IR type of the output (float64 everything in the reference).
func expandCast(e *emitter, n *ir.Node, in, out []string) {
	dt := n.Outputs[0].Type.DType
	if e.f64 {
		dt = ir.Float64
	}
	et, err := elemType(dt)
	if err != nil {
		panic(err)
	}
	e.op("Cast", out[0], ins(in[0]), aInt("to", int64(et)))
}
