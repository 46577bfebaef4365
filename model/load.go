package model

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mhcc-dev/mhcc/internal/inputfile"
	"github.com/mhcc-dev/mhcc/ir"
	"go.yaml.in/yaml/v3"

	"github.com/mhcc-dev/mhcc/internal/tokenizer"
)

// Defaults for the keys a model file may leave out (docs/spec.md §5).
const (
	DefaultNormEps     = 1e-6
	DefaultRopeTheta   = 10000.0
	DefaultStreams     = 4
	DefaultDynamic     = true
	DefaultIterations  = 20
	DefaultEps         = 1e-6
	DefaultRMSEps      = 1e-6
	DefaultCollapse    = CollapseHead
	DefaultMaxSequence = 4096
	DefaultNorm        = NormRMS
	DefaultActivation  = ActSwiGLU
	DefaultPositions   = PosRoPE
)

// hfActivations maps Hugging Face hidden_act names to the activation that
// computes them (gated ones by the model's MLP: silu in a Llama MLP is swiglu).
var hfActivations = map[string]string{
	"silu": ActSwiGLU, "swish": ActSwiGLU, "gelu_new": ActGELUTanh, "gelu_pytorch_tanh": ActGELUTanh,
	"gelu_fast": ActGELUTanh, "relu_squared": ActReLU2, "relu2_squared": ActReLU2,
}

// denseOptions are the decoder-only keys of the dense options (docs/spec.md
// §5.1), forbidden in an mlp.
var denseOptions = []string{"norm", "norm_bias", "activation", "positions", "tie_embeddings", "qkv_bias", "out_bias", "mlp_bias"}

// Upper bounds on sizes, so that a typo cannot ask for terabytes.
const (
	maxHidden     = 1 << 20
	maxLayers     = 1 << 12
	maxHeads      = 1 << 12
	maxHeadDim    = 1 << 14
	maxVocab      = 1 << 22
	maxFFN        = 1 << 22
	maxFeatures   = 1 << 22 // input_size, output_size
	maxStreams    = 64
	maxIterations = 10000
	maxBatch      = 1 << 20
	maxSequence   = 1 << 20
	maxParams     = 1 << 34 // about 64 GiB of float32 weights
	maxEps        = 0.1     // norm_eps, eps, rms_eps
	maxRopeTheta  = 1e12
	// maxRopeElems bounds max_sequence × head_dim: the RoPE tables (cos and
	// sin, float32 constants of that shape) then take at most 1 GiB. 2^20
	// positions of head_dim 128 fit; each bound alone (2^20 × 2^14) would
	// make 128 GiB of tables.
	maxRopeElems = 1 << 27
)

// sectionKeys lists the keys allowed in each mapping of a model file, by
// dotted path ("" is the top level), in the order of docs/spec.md §5.
var sectionKeys = map[string][]string{
	"":                  {"format", "name", "architecture", "hyper_connections", "weights", "inputs", "generation"},
	"architecture.moe":  {"experts", "experts_per_token", "shared_experts", "expert_ffn_hidden_size", "router", "normalize_top_k", "routed_scaling_factor", "dense_layers"},
	"architecture":      {"kind", "vocab_size", "hidden_size", "layers", "heads", "kv_heads", "head_dim", "ffn_hidden_size", "norm_eps", "rope_theta", "input_size", "output_size", "norm", "norm_bias", "activation", "positions", "tie_embeddings", "qkv_bias", "out_bias", "mlp_bias", "moe"},
	"hyper_connections": {"kind", "streams", "dynamic", "sinkhorn_iterations", "eps", "rms_eps", "collapse"},
	"weights":           {"source", "path", "seed", "names"},
	"weights.names":     {"preset", "strip_prefix", "ignore", "rules"},
	"inputs":            {"batch", "sequence", "max_sequence", "kv_cache"},
	"generation":        {"tokenizer", "bos_token_id", "eos_token_id"},
}

// sectionOrder is the order in which sections are searched for a key that
// was written in the wrong one.
var sectionOrder = []string{"", "architecture", "architecture.moe", "hyper_connections", "weights", "inputs", "generation"}

