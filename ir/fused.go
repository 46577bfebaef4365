package ir

import "fmt"

// The fused mHC ops (docs/fused-ops.md). The pass fuse_hc_boundary forms
// them for targets that allow them (the fused profile); each is one ONNX
// node of domain ai.mhcc with a model-local function body.
//
// Both take the state of a sublayer either as x itself or, when the
// previous sublayer's post-mix is fused in (inputs y and post given), as
// x + post ⊗ y (x[k] + post[k]·y, x the previous sublayer's pre-mixed
// streams): the post-mix of sublayer L is recomputed by the two ops of
// sublayer L+1 instead of being written out between them.

// hcCoeffsSinkhornInfo: inputs x [..., n, C], fn [n²+2n, n·C] (scales
// folded in), base [n²+2n], and optionally y [..., C], post [..., n];
// outputs pre, post [..., n] and comb [..., n, n], all float32.
var hcCoeffsSinkhornInfo = opInfo{name: "HCCoeffsSinkhorn", minIn: 3, maxIn: 5, out: 3, infer: inferHCCoeffsSinkhorn,
	attrs: map[string]attrSpec{"streams": {attrInt, true}, "eps": {attrFloat, true}, "rms_eps": {attrFloat, true}, "iters": {attrInt, true}},
	doc:   "HCCoeffs (scale folded into fn) then Sinkhorn, of the state x or x + post⊗y; inputs x, fn, base[, y, post]; outputs pre, post, comb (float32)"}

// hcBoundaryInfo: inputs x [..., n, C], pre [..., n], comb [..., n, n],
// w [C] (the norm's weight), and optionally y [..., C], post [..., n];
// outputs the normed collapse [..., C], the mixed streams [..., n, C] and
// the state [..., n, C].
var hcBoundaryInfo = opInfo{name: "HCBoundary", minIn: 4, maxIn: 6, out: 3, infer: inferHCBoundary,
	attrs: map[string]attrSpec{"eps": {attrFloat, true}},
	doc:   "s = x (+ post⊗y); h = Σ_i pre[i]·s[i]; outputs RMSNorm(h, w), mixed[k] = Σ_j comb[j,k]·s[j], s; inputs x, pre, comb, w[, y, post]"}

// hcCoeffsBoundaryInfo: HCCoeffsSinkhorn with the post-mix and the
// HCBoundary reading its pre and comb, as one op (every sublayer after the
// first): inputs x [..., n, C], fn, base, w [C], y [..., C], post [..., n]
// (per token); outputs pre, post, comb (float32), normed [..., C], mixed
// and state [..., n, C] (x's type). eps, rms_eps and iters are the
// coefficients', norm_eps the RMSNorm's.
var hcCoeffsBoundaryInfo = opInfo{name: "HCCoeffsBoundary", minIn: 6, maxIn: 6, out: 6, infer: inferHCCoeffsBoundary,
	attrs: map[string]attrSpec{"streams": {attrInt, true}, "eps": {attrFloat, true}, "rms_eps": {attrFloat, true}, "iters": {attrInt, true}, "norm_eps": {attrFloat, true}},
	doc:   "HCCoeffsSinkhorn and HCBoundary of s = x + post⊗y, computed once; inputs x, fn, base, w, y, post; outputs pre, post, comb (float32), RMSNorm(Σ_i pre[i]·s[i], w), mixed[k] = Σ_j comb[j,k]·s[j], s"}

// hcHeadInfo: the end of an mHC model as one op: the last sublayer's
// post-mix s = x + post ⊗ y, the head's coefficients pre (HCHeadCoeffs of
// s), the collapse Σ_i pre[i]·s[i] and the final RMSNorm of it. Inputs x
// [..., n, C], fn [n, n·C], base [n], scale [1] (HCHeadCoeffs'), w [C] (the
// norm's weight), y [..., C], post [..., n] or [n]; outputs the normed
// collapse [..., C] and the state s [..., n, C] (x's type). eps and rms_eps
// are the coefficients', norm_eps the RMSNorm's.
var hcHeadInfo = opInfo{name: "HCHead", minIn: 7, maxIn: 7, out: 2, infer: inferHCHead,
	attrs: map[string]attrSpec{"streams": {attrInt, true}, "eps": {attrFloat, true}, "rms_eps": {attrFloat, true}, "norm_eps": {attrFloat, true}},
	doc:   "s = x + post⊗y; pre = sigmoid(scale·(sf·fnᵀ)·r + base) + eps; outputs RMSNorm(Σ_i pre[i]·s[i], w), s; inputs x, fn, base, scale, w, y, post"}

