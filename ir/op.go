package ir

import (
	"fmt"
	"sort"
)

// An Op is an operator of the IR. Its semantics, input and output counts,
// attributes and shape rule live in one row of opTable.
//
// The IR keeps the model's structure: mHC's coefficient computation
// (HCCoeffs, HCHeadCoeffs), the Sinkhorn projection, the stream collapse and
// the stream mixing are ops of their own, and so are RMSNorm, Attention and
// the FFNs. They are expanded into ONNX operators only by the exporter (or by
// target-specific lowering passes), so each target can choose its own form.
type Op uint8

const (
	OpInvalid Op = iota

	OpGather // rows of a table: out[..., :] = table[ids[...], :]
	OpLinear // x · wᵀ with w stored [out, in], as PyTorch does
	OpAdd    // a + b, same shapes
	OpRMSNorm
	OpAttention
	OpSwiGLU
	OpSiluMLP

	OpHCExpand
	OpHCCoeffs
	OpHCHeadCoeffs
	OpSinkhorn
	OpHCCollapse
	OpHCMix
	OpHCPremix
	OpCast
	OpAddRMSNorm

	OpAttentionKV

	OpHCCoeffsSinkhorn // fused: coefficients and Sinkhorn of one sublayer (fused.go)
	OpHCBoundary       // fused: post-mix of a sublayer, pre-mix and norm of the next (fused.go)
	OpMoE
	OpLayerNorm
	OpMLP
	OpAddPositions
	OpHCCoeffsBoundary // fused: HCCoeffsSinkhorn and HCBoundary of one sublayer after the first, merged (fused.go)
	OpHCHead           // fused: the last sublayer's post-mix, the head's coefficients and collapse, the final RMSNorm (fused.go)
	OpHCEntry          // fused: the embedding expanded into streams, the first sublayer's HCCoeffsSinkhorn and HCBoundary (fused.go)

	numOps
)

// Attribute kinds.
const (
	attrInt    = "int"
	attrFloat  = "float"
	attrString = "string"
	attrInts   = "ints"
)

type attrSpec struct {
	kind     string
	required bool
}

type opInfo struct {
	name         string
	minIn, maxIn int // input count range; inputs beyond minIn are optional
	out          int
	attrs        map[string]attrSpec
	infer        func(n *Node) ([]Type, error)
	doc          string
}

