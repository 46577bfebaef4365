package ir

import "fmt"

// Shape rules, one per op row. Each checks what it reads and returns the
// output types; messages say "got …, want …" and are wrapped with the node.

func in(n *Node, i int) Type { return n.Inputs[i].Type }

func wantFloat(n *Node, idx ...int) error {
	for _, i := range idx {
		if i < len(n.Inputs) && n.Inputs[i] != nil && !in(n, i).DType.IsFloat() {
			return fmt.Errorf("input %d (%s) has type %v, want a float type", i, n.Inputs[i].Name, in(n, i))
		}
	}
	return nil
}

func wantRank(n *Node, i, rank int) error {
	if r := in(n, i).Shape.Rank(); r != rank {
		return fmt.Errorf("input %d (%s) has shape %v, want rank %d", i, n.Inputs[i].Name, in(n, i).Shape, rank)
	}
	return nil
}

func wantMinRank(n *Node, i, rank int) error {
	if r := in(n, i).Shape.Rank(); r < rank {
		return fmt.Errorf("input %d (%s) has shape %v, want rank ≥ %d", i, n.Inputs[i].Name, in(n, i).Shape, rank)
	}
	return nil
}

func wantDim(n *Node, i, axis int, want Dim) error {
	s := in(n, i).Shape
	if axis < 0 {
		axis += len(s)
	}
	if axis < 0 || axis >= len(s) || s[axis] != want {
		return fmt.Errorf("input %d (%s) has shape %v, want dim %d = %v", i, n.Inputs[i].Name, s, axis, want)
	}
	return nil
}

func last(s Shape) Dim { return s[len(s)-1] }

func withLast(s Shape, d Dim) Shape {
	out := s.Clone()
	out[len(out)-1] = d
	return out
}

func inferGather(n *Node) ([]Type, error) {
	if err := wantRank(n, 0, 2); err != nil {
		return nil, err
	}
	if dt := in(n, 1).DType; dt != Int64 && dt != Int32 {
		return nil, fmt.Errorf("input 1 (%s) has type %v, want an integer type", n.Inputs[1].Name, in(n, 1))
	}
	out := append(in(n, 1).Shape.Clone(), in(n, 0).Shape[1])
	return []Type{{in(n, 0).DType, out}}, nil
}

func inferLinear(n *Node) ([]Type, error) {
	if err := wantFloat(n, 0, 1); err != nil {
		return nil, err
	}
	if err := wantMinRank(n, 0, 1); err != nil {
		return nil, err
	}
	if err := wantRank(n, 1, 2); err != nil {
		return nil, err
	}
	if err := wantDim(n, 1, 1, last(in(n, 0).Shape)); err != nil {
		return nil, err
	}
	return []Type{{in(n, 0).DType, withLast(in(n, 0).Shape, in(n, 1).Shape[0])}}, nil
}

func inferSame(n *Node) ([]Type, error) {
	if !in(n, 0).Equal(in(n, 1)) {
		return nil, fmt.Errorf("inputs have types %v and %v, want equal types", in(n, 0), in(n, 1))
	}
	return []Type{in(n, 0)}, nil
}

func inferRMSNorm(n *Node) ([]Type, error) {
	if err := checkNorm(n, 0, 1); err != nil {
		return nil, err
	}
	return []Type{in(n, 0)}, nil
}

// checkNorm checks a norm's input x (float, rank ≥ 1) and its weight w
// (float, [C] with C x's last dim).
func checkNorm(n *Node, x, w int) error {
	if err := wantFloat(n, x, w); err != nil {
		return err
	}
	if err := wantMinRank(n, x, 1); err != nil {
		return err
	}
	if err := wantRank(n, w, 1); err != nil {
		return err
	}
	return wantDim(n, w, 0, last(in(n, x).Shape))
}

func inferAttention(n *Node) ([]Type, error) {
	return attentionCore(n, 7)
}