// hcEntryInfo: the start of an mHC model as one op: the state x = n copies
// of the embedding e (HCExpand), the first sublayer's coefficients and
// Sinkhorn of x (HCCoeffsSinkhorn) and its collapse, stream mixing and
// RMSNorm (HCBoundary without the post-mix). Inputs e [..., C], fn [n²+2n,
// n·C] (scales folded in), base [n²+2n], w [C]; outputs pre, post, comb
// (float32), normed [..., C] and mixed [..., n, C] (e's type).
var hcEntryInfo = opInfo{name: "HCEntry", minIn: 4, maxIn: 4, out: 5, infer: inferHCEntry,
	attrs: map[string]attrSpec{"streams": {attrInt, true}, "eps": {attrFloat, true}, "rms_eps": {attrFloat, true}, "iters": {attrInt, true}, "norm_eps": {attrFloat, true}},
	doc:   "x = e repeated into n streams; HCCoeffsSinkhorn and HCBoundary of x; inputs e, fn, base, w; outputs pre, post, comb (float32), RMSNorm(Σ_i pre[i]·x[i], w), mixed[k] = Σ_j comb[j,k]·x[j]"}

// fusedState checks the state inputs of a fused op: x at 0 and, if present,
// y at iy and post at iy+1. It returns the leading dims, n and C.
func fusedState(n *Node, iy int) (Shape, Dim, Dim, error) {
	if err := wantFloat(n, 0); err != nil {
		return nil, Dim{}, Dim{}, err
	}
	if err := wantMinRank(n, 0, 2); err != nil {
		return nil, Dim{}, Dim{}, err
	}
	sh := in(n, 0).Shape
	lead, s, c := sh[:len(sh)-2:len(sh)-2], sh[len(sh)-2], last(sh)
	switch {
	case len(n.Inputs) <= iy:
	case len(n.Inputs) == iy+2 && n.Inputs[iy] != nil && n.Inputs[iy+1] != nil:
		if in(n, iy).DType != in(n, 0).DType || !in(n, iy).Shape.Equal(append(lead.Clone(), c)) {
			return nil, Dim{}, Dim{}, fmt.Errorf("input %d (%s) has type %v, want %v", iy, n.Inputs[iy].Name, in(n, iy), Type{in(n, 0).DType, append(lead.Clone(), c)})
		}
		if err := wantCoeff(n, iy+1, lead, s); err != nil {
			return nil, Dim{}, Dim{}, err
		}
	default:
		return nil, Dim{}, Dim{}, fmt.Errorf("got %d inputs: y and post come together or not at all", len(n.Inputs))
	}
	return lead, s, c, nil
}

// wantCoeff checks a float32 coefficient input of shape lead+tail (or tail
// alone: static mHC).
func wantCoeff(n *Node, i int, lead Shape, tail ...Dim) error {
	if in(n, i).DType != Float32 || !coeffFits(in(n, i).Shape, lead, tail...) {
		return fmt.Errorf("input %d (%s) has type %v, want f32%v", i, n.Inputs[i].Name, in(n, i), append(lead.Clone(), tail...))
	}
	return nil
}

func inferHCCoeffsSinkhorn(n *Node) ([]Type, error) {
	lead, _, _, err := fusedCoeffs(n, 3)
	if err != nil {
		return nil, err
	}
	return coeffTypes(lead, n.Attrs.Int("streams")), nil
}

// fusedCoeffs checks the inputs and attributes of a coefficient op's part:
// the state (fusedState with y at iy), fn at 1 and base at 2 of a sublayer
// of streams n, and iters. It returns the leading dims, n and C.
func fusedCoeffs(n *Node, iy int) (Shape, Dim, Dim, error) {
	s, err := streams(n)
	if err != nil {
		return nil, Dim{}, Dim{}, err
	}
	if n.Attrs.Int("iters") < 1 {
		return nil, Dim{}, Dim{}, fmt.Errorf("attribute iters: got %d, want ≥ 1", n.Attrs.Int("iters"))
	}
	lead, sd, c, err := fusedState(n, iy)
	if err != nil {
		return nil, Dim{}, Dim{}, err
	}
	if sd != D(s) || !c.Known() {
		return nil, Dim{}, Dim{}, fmt.Errorf("input 0 (%s) has shape %v, want [..., %d, C] with C known", n.Inputs[0].Name, in(n, 0).Shape, s)
	}
	m := s*s + 2*s
	if in(n, 1).DType != Float32 || !in(n, 1).Shape.Equal(Dims(m, s*c.Size)) {
		return nil, Dim{}, Dim{}, fmt.Errorf("input 1 (%s) has type %v, want f32[%d,%d]", n.Inputs[1].Name, in(n, 1), m, s*c.Size)
	}
	if in(n, 2).DType != Float32 || !in(n, 2).Shape.Equal(Dims(m)) {
		return nil, Dim{}, Dim{}, fmt.Errorf("input 2 (%s) has type %v, want f32[%d]", n.Inputs[2].Name, in(n, 2), m)
	}
	return lead, sd, c, nil
}

// coeffTypes is the types of pre, post [lead, s] and comb [lead, s, s].
func coeffTypes(lead Shape, s int64) []Type {
	vec := append(lead.Clone(), D(s))
	return []Type{{Float32, vec}, {Float32, vec.Clone()}, {Float32, append(lead.Clone(), D(s), D(s))}}
}

