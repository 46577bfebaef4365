package ir

import (
	"fmt"
	"math"
)

// Lower builds the graph of model m with weights w (docs/spec.md §3): the decoder or
// the mlp, each sublayer wrapped in mHC (or a plain residual). The result is
// the reference form: every mHC step is an op of its own, and nothing is
// fused. Weights become constants named as in docs/spec.md §4; the graph is verified.
func Lower(m *Model, w Weights) (*Graph, error) {
	l := &lowerer{m: m, w: w, g: NewGraph(m.Name)}
	l.g.Model = m
	if err := l.lower(); err != nil {
		return nil, err
	}
	if err := Verify(l.g); err != nil {
		return nil, err
	}
	return l.g, nil
}

type lowerer struct {
	m   *Model
	w   Weights
	g   *Graph
	err error
	// consts caches weight constants by name, so a tensor becomes one Value.
	consts map[string]*Value
	// past and present are the cache inputs and outputs (kv_cache only):
	// key and value of layer i at 2i and 2i+1.
	past, present []*Value
	// mask and positions are the attention_mask and position_ids inputs
	// (kv_cache only).
	mask, positions *Value
}

// weight returns the constant for tensor name, creating it on first use.
func (l *lowerer) weight(name string) *Value {
	if v, ok := l.consts[name]; ok {
		return v
	}
	if l.consts == nil {
		l.consts = map[string]*Value{}
	}
	t, ok := l.w[name]
	if !ok {
		l.fail(fmt.Errorf("ir: weight %q is missing", name))
		t = &Tensor{DType: Float32, Shape: []int64{0}, F32: []float32{}}
	}
	v := l.g.AddConst(name, t)
	l.consts[name] = v
	return v
}

func (l *lowerer) fail(err error) {
	if l.err == nil {
		l.err = err
	}
}

// node adds one node and returns its outputs; after the first error it
// returns placeholders so the caller's straight-line code can continue.
func (l *lowerer) node(op Op, name string, pos Pos, attrs Attrs, inputs []*Value, outs ...string) []*Value {
	if l.err != nil {
		return make([]*Value, len(outs))
	}
	n, err := l.g.NewNode(op, name, pos, attrs, inputs, outs...)
	if err != nil {
		l.fail(err)
		return make([]*Value, len(outs))
	}
	return n.Outputs
}

func (l *lowerer) one(op Op, name string, pos Pos, attrs Attrs, inputs ...*Value) *Value {
	return l.node(op, name, pos, attrs, inputs, name)[0]
}

func dimOf(size int, param string) Dim {
	if size > 0 {
		return D(int64(size))
	}
	return P(param)
}