// attentionCore checks the inputs Attention and AttentionKV share: x, the
// four projections, the optional RoPE tables cos and sin (both or neither),
// and the optional biases from input bias on (bq, bk, bv, bo).
func attentionCore(n *Node, bias int) ([]Type, error) {
	if err := wantFloat(n, 0, 1, 2, 3, 4, 5, 6); err != nil {
		return nil, err
	}
	if len(n.Inputs) < 7 {
		return nil, fmt.Errorf("got %d inputs, want x, wq, wk, wv, wo, cos, sin (cos and sin may be omitted)", len(n.Inputs))
	}
	rope := n.Inputs[5] != nil
	if rope != (n.Inputs[6] != nil) {
		return nil, fmt.Errorf("got only one of cos and sin (inputs 5 and 6), want both or neither")
	}
	if err := wantRank(n, 0, 3); err != nil {
		return nil, err
	}
	h, kv, hd := n.Attrs.Int("heads"), n.Attrs.Int("kv_heads"), n.Attrs.Int("head_dim")
	if h <= 0 || kv <= 0 || hd <= 0 || h%kv != 0 || rope && hd%2 != 0 {
		return nil, fmt.Errorf("got heads=%d kv_heads=%d head_dim=%d, want positive, heads a multiple of kv_heads and head_dim even (with RoPE)", h, kv, hd)
	}
	c := last(in(n, 0).Shape)
	want := []Shape{nil, {D(h * hd), c}, {D(kv * hd), c}, {D(kv * hd), c}, {c, D(h * hd)}}
	for i := 1; i <= 4; i++ {
		if !in(n, i).Shape.Equal(want[i]) {
			return nil, fmt.Errorf("input %d (%s) has shape %v, want %v", i, n.Inputs[i].Name, in(n, i).Shape, want[i])
		}
	}
	for i := 5; i <= 6 && rope; i++ {
		if err := wantRank(n, i, 2); err != nil {
			return nil, err
		}
		if err := wantDim(n, i, 1, D(hd)); err != nil {
			return nil, err
		}
	}
	if err := checkBiases(n, bias, Shape{D(h * hd)}, Shape{D(kv * hd)}, Shape{D(kv * hd)}, Shape{c}); err != nil {
		return nil, err
	}
	return []Type{in(n, 0)}, nil
}

// inferAttentionKV is inferAttention plus the cache: past_key and
// past_value are [B, kv_heads, P, head_dim] with x's batch B, and the
// presents are [B, kv_heads, P+S, head_dim]; P+S is a size when both are
// known, else the symbol total_sequence.
func inferAttentionKV(n *Node) ([]Type, error) {
	if len(n.Inputs) < 11 {
		return nil, fmt.Errorf("got %d inputs, want 11 to 15", len(n.Inputs))
	}
	for i := 7; i <= 10; i++ {
		if n.Inputs[i] == nil {
			return nil, fmt.Errorf("input %d is required", i)
		}
	}
	ts, err := attentionCore(n, 11)
	if err != nil {
		return nil, err
	}
	if err := wantFloat(n, 7, 8); err != nil {
		return nil, err
	}
	x := in(n, 0)
	kv, hd := n.Attrs.Int("kv_heads"), n.Attrs.Int("head_dim")
	past := in(n, 7)
	if err := wantRank(n, 7, 4); err != nil {
		return nil, err
	}
	want := Shape{x.Shape[0], D(kv), past.Shape[2], D(hd)}
	for i := 7; i <= 8; i++ {
		if !in(n, i).Shape.Equal(want) {
			return nil, fmt.Errorf("input %d (%s) has shape %v, want %v", i, n.Inputs[i].Name, in(n, i).Shape, want)
		}
	}
	total := P("total_sequence")
	if p, s := past.Shape[2], x.Shape[1]; p.Known() && s.Known() {
		total = D(p.Size + s.Size)
	}
	{
		// attention_mask [B, P+S] and position_ids [B, S], int64.
		for i, want := range map[int]Shape{9: {x.Shape[0], total}, 10: {x.Shape[0], x.Shape[1]}} {
			t := in(n, i)
			if t.DType != Int64 {
				return nil, fmt.Errorf("input %d (%s) has type %v, want int64", i, n.Inputs[i].Name, t.DType)
			}
			if err := wantRank(n, i, 2); err != nil {
				return nil, err
			}
			if t.Shape[0] != want[0] || (want[1].Known() && t.Shape[1] != want[1]) || (i == 10 && t.Shape[1] != want[1]) {
				return nil, fmt.Errorf("input %d (%s) has shape %v, want %v", i, n.Inputs[i].Name, t.Shape, want)
			}
		}
		if m := in(n, 9).Shape[1]; !total.Known() {
			total = m // the mask's length names the total
		}
	}
	present := Type{past.DType, Shape{x.Shape[0], D(kv), total, D(hd)}}
	return []Type{ts[0], present, present}, nil
}