// wantNormWeight checks the norm weight w at input i: x's type, shape [C].
func wantNormWeight(n *Node, i int, c Dim) error {
	if in(n, i).DType != in(n, 0).DType || !in(n, i).Shape.Equal(Shape{c}) {
		return fmt.Errorf("input %d (%s) has type %v, want %v", i, n.Inputs[i].Name, in(n, i), Type{in(n, 0).DType, Shape{c}})
	}
	return nil
}

func inferHCCoeffsBoundary(n *Node) ([]Type, error) {
	lead, s, c, err := fusedCoeffs(n, 4)
	if err != nil {
		return nil, err
	}
	if !in(n, 5).Shape.Equal(append(lead.Clone(), s)) {
		return nil, fmt.Errorf("input 5 (%s) has type %v, want f32%v (post per token)", n.Inputs[5].Name, in(n, 5), append(lead.Clone(), s))
	}
	if err := wantNormWeight(n, 3, c); err != nil {
		return nil, err
	}
	dt := in(n, 0).DType
	return append(coeffTypes(lead, n.Attrs.Int("streams")),
		Type{dt, append(lead.Clone(), c)}, Type{dt, in(n, 0).Shape.Clone()}, Type{dt, in(n, 0).Shape.Clone()}), nil
}

func inferHCHead(n *Node) ([]Type, error) {
	s, err := streams(n)
	if err != nil {
		return nil, err
	}
	lead, sd, c, err := fusedState(n, 5)
	if err != nil {
		return nil, err
	}
	if sd != D(s) || !c.Known() {
		return nil, fmt.Errorf("input 0 (%s) has shape %v, want [..., %d, C] with C known", n.Inputs[0].Name, in(n, 0).Shape, s)
	}
	want := []Shape{nil, Dims(s, s*c.Size), Dims(s), Dims(1)}
	for i := 1; i <= 3; i++ {
		if in(n, i).DType != Float32 || !in(n, i).Shape.Equal(want[i]) {
			return nil, fmt.Errorf("input %d (%s) has type %v, want f32%v", i, n.Inputs[i].Name, in(n, i), want[i])
		}
	}
	if err := wantNormWeight(n, 4, c); err != nil {
		return nil, err
	}
	dt := in(n, 0).DType
	return []Type{{dt, append(lead.Clone(), c)}, {dt, in(n, 0).Shape.Clone()}}, nil
}

func inferHCEntry(n *Node) ([]Type, error) {
	s, err := streams(n)
	if err != nil {
		return nil, err
	}
	if n.Attrs.Int("iters") < 1 {
		return nil, fmt.Errorf("attribute iters: got %d, want ≥ 1", n.Attrs.Int("iters"))
	}
	if err := wantFloat(n, 0); err != nil {
		return nil, err
	}
	if err := wantMinRank(n, 0, 1); err != nil {
		return nil, err
	}
	sh := in(n, 0).Shape
	lead, c := sh[:len(sh)-1:len(sh)-1], last(sh)
	if !c.Known() {
		return nil, fmt.Errorf("input 0 (%s) has shape %v, want [..., C] with C known", n.Inputs[0].Name, sh)
	}
	m := s*s + 2*s
	if in(n, 1).DType != Float32 || !in(n, 1).Shape.Equal(Dims(m, s*c.Size)) {
		return nil, fmt.Errorf("input 1 (%s) has type %v, want f32[%d,%d]", n.Inputs[1].Name, in(n, 1), m, s*c.Size)
	}
	if in(n, 2).DType != Float32 || !in(n, 2).Shape.Equal(Dims(m)) {
		return nil, fmt.Errorf("input 2 (%s) has type %v, want f32[%d]", n.Inputs[2].Name, in(n, 2), m)
	}
	if err := wantNormWeight(n, 3, c); err != nil {
		return nil, err
	}
	dt := in(n, 0).DType
	return append(coeffTypes(lead, s), Type{dt, append(lead.Clone(), c)}, Type{dt, append(lead.Clone(), D(s), c)}), nil
}

func inferHCBoundary(n *Node) ([]Type, error) {
	lead, s, c, err := fusedState(n, 4)
	if err != nil {
		return nil, err
	}
	if err := wantCoeff(n, 1, lead, s); err != nil {
		return nil, err
	}
	if err := wantCoeff(n, 2, lead, s, s); err != nil {
		return nil, err
	}
	if err := wantNormWeight(n, 3, c); err != nil {
		return nil, err
	}
	dt := in(n, 0).DType
	return []Type{{dt, append(lead.Clone(), c)}, {dt, in(n, 0).Shape.Clone()}, {dt, in(n, 0).Shape.Clone()}}, nil
}

// SwapNames exchanges the names of a and b: a pass that replaces a value by
// a new one gives the new one the old name (the name readers such as
// mhcc verify look for) and the old, soon dead, one the new name.
func SwapNames(a, b *Value) { a.Name, b.Name = b.Name, a.Name }