// MaxFileBytes bounds a model file: the cap every YAML file mhcc reads
// has (inputfile.MaxYAMLBytes, which says why).
const MaxFileBytes = inputfile.MaxYAMLBytes

// Load reads and validates the model file at path (docs/spec.md §5), filling every
// default. A file with problems yields an [ErrorList] naming all of them,
// each with its file:line:col and key path.
func Load(path string) (*Model, error) {
	data, err := inputfile.ReadFile(path, MaxFileBytes, "a model file")
	if errors.Is(err, inputfile.ErrTooLarge) {
		// A weights file named where the model file goes is large: say
		// what it is rather than only that it is too big.
		if head := readHead(path, 8<<10); head != nil {
			if kind := BinaryKind(head); kind == "a safetensors weights file" || kind == "an ONNX model" {
				return LoadBytes(path, head)
			}
		}
	}
	if err != nil {
		return nil, err
	}
	return LoadBytes(path, data)
}

// LoadBytes is [Load] for a file already in memory. file names the file in
// messages and is the base for a relative weights path.
func LoadBytes(file string, data []byte) (*Model, error) {
	l := &loader{file: file}
	if len(data) > MaxFileBytes {
		l.errs.Add(ir.Pos{File: file, Line: 1, Col: 1}, "", "got a file of %d bytes, want at most %d (a model file is a few dozen lines; the weights go in weights.path)", len(data), MaxFileBytes)
		return nil, l.errs.Err()
	}
	if kind := BinaryKind(data); kind != "" {
		l.errs.Add(ir.Pos{File: file, Line: 1, Col: 1}, "", "got %s, want a model file (YAML text)%s", kind, binaryHint(kind))
		return nil, l.errs.Err()
	}
	if root := l.parse(data); root != nil {
		m := l.model(root)
		if len(l.errs) == 0 {
			return m, nil
		}
	}
	return nil, l.errs.Err()
}

// A loader collects the problems of one model file while filling its Model.
type loader struct {
	file string
	errs ErrorList
	m    *Model
}

// pos is the position of n; a node without one is placed at 1:1 so that
// every error names a line.
func (l *loader) pos(n *yaml.Node) ir.Pos {
	return ir.Pos{File: l.file, Line: max(n.Line, 1), Col: max(n.Column, 1)}
}

// parse reads data as exactly one YAML document holding a mapping and
// returns the mapping, or nil after reporting why there is none.
func (l *loader) parse(data []byte) *yaml.Node {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if err == io.EOF {
			l.errs.Add(ir.Pos{File: l.file, Line: 1, Col: 1}, "", "got an empty file, want a mapping starting with format: 1")
		} else {
			l.syntaxError(data, err)
		}
		return nil
	}
	l.moreDocuments(dec, data)
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = deref(root.Content[0])
	}
	switch {
	case isNull(root):
		l.errs.Add(l.pos(root), "", "got an empty document, want a mapping starting with format: 1")
	case root.Kind != yaml.MappingNode:
		l.errs.Add(l.pos(root), "", "got %s, want a mapping starting with format: 1", describe(root))
	default:
		return root
	}
	return nil
}

// moreDocuments reports anything after the first document.
func (l *loader) moreDocuments(dec *yaml.Decoder, data []byte) {
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case err == io.EOF:
	case err != nil:
		l.syntaxError(data, err)
	default:
		l.errs.Add(l.pos(&next), "", "got a second YAML document, want one model per file")
	}
}

// yamlLine matches the line yaml puts into its syntax errors.
var yamlLine = regexp.MustCompile(`(?s)^yaml: line (\d+): (.*)$`)

// parserProblems are the syntax errors for which yaml reports a line
// counted from 0, the start of the enclosing construct; for the others
// (scanner errors) it counts from 1.
var parserProblems = map[string]bool{
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"did not find expected '-' indicator":    true,
	"did not find expected <document start>": true,
	"did not find expected <stream-start>":   true,
	"did not find expected key":              true,
	"did not find expected node content":     true,
	"found duplicate %TAG directive":         true,
	"found duplicate %YAML directive":        true,
	"found incompatible YAML document":       true,
	"found undefined tag handle":             true,
}

