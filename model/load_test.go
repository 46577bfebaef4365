package model

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/mhcc-dev/mhcc/ir"
)

// Where the model files of the tests are, from the package folder.
const (
	modelsDir = "../testdata/models"
	errorsDir = "../testdata/errors"
)

// TestModels loads every valid model file and checks its settings, defaults
// included.
func TestModels(t *testing.T) {
	decoder := Architecture{Kind: ArchDecoder, VocabSize: 97, HiddenSize: 32, Layers: 2, Heads: 4, KVHeads: 2, HeadDim: 8,
		FFNHiddenSize: 64, NormEps: 1e-6, RopeTheta: 10000, Norm: NormRMS, Activation: ActSwiGLU, Positions: PosRoPE}
	mlp := Architecture{Kind: ArchMLP, HiddenSize: 16, Layers: 3, FFNHiddenSize: 32, NormEps: 1e-6, InputSize: 12, OutputSize: 5}
	mhc := HyperConnections{Kind: HCMHC, Streams: 4, Dynamic: true, Iterations: 20, Eps: 1e-6, RMSEps: 1e-6, Collapse: CollapseHead}
	residual := mhc
	residual.Kind, residual.Streams = HCResidual, 1
	static := mhc
	static.Dynamic, static.Collapse = false, CollapseSum
	mha := decoder
	mha.KVHeads = 4

	tests := map[string]struct {
		arch   Architecture
		hc     HyperConnections
		seed   uint64
		inputs InputsSpec
	}{
		"tiny-mhc.yaml":        {decoder, mhc, 1, InputsSpec{MaxSequence: 128}},
		"tiny-mhc-static.yaml": {mha, static, 2, InputsSpec{MaxSequence: 128}},
		"tiny-residual.yaml":   {decoder, residual, 1, InputsSpec{MaxSequence: 128}},
		"tiny-mhc-gqa-fixed.yaml": {
			Architecture{Kind: ArchDecoder, VocabSize: 61, HiddenSize: 16, Layers: 1, Heads: 4, KVHeads: 1, HeadDim: 4,
				FFNHiddenSize: 32, NormEps: 1e-6, RopeTheta: 500, Norm: NormRMS, Activation: ActSwiGLU, Positions: PosRoPE},
			HyperConnections{Kind: HCMHC, Streams: 2, Dynamic: true, Iterations: 7, Eps: 1e-5, RMSEps: 1e-5, Collapse: CollapseMean},
			3, InputsSpec{Batch: 2, Sequence: 8, MaxSequence: 16}},
		"tiny-moe.yaml": {
			Architecture{Kind: ArchDecoder, VocabSize: 97, HiddenSize: 32, Layers: 2, Heads: 4, KVHeads: 2, HeadDim: 8,
				FFNHiddenSize: 64, NormEps: 1e-6, RopeTheta: 10000, Norm: NormRMS, Activation: ActSwiGLU, Positions: PosRoPE, MoE: &MoE{Experts: 4, TopK: 2, ExpertFFN: 16,
					Router: RouterSoftmax, RoutedScaling: 1, DenseLayers: 1}},
			mhc, 1, InputsSpec{MaxSequence: 128}},
		"tiny-nanogpt.yaml": {
			Architecture{Kind: ArchDecoder, VocabSize: 97, HiddenSize: 32, Layers: 2, Heads: 4, KVHeads: 4, HeadDim: 8,
				FFNHiddenSize: 128, NormEps: 1e-5, RopeTheta: 10000, Norm: NormLayer, NormBias: true, Activation: ActGELUTanh,
				Positions: PosLearned, TieEmbeddings: true, QKVBias: true, OutBias: true, MLPBias: true},
			mhc, 5, InputsSpec{MaxSequence: 128}},
		"tiny-qwen2.yaml": {
			Architecture{Kind: ArchDecoder, VocabSize: 97, HiddenSize: 32, Layers: 2, Heads: 4, KVHeads: 2, HeadDim: 8,
				FFNHiddenSize: 64, NormEps: 1e-6, RopeTheta: 1e6, Norm: NormRMS, Activation: ActSwiGLU, Positions: PosRoPE, QKVBias: true},
			mhc, 6, InputsSpec{MaxSequence: 128}},
		"tiny-geglu.yaml": {
			Architecture{Kind: ArchDecoder, VocabSize: 61, HiddenSize: 24, Layers: 2, Heads: 4, KVHeads: 2, HeadDim: 6,
				FFNHiddenSize: 48, NormEps: 1e-6, RopeTheta: 10000, Norm: NormRMS, Activation: ActGeGLU, Positions: PosNone, MLPBias: true},
			residual, 7, InputsSpec{MaxSequence: 64}},
		"mlp-mhc.yaml":      {mlp, mhc, 4, InputsSpec{}},
		"mlp-residual.yaml": {mlp, residual, 4, InputsSpec{}},
	}
	files, _ := filepath.Glob(filepath.Join(modelsDir, "*.yaml"))
	if len(files) != len(tests) {
		t.Errorf("%s has %d model files, the test knows %d", modelsDir, len(files), len(tests))
	}
	for _, file := range files {
		base := filepath.Base(file)
		t.Run(base, func(t *testing.T) {
			m, err := Load(file)
			if err != nil {
				t.Fatal(err)
			}
			want, ok := tests[base]
			if !ok {
				t.Fatalf("no expectations for %s", base)
			}
			if m.File != file || m.Format != 1 || m.Name != strings.TrimSuffix(base, ".yaml") {
				t.Errorf("File, Format, Name = %q, %d, %q", m.File, m.Format, m.Name)
			}
			got, wantArch := m.Arch, want.arch
			if (got.MoE == nil) != (wantArch.MoE == nil) || got.MoE != nil && *got.MoE != *wantArch.MoE {
				t.Errorf("Arch.MoE = %+v\nwant       %+v", got.MoE, wantArch.MoE)
			}
			got.MoE, wantArch.MoE = nil, nil
			if got != wantArch {
				t.Errorf("Arch = %+v\nwant   %+v", got, wantArch)
			}
			if m.HC != want.hc {
				t.Errorf("HC = %+v\nwant %+v", m.HC, want.hc)
			}
			if w := (WeightsSpec{Source: WeightsRandom, Seed: want.seed}); m.Weights != w {
				t.Errorf("Weights = %+v, want %+v", m.Weights, w)
			}
			if m.Inputs != want.inputs {
				t.Errorf("Inputs = %+v, want %+v", m.Inputs, want.inputs)
			}
			if !m.ArchPos.IsKnown() || !m.HCPos.IsKnown() || !m.WeightsPos.IsKnown() {
				t.Errorf("section positions %v %v %v, want known", m.ArchPos, m.HCPos, m.WeightsPos)
			}
			checkFirstLineComment(t, file)
		})
	}
}

