package lower

import (
	"fmt"

	"github.com/mhcc-dev/mhcc/ir"
)

// moe lowers the mixture-of-experts FFN of the layer with prefix p
// ("layers.3.") applied to the normed h: one MoE node reading the router,
// every expert's weights and the shared experts' MLP (docs/spec.md §3.1),
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
	ins := []*ir.Value{h, l.weight(p + "ffn.gate.weight")}
	mlp := func(q string) {
		ins = append(ins, l.weight(q+"w1.weight"), l.weight(q+"w3.weight"), l.weight(q+"w2.weight"))
	}
	for e := 0; e < moe.Experts; e++ {
		mlp(fmt.Sprintf("%sffn.experts.%d.", p, e))
	}
	if shared == 1 {
		mlp(p + "ffn.shared_experts.")
	}
	return l.one(ir.OpMoE, p+"ffn", l.m.PosOf("architecture.moe"), attrs, ins...)
}