// unknownAnchor matches yaml's error for an alias without an anchor.
var unknownAnchor = regexp.MustCompile(`^unknown anchor '(.*)' referenced$`)

// syntaxError reports a YAML syntax error. yaml names the line where the
// enclosing construct starts, or none; the loader looks for the line of the
// problem itself (column 1, as yaml gives none), the offending character or
// the undefined alias.
func (l *loader) syntaxError(data []byte, err error) {
	line, msg := splitYAMLError(err)
	if line == 0 {
		line = 1 // yaml leaves out line 0
	}
	col := 1
	if m := unknownAnchor.FindStringSubmatch(msg); m != nil {
		line, col = lineCol(data, bytes.Index(data, []byte("*"+m[1])), line)
	} else if at := badCharacter(data); at >= 0 && !strings.Contains(err.Error(), "line ") {
		line, col = lineCol(data, at, line)
	} else {
		line = problemLine(data, line, msg)
	}
	l.errs.Add(ir.Pos{File: l.file, Line: line, Col: col}, "", "invalid YAML: %s", msg)
}

// splitYAMLError returns the 1-based line (0 if none) and the message of a
// yaml error.
func splitYAMLError(err error) (line int, msg string) {
	m := yamlLine.FindStringSubmatch(err.Error())
	if m == nil {
		return 0, strings.TrimPrefix(err.Error(), "yaml: ")
	}
	line, _ = strconv.Atoi(m[1])
	if parserProblems[m[2]] {
		line++
	}
	return line, m[2]
}

// problemLine finds the first line, from line on, at which the file cut
// after that line fails with the same message msg; that is where the
// problem is, while yaml names where its construct starts. It gives up on
// large files (the search is quadratic) and returns line.
func problemLine(data []byte, line int, msg string) int {
	lines := bytes.SplitAfter(data, []byte("\n"))
	if len(lines) > 500 || len(data) > 1<<16 {
		return line
	}
	end := 0
	for i, text := range lines {
		end += len(text)
		if i+1 < line {
			continue
		}
		if _, m := splitYAMLError(decodeAll(data[:end])); m == msg {
			return i + 1
		}
	}
	return line
}

// decodeAll parses every document of data and returns the first error, or
// io.EOF.
func decodeAll(data []byte) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var n yaml.Node
		if err := dec.Decode(&n); err != nil {
			return err
		}
	}
}

// lineCol is the 1-based line and column of the byte offset at, or def, 1
// for a negative offset.
func lineCol(data []byte, at, def int) (line, col int) {
	if at < 0 {
		return def, 1
	}
	line = 1 + bytes.Count(data[:at], []byte("\n"))
	col = 1 + utf8.RuneCount(data[bytes.LastIndexByte(data[:at], '\n')+1:at])
	return line, col
}

// badCharacter is the offset of the first byte that is not valid UTF-8 or is
// a character YAML does not allow, or -1.
func badCharacter(data []byte) int {
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size <= 1 || !yamlPrintable(r) {
			return i
		}
		i += size
	}
	return -1
}

// yamlPrintable reports whether YAML 1.2 allows r in a stream.
func yamlPrintable(r rune) bool {
	switch {
	case r == '\t' || r == '\n' || r == '\r' || r == 0x85 || r == 0xFEFF:
		return true
	case r < 0x20 || r >= 0x7F && r < 0xA0:
		return false
	case r >= 0xD800 && r <= 0xDFFF || r == 0xFFFE || r == 0xFFFF:
		return false
	}
	return true
}