// checkFirstLineComment checks that a test file says what it is for.
func checkFirstLineComment(t *testing.T, file string) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(data), "# ") {
		t.Errorf("%s: first line is not a comment saying what the file exercises", file)
	}
}

// TestGoldenModels loads the model files of the golden fixtures, which name
// safetensors files next to them.
func TestGoldenModels(t *testing.T) {
	files, _ := filepath.Glob("../testdata/golden/*/model.yaml")
	for _, file := range files {
		m, err := Load(file)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		want := filepath.Join(filepath.Dir(file), "weights.safetensors")
		if m.Weights.Names != nil { // a checkpoint with foreign names: sharded, or one file
			want = filepath.Join(filepath.Dir(file), "model.safetensors.index.json")
			if _, err := os.Stat(want); err != nil {
				want = filepath.Join(filepath.Dir(file), "model.safetensors")
			}
		}
		if m.Weights.Source != WeightsSafetensors || m.Weights.Path != want || !m.Weights.PathPos.IsKnown() {
			t.Errorf("%s: Weights = %+v, want safetensors at %s", file, m.Weights, want)
		}
	}
}

// An expectation is an ERROR or ERRORx mark on one line of an error file.
type expectation struct {
	line int
	text string         // ERROR: a substring of the message
	re   *regexp.Regexp // ERRORx: a regexp for the message
	used bool
}

// errorMark matches `# ERROR "substring"` and `# ERRORx "regexp"`, with the
// argument in Go's double or back quotes.
var errorMark = regexp.MustCompile("ERROR(x?) (\"(?:[^\"\\\\]|\\\\.)*\"|`[^`]*`)")