var opTable = [numOps]opInfo{
	OpGather: {name: "Gather", minIn: 2, maxIn: 2, out: 1, infer: inferGather,
		doc: "table[ids]: out[i..., c] = table[ids[i...], c]"},
	OpLinear: {name: "Linear", minIn: 2, maxIn: 2, out: 1, infer: inferLinear,
		doc: "x · wᵀ, w stored [out, in]"},
	OpAdd: {name: "Add", minIn: 2, maxIn: 2, out: 1, infer: inferSame,
		doc: "a + b (the plain residual connection)"},
	OpRMSNorm: {name: "RMSNorm", minIn: 2, maxIn: 2, out: 1, infer: inferRMSNorm,
		attrs: map[string]attrSpec{"eps": {attrFloat, true}},
		doc:   "x / sqrt(mean(x², -1) + eps) · w"},
	OpAttention: {name: "Attention", minIn: 5, maxIn: 11, out: 1, infer: inferAttention,
		attrs: attentionAttrs,
		doc:   "causal grouped-query self-attention with RoPE; inputs x, wq, wk, wv, wo, cos, sin (both omitted: no RoPE), then the optional biases bq, bk, bv, bo"},
	OpSwiGLU: {name: "SwiGLU", minIn: 4, maxIn: 4, out: 1, infer: inferSwiGLU,
		doc: "(silu(x·w1ᵀ) * (x·w3ᵀ)) · w2ᵀ; inputs x, w1, w3, w2"},
	OpSiluMLP: {name: "SiluMLP", minIn: 3, maxIn: 3, out: 1, infer: inferSiluMLP,
		doc: "silu(x·w1ᵀ) · w2ᵀ; inputs x, w1, w2"},

	OpHCExpand: {name: "HCExpand", minIn: 1, maxIn: 1, out: 1, infer: inferHCExpand,
		attrs: map[string]attrSpec{"streams": {attrInt, true}},
		doc:   "repeat x[..., C] into n streams [..., n, C]"},
	OpHCCoeffs: {name: "HCCoeffs", minIn: 1, maxIn: 4, out: 3, infer: inferHCCoeffs,
		attrs: map[string]attrSpec{"streams": {attrInt, true}, "eps": {attrFloat, true}, "rms_eps": {attrFloat, true}},
		doc:   "mHC coefficients (pre, post, mixing logits) from base, and for dynamic mHC from x, fn, scale (no scale: folded into fn)"},
	OpHCHeadCoeffs: {name: "HCHeadCoeffs", minIn: 4, maxIn: 4, out: 1, infer: inferHCHeadCoeffs,
		attrs: map[string]attrSpec{"streams": {attrInt, true}, "eps": {attrFloat, true}, "rms_eps": {attrFloat, true}},
		doc:   "pre weights of the head collapse: sigmoid(scale·(xf·fnᵀ)·r + base) + eps; inputs x, fn, base, scale"},
	OpSinkhorn: {name: "Sinkhorn", minIn: 1, maxIn: 1, out: 1, infer: inferSinkhorn,
		attrs: map[string]attrSpec{"iters": {attrInt, true}, "eps": {attrFloat, true}},
		doc:   "softmax(logits, -1) + eps, then Sinkhorn-Knopp normalisation (columns, then iters-1 × rows and columns)"},
	OpHCCollapse: {name: "HCCollapse", minIn: 1, maxIn: 2, out: 1, infer: inferHCCollapse,
		attrs: map[string]attrSpec{"mode": {attrString, true}},
		doc:   "streams to one: Σ_i pre[i]·x[i] (mode weighted), Σ_i x[i] (sum) or the mean"},
	OpHCMix: {name: "HCMix", minIn: 3, maxIn: 4, out: 1, infer: inferHCMix,
		doc: "x'[k] = post[k]·y + Σ_j comb[j,k]·x[j]; inputs x, y, post, comb (omitted: x already mixed, x'[k] = post[k]·y + x[k])"},
	OpHCPremix: {name: "HCPremix", minIn: 3, maxIn: 3, out: 2, infer: inferHCPremix,
		doc: "h = Σ_i pre[i]·x[i] and mixed[k] = Σ_j comb[j,k]·x[j] in one pass over x; inputs x, pre, comb"},
	OpAddRMSNorm: {name: "AddRMSNorm", minIn: 3, maxIn: 3, out: 2, infer: inferAddRMSNorm,
		attrs: map[string]attrSpec{"eps": {attrFloat, true}},
		doc:   "s = a + b and RMSNorm(s, w): the residual add and the next sublayer's norm; outputs normed, s"},
	OpCast: {name: "Cast", minIn: 1, maxIn: 1, out: 1, infer: inferCast,
		attrs: map[string]attrSpec{"to": {attrString, true}},
		doc:   "x converted to the float type named by to (f32, f16, bf16, f64), rounding to nearest even"},

	OpHCCoeffsSinkhorn: hcCoeffsSinkhornInfo,
	OpHCBoundary:       hcBoundaryInfo,
	OpHCCoeffsBoundary: hcCoeffsBoundaryInfo,
	OpHCHead:           hcHeadInfo,
	OpHCEntry:          hcEntryInfo,
	OpMoE: {name: "MoE", minIn: 2 + 2*moeMinArity, maxIn: 2 + (moeMaxExperts+1)*moeMaxArity, out: 1, infer: inferMoE,
		attrs: moeAttrs,
		doc:   "mixture-of-experts FFN (ir/moe.go): Σ over the top_k experts by router score of weight·expert(x), plus the shared MLP; inputs x, gate [E, C], each expert's weights, then the shared MLP's"},
	OpAttentionKV: {name: "AttentionKV", minIn: 5, maxIn: 15, out: 3, infer: inferAttentionKV,
		attrs: attentionAttrs,
		doc:   "Attention over cached and new tokens, keys and values appended to the cache; inputs x, wq, wk, wv, wo, cos, sin (both omitted: no RoPE), past_key, past_value, attention_mask [B, P+S] (0: padding, never attended), position_ids [B, S] (the RoPE rows), then the optional biases bq, bk, bv, bo; outputs y, present_key, present_value"},

	OpLayerNorm: {name: "LayerNorm", minIn: 2, maxIn: 3, out: 1, infer: inferLayerNorm,
		attrs: map[string]attrSpec{"eps": {attrFloat, true}},
		doc:   "(x − mean(x, -1)) / sqrt(var(x, -1) + eps) · w (+ b), var the biased variance; inputs x, w, optional b"},
	OpMLP: {name: "MLP", minIn: 3, maxIn: 7, out: 1, infer: inferMLP,
		attrs: map[string]attrSpec{"activation": {attrString, true}},
		doc:   "act(x·w1ᵀ + b1) [· (x·w3ᵀ + b3) when gated] · w2ᵀ + b2, act by activation (swiglu, geglu gated; gelu, gelu_tanh, relu2 not); inputs x, w1, w2, w3 (gated only), then the optional biases b1, b2, b3"},
	OpAddPositions: {name: "AddPositions", minIn: 2, maxIn: 3, out: 1, infer: inferAddPositions,
		doc: "learned positions: x + table[positions], x [B, S, C], table [max_sequence, C]; positions are position_ids [B, S] (input 2) or, omitted, 0 … S−1"},
}

