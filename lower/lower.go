package lower

import (
	"fmt"
	"math"
	"strconv"

	"github.com/mhcc-dev/mhcc/ir"
	"github.com/mhcc-dev/mhcc/model"
	"github.com/mhcc-dev/mhcc/onnx/meta"
)

// Lower builds the graph of model m with weights w (docs/spec.md §3): the decoder or
// the mlp, each sublayer wrapped in mHC (or a plain residual). The result is
// the reference form: every mHC step is an op of its own, and nothing is
// fused. Weights become constants named as in docs/spec.md §4; the graph is verified.
func Lower(m *model.Model, w model.Weights) (*ir.Graph, error) {
	l := &lowerer{m: m, w: w, g: ir.NewGraph(m.Name)}
	l.g.Metadata = metadata(m)
	if err := l.lower(); err != nil {
		return nil, err
	}
	if err := ir.Verify(l.g); err != nil {
		return nil, err
	}
	return l.g, nil
}

type lowerer struct {
	m   *model.Model
	w   model.Weights
	g   *ir.Graph
	err error
	// consts caches weight constants by name, so a tensor becomes one Value.
	consts map[string]*ir.Value
	// past and present are the cache inputs and outputs (kv_cache only):
	// key and value of layer i at 2i and 2i+1.
	past, present []*ir.Value
	// mask and positions are the attention_mask and position_ids inputs
	// (kv_cache only).
	mask, positions *ir.Value
}