// expectations reads the marks of an error file.
func expectations(t *testing.T, file string) []*expectation {
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var list []*expectation
	for i, line := range strings.Split(string(data), "\n") {
		for _, m := range errorMark.FindAllStringSubmatch(line, -1) {
			arg, err := strconv.Unquote(m[2])
			if err != nil {
				t.Fatalf("%s:%d: bad mark %s: %v", file, i+1, m[0], err)
			}
			e := &expectation{line: i + 1, text: arg}
			if m[1] == "x" {
				if e.re, err = regexp.Compile(arg); err != nil {
					t.Fatalf("%s:%d: bad regexp: %v", file, i+1, err)
				}
			}
			list = append(list, e)
		}
	}
	return list
}

// matches reports whether the error text satisfies e.
func (e *expectation) matches(text string) bool {
	if e.re != nil {
		return e.re.MatchString(text)
	}
	return strings.Contains(text, e.text)
}

// TestErrors loads every bad model file and checks that the errors are
// exactly those marked: each error on a marked line matching one mark, each
// mark met by one error.
func TestErrors(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(errorsDir, "*.yaml"))
	if len(files) < 20 {
		t.Errorf("%s has %d files, want at least 20", errorsDir, len(files))
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			checkFirstLineComment(t, file)
			want := expectations(t, file)
			if len(want) == 0 {
				t.Fatal("no ERROR marks")
			}
			m, err := Load(file)
			if err == nil {
				t.Fatalf("loaded %+v, want errors", m)
			}
			var list ErrorList
			if !errors.As(err, &list) {
				t.Fatalf("got %T %v, want an ErrorList", err, err)
			}
			for _, e := range list {
				checkError(t, file, e, want)
			}
			for _, w := range want {
				if !w.used {
					t.Errorf("%s:%d: no error matching %q", file, w.line, w.text)
				}
			}
		})
	}
}

// checkError checks that e names the file and a line:col, and matches an
// unused mark on its line.
func checkError(t *testing.T, file string, e *Error, want []*expectation) {
	t.Helper()
	text := e.Error()
	if e.Pos.File != file || e.Pos.Line < 1 || e.Pos.Col < 1 || !strings.HasPrefix(text, e.Pos.String()+": ") {
		t.Errorf("error without file:line:col: %s", text)
	}
	for _, w := range want {
		if !w.used && w.line == e.Pos.Line && w.matches(text) {
			w.used = true
			return
		}
	}
	t.Errorf("unexpected error: %s", text)
}

// A few model files for the table tests, completed by the case.
const (
	mlpHead = "format: 1\n" +
		"architecture: {kind: mlp, input_size: 4, output_size: 2, hidden_size: 8, layers: 1, ffn_hidden_size: 8}\n" +
		"weights: {source: random}\n"
	decoderHead = "format: 1\n" +
		"hyper_connections: {kind: mhc}\n" +
		"weights: {source: random}\n"
)