func inferSwiGLU(n *Node) ([]Type, error) {
	return inferFFN(n, func(f, c Dim) []Shape { return []Shape{{f, c}, {f, c}, {c, f}} }) // w1, w3, w2
}

func inferSiluMLP(n *Node) ([]Type, error) {
	return inferFFN(n, func(f, c Dim) []Shape { return []Shape{{f, c}, {c, f}} }) // w1, w2
}

// inferFFN checks a feed-forward node: x (input 0, rank ≥ 1) and the
// weights in inputs 1… with the shapes want gives for f, the rows of input 1,
// and c, x's last dimension; every input float. The output has x's type.
func inferFFN(n *Node, want func(f, c Dim) []Shape) ([]Type, error) {
	all := []int{0}
	for k := range want(Dim{}, Dim{}) {
		all = append(all, k+1)
	}
	if err := wantFloat(n, all...); err != nil {
		return nil, err
	}
	if err := wantMinRank(n, 0, 1); err != nil {
		return nil, err
	}
	c := last(in(n, 0).Shape)
	if err := wantRank(n, 1, 2); err != nil {
		return nil, err
	}
	for k, w := range want(in(n, 1).Shape[0], c) {
		i := k + 1
		if !in(n, i).Shape.Equal(w) {
			return nil, fmt.Errorf("input %d (%s) has shape %v, want %v", i, n.Inputs[i].Name, in(n, i).Shape, w)
		}
	}
	return []Type{in(n, 0)}, nil
}

func streams(n *Node) (int64, error) {
	s := n.Attrs.Int("streams")
	if s < 1 {
		return 0, fmt.Errorf("attribute streams: got %d, want ≥ 1", s)
	}
	return s, nil
}

func inferHCExpand(n *Node) ([]Type, error) {
	s, err := streams(n)
	if err != nil {
		return nil, err
	}
	if err := wantMinRank(n, 0, 1); err != nil {
		return nil, err
	}
	sh := in(n, 0).Shape
	out := append(append(sh[:len(sh)-1:len(sh)-1], D(s)), last(sh))
	return []Type{{in(n, 0).DType, out}}, nil
}

// stateLead checks that input i is a stream state [..., n, C] and returns its
// leading dims and C.
func stateLead(n *Node, i int, s int64) (Shape, Dim, error) {
	if err := wantMinRank(n, i, 2); err != nil {
		return nil, Dim{}, err
	}
	sh := in(n, i).Shape
	if sh[len(sh)-2] != D(s) {
		return nil, Dim{}, fmt.Errorf("input %d (%s) has shape %v, want %d streams in dim %d", i, n.Inputs[i].Name, sh, s, len(sh)-2)
	}
	return sh[: len(sh)-2 : len(sh)-2], last(sh), nil
}

