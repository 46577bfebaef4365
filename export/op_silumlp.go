package export

import "github.com/mhcc-dev/mhcc/ir"

// SiluMLP: silu(x·w1ᵀ) · w2ᵀ.
func expandSiluMLP(e *emitter, n *ir.Node, in, out []string) {
	e.linear(e.silu(e.linear(in[0], in[1], "")), in[2], out[0])
}

// SiluMLP: silu(x·w1ᵀ) · w2ᵀ on x [B, C].
func minimalSiluMLP(e *emitter, n *ir.Node, in, out []string) {
	needRank(n, 0, 2)
	e.linear(e.silu(e.linear(in[0], in[1], "")), in[2], out[0])
}
