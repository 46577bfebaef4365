package ir

import "fmt"

// The MoE op: a mixture-of-experts FFN (docs/spec.md §3.1). Its inputs are
//
//	x [..., C], gate [E, C],
//	the E experts' tensors, MoEArity(activation, bias) each: w1, w3, w2
//	(gated: swiglu, geglu) or w1, w2 (gelu, gelu_tanh, relu2), then with
//	bias=1 their biases in the same order (b1, b3, b2 or b1, b2),
//	then, with shared=1, the shared experts' MLP in the same layout.
//
// and it computes, per token t:
//
//	s      = softmax(x·gateᵀ) or sigmoid(x·gateᵀ)          (router)
//	top    = the top_k experts by s (ties: the lower index)
//	w_e    = s_e (÷ Σ_top s if normalize=1) · scaling       for e in top
//	y      = Σ_{e in top} w_e · expert_e(x) + shared(x)
//
// An expert is the model's FFN, the MLP op's act(x·w1ᵀ + b1) [⊙ (x·w3ᵀ + b3)]
// · w2ᵀ + b2 (swiglu without biases: (silu(x·w1ᵀ) ⊙ (x·w3ᵀ))·w2ᵀ); the
// exporter's expertMLP lowers it with the MLP op's lowering.

// Bounds of the op's attributes (the model file's, model/moe.go).
const (
	moeMaxExperts = 1024
	moeMinArity   = 2 // the fewest inputs of one expert MLP (not gated, no biases)
	moeMaxArity   = 6 // the most (gated, with biases)
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
	"bias":       {attrInt, false},    // 1: every expert MLP has biases (mlp_bias); absent: 0
}

// MoEActivation is n's activation attribute, "swiglu" when absent.
func MoEActivation(n *Node) string {
	if a, ok := n.Attrs["activation"].(string); ok && a != "" {
		return a
	}
	return "swiglu"
}

// MoEBias reports whether n's experts have biases (attribute bias = 1).
func MoEBias(n *Node) bool {
	v, ok := n.Attrs["bias"].(int64)
	return ok && v == 1
}

// MoEArity is the number of inputs of one expert MLP with the given
// activation and biases, and whether the activation is known: w1, w3, w2
// when gated (the order of the dense SwiGLU op), w1, w2 when not, and with
// bias as many biases after them in the same order.
func MoEArity(activation string, bias bool) (int, bool) {
	gated, ok := MLPGated(activation)
	if !ok {
		return 0, false
	}
	k := 2
	if gated {
		k = 3
	}
	if bias {
		k *= 2
	}
	return k, true
}

// MoEMLPInputs maps the inputs ex of one expert (MoEExpert's, or their
// names) onto the MLP op's input order x, w1, w2, w3, b1, b2, b3 (index 0,
// x, left zero; absent tensors zero).
func MoEMLPInputs[T any](activation string, bias bool, ex []T) [7]T {
	var mlp [7]T
	gated, _ := MLPGated(activation)
	k := 2
	if gated {
		k = 3
	}
	// pos[j] is the MLP op's index of the expert's j-th weight.
	pos := []int{1, 2}
	if gated {
		pos = []int{1, 3, 2}
	}
	for j, p := range pos {
		mlp[p] = ex[j]
		if bias {
			mlp[p+3] = ex[k+j]
		}
	}
	return mlp
}

// MoEExpert returns the inputs of expert e of n (e = experts: the shared MLP).
func MoEExpert(n *Node, e int) []*Value {
	k, _ := MoEArity(MoEActivation(n), MoEBias(n))
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
	if v, ok := n.Attrs["bias"].(int64); ok && v != 0 && v != 1 {
		return nil, fmt.Errorf("attribute bias: got %d, want 0 or 1", v)
	}
	act, bias := MoEActivation(n), MoEBias(n)
	arity, ok := MoEArity(act, bias)
	if !ok {
		return nil, fmt.Errorf("attribute activation: got %q, want swiglu, geglu, gelu, gelu_tanh or relu2", act)
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
		want := []Shape{{f, c}, {c, f}} // w1, w2
		if gated, _ := MLPGated(act); gated {
			want = []Shape{{f, c}, {f, c}, {c, f}} // w1, w3, w2
		}
		if bias {
			for _, w := range want[:len(want):len(want)] {
				want = append(want, Shape{w[0]})
			}
		}
		for i := 0; i < arity; i++ {
			if !in(n, base+i).Shape.Equal(want[i]) {
				return nil, fmt.Errorf("input %d (%s) has shape %v, want %v", base+i, n.Inputs[base+i].Name, in(n, base+i).Shape, want[i])
			}
		}
	}
	return []Type{in(n, 0)}, nil
}