func (l *lowerer) lower() error {
	m := l.m
	a, hc := m.Arch, m.HC
	arch := m.ArchPos
	batch := dimOf(m.Inputs.Batch, "batch")
	if m.Inputs.KVCache {
		// Generation runtimes fill the dim named batch_size when they make
		// the empty cache (transformers.js), so the step graph uses their name.
		batch = dimOf(m.Inputs.Batch, "batch_size")
	}
	var x *Value // the state: [B, S, C] (residual) or [B, S, n, C]; mlp drops S
	switch a.Kind {
	case ArchDecoder:
		ids := l.g.AddInput("input_ids", T(Int64, batch, dimOf(m.Inputs.Sequence, "sequence")))
		if m.Inputs.KVCache {
			l.addCacheInputs(batch, ids.Type.Shape[1])
		}
		x = l.one(OpGather, "embed", arch, nil, l.weight("embed.weight"), ids)
	case ArchMLP:
		in := l.g.AddInput("x", T(Float32, batch, D(int64(a.InputSize))))
		x = l.one(OpLinear, "in_proj", arch, nil, in, l.weight("in_proj.weight"))
	default:
		return fmt.Errorf("ir: unknown architecture kind %q", a.Kind)
	}
	mhc := hc.Kind == HCMHC
	if mhc {
		x = l.one(OpHCExpand, "streams", m.HCPos, Attrs{"streams": int64(hc.Streams)}, x)
	}
	var cos, sin *Value
	if a.Kind == ArchDecoder {
		cos, sin = l.ropeTables()
	}
	for i := 0; i < a.Layers; i++ {
		p := fmt.Sprintf("layers.%d.", i)
		if a.Kind == ArchDecoder {
			x = l.sublayer(x, p+"attn", p+"hc_attn", func(h *Value) *Value {
				h = l.one(OpRMSNorm, p+"attn_norm", arch, Attrs{"eps": a.NormEps}, h, l.weight(p+"attn_norm.weight"))
				attrs := Attrs{"heads": int64(a.Heads), "kv_heads": int64(a.KVHeads), "head_dim": int64(a.HeadDim)}
				ws := []*Value{h, l.weight(p + "attn.wq.weight"), l.weight(p + "attn.wk.weight"), l.weight(p + "attn.wv.weight"), l.weight(p + "attn.wo.weight"), cos, sin}
				if m.Inputs.KVCache {
					ws = append(ws, l.past[2*i], l.past[2*i+1], l.mask, l.positions)
					outs := l.node(OpAttentionKV, p+"attn", arch, attrs, ws,
						p+"attn", PresentKey(i), PresentValue(i))
					l.present = append(l.present, outs[1], outs[2])
					return outs[0]
				}
				return l.one(OpAttention, p+"attn", arch, attrs, ws...)
			})
			x = l.sublayer(x, p+"ffn", p+"hc_ffn", func(h *Value) *Value {
				h = l.one(OpRMSNorm, p+"ffn_norm", arch, Attrs{"eps": a.NormEps}, h, l.weight(p+"ffn_norm.weight"))
				return l.one(OpSwiGLU, p+"ffn", arch, nil, h, l.weight(p+"ffn.w1.weight"), l.weight(p+"ffn.w3.weight"), l.weight(p+"ffn.w2.weight"))
			})
		} else {
			x = l.sublayer(x, p+"mlp", p+"hc", func(h *Value) *Value {
				h = l.one(OpRMSNorm, p+"norm", arch, Attrs{"eps": a.NormEps}, h, l.weight(p+"norm.weight"))
				return l.one(OpSiluMLP, p+"mlp", arch, nil, h, l.weight(p+"mlp.w1.weight"), l.weight(p+"mlp.w2.weight"))
			})
		}
	}
	if mhc {
		x = l.collapse(x)
	}
	x = l.one(OpRMSNorm, "norm", arch, Attrs{"eps": a.NormEps}, x, l.weight("norm.weight"))
	var out *Value
	if a.Kind == ArchDecoder {
		out = l.node(OpLinear, "head", arch, nil, []*Value{x, l.weight("head.weight")}, "logits")[0]
	} else {
		out = l.node(OpLinear, "out_proj", arch, nil, []*Value{x, l.weight("out_proj.weight")}, "y")[0]
	}
	if l.err != nil {
		return l.err
	}
	l.g.AddOutput(out)
	for _, v := range l.present {
		l.g.AddOutput(v)
	}
	return nil
}

// Names of the cache inputs and outputs of layer i, as Hugging Face's ONNX
// exports (optimum) and onnxruntime-genai's default configuration call them.
func PastKey(i int) string      { return fmt.Sprintf("past_key_values.%d.key", i) }
func PastValue(i int) string    { return fmt.Sprintf("past_key_values.%d.value", i) }
func PresentKey(i int) string   { return fmt.Sprintf("present.%d.key", i) }
func PresentValue(i int) string { return fmt.Sprintf("present.%d.value", i) }

// Names of the padding and position inputs of a KV-cache graph, as in
// Hugging Face's exports (transformers.js and onnxruntime-genai feed them by
// these names).
const (
	AttentionMask = "attention_mask"
	PositionIDs   = "position_ids"
)

// addCacheInputs adds the inputs of a KV-cache step after input_ids:
// attention_mask int64 [batch, total_sequence] (1 for a token, 0 for
// padding, over the cache and the new tokens) and position_ids int64
// [batch, sequence] (each new token's RoPE position), then the keys and values
// of every layer [batch, kv_heads, past_sequence, head_dim], past_sequence ≥ 0.
func (l *lowerer) addCacheInputs(batch, seq Dim) {
	a := l.m.Arch
	l.mask = l.g.AddInput(AttentionMask, T(Int64, batch, P("total_sequence")))
	l.positions = l.g.AddInput(PositionIDs, T(Int64, batch, seq))
	t := T(Float32, batch, D(int64(a.KVHeads)), P("past_sequence"), D(int64(a.HeadDim)))
	for i := 0; i < a.Layers; i++ {
		l.past = append(l.past, l.g.AddInput(PastKey(i), t), l.g.AddInput(PastValue(i), t))
	}
}