// model checks every section of the top-level mapping root.
func (l *loader) model(root *yaml.Node) *Model {
	m := &Model{File: l.file, KeyPos: map[string]ir.Pos{}}
	l.m = m
	top := l.section("", l.pos(root), root, false)
	top.require("", "format", "architecture", "hyper_connections", "weights")
	m.Format = l.format(top)
	m.Name = l.name(top)
	arch := top.sub("architecture", false)
	hc := top.sub("hyper_connections", false)
	w := top.sub("weights", false)
	in := top.sub("inputs", true)
	gen := top.sub("generation", true)
	m.ArchPos, m.HCPos, m.WeightsPos, m.InputsPos = arch.pos, hc.pos, w.pos, in.pos
	l.architecture(arch)
	l.hyperConnections(hc)
	l.weights(w)
	l.inputs(in)
	l.generation(gen)
	if len(l.errs) == 0 {
		l.checkParams(arch)
	}
	if len(l.errs) == 0 {
		l.checkRope(in, arch)
	}
	return m
}

// format checks that the file is format 1.
func (l *loader) format(top *section) int {
	f, ok := top.field("format")
	if !ok {
		return 0
	}
	if v, r := intValue(f.val); r != intOK || v != 1 {
		top.errorf(f, "format", "got %s, want 1", describe(f.val))
		return 0
	}
	return 1
}

// name reads the model name, by default the file's base name without its
// extension.
func (l *loader) name(top *section) string {
	if top.absent("name") {
		base := filepath.Base(l.file)
		if base = strings.TrimSuffix(base, filepath.Ext(base)); base == "" || base == "." || base == string(filepath.Separator) {
			return "model"
		}
		return base
	}
	s, ok := top.str("name", "a name")
	if ok && strings.IndexFunc(s, unicode.IsControl) >= 0 {
		f, _ := top.field("name")
		top.errorf(f, "name", "got %s, want a name without control characters", describe(f.val))
	}
	return s
}

// architecture checks the architecture section.
func (l *loader) architecture(s *section) {
	a := &l.m.Arch
	s.require("", "kind", "hidden_size", "layers", "ffn_hidden_size")
	a.Kind, _ = s.enum("kind", ArchDecoder, ArchMLP)
	switch a.Kind {
	case ArchDecoder:
		s.require(", required for kind decoder", "vocab_size", "heads")
		s.forbid("for kind decoder (mlp only)", "input_size", "output_size")
	case ArchMLP:
		s.require(", required for kind mlp", "input_size", "output_size")
		s.forbid("for kind mlp (decoder only)", "vocab_size", "heads", "kv_heads", "head_dim", "rope_theta")
		s.forbid("for kind mlp (decoder only)", denseOptions...)
	}
	hidden, hiddenOK := s.integer("hidden_size", 1, maxHidden, "")
	a.HiddenSize = int(hidden)
	a.Layers = int(s.intOr("layers", 1, maxLayers, 0))
	a.FFNHiddenSize = int(s.intOr("ffn_hidden_size", 1, maxFFN, 0))
	a.NormEps = s.numberOr("norm_eps", maxEps, DefaultNormEps)
	if a.Kind != ArchMLP {
		l.denseOptions(s)
		l.attention(s, hidden, hiddenOK)
	}
	if a.Kind != ArchDecoder {
		a.InputSize = int(s.intOr("input_size", 1, maxFeatures, 0))
		a.OutputSize = int(s.intOr("output_size", 1, maxFeatures, 0))
	}
	l.moe(s)
}

// attention checks the decoder-only keys of the architecture section and
// fills kv_heads and head_dim.
func (l *loader) attention(s *section, hidden int64, hiddenOK bool) {
	a := &l.m.Arch
	a.VocabSize = int(s.intOr("vocab_size", 1, maxVocab, 0))
	heads, headsOK := s.integer("heads", 1, maxHeads, "")
	kv, kvOK := s.integer("kv_heads", 1, maxHeads, "")
	if s.absent("kv_heads") {
		kv, kvOK = heads, headsOK
	}
	if headsOK && kvOK && heads%kv != 0 {
		f, _ := s.field("kv_heads")
		s.errorf(f, "kv_heads", "got %d, want a divisor of heads (%d)", kv, heads)
	}
	dim, dimOK := s.integer("head_dim", 1, maxHeadDim, "")
	rope := a.Positions == PosRoPE // only RoPE needs an even head_dim
	if dimOK && rope && dim%2 != 0 {
		f, _ := s.field("head_dim")
		s.errorf(f, "head_dim", "got %d, want an even number (RoPE rotates the two halves of a head)", dim)
	}
	if s.absent("head_dim") && headsOK && hiddenOK {
		dim = hidden / heads
		f, _ := s.field("heads")
		switch {
		case hidden%heads != 0:
			s.errorf(f, "heads", "got %d, want a divisor of hidden_size (%d), or set head_dim", heads, hidden)
		case rope && dim%2 != 0:
			s.errorf(f, "heads", "got %d, want heads making head_dim = hidden_size/heads = %d even (RoPE), or set head_dim", heads, dim)
		}
	}
	a.Heads, a.KVHeads, a.HeadDim = int(heads), int(kv), int(dim)
	a.RopeTheta = s.numberOr("rope_theta", maxRopeTheta, DefaultRopeTheta)
}

