package lower

import (
	"fmt"

	"github.com/mhcc-dev/mhcc/ir"
	"github.com/mhcc-dev/mhcc/model"
)

// moe lowers the mixture-of-experts FFN of the layer with prefix p
// ("layers.3.") applied to the normed h: one MoE node reading the router,
// every expert's weights (and biases, mlp_bias) and the shared experts'
// MLP, with the model's activation (docs/spec.md §3.1),
// placed at architecture.moe.
func (l *lowerer) moe(p string, h *ir.Value) *ir.Value {
	moe := l.m.Arch.MoE
	shared := int64(0)
	if moe.SharedExperts > 0 {
		shared = 1
	}
	normalize := int64(0)
	if moe.NormalizeTopK {
		normalize = 1
	}
	attrs := ir.Attrs{
		"experts":   int64(moe.Experts),
		"top_k":     int64(moe.TopK),
		"router":    moe.Router,
		"normalize": normalize,
		"scaling":   moe.RoutedScaling,
		"shared":    shared,
	}
	a := l.m.Arch
	if a.Activation != model.ActSwiGLU { // absent: swiglu, as before the attribute
		attrs["activation"] = a.Activation
	}
	if a.MLPBias {
		attrs["bias"] = int64(1)
	}
	// An expert's tensors: w1, w3, w2 (gated) or w1, w2, then their biases
	// in the same order (ir/moe.go).
	names := []string{"w1", "w2"}
	if a.Gated() {
		names = []string{"w1", "w3", "w2"}
	}
	ins := []*ir.Value{h, l.weight(p + "ffn.gate.weight")}
	mlp := func(q string) {
		for _, w := range names {
			ins = append(ins, l.weight(q+w+".weight"))
		}
		if a.MLPBias {
			for _, w := range names {
				ins = append(ins, l.weight(q+w+".bias"))
			}
		}
	}
	for e := 0; e < moe.Experts; e++ {
		mlp(fmt.Sprintf("%sffn.experts.%d.", p, e))
	}
	if shared == 1 {
		mlp(p + "ffn.shared_experts.")
	}
	return l.one(ir.OpMoE, p+"ffn", l.m.PosOf("architecture.moe"), attrs, ins...)
}