// sublayer wraps F in mHC (docs/spec.md §2) or in a plain residual connection:
// name is the sublayer ("layers.0.attn"), hcp the prefix of its mHC weights.
func (l *lowerer) sublayer(x *Value, name, hcp string, f func(*Value) *Value) *Value {
	hc := l.m.HC
	pos := l.m.HCPos
	if hc.Kind != HCMHC {
		return l.one(OpAdd, name+".residual", pos, nil, x, f(x))
	}
	attrs := Attrs{"streams": int64(hc.Streams), "eps": hc.Eps, "rms_eps": hc.RMSEps}
	inputs := []*Value{l.weight(hcp + "_base")}
	if hc.Dynamic {
		inputs = append(inputs, x, l.weight(hcp+"_fn"), l.weight(hcp+"_scale"))
	}
	c := l.node(OpHCCoeffs, name+".hc", pos, attrs, inputs, name+".pre", name+".post", name+".logits")
	comb := l.one(OpSinkhorn, name+".comb", pos, Attrs{"iters": int64(hc.Iterations), "eps": hc.Eps}, c[2])
	h := l.one(OpHCCollapse, name+".h", pos, Attrs{"mode": "weighted"}, x, c[0])
	y := f(h)
	return l.one(OpHCMix, name+".x", pos, nil, x, y, c[1], comb)
}

func (l *lowerer) collapse(x *Value) *Value {
	hc := l.m.HC
	pos := l.m.HCPos
	switch hc.Collapse {
	case CollapseHead:
		pre := l.one(OpHCHeadCoeffs, "hc_head.pre", pos,
			Attrs{"streams": int64(hc.Streams), "eps": hc.Eps, "rms_eps": hc.RMSEps},
			x, l.weight("hc_head_fn"), l.weight("hc_head_base"), l.weight("hc_head_scale"))
		return l.one(OpHCCollapse, "hc_head", pos, Attrs{"mode": "weighted"}, x, pre)
	case CollapseSum, CollapseMean:
		return l.one(OpHCCollapse, "hc_head", pos, Attrs{"mode": hc.Collapse}, x)
	}
	l.fail(fmt.Errorf("ir: unknown collapse %q", hc.Collapse))
	return nil
}

// ropeTables returns cos and sin [max_sequence, head_dim], computed in
// float64: angle(p, i) = p · theta^(-2i/head_dim) for i < head_dim/2,
// duplicated over both halves (the rotate-half convention). Tables of
// LazyMinBytes or more are streamed constants (Tensor.Lazy), computed only
// when the exporter writes them: check and inspect lower the model too, and
// a long max_sequence with a wide head_dim makes tables of gigabytes.
func (l *lowerer) ropeTables() (cos, sin *Value) {
	a := l.m.Arch
	rows, d := int64(l.m.Inputs.MaxSequence), int64(a.HeadDim)
	shape := []int64{rows, d}
	if rows*d*4 >= LazyMinBytes {
		return l.g.AddConst("rope.cos", &Tensor{DType: Float32, Shape: shape, Lazy: ropeSource{rows, d, a.RopeTheta, false}}),
			l.g.AddConst("rope.sin", &Tensor{DType: Float32, Shape: []int64{rows, d}, Lazy: ropeSource{rows, d, a.RopeTheta, true}})
	}
	ct := &Tensor{DType: Float32, Shape: shape, F32: make([]float32, rows*d)}
	st := &Tensor{DType: Float32, Shape: []int64{rows, d}, F32: make([]float32, rows*d)}
	for p := int64(0); p < rows; p++ {
		ropeRow(ct.F32[p*d:][:d], p, a.RopeTheta, false)
		ropeRow(st.F32[p*d:][:d], p, a.RopeTheta, true)
	}
	return l.g.AddConst("rope.cos", ct), l.g.AddConst("rope.sin", st)
}

// ropeRow fills row p of the cos (or sin) table; len(row) is head_dim.
func ropeRow(row []float32, p int64, theta float64, sin bool) {
	d := len(row)
	half := d / 2
	for i := range half {
		ang := float64(p) * math.Pow(theta, -2*float64(i)/float64(d))
		v := float32(math.Cos(ang))
		if sin {
			v = float32(math.Sin(ang))
		}
		row[i], row[half+i] = v, v
	}
}

// A ropeSource computes a RoPE table row by row, in chunks of whole rows.
type ropeSource struct {
	rows, dim int64
	theta     float64
	sin       bool
}

func (r ropeSource) Stream(fn func([]float32) error) error {
	per := max(ChunkElems/r.dim, 1) // rows per chunk
	buf := make([]float32, min(per, r.rows)*r.dim)
	for p := int64(0); p < r.rows; p += per {
		n := min(per, r.rows-p)
		c := buf[:n*r.dim]
		for k := range n {
			ropeRow(c[k*r.dim:][:r.dim], p+k, r.theta, r.sin)
		}
		if err := fn(c); err != nil {
			return err
		}
	}
	return nil
}

func (r ropeSource) String() string {
	if r.sin {
		return "the RoPE sin table"
	}
	return "the RoPE cos table"
}