// denseOptions reads the decoder's norm, activation, positions, tying and
// bias keys (docs/spec.md §5.1). rope_theta is dropped (reported) unless the
// positions are RoPE, so attention reads only a meaningful one.
func (l *loader) denseOptions(s *section) {
	a := &l.m.Arch
	a.Norm, a.Activation, a.Positions = DefaultNorm, DefaultActivation, DefaultPositions
	if v, ok := s.enum("norm", NormRMS, NormLayer); ok {
		a.Norm = v
	}
	if f, ok := s.field("activation"); ok && isString(f.val) && hfActivations[f.val.Value] != "" {
		// A Hugging Face hidden_act name: say which of ours it is (a
		// did-you-mean by spelling would pick gelu for gelu_new).
		s.errorf(f, "activation", "got %s, want one of %s; Hugging Face's %s is %q here",
			describe(f.val), oneOf([]string{ActSwiGLU, ActGeGLU, ActGELU, ActGELUTanh, ActReLU2}), f.val.Value, hfActivations[f.val.Value])
		delete(s.fields, "activation")
	}
	if v, ok := s.enum("activation", ActSwiGLU, ActGeGLU, ActGELU, ActGELUTanh, ActReLU2); ok {
		a.Activation = v
	}
	if v, ok := s.enum("positions", PosRoPE, PosLearned, PosNone); ok {
		a.Positions = v
	}
	a.NormBias = s.boolOr("norm_bias", false)
	if f, ok := s.field("norm_bias"); ok && a.NormBias && a.Norm != NormLayer {
		s.errorf(f, "norm_bias", "got true, want false with norm %s (only layernorm has a bias)", a.Norm)
	}
	if a.Positions != PosRoPE {
		s.forbid(fmt.Sprintf("with positions %s (rope only)", a.Positions), "rope_theta")
	}
	a.TieEmbeddings = s.boolOr("tie_embeddings", false)
	a.QKVBias = s.boolOr("qkv_bias", false)
	a.OutBias = s.boolOr("out_bias", false)
	a.MLPBias = s.boolOr("mlp_bias", false)
}

// hyperConnections checks the hyper_connections section. The mHC-only keys
// are checked for kind residual too, so that flipping kind keeps a valid
// file, but they mean nothing there.
func (l *loader) hyperConnections(s *section) {
	hc := &l.m.HC
	s.require("", "kind")
	hc.Kind, _ = s.enum("kind", HCMHC, HCResidual)
	if hc.Kind == HCResidual {
		hc.Streams = 1
		if f, ok := s.field("streams"); ok {
			if v, r := intValue(f.val); r != intOK || v != 1 {
				s.errorf(f, "streams", "got %s, want 1 (residual has one stream)", describe(f.val))
			}
		}
	} else {
		hc.Streams = int(s.intOr("streams", 1, maxStreams, DefaultStreams))
	}
	hc.Dynamic = s.boolOr("dynamic", DefaultDynamic)
	hc.Iterations = int(s.intOr("sinkhorn_iterations", 1, maxIterations, DefaultIterations))
	// eps = 0 is the paper's exact form (docs/spec.md §2); rms_eps must stay positive.
	hc.Eps = s.rangeOr("eps", true, maxEps, DefaultEps)
	hc.RMSEps = s.numberOr("rms_eps", maxEps, DefaultRMSEps)
	hc.Collapse, _ = s.enum("collapse", CollapseHead, CollapseSum, CollapseMean)
	if s.absent("collapse") {
		hc.Collapse = DefaultCollapse
	}
}

