package ir

import "fmt"

// Shape rules of the dense options' ops (docs/spec.md §3.1): LayerNorm, MLP,
// AddPositions, and the optional biases of Attention and AttentionKV.

// checkBiases checks the optional inputs from index from on: each omitted
// (nil or past the end) or a float vector of the shape in want.
func checkBiases(n *Node, from int, want ...Shape) error {
	for k, w := range want {
		i := from + k
		if i >= len(n.Inputs) || n.Inputs[i] == nil {
			continue
		}
		if err := wantFloat(n, i); err != nil {
			return err
		}
		if !in(n, i).Shape.Equal(w) {
			return fmt.Errorf("input %d (%s) has shape %v, want %v", i, n.Inputs[i].Name, in(n, i).Shape, w)
		}
	}
	return nil
}

func inferLayerNorm(n *Node) ([]Type, error) {
	if err := checkNorm(n, 0, 1); err != nil {
		return nil, err
	}
	if err := checkBiases(n, 2, Shape{last(in(n, 0).Shape)}); err != nil {
		return nil, err
	}
	return []Type{in(n, 0)}, nil
}

// mlpActivations are the activations of MLP, gated or not.
var mlpActivations = map[string]bool{"swiglu": true, "geglu": true, "gelu": false, "gelu_tanh": false, "relu2": false}

// MLPGated reports whether MLP's activation act multiplies by x·w3ᵀ, and
// whether act is one MLP knows.
func MLPGated(act string) (gated, ok bool) {
	gated, ok = mlpActivations[act]
	return gated, ok
}

func inferMLP(n *Node) ([]Type, error) {
	act := n.Attrs.String("activation")
	gated, ok := MLPGated(act)
	if !ok {
		return nil, fmt.Errorf("attribute activation: got %q, want swiglu, geglu, gelu, gelu_tanh or relu2", act)
	}
	if err := wantFloat(n, 0, 1, 2, 3); err != nil {
		return nil, err
	}
	if err := wantMinRank(n, 0, 1); err != nil {
		return nil, err
	}
	if err := wantRank(n, 1, 2); err != nil {
		return nil, err
	}
	c := last(in(n, 0).Shape)
	f := in(n, 1).Shape[0]
	has := func(i int) bool { return i < len(n.Inputs) && n.Inputs[i] != nil }
	if has(3) != gated {
		return nil, fmt.Errorf("activation %s: input 3 (w3) must be %s", act, map[bool]string{true: "given (gated)", false: "omitted (not gated)"}[gated])
	}
	want := []Shape{nil, {f, c}, {c, f}, {f, c}}
	for i := 1; i <= 3 && has(i); i++ {
		if !in(n, i).Shape.Equal(want[i]) {
			return nil, fmt.Errorf("input %d (%s) has shape %v, want %v", i, n.Inputs[i].Name, in(n, i).Shape, want[i])
		}
	}
	if has(6) && !gated {
		return nil, fmt.Errorf("activation %s: input 6 (b3) must be omitted (not gated)", act)
	}
	if err := checkBiases(n, 4, Shape{f}, Shape{c}, Shape{f}); err != nil {
		return nil, err
	}
	return []Type{in(n, 0)}, nil
}

func inferAddPositions(n *Node) ([]Type, error) {
	if err := wantFloat(n, 0, 1); err != nil {
		return nil, err
	}
	if err := wantRank(n, 0, 3); err != nil {
		return nil, err
	}
	if err := wantRank(n, 1, 2); err != nil {
		return nil, err
	}
	x := in(n, 0)
	if err := wantDim(n, 1, 1, x.Shape[2]); err != nil {
		return nil, err
	}
	if s, rows := x.Shape[1], in(n, 1).Shape[0]; s.Known() && rows.Known() && s.Size > rows.Size {
		return nil, fmt.Errorf("input 0 (%s) has %d positions, the table (%s) %d", n.Inputs[0].Name, s.Size, n.Inputs[1].Name, rows.Size)
	}
	if len(n.Inputs) > 2 && n.Inputs[2] != nil {
		p := in(n, 2)
		if p.DType != Int64 {
			return nil, fmt.Errorf("input 2 (%s) has type %v, want int64", n.Inputs[2].Name, p.DType)
		}
		if !p.Shape.Equal(x.Shape[:2]) {
			return nil, fmt.Errorf("input 2 (%s) has shape %v, want %v", n.Inputs[2].Name, p.Shape, x.Shape[:2])
		}
	}
	return []Type{x}, nil
}