// TestMessages checks the exact text of representative errors.
func TestMessages(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"streams zero",
			mlpHead + "hyper_connections:\n  kind: mhc\n  dynamic: true\n  streams: 0\n",
			"tiny.yaml:7:12: hyper_connections.streams: got 0, want a positive integer"},
		{"unknown key",
			mlpHead + "hyper_connections:\n  kind: mhc\n  sinkhorn_iters: 20\n",
			`tiny.yaml:6:3: hyper_connections: unknown key "sinkhorn_iters"; did you mean "sinkhorn_iterations"?`},
		{"misspelt enum",
			mlpHead + "hyper_connections:\n  kind: mhcc\n",
			`tiny.yaml:5:9: hyper_connections.kind: got "mhcc", want one of mhc, residual; did you mean "mhc"?`},
		{"key in the wrong section",
			mlpHead + "hyper_connections:\n  kind: mhc\n  layers: 2\n",
			`tiny.yaml:6:3: hyper_connections: unknown key "layers"; it belongs in architecture`},
		{"missing key",
			decoderHead + "architecture:\n  kind: decoder\n  vocab_size: 10\n  hidden_size: 8\n  heads: 2\n  ffn_hidden_size: 8\n",
			`tiny.yaml:4:1: architecture: missing key "layers"`},
		{"missing key for a kind",
			decoderHead + "architecture:\n  kind: decoder\n  hidden_size: 8\n  layers: 1\n  heads: 2\n  ffn_hidden_size: 8\n",
			`tiny.yaml:4:1: architecture: missing key "vocab_size", required for kind decoder`},
		{"duplicate key",
			mlpHead + "hyper_connections:\n  kind: mhc\n  kind: residual\n",
			`tiny.yaml:6:3: hyper_connections: duplicate key "kind" (first at line 5)`},
		{"string for an integer",
			mlpHead + "hyper_connections: {kind: mhc, sinkhorn_iterations: \"20\"}\n",
			`tiny.yaml:4:53: hyper_connections.sinkhorn_iterations: got "20", want a positive integer`},
		{"float for an integer",
			mlpHead + "hyper_connections: {kind: mhc, streams: 2.0}\n",
			`tiny.yaml:4:41: hyper_connections.streams: got 2.0, want a positive integer`},
		{"yes for a boolean",
			mlpHead + "hyper_connections: {kind: mhc, dynamic: yes}\n",
			`tiny.yaml:4:41: hyper_connections.dynamic: got "yes", want true or false`},
		{"list for a mapping",
			mlpHead + "hyper_connections: [mhc]\n",
			`tiny.yaml:4:20: hyper_connections: got a list, want a mapping`},
		{"too large",
			mlpHead + "hyper_connections: {kind: mhc, streams: 65}\n",
			`tiny.yaml:4:41: hyper_connections.streams: got 65, want at most 64`},
		{"beyond 64 bits",
			mlpHead + "hyper_connections: {kind: mhc, streams: 99999999999999999999}\n",
			`tiny.yaml:4:41: hyper_connections.streams: got 99999999999999999999, want at most 64`},
		{"eps",
			mlpHead + "hyper_connections: {kind: mhc, eps: 1}\n",
			`tiny.yaml:4:37: hyper_connections.eps: got 1, want a number in [0, 0.1]`},
		{"rms_eps",
			mlpHead + "hyper_connections: {kind: mhc, rms_eps: 0}\n",
			`tiny.yaml:4:41: hyper_connections.rms_eps: got 0, want a number in (0, 0.1]`},
		{"residual streams",
			mlpHead + "hyper_connections: {kind: residual, streams: 4}\n",
			`tiny.yaml:4:46: hyper_connections.streams: got 4, want 1 (residual has one stream)`},
		{"decoder key in mlp",
			mlpHead + "hyper_connections: {kind: mhc}\ninputs: {sequence: 8}\n",
			`tiny.yaml:5:10: inputs.sequence: not allowed for architecture kind mlp (decoder only)`},
		{"format",
			strings.Replace(mlpHead, "format: 1", "format: 2", 1) + "hyper_connections: {kind: mhc}\n",
			`tiny.yaml:1:9: format: got 2, want 1`},
		{"top level list",
			"- format: 1\n",
			`tiny.yaml:1:1: got a list, want a mapping starting with format: 1`},
		{"empty",
			"# nothing\n",
			`tiny.yaml:1:1: got an empty file, want a mapping starting with format: 1`},
		{"syntax",
			"format: 1\narchitecture: [\n",
			`tiny.yaml:3:1: invalid YAML: did not find expected node content`},
		{"bad byte",
			"format: 1\nname: a\x01b\n",
			`tiny.yaml:2:8: invalid YAML: control characters are not allowed`},
		{"kv_heads",
			decoderHead + "architecture: {kind: decoder, vocab_size: 10, hidden_size: 8, layers: 1, heads: 4, kv_heads: 3, ffn_hidden_size: 8}\n",
			`tiny.yaml:4:94: architecture.kv_heads: got 3, want a divisor of heads (4)`},
		{"sequence",
			decoderHead + "architecture: {kind: decoder, vocab_size: 10, hidden_size: 8, layers: 1, heads: 2, ffn_hidden_size: 8}\n" +
				"inputs: {sequence: 64, max_sequence: 32}\n",
			`tiny.yaml:5:20: inputs.sequence: got 64, want at most max_sequence (32)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadBytes("tiny.yaml", []byte(tt.yaml))
			if err == nil {
				t.Fatalf("no error, want %s", tt.want)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

// TestDefaults checks the value of every key a model file may leave out.
func TestDefaults(t *testing.T) {
	m, err := LoadBytes("dir/small.yaml", []byte(decoderHead+
		"architecture: {kind: decoder, vocab_size: 10, hidden_size: 24, layers: 1, heads: 3, ffn_hidden_size: 8}\n"))
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"name", m.Name, "small"},
		{"kv_heads", m.Arch.KVHeads, 3},
		{"head_dim", m.Arch.HeadDim, 8},
		{"norm_eps", m.Arch.NormEps, 1e-6},
		{"rope_theta", m.Arch.RopeTheta, 10000.0},
		{"streams", m.HC.Streams, 4},
		{"dynamic", m.HC.Dynamic, true},
		{"sinkhorn_iterations", m.HC.Iterations, 20},
		{"eps", m.HC.Eps, 1e-6},
		{"rms_eps", m.HC.RMSEps, 1e-6},
		{"collapse", m.HC.Collapse, CollapseHead},
		{"seed", m.Weights.Seed, uint64(0)},
		{"batch", m.Inputs.Batch, 0},
		{"sequence", m.Inputs.Sequence, 0},
		{"max_sequence", m.Inputs.MaxSequence, 4096},
		{"kv_cache", m.Inputs.KVCache, false},
		{"InputsPos", m.InputsPos, ir.Pos{}},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if p := m.PosOf("hyper_connections.streams"); p != (ir.Pos{File: "dir/small.yaml", Line: 2, Col: 1}) {
		t.Errorf("PosOf(hyper_connections.streams) = %v, want the section's key", p)
	}
	if p := m.PosOf("architecture.heads"); p.Line != 4 || p.Col < 2 {
		t.Errorf("PosOf(architecture.heads) = %v, want on line 4", p)
	}
}

// TestWeightsPath checks that a weights path is relative to the model file.
func TestWeightsPath(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "w.safetensors"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "m.yaml")
	src := strings.Replace(mlpHead, "{source: random}", "\n  source: safetensors\n  path: w.safetensors", 1) +
		"hyper_connections: {kind: mhc}\n"
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := Load(file)
	if err != nil {
		t.Fatal(err)
	}
	want := WeightsSpec{Source: WeightsSafetensors, Path: filepath.Join(dir, "w.safetensors"), PathPos: ir.Pos{File: file, Line: 5, Col: 9}}
	if m.Weights != want {
		t.Errorf("Weights = %+v, want %+v", m.Weights, want)
	}
	if _, err := Load(filepath.Join(dir, "absent.yaml")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load of a missing file: %v, want a not-exist error", err)
	}
}

// TestNearest checks the spelling suggestions.
func TestNearest(t *testing.T) {
	keys := sectionKeys["hyper_connections"]
	tests := []struct{ name, want string }{
		{"sinkhorn_iters", "sinkhorn_iterations"},
		{"stream", "streams"},
		{"Streams", "streams"},
		{"rmseps", "rms_eps"},
		{"colapse", "collapse"},
		{"layers", ""},
		{"x", ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := Nearest(tt.name, keys); got != tt.want {
			t.Errorf("Nearest(%q) = %q, want %q", tt.name, got, tt.want)
		}
	}
}

// checkInvariants checks what Load promises about a model it returns.
func checkInvariants(t *testing.T, m *Model) {
	a, hc := m.Arch, m.HC
	if m.Format != 1 || m.Name == "" || a.HiddenSize < 1 || a.Layers < 1 || a.FFNHiddenSize < 1 || !(a.NormEps > 0) {
		t.Fatalf("bad model %+v", m)
	}
	switch a.Kind {
	case ArchDecoder:
		if a.VocabSize < 1 || a.Heads < 1 || a.KVHeads < 1 || a.Heads%a.KVHeads != 0 || a.HeadDim < 2 || a.HeadDim%2 != 0 ||
			m.Inputs.MaxSequence < 1 || m.Inputs.Sequence > m.Inputs.MaxSequence {
			t.Fatalf("bad decoder %+v %+v", a, m.Inputs)
		}
	case ArchMLP:
		if a.InputSize < 1 || a.OutputSize < 1 || a.Heads != 0 || m.Inputs.MaxSequence != 0 {
			t.Fatalf("bad mlp %+v", a)
		}
	default:
		t.Fatalf("bad kind %q", a.Kind)
	}
	if hc.Kind != HCMHC && hc.Kind != HCResidual || hc.Streams < 1 || hc.Iterations < 1 || !(hc.Eps >= 0) || !(hc.RMSEps > 0) {
		t.Fatalf("bad hyper-connections %+v", hc)
	}
}