// weights checks the weights section and that a safetensors file exists.
func (l *loader) weights(s *section) {
	w := &l.m.Weights
	s.require("", "source")
	w.Source, _ = s.enum("source", WeightsRandom, WeightsSafetensors)
	switch w.Source {
	case WeightsRandom:
		s.forbid("for source random (safetensors only)", "path", "names")
	case WeightsSafetensors:
		s.require(", required for source safetensors", "path")
		s.forbid("for source safetensors (random only)", "seed")
	}
	if p, ok := s.str("path", "a file path"); ok {
		f, _ := s.field("path")
		w.Path, w.PathPos = l.resolve(p), l.pos(f.at)
		l.checkFile(s, f, "path", w.Path)
	}
	w.Seed, _ = s.seed("seed")
	l.names(s)
}

// resolve makes a weights path relative to the model file's folder.
func (l *loader) resolve(p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(filepath.Dir(l.file), p)
}

// checkFile reports a file path (under key, the field that names it) that
// names no readable file.
func (l *loader) checkFile(s *section, f field, key, path string) {
	info, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		s.errorf(f, key, "file not found: %s", path)
	case err != nil:
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		s.errorf(f, key, "cannot open %s: %v", path, err)
	case info.IsDir():
		s.errorf(f, key, "got a directory, want a file: %s", path)
	}
}

// inputs checks the inputs section; an absent section means all defaults.
func (l *loader) inputs(s *section) {
	in := &l.m.Inputs
	kind := l.m.Arch.Kind
	if kind == ArchMLP {
		s.forbid("for architecture kind mlp (decoder only)", "sequence", "max_sequence", "kv_cache")
	}
	in.Batch, _ = s.size("batch", maxBatch)
	seq, seqOK := s.size("sequence", maxSequence)
	maxSeq, maxOK := s.integer("max_sequence", 1, maxSequence, "")
	if s.absent("max_sequence") {
		maxSeq, maxOK = DefaultMaxSequence, true
	}
	if seqOK && maxOK && int64(seq) > maxSeq {
		f, _ := s.field("sequence")
		s.errorf(f, "sequence", "got %d, want at most max_sequence (%d)", seq, maxSeq)
	}
	if kind != ArchMLP {
		in.Sequence, in.MaxSequence = seq, int(maxSeq)
	}
	in.KVCache = s.boolOr("kv_cache", false)
}

// generation checks the generation section (decoder only; an absent
// section means no tokenizer and no special ids): what mhcc export writes
// into config.json and generation_config.json, and what mhcc generate
// stops at and tokenizes with. Ids must be inside the vocabulary; the
// tokenizer must be a Hugging Face tokenizer.json that parses.
func (l *loader) generation(s *section) {
	g := &l.m.Generation
	g.BOS, g.EOS = -1, -1
	if l.m.Arch.Kind == ArchMLP {
		s.forbid("for architecture kind mlp (decoder only)", "tokenizer", "bos_token_id", "eos_token_id")
		return
	}
	vocab := int64(l.m.Arch.VocabSize)
	for _, k := range []struct {
		name string
		dst  *int
	}{{"bos_token_id", &g.BOS}, {"eos_token_id", &g.EOS}} {
		if s.absent(k.name) {
			continue
		}
		want := "a token id, 0 or more"
		if vocab > 0 {
			want = fmt.Sprintf("a token id in [0, %d) (architecture.vocab_size)", vocab)
		}
		hi := int64(math.MaxInt32)
		if vocab > 0 {
			hi = vocab - 1
		}
		f, _ := s.field(k.name)
		if v, r := intValue(f.val); r == intOK && v > hi && vocab > 0 {
			s.errorf(f, k.name, "got %d, want %s", v, want)
			continue
		}
		if v, ok := s.integer(k.name, 0, hi, want); ok {
			*k.dst = int(v)
		}
	}
	if p, ok := s.str("tokenizer", "a file path (a Hugging Face tokenizer.json)"); ok {
		f, _ := s.field("tokenizer")
		g.Tokenizer = l.resolve(p)
		n := len(l.errs)
		l.checkFile(s, f, "tokenizer", g.Tokenizer)
		if len(l.errs) == n {
			if tk, err := tokenizer.Load(g.Tokenizer); err != nil {
				s.errorf(f, "tokenizer", "%s: %v", g.Tokenizer, err)
			} else if vocab > 0 && tk.MaxID() >= vocab {
				s.errorf(f, "tokenizer", "%s has token id %d, want ids below architecture.vocab_size %d", g.Tokenizer, tk.MaxID(), vocab)
			}
		}
	}
}