// attentionAttrs are the attributes of Attention and AttentionKV.
// max_sequence is set when cos and sin are omitted (no RoPE), for lowerings
// that build position constants from the tables' length.
var attentionAttrs = map[string]attrSpec{"heads": {attrInt, true}, "kv_heads": {attrInt, true}, "head_dim": {attrInt, true}, "max_sequence": {attrInt, false}}

func (o Op) String() string {
	if o > OpInvalid && o < numOps {
		return opTable[o].name
	}
	return fmt.Sprintf("Op(%d)", o)
}

// Doc is the op's one-line meaning.
func (o Op) Doc() string {
	if o > OpInvalid && o < numOps {
		return opTable[o].doc
	}
	return ""
}

// NumOutputs is the op's output count.
func (o Op) NumOutputs() int { return opTable[o].out }

// Ops returns every op, in table order.
func Ops() []Op {
	var ops []Op
	for o := OpInvalid + 1; o < numOps; o++ {
		ops = append(ops, o)
	}
	return ops
}

// OpByName finds an op by its printed name.
func OpByName(name string) (Op, bool) {
	for o := OpInvalid + 1; o < numOps; o++ {
		if opTable[o].name == name {
			return o, true
		}
	}
	return OpInvalid, false
}

// Infer checks n's inputs and attributes against its op's row and returns
// the types of its outputs.
func Infer(n *Node) ([]Type, error) {
	if n.Op <= OpInvalid || n.Op >= numOps {
		return nil, fmt.Errorf("unknown op %d", n.Op)
	}
	info := &opTable[n.Op]
	if len(n.Inputs) < info.minIn || len(n.Inputs) > info.maxIn {
		if info.minIn == info.maxIn {
			return nil, fmt.Errorf("got %d inputs, want %d", len(n.Inputs), info.minIn)
		}
		return nil, fmt.Errorf("got %d inputs, want %d to %d", len(n.Inputs), info.minIn, info.maxIn)
	}
	for i := 0; i < info.minIn; i++ {
		if n.Inputs[i] == nil {
			return nil, fmt.Errorf("input %d is required", i)
		}
	}
	if err := checkAttrs(n.Attrs, info.attrs); err != nil {
		return nil, err
	}
	return info.infer(n)
}

func checkAttrs(a Attrs, spec map[string]attrSpec) error {
	names := make([]string, 0, len(a))
	for k := range a {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		s, ok := spec[k]
		if !ok {
			return fmt.Errorf("unknown attribute %q", k)
		}
		var good bool
		switch a[k].(type) {
		case int64:
			good = s.kind == attrInt
		case float64:
			good = s.kind == attrFloat
		case string:
			good = s.kind == attrString
		case []int64:
			good = s.kind == attrInts
		}
		if !good {
			return fmt.Errorf("attribute %q: got %T, want %s", k, a[k], s.kind)
		}
	}
	keys := make([]string, 0, len(spec))
	for k := range spec {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if _, ok := a[k]; !ok && spec[k].required {
			return fmt.Errorf("missing attribute %q", k)
		}
	}
	return nil
}