func inferHCCoeffs(n *Node) ([]Type, error) {
	s, err := streams(n)
	if err != nil {
		return nil, err
	}
	if err := wantFloat(n, 0, 1, 2, 3); err != nil {
		return nil, err
	}
	m := s*s + 2*s
	if !in(n, 0).Shape.Equal(Dims(m)) {
		return nil, fmt.Errorf("input 0 (%s) has shape %v, want [%d]", n.Inputs[0].Name, in(n, 0).Shape, m)
	}
	dt := in(n, 0).DType
	switch len(n.Inputs) {
	case 1: // static: constants of the base only
		return []Type{{dt, Dims(s)}, {dt, Dims(s)}, {dt, Dims(s, s)}}, nil
	case 3, 4: // dynamic; with 3 inputs the scale is folded into fn
	default:
		return nil, fmt.Errorf("got %d inputs, want 1 (static), 3 (base, x, scaled fn) or 4 (dynamic: base, x, fn, scale)", len(n.Inputs))
	}
	lead, c, err := stateLead(n, 1, s)
	if err != nil {
		return nil, err
	}
	if !c.Known() {
		return nil, fmt.Errorf("input 1 (%s) has a symbolic channel dim %v", n.Inputs[1].Name, c)
	}
	if want := Dims(m, s*c.Size); !in(n, 2).Shape.Equal(want) {
		return nil, fmt.Errorf("input 2 (%s) has shape %v, want %v", n.Inputs[2].Name, in(n, 2).Shape, want)
	}
	if len(n.Inputs) == 4 && !in(n, 3).Shape.Equal(Dims(3)) {
		return nil, fmt.Errorf("input 3 (%s) has shape %v, want [3]", n.Inputs[3].Name, in(n, 3).Shape)
	}
	vec := append(lead.Clone(), D(s))
	mat := append(lead.Clone(), D(s), D(s))
	return []Type{{dt, vec}, {dt, vec.Clone()}, {dt, mat}}, nil
}

func inferHCHeadCoeffs(n *Node) ([]Type, error) {
	s, err := streams(n)
	if err != nil {
		return nil, err
	}
	if err := wantFloat(n, 0, 1, 2, 3); err != nil {
		return nil, err
	}
	lead, c, err := stateLead(n, 0, s)
	if err != nil {
		return nil, err
	}
	if !c.Known() {
		return nil, fmt.Errorf("input 0 (%s) has a symbolic channel dim %v", n.Inputs[0].Name, c)
	}
	want := []Shape{nil, Dims(s, s*c.Size), Dims(s), Dims(1)}
	for i := 1; i <= 3; i++ {
		if !in(n, i).Shape.Equal(want[i]) {
			return nil, fmt.Errorf("input %d (%s) has shape %v, want %v", i, n.Inputs[i].Name, in(n, i).Shape, want[i])
		}
	}
	return []Type{{in(n, 0).DType, append(lead.Clone(), D(s))}}, nil
}

func inferSinkhorn(n *Node) ([]Type, error) {
	if err := wantFloat(n, 0); err != nil {
		return nil, err
	}
	if n.Attrs.Int("iters") < 1 {
		return nil, fmt.Errorf("attribute iters: got %d, want ≥ 1", n.Attrs.Int("iters"))
	}
	if err := wantMinRank(n, 0, 2); err != nil {
		return nil, err
	}
	sh := in(n, 0).Shape
	if sh[len(sh)-1] != sh[len(sh)-2] || !last(sh).Known() {
		return nil, fmt.Errorf("input 0 (%s) has shape %v, want square known trailing dims", n.Inputs[0].Name, sh)
	}
	return []Type{in(n, 0)}, nil
}

// broadcastsTo reports whether coefficient shape c ([..., k] or just [k]) fits
// a state whose leading dims are lead.
func coeffFits(c Shape, lead Shape, tail ...Dim) bool {
	full := append(lead.Clone(), tail...)
	return c.Equal(full) || c.Equal(Shape(tail))
}

