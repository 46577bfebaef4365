package model

import (
	"strings"

	"github.com/mhcc-dev/mhcc/ir"
)

// A Model is a validated model file (format 1, docs/spec.md §5). Load fills every
// default, so later stages never look at the YAML again; Pos fields say where
// a setting came from, for error messages and for the positions of IR nodes.
type Model struct {
	File   string // path as given to Load
	Format int
	Name   string

	Arch    Architecture
	HC      HyperConnections
	Weights WeightsSpec
	Inputs  InputsSpec
	// Generation is the optional generation section: special ids and the
	// tokenizer (mhcc export, mhcc generate).
	Generation GenerationSpec

	// Positions of the sections, for nodes lowered from them: where the
	// section's key is; unknown (zero) for an absent inputs section.
	ArchPos, HCPos, WeightsPos, InputsPos ir.Pos

	// KeyPos holds the position of every key written in the file, by dotted
	// path ("hyper_connections.sinkhorn_iterations"). Keys left to their
	// defaults are absent; PosOf falls back to the enclosing section.
	KeyPos map[string]ir.Pos
}

// PosOf is the position of the key at the dotted path, or of the nearest
// enclosing key written in the file, or just the file.
func (m *Model) PosOf(path string) ir.Pos {
	for path != "" {
		if p, ok := m.KeyPos[path]; ok {
			return p
		}
		i := strings.LastIndexByte(path, '.')
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return ir.Pos{File: m.File}
}

// Architecture kinds.
const (
	ArchDecoder = "decoder"
	ArchMLP     = "mlp"
)

// Architecture is the architecture section.
type Architecture struct {
	Kind          string // ArchDecoder or ArchMLP
	VocabSize     int    // decoder
	HiddenSize    int    // C
	Layers        int
	Heads         int // decoder
	KVHeads       int // decoder; defaults to Heads
	HeadDim       int // decoder; defaults to HiddenSize/Heads
	FFNHiddenSize int
	NormEps       float64 // default 1e-6
	RopeTheta     float64 // decoder; default 10000
	InputSize     int     // mlp
	OutputSize    int     // mlp
	// MoE is the mixture-of-experts FFN (architecture.moe, model/moe.go);
	// nil for a dense FFN in every layer. Decoder only.
	MoE *MoE

	// The dense options of a decoder (docs/spec.md §3.1); each default is
	// the Llama-style decoder of format 1 before they existed. An mlp
	// leaves them zero ("" and false): its norm is RMSNorm, its MLP SiLU.
	Norm          string // NormRMS (default) or NormLayer, for every norm
	NormBias      bool   // layernorm only: the norms have a bias
	Activation    string // the FFN: ActSwiGLU (default), ActGeGLU, ActGELU, ActGELUTanh, ActReLU2
	Positions     string // PosRoPE (default), PosLearned or PosNone
	TieEmbeddings bool   // the head reads embed.weight; no head.weight
	QKVBias       bool   // biases on wq, wk, wv
	OutBias       bool   // a bias on wo
	MLPBias       bool   // biases on w1, w2 (and w3 when gated)
}

// Norms, activations and position encodings of a decoder (docs/spec.md §3.1).
const (
	NormRMS   = "rmsnorm"
	NormLayer = "layernorm"

	ActSwiGLU   = "swiglu"
	ActGeGLU    = "geglu"
	ActGELU     = "gelu"
	ActGELUTanh = "gelu_tanh"
	ActReLU2    = "relu2"

	PosRoPE    = "rope"
	PosLearned = "learned"
	PosNone    = "none"
)

// Gated reports whether the activation multiplies by a second projection
// (w3): swiglu and geglu.
func (a Architecture) Gated() bool { return a.Activation == ActSwiGLU || a.Activation == ActGeGLU }

// Hyper-connection kinds and collapse modes.
const (
	HCMHC      = "mhc"
	HCResidual = "residual"

	CollapseHead = "head"
	CollapseSum  = "sum"
	CollapseMean = "mean"
)

// HyperConnections is the hyper_connections section. For kind residual,
// Streams is 1 and the mHC-only fields keep the file's values or their
// defaults (they are checked so that flipping kind gives a valid twin) but
// mean nothing.
type HyperConnections struct {
	Kind       string  // HCMHC or HCResidual
	Streams    int     // n; 1 for residual
	Dynamic    bool    // default true
	Iterations int     // sinkhorn_iterations, default 20
	Eps        float64 // default 1e-6
	RMSEps     float64 // default 1e-6
	Collapse   string  // default CollapseHead
}

// Weight sources.
const (
	WeightsRandom      = "random"
	WeightsSafetensors = "safetensors"
)

// WeightsSpec is the weights section.
type WeightsSpec struct {
	Source  string // WeightsRandom or WeightsSafetensors
	Path    string // safetensors: resolved against the model file's folder
	Seed    uint64 // random
	PathPos ir.Pos
	// Names maps the checkpoint's tensor names onto docs/spec.md §4.1's
	// (weights.names, names.go); nil: the names are used as they are.
	Names *NamesSpec
}

// GenerationSpec is the generation section. An id of -1 is absent.
type GenerationSpec struct {
	Tokenizer string // tokenizer.json, resolved against the model file's folder; "" for none
	BOS, EOS  int
}

// InputsSpec is the inputs section. A size of 0 means dynamic.
type InputsSpec struct {
	Batch       int // 0 = dynamic
	Sequence    int // 0 = dynamic; decoder only
	MaxSequence int // default 4096; decoder only
	// KVCache makes a decoder a generation step: past keys and values of
	// every layer come in, the extended ones go out (README "KV-cache
	// graphs"). Decoder only; default false.
	KVCache bool
}
