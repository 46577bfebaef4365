package fast

import (
	"testing"

	"google.golang.org/protobuf/proto"

	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
	"github.com/mhcc-dev/mhcc/runtime/internal/core"
)

// TestHCFastAllocatesOnlyOutputs: a decode-sized call of each fused op (one
// token, n = 4, C = 256, float32) allocates its outputs (a Tensor, a shape
// and Elems' slice header each, the data of the small ones, and the slice
// holding them; the other data comes from the pool, which the test refills
// as the plan would) and nothing else: its scratch
// comes from the pool too and it stays on the calling goroutine.
func TestHCFastAllocatesOnlyOutputs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector (see raceEnabled)")
	}
	const n, C = 4, 256
	m := n*n + 2*n
	f := func(shape ...int64) *core.Tensor {
		size := 1
		for _, d := range shape {
			size *= int(d)
		}
		v := make([]float32, size)
		for i := range v {
			v[i] = float32(i%7)*0.1 + 0.05
		}
		return core.NewFloat32(shape, v)
	}
	attr := func(name string, typ onnxpb.AttributeProto_AttributeType, fv float32, iv int64) *onnxpb.AttributeProto {
		return &onnxpb.AttributeProto{Name: proto.String(name), Type: typ.Enum(), F: proto.Float32(fv), I: proto.Int64(iv)}
	}
	eps := attr("eps", onnxpb.AttributeProto_FLOAT, 1e-6, 0)
	coeffAttrs := map[string]*onnxpb.AttributeProto{"eps": eps, "rms_eps": attr("rms_eps", onnxpb.AttributeProto_FLOAT, 1e-6, 0), "iters": attr("iters", onnxpb.AttributeProto_INT, 0, 20)}
	x, y, post := f(1, n, C), f(1, C), f(1, n)
	for _, tc := range []struct {
		op   string
		in   []*core.Tensor
		outs []string
	}{
		{"HCCoeffsSinkhorn", []*core.Tensor{x, f(int64(m), n*C), f(int64(m))}, []string{"pre", "post", "comb"}},
		{"HCPostCoeffsSinkhorn", []*core.Tensor{x, f(int64(m), n*C), f(int64(m)), y, post}, []string{"pre", "post", "comb"}},
		{"HCPremixNorm", []*core.Tensor{x, f(1, n), f(1, n, n), f(C)}, []string{"normed", "mixed"}},
		{"HCBoundary", []*core.Tensor{x, f(1, n), f(1, n, n), f(C), y, post}, []string{"normed", "mixed", ""}},
		{"HCCoeffsBoundary", []*core.Tensor{x, f(int64(m), n*C), f(int64(m)), f(C), y, post}, []string{"pre", "post", "comb", "normed", "mixed", ""}},
	} {
		attrs := map[string]*onnxpb.AttributeProto{"eps": eps}
		switch tc.op {
		case "HCCoeffsBoundary":
			attrs = map[string]*onnxpb.AttributeProto{"norm_eps": attr("norm_eps", onnxpb.AttributeProto_FLOAT, 1e-5, 0)}
			for k, v := range coeffAttrs {
				attrs[k] = v
			}
		case "HCCoeffsSinkhorn", "HCPostCoeffsSinkhorn":
			attrs = coeffAttrs
		}
		c := &core.Call{N: &core.Node{Domain: "ai.mhcc", OpType: tc.op, Outputs: tc.outs, Attrs: attrs}, Nout: len(tc.outs), Ops: Ops{}, Fn: hcFast}
		run := func() {
			for _, o := range hcFast(c, tc.in) {
				if o != nil {
					PutF32(o.Elems.([]float32))
				}
			}
		}
		want := 1.0 // the slice of outputs
		for _, o := range hcFast(c, tc.in) {
			if o != nil {
				want += 3 // the Tensor, its shape, Elems' boxed slice header
				if o.Len() < PoolMin {
					want++ // the pool does not keep buffers this small
				}
			}
		}
		if got := testing.AllocsPerRun(100, run); got > want {
			t.Errorf("%s: %.0f allocations per call, want at most %.0f (the outputs)", tc.op, got, want)
		}
	}
}