// checkParams reports a model too large to be anything but a typo. It runs
// only on an otherwise valid model.
func (l *loader) checkParams(arch *section) {
	if n := approxParams(l.m); n > maxParams {
		l.errs.Add(arch.pos, "architecture", "got about %.3g parameters, want at most %.3g", n, float64(maxParams))
	}
}

// checkRope reports RoPE tables too large to build (maxRopeElems), at
// inputs.max_sequence when the file sets it.
func (l *loader) checkRope(in, arch *section) {
	m := l.m
	if m.Arch.Kind == ArchMLP || m.Arch.Positions != PosRoPE {
		return
	}
	n := int64(m.Inputs.MaxSequence) * int64(m.Arch.HeadDim)
	if n <= maxRopeElems {
		return
	}
	report := func(format string, args ...any) { l.errs.Add(arch.pos, "inputs.max_sequence", format, args...) }
	if in != nil {
		if f, ok := in.field("max_sequence"); ok {
			report = func(format string, args ...any) { in.errorf(f, "max_sequence", format, args...) }
		}
	}
	report("max_sequence × head_dim = %d × %d makes RoPE tables (cos and sin, float32) of %.3g GiB; want max_sequence × head_dim at most %d (1 GiB): lower max_sequence",
		m.Inputs.MaxSequence, m.Arch.HeadDim, float64(n)*8/(1<<30), maxRopeElems)
}

// approxParams counts the model's parameters (docs/spec.md §4), in float64 so that
// no product can overflow.
func approxParams(m *Model) float64 {
	a, hc := m.Arch, m.HC
	c, f, n := float64(a.HiddenSize), float64(a.FFNHiddenSize), float64(hc.Streams)
	mix := 0.0 // one hyper-connection sublayer
	if hc.Kind == HCMHC {
		mix = (n*n + 2*n) * (n*c + 1)
	}
	if a.Kind == ArchMLP {
		perLayer := c + 2*f*c + mix
		return c*float64(a.InputSize) + float64(a.OutputSize)*c + c + float64(a.Layers)*perLayer + n*n*c
	}
	q := float64(a.Heads*a.HeadDim) * c
	kv := float64(a.KVHeads*a.HeadDim) * c
	perLayer := 2*c + 2*q + 2*kv + 2*mix // the FFN is added per layer below
	// The optional tensors (docs/spec.md §4.1): biases, positions, the head.
	if a.NormBias {
		perLayer += 2 * c
	}
	if a.QKVBias {
		perLayer += float64((a.Heads + 2*a.KVHeads) * a.HeadDim)
	}
	if a.OutBias {
		perLayer += c
	}
	total := float64(a.VocabSize)*c + c + float64(a.Layers)*perLayer + n*n*c
	for i := 0; i < a.Layers; i++ {
		ffn, _ := ffnParams(m, i)
		total += ffn
	}
	if a.NormBias {
		total += c // norm.bias; the layers' are in perLayer
	}
	if !a.TieEmbeddings {
		total += float64(a.VocabSize) * c
	}
	if a.Positions == PosLearned {
		total += float64(m.Inputs.MaxSequence) * c
	}
	return total
}

// readHead returns up to n bytes from the start of the regular file at path,
// or nil.
func readHead(path string, n int) []byte {
	f, _, err := inputfile.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	buf := make([]byte, n)
	k, _ := io.ReadFull(f, buf)
	return buf[:k]
}
