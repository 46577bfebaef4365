package ir

import "fmt"

// The MoE op: a mixture-of-experts FFN (docs/spec.md §3.1). Its inputs are
//
//	x [..., C], gate [E, C],
//	the E experts' weights, Arity(activation) tensors each (swiglu: w1, w3, w2),
//	then, with shared=1, the shared experts' MLP in the same layout.
//
// and it computes, per token t:
//
//	s      = softmax(x·gateᵀ) or sigmoid(x·gateᵀ)          (router)
//	top    = the top_k experts by s (ties: the lower index)
//	w_e    = s_e (÷ Σ_top s if normalize=1) · scaling       for e in top
//	y      = Σ_{e in top} w_e · expert_e(x) + shared(x)
//
// An expert is the model's FFN: swiglu(x) = (silu(x·w1ᵀ) ⊙ (x·w3ᵀ))·w2ᵀ.
// Other activations plug in through MoEArity and the exporter's expertMLP.

// Bounds of the op's attributes (the model file's, model/moe.go).
const (
	moeMaxExperts = 1024
	moeMinArity   = 3 // the smallest per-expert input count of an activation
	moeMaxArity   = 3
)

// Routers of the MoE op's router attribute.
const (
	MoERouterSoftmax = "softmax"
	MoERouterSigmoid = "sigmoid"
)

var moeAttrs = map[string]attrSpec{
	"experts":    {attrInt, true},
	"top_k":      {attrInt, true},
	"router":     {attrString, true},
	"normalize":  {attrInt, true},     // 1: the top-k weights are divided by their sum
	"scaling":    {attrFloat, true},   // routed_scaling_factor
	"shared":     {attrInt, true},     // 1: the last MoEArity inputs are the shared experts' MLP
	"activation": {attrString, false}, // the experts' FFN; absent: swiglu
}

// MoEActivation is n's activation attribute, "swiglu" when absent.
func MoEActivation(n *Node) string {
	if a, ok := n.Attrs["activation"].(string); ok && a != "" {
		return a
	}
	return "swiglu"
}

// MoEArity is the number of weight inputs of one expert MLP with the given
// activation, and whether the activation is known: swiglu has w1, w3, w2
// (the order of the dense SwiGLU op).
func MoEArity(activation string) (int, bool) {
	switch activation {
	case "swiglu":
		return 3, true
	}
	return 0, false
}

// MoEExpert returns the inputs of expert e of n (e = experts: the shared MLP).
func MoEExpert(n *Node, e int) []*Value {
	k, _ := MoEArity(MoEActivation(n))
	return n.Inputs[2+e*k : 2+(e+1)*k]
}

func inferMoE(n *Node) ([]Type, error) {
	e, k := n.Attrs.Int("experts"), n.Attrs.Int("top_k")
	if e < 2 || e > moeMaxExperts || k < 1 || k > e {
		return nil, fmt.Errorf("got experts=%d top_k=%d, want 2 ≤ experts ≤ %d and 1 ≤ top_k ≤ experts", e, k, moeMaxExperts)
	}
	switch r := n.Attrs.String("router"); r {
	case MoERouterSoftmax, MoERouterSigmoid:
	default:
		return nil, fmt.Errorf("attribute router: got %q, want softmax or sigmoid", r)
	}
	if v := n.Attrs.Int("normalize"); v != 0 && v != 1 {
		return nil, fmt.Errorf("attribute normalize: got %d, want 0 or 1", v)
	}
	if v := n.Attrs.Float("scaling"); !(v > 0) {
		return nil, fmt.Errorf("attribute scaling: got %g, want > 0", v)
	}
	shared := n.Attrs.Int("shared")
	if shared != 0 && shared != 1 {
		return nil, fmt.Errorf("attribute shared: got %d, want 0 or 1", shared)
	}
	act := MoEActivation(n)
	arity, ok := MoEArity(act)
	if !ok {
		return nil, fmt.Errorf("attribute activation: got %q, want swiglu", act)
	}
	if want := 2 + int(e+shared)*arity; len(n.Inputs) != want {
		return nil, fmt.Errorf("got %d inputs, want %d (x, gate, %d experts of %d weights%s)", len(n.Inputs), want, e, arity, map[bool]string{true: ", the shared MLP"}[shared == 1])
	}
	for i := range n.Inputs {
		if n.Inputs[i] == nil {
			return nil, fmt.Errorf("input %d is required", i)
		}
		if err := wantFloat(n, i); err != nil {
			return nil, err
		}
	}
	if err := wantMinRank(n, 0, 1); err != nil {
		return nil, err
	}
	c := last(in(n, 0).Shape)
	if want := (Shape{D(e), c}); !in(n, 1).Shape.Equal(want) {
		return nil, fmt.Errorf("input 1 (%s) has shape %v, want %v", n.Inputs[1].Name, in(n, 1).Shape, want)
	}
	for j := 0; j < int(e+shared); j++ {
		base := 2 + j*arity
		if err := wantRank(n, base, 2); err != nil {
			return nil, err
		}
		f := in(n, base).Shape[0]
		want := []Shape{{f, c}, {f, c}, {c, f}} // swiglu: w1, w3, w2
		for i := 0; i < arity; i++ {
			if !in(n, base+i).Shape.Equal(want[i]) {
				return nil, fmt.Errorf("input %d (%s) has shape %v, want %v", base+i, n.Inputs[base+i].Name, in(n, base+i).Shape, want[i])
			}
		}
	}
	return []Type{in(n, 0)}, nil
}