// weight returns the constant for tensor name, creating it on first use.
func (l *lowerer) weight(name string) *ir.Value {
	if v, ok := l.consts[name]; ok {
		return v
	}
	if l.consts == nil {
		l.consts = map[string]*ir.Value{}
	}
	t, ok := l.w[name]
	if !ok {
		l.fail(fmt.Errorf("ir: weight %q is missing", name))
		t = &ir.Tensor{DType: ir.Float32, Shape: []int64{0}, F32: []float32{}}
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
func (l *lowerer) node(op ir.Op, name string, pos ir.Pos, attrs ir.Attrs, inputs []*ir.Value, outs ...string) []*ir.Value {
	if l.err != nil {
		return make([]*ir.Value, len(outs))
	}
	n, err := l.g.NewNode(op, name, pos, attrs, inputs, outs...)
	if err != nil {
		l.fail(err)
		return make([]*ir.Value, len(outs))
	}
	return n.Outputs
}

func (l *lowerer) one(op ir.Op, name string, pos ir.Pos, attrs ir.Attrs, inputs ...*ir.Value) *ir.Value {
	return l.node(op, name, pos, attrs, inputs, name)[0]
}

func dimOf(size int, param string) ir.Dim {
	if size > 0 {
		return ir.D(int64(size))
	}
	return ir.P(param)
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
	var x *ir.Value // the state: [B, S, C] (residual) or [B, S, n, C]; mlp drops S
	switch a.Kind {
	case model.ArchDecoder:
		ids := l.g.AddInput(InputIDs, ir.T(ir.Int64, batch, dimOf(m.Inputs.Sequence, "sequence")))
		if m.Inputs.KVCache {
			l.addCacheInputs(batch, ids.Type.Shape[1])
		}
		x = l.one(ir.OpGather, "embed", arch, nil, l.weight("embed.weight"), ids)
		if a.Positions == model.PosLearned {
			// position_ids in a KV-cache step (each token's position after
			// the cached ones), else 0 … S−1.
			ins := []*ir.Value{x, l.weight("pos_embed.weight")}
			if m.Inputs.KVCache {
				ins = append(ins, l.positions)
			}
			x = l.one(ir.OpAddPositions, "pos_embed", arch, nil, ins...)
		}
	case model.ArchMLP:
		in := l.g.AddInput(MLPInput, ir.T(ir.Float32, batch, ir.D(int64(a.InputSize))))
		x = l.one(ir.OpLinear, "in_proj", arch, nil, in, l.weight("in_proj.weight"))
	default:
		return fmt.Errorf("ir: unknown architecture kind %q", a.Kind)
	}
	mhc := hc.Kind == model.HCMHC
	if mhc {
		x = l.one(ir.OpHCExpand, "streams", m.HCPos, ir.Attrs{"streams": int64(hc.Streams)}, x)
	}
	var cos, sin *ir.Value
	if a.Kind == model.ArchDecoder && a.Positions == model.PosRoPE {
		cos, sin = l.ropeTables()
	}
	for i := 0; i < a.Layers; i++ {
		p := fmt.Sprintf("layers.%d.", i)
		if a.Kind == model.ArchDecoder {
			x = l.sublayer(x, p+"attn", p+"hc_attn", func(h *ir.Value) *ir.Value {
				h = l.norm(p+"attn_norm", h)
				attrs := ir.Attrs{"heads": int64(a.Heads), "kv_heads": int64(a.KVHeads), "head_dim": int64(a.HeadDim)}
				if cos == nil {
					attrs["max_sequence"] = int64(m.Inputs.MaxSequence)
				}
				ws := []*ir.Value{h, l.weight(p + "attn.wq.weight"), l.weight(p + "attn.wk.weight"), l.weight(p + "attn.wv.weight"), l.weight(p + "attn.wo.weight"), cos, sin}
				if m.Inputs.KVCache {
					ws = append(ws, l.past[2*i], l.past[2*i+1], l.mask, l.positions)
				}
				ws = l.biases(ws, p+"attn.", [2]bool{a.QKVBias, a.OutBias}, "wq", "wk", "wv", "wo")
				if m.Inputs.KVCache {
					outs := l.node(ir.OpAttentionKV, p+"attn", arch, attrs, ws,
						p+"attn", PresentKey(i), PresentValue(i))
					l.present = append(l.present, outs[1], outs[2])
					return outs[0]
				}
				return l.one(ir.OpAttention, p+"attn", arch, attrs, ws...)
			})
			x = l.sublayer(x, p+"ffn", p+"hc_ffn", func(h *ir.Value) *ir.Value {
				h = l.norm(p+"ffn_norm", h)
				if m.IsMoELayer(i) {
					return l.moe(p, h)
				}
				return l.ffn(p, h)
			})
		} else {
			x = l.sublayer(x, p+"mlp", p+"hc", func(h *ir.Value) *ir.Value {
				h = l.one(ir.OpRMSNorm, p+"norm", arch, ir.Attrs{"eps": a.NormEps}, h, l.weight(p+"norm.weight"))
				return l.one(ir.OpSiluMLP, p+"mlp", arch, nil, h, l.weight(p+"mlp.w1.weight"), l.weight(p+"mlp.w2.weight"))
			})
		}
	}
	if mhc {
		x = l.collapse(x)
	}
	x = l.norm("norm", x)
	var out *ir.Value
	if a.Kind == model.ArchDecoder {
		head := "head.weight"
		if a.TieEmbeddings {
			head = "embed.weight"
		}
		out = l.node(ir.OpLinear, "head", arch, nil, []*ir.Value{x, l.weight(head)}, Logits)[0]
	} else {
		out = l.node(ir.OpLinear, "out_proj", arch, nil, []*ir.Value{x, l.weight("out_proj.weight")}, MLPOutput)[0]
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

// norm is the model's norm (architecture.norm) named name, with the weight
// name.weight (and name.bias with norm_bias).
func (l *lowerer) norm(name string, x *ir.Value) *ir.Value {
	a := l.m.Arch
	attrs := ir.Attrs{"eps": a.NormEps}
	if a.Norm == model.NormLayer {
		ins := []*ir.Value{x, l.weight(name + ".weight")}
		if a.NormBias {
			ins = append(ins, l.weight(name+".bias"))
		}
		return l.one(ir.OpLayerNorm, name, l.m.ArchPos, attrs, ins...)
	}
	return l.one(ir.OpRMSNorm, name, l.m.ArchPos, attrs, x, l.weight(name+".weight"))
}

// ffn is the decoder's feed-forward sublayer body of the layer with prefix
// p: SwiGLU as before the activation and bias options, else MLP.
func (l *lowerer) ffn(p string, h *ir.Value) *ir.Value {
	a := l.m.Arch
	w := func(k string) *ir.Value { return l.weight(p + "ffn." + k + ".weight") }
	if a.Activation == model.ActSwiGLU && !a.MLPBias {
		return l.one(ir.OpSwiGLU, p+"ffn", l.m.ArchPos, nil, h, w("w1"), w("w3"), w("w2"))
	}
	ins := []*ir.Value{h, w("w1"), w("w2"), nil}
	if a.Gated() {
		ins[3] = w("w3")
	}
	names := []string{"w1", "w2"}
	if a.Gated() {
		names = append(names, "w3")
	}
	ins = l.biases(ins, p+"ffn.", [2]bool{a.MLPBias, a.MLPBias}, names...)
	for len(ins) > 3 && ins[len(ins)-1] == nil { // no "_" for an absent w3 at the end
		ins = ins[:len(ins)-1]
	}
	return l.one(ir.OpMLP, p+"ffn", l.m.ArchPos, ir.Attrs{"activation": a.Activation}, ins...)
}

// biases appends to ins the bias of each projection in names (prefix p),
// omitted (nil) where off, the last projection's by on[1] and the others'
// by on[0]; nothing when every one is off.
func (l *lowerer) biases(ins []*ir.Value, p string, on [2]bool, names ...string) []*ir.Value {
	if !on[0] && !on[1] {
		return ins
	}
	for k, name := range names {
		if k == len(names)-1 && on[1] || k < len(names)-1 && on[0] {
			ins = append(ins, l.weight(p+name+".bias"))
		} else {
			ins = append(ins, nil)
		}
	}
	return ins
}

// addCacheInputs adds the inputs of a KV-cache step after input_ids:
// attention_mask int64 [batch, total_sequence] (1 for a token, 0 for
// padding, over the cache and the new tokens) and position_ids int64
// [batch, sequence] (each new token's RoPE position), then the keys and values
// of every layer [batch, kv_heads, past_sequence, head_dim], past_sequence ≥ 0.
func (l *lowerer) addCacheInputs(batch, seq ir.Dim) {
	a := l.m.Arch
	l.mask = l.g.AddInput(AttentionMask, ir.T(ir.Int64, batch, ir.P("total_sequence")))
	l.positions = l.g.AddInput(PositionIDs, ir.T(ir.Int64, batch, seq))
	t := ir.T(ir.Float32, batch, ir.D(int64(a.KVHeads)), ir.P("past_sequence"), ir.D(int64(a.HeadDim)))
	for i := 0; i < a.Layers; i++ {
		l.past = append(l.past, l.g.AddInput(PastKey(i), t), l.g.AddInput(PastValue(i), t))
	}
}

// sublayer wraps F in mHC (docs/spec.md §2) or in a plain residual connection:
// name is the sublayer ("layers.0.attn"), hcp the prefix of its mHC weights.
func (l *lowerer) sublayer(x *ir.Value, name, hcp string, f func(*ir.Value) *ir.Value) *ir.Value {
	hc := l.m.HC
	pos := l.m.HCPos
	if hc.Kind != model.HCMHC {
		return l.one(ir.OpAdd, name+".residual", pos, nil, x, f(x))
	}
	attrs := ir.Attrs{"streams": int64(hc.Streams), "eps": hc.Eps, "rms_eps": hc.RMSEps}
	inputs := []*ir.Value{l.weight(hcp + "_base")}
	if hc.Dynamic {
		inputs = append(inputs, x, l.weight(hcp+"_fn"), l.weight(hcp+"_scale"))
	}
	c := l.node(ir.OpHCCoeffs, name+".hc", pos, attrs, inputs, name+".pre", name+".post", name+".logits")
	comb := l.one(ir.OpSinkhorn, name+".comb", pos, ir.Attrs{"iters": int64(hc.Iterations), "eps": hc.Eps}, c[2])
	h := l.one(ir.OpHCCollapse, name+".h", pos, ir.Attrs{"mode": "weighted"}, x, c[0])
	y := f(h)
	return l.one(ir.OpHCMix, name+".x", pos, nil, x, y, c[1], comb)
}

func (l *lowerer) collapse(x *ir.Value) *ir.Value {
	hc := l.m.HC
	pos := l.m.HCPos
	switch hc.Collapse {
	case model.CollapseHead:
		pre := l.one(ir.OpHCHeadCoeffs, "hc_head.pre", pos,
			ir.Attrs{"streams": int64(hc.Streams), "eps": hc.Eps, "rms_eps": hc.RMSEps},
			x, l.weight("hc_head_fn"), l.weight("hc_head_base"), l.weight("hc_head_scale"))
		return l.one(ir.OpHCCollapse, "hc_head", pos, ir.Attrs{"mode": "weighted"}, x, pre)
	case model.CollapseSum, model.CollapseMean:
		return l.one(ir.OpHCCollapse, "hc_head", pos, ir.Attrs{"mode": hc.Collapse}, x)
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
func (l *lowerer) ropeTables() (cos, sin *ir.Value) {
	a := l.m.Arch
	rows, d := int64(l.m.Inputs.MaxSequence), int64(a.HeadDim)
	shape := []int64{rows, d}
	if rows*d*4 >= model.LazyMinBytes {
		return l.g.AddConst("rope.cos", &ir.Tensor{DType: ir.Float32, Shape: shape, Lazy: ropeSource{rows, d, a.RopeTheta, false}}),
			l.g.AddConst("rope.sin", &ir.Tensor{DType: ir.Float32, Shape: []int64{rows, d}, Lazy: ropeSource{rows, d, a.RopeTheta, true}})
	}
	ct := &ir.Tensor{DType: ir.Float32, Shape: shape, F32: make([]float32, rows*d)}
	st := &ir.Tensor{DType: ir.Float32, Shape: []int64{rows, d}, F32: make([]float32, rows*d)}
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
	per := max(ir.ChunkElems/r.dim, 1) // rows per chunk
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

// metadata is what the exporter records about m in the ONNX metadata, after
// its own keys (producer, target, lowering, precision), in this order.
func metadata(m *model.Model) []ir.MetaEntry {
	hc := m.HC
	kv := [][2]string{
		{meta.Model, m.Name},
		{meta.Architecture, m.Arch.Kind},
		{meta.Layers, strconv.Itoa(m.Arch.Layers)},
		{meta.HCKind, hc.Kind},
		{meta.HCStreams, strconv.Itoa(hc.Streams)},
	}
	if hc.Kind == model.HCMHC {
		kv = append(kv,
			[2]string{meta.HCDynamic, strconv.FormatBool(hc.Dynamic)},
			[2]string{meta.HCIterations, strconv.Itoa(hc.Iterations)},
			[2]string{meta.HCEps, strconv.FormatFloat(hc.Eps, 'g', -1, 64)},
			[2]string{meta.HCRMSEps, strconv.FormatFloat(hc.RMSEps, 'g', -1, 64)},
			[2]string{meta.HCCollapse, hc.Collapse},
		)
	}
	kv = append(kv, [2]string{meta.Weights, m.Weights.Source})
	md := make([]ir.MetaEntry, len(kv))
	for i, e := range kv {
		md[i] = ir.MetaEntry{Key: e[0], Value: e[1]}
	}
	return md
}