func inferHCCollapse(n *Node) ([]Type, error) {
	if err := wantFloat(n, 0, 1); err != nil {
		return nil, err
	}
	if err := wantMinRank(n, 0, 2); err != nil {
		return nil, err
	}
	sh := in(n, 0).Shape
	s := sh[len(sh)-2]
	lead := sh[: len(sh)-2 : len(sh)-2]
	out := append(lead.Clone(), last(sh))
	switch mode := n.Attrs.String("mode"); mode {
	case "weighted":
		if len(n.Inputs) != 2 || n.Inputs[1] == nil {
			return nil, fmt.Errorf("mode weighted needs the pre weights as input 1")
		}
		if !coeffFits(in(n, 1).Shape, lead, s) {
			return nil, fmt.Errorf("input 1 (%s) has shape %v, want %v or [%v]", n.Inputs[1].Name, in(n, 1).Shape, append(lead.Clone(), s), s)
		}
	case "sum", "mean":
		if len(n.Inputs) != 1 {
			return nil, fmt.Errorf("mode %s takes one input, got %d", mode, len(n.Inputs))
		}
	default:
		return nil, fmt.Errorf("attribute mode: got %q, want weighted, sum or mean", mode)
	}
	return []Type{{in(n, 0).DType, out}}, nil
}

func inferHCMix(n *Node) ([]Type, error) {
	if err := wantFloat(n, 0, 1, 2, 3); err != nil {
		return nil, err
	}
	if err := wantMinRank(n, 0, 2); err != nil {
		return nil, err
	}
	sh := in(n, 0).Shape
	s := sh[len(sh)-2]
	lead := sh[: len(sh)-2 : len(sh)-2]
	if want := append(lead.Clone(), last(sh)); !in(n, 1).Shape.Equal(want) {
		return nil, fmt.Errorf("input 1 (%s) has shape %v, want %v", n.Inputs[1].Name, in(n, 1).Shape, want)
	}
	if !coeffFits(in(n, 2).Shape, lead, s) {
		return nil, fmt.Errorf("input 2 (%s) has shape %v, want %v or [%v]", n.Inputs[2].Name, in(n, 2).Shape, append(lead.Clone(), s), s)
	}
	if len(n.Inputs) == 4 && n.Inputs[3] != nil && !coeffFits(in(n, 3).Shape, lead, s, s) {
		return nil, fmt.Errorf("input 3 (%s) has shape %v, want %v or [%v,%v]", n.Inputs[3].Name, in(n, 3).Shape, append(lead.Clone(), s, s), s, s)
	}
	return []Type{in(n, 0)}, nil
}

func inferHCPremix(n *Node) ([]Type, error) {
	if err := wantFloat(n, 0, 1, 2); err != nil {
		return nil, err
	}
	if err := wantMinRank(n, 0, 2); err != nil {
		return nil, err
	}
	sh := in(n, 0).Shape
	s := sh[len(sh)-2]
	lead := sh[: len(sh)-2 : len(sh)-2]
	if !coeffFits(in(n, 1).Shape, lead, s) {
		return nil, fmt.Errorf("input 1 (%s) has shape %v, want %v or [%v]", n.Inputs[1].Name, in(n, 1).Shape, append(lead.Clone(), s), s)
	}
	if !coeffFits(in(n, 2).Shape, lead, s, s) {
		return nil, fmt.Errorf("input 2 (%s) has shape %v, want %v or [%v,%v]", n.Inputs[2].Name, in(n, 2).Shape, append(lead.Clone(), s, s), s, s)
	}
	return []Type{{in(n, 0).DType, append(lead.Clone(), last(sh))}, in(n, 0)}, nil
}

func inferCast(n *Node) ([]Type, error) {
	if err := wantFloat(n, 0); err != nil {
		return nil, err
	}
	to, ok := ParseDType(n.Attrs.String("to"))
	if !ok || !to.IsFloat() {
		return nil, fmt.Errorf("attribute to: got %q, want f32, f16, bf16 or f64", n.Attrs.String("to"))
	}
	return []Type{{to, in(n, 0).Shape.Clone()}}, nil
}

func inferAddRMSNorm(n *Node) ([]Type, error) {
	if !in(n, 0).Equal(in(n, 1)) {
		return nil, fmt.Errorf("inputs have types %v and %v, want equal types", in(n, 0), in(n, 1))
	}
	if err := checkNorm(n, 0, 2); err != nil {
		return nil, err
	}
	return []Type{in(n, 0), in(n, 0)}, nil
}
