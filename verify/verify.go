// Package verify checks a compiled model numerically with mhcc's Go runtime:
// the target graph, run in its own precision, against the reference lowering
// run in float64 on seeded inputs of several shapes; and mHC's invariants on
// every sublayer and token (docs/spec.md §2). Model verifies a model file
// compiled for a target, ONNX a given ONNX file against its model file; the
// Report says what was compared and how closely (Text for people, JSON for
// tools).
//
// A Session (kvcache.go) runs a KV-cache decoder graph step by step in the
// same runtime, for generation and for checking cached decoding against the
// full graph.
package verify

import (
	"fmt"
	"math"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"sync"

	"github.com/mhcc-dev/mhcc/compile"
	"github.com/mhcc-dev/mhcc/export"
	"github.com/mhcc-dev/mhcc/internal/inputfile"
	"github.com/mhcc-dev/mhcc/ir"
	"github.com/mhcc-dev/mhcc/lower"
	"github.com/mhcc-dev/mhcc/model"
	mhrt "github.com/mhcc-dev/mhcc/runtime"
	"github.com/mhcc-dev/mhcc/runtime/feed"
)

// Options control Model and ONNX; the zero value checks the onnx target at
// its own precision on the default shapes with seed 0.
type Options struct {
	Target    string     // build target of the graph checked ("" = onnx)
	Precision string     // fp32, fp16 or bf16 ("" = the target's)
	Seed      uint64     // seeds the inputs
	Shapes    [][2]int64 // (batch, sequence) pairs; nil = defaults (sequence ignored by mlp)
	// Progress, if set, is told each step as it starts ("compiling for
	// target onnx", "run 2/3: shape 2x7", …): on a model of a few hundred
	// million parameters verify takes seconds, mostly in the first steps.
	Progress func(step string)
}

func (o Options) step(format string, args ...any) {
	if o.Progress != nil {
		o.Progress(fmt.Sprintf(format, args...))
	}
}

// Tolerance is what the comparison with the float64 reference allows, derived
// from the precision of the graph checked: every element must satisfy
// |got - want| ≤ Abs + Rel·|want|, and the cosine similarity of the whole
// output must be at least Cosine.
type Tolerance struct {
	Precision string  `json:"precision"`
	Abs       float64 `json:"abs"`
	Rel       float64 `json:"rel"`
	Cosine    float64 `json:"cosine"`
}

// ToleranceFor returns the tolerance of a precision: f32, f16 or bf16.
func ToleranceFor(precision string) Tolerance {
	switch precision {
	case "f16":
		return Tolerance{"f16", 1e-2, 2e-2, 0.999}
	case "bf16":
		return Tolerance{"bf16", 5e-2, 1e-1, 0.99}
	}
	return Tolerance{"f32", 1e-4, 1e-3, 0.999999}
}

// A RunReport compares one input shape.
type RunReport struct {
	Shape   []int64 `json:"shape"` // of the graph input
	MaxAbs  float64 `json:"max_abs"`
	MaxRel  float64 `json:"max_rel"`
	Cosine  float64 `json:"cosine"`
	Worst   []int64 `json:"worst_index"` // where |got - want| is largest
	OK      bool    `json:"ok"`
	Problem string  `json:"problem,omitempty"`
}

// A SublayerReport gives mHC's invariants for one sublayer, over every run
// and token.
type SublayerReport struct {
	Name     string  `json:"name"` // layers.3.ffn
	Layer    int     `json:"layer"`
	Sublayer string  `json:"sublayer"` // attn, ffn or mlp
	Source   string  `json:"source"`   // target or reference: whose values were checked
	MinComb  float64 `json:"min_comb"`
	// ColSumDev is max |Σ_j comb[j,k] - 1|, reported, not bounded: after
	// the last column normalisation a column sums to c/(c+eps), c its sum
	// before, so it is eps/(c+eps), which only convergence makes small.
	ColSumDev float64 `json:"max_col_sum_dev"`
	// ColSumErr is |Σ_j comb[j,k] - c/(c+eps)|, the difference from the
	// column sum docs/spec.md §2 gives for the reference's c, and ColSumBound what
	// the check allows there (colSumBound); both at the column closest to
	// (or furthest past) its bound, the worst token's.
	ColSumErr   float64  `json:"col_sum_err"`
	ColSumBound float64  `json:"col_sum_bound"`
	RowSumDev   float64  `json:"max_row_sum_dev"` // reported, not bounded
	PreMin      float64  `json:"pre_min"`
	PreMax      float64  `json:"pre_max"`
	PostMin     float64  `json:"post_min"`
	PostMax     float64  `json:"post_max"`
	WorstToken  string   `json:"worst_token"` // run/batch/position of ColSumErr
	OK          bool     `json:"ok"`
	Problems    []string `json:"problems,omitempty"`
}

// Gain is the paper's stability figure: for each token, the product of the
// mixing matrices H_res = combᵀ over depth; its largest absolute row sum is
// the forward gain, its largest absolute column sum the backward gain. The
// maxima over tokens are reported.
type Gain struct {
	Forward       float64 `json:"forward"`
	Backward      float64 `json:"backward"`
	ForwardToken  string  `json:"forward_token"`
	BackwardToken string  `json:"backward_token"`
}

// A Report is the result of one verification.
type Report struct {
	Model     string           `json:"model"`
	Checked   string           `json:"checked"` // what was checked: target name or ONNX file
	Tolerance Tolerance        `json:"tolerance"`
	Runs      []RunReport      `json:"runs"`
	Sublayers []SublayerReport `json:"sublayers"`
	Gain      *Gain            `json:"gain,omitempty"`
	// Divergence, when outputs differ: the first sublayer whose state differs (divergence.go).
	Divergence *Divergence `json:"divergence,omitempty"`
	// Error, when verification could not run (failure.go), and the ops the
	// Go runtime has no kernel for, if that is why.
	Error          string         `json:"error,omitempty"`
	UnsupportedOps map[string]int `json:"unsupported_ops,omitempty"`
	OK             bool           `json:"ok"`
}

// Model verifies the model file at path compiled for opts.Target.
func Model(path string, opts Options) (*Report, error) {
	defer lowGC()()
	m, w, err := load(path, opts)
	if err != nil {
		return nil, err
	}
	// The compiled model stays a message (never bytes, so no external data
	// however large the weights), which DecodeProto empties as it decodes.
	name := opts.Target
	if name == "" {
		name = "onnx"
	}
	opts.step("compiling for target %s", name)
	res, err := compile.CompileModel(m, w, compile.Options{Target: opts.Target, Precision: opts.Precision, Message: true})
	if err != nil {
		return nil, err
	}
	opts.step("loading the compiled model into the Go runtime")
	states := targetOutputs(res.Message.GetMetadataProps())
	target, err := mhrt.DecodeProto(res.Message)
	res = nil
	runtime.GC() // drop the compiled graph before the reference doubles the weights
	if err != nil {
		return nil, fmt.Errorf("verify: decoding the compiled model: %w", err)
	}
	return check(path, m, w, target, states, "target "+name, opts)
}

// ONNX verifies an ONNX file made elsewhere against the model file that
// describes it (same weights): the reference comes from the model file.
func ONNX(onnxPath, modelPath string, opts Options) (*Report, error) {
	defer lowGC()()
	m, w, err := load(modelPath, opts)
	if err != nil {
		return nil, err
	}
	opts.step("loading %s into the Go runtime", onnxPath)
	data, err := inputfile.ReadFile(onnxPath, inputfile.MaxModelBytes, "an ONNX model file")
	if err != nil {
		return nil, err
	}
	target, err := mhrt.DecodeDir(data, filepath.Dir(onnxPath))
	if err != nil {
		return nil, fmt.Errorf("verify: %s: %w", onnxPath, err)
	}
	return check(modelPath, m, w, target, targetOutputs(metadataProps(data)), onnxPath, opts)
}

// load reads the model file at path and its weights.
func load(path string, opts Options) (*model.Model, model.Weights, error) {
	m, err := model.Load(path)
	if err != nil {
		return nil, nil, err
	}
	opts.step("%s", weightStep(m))
	w, err := model.LoadWeights(m)
	if err != nil {
		return nil, nil, err
	}
	return m, w, nil
}

// weightStep names the weights' loading step.
func weightStep(m *model.Model) string {
	if m.Weights.Source == model.WeightsRandom {
		return "generating the random weights"
	}
	return "reading the weights"
}

// shapeString prints a run's input shape as --shape takes it.
func shapeString(m *model.Model, shape [2]int64) string {
	if m.Arch.Kind == model.ArchDecoder {
		return fmt.Sprintf("%dx%d", shape[0], shape[1])
	}
	return fmt.Sprint(shape[0])
}

// lowGC makes the collector run after 25% heap growth instead of 100%
// until the returned func restores the setting. Verify's memory is a few
// huge allocations (the compiled weights, their float64 copy), so the usual
// setting lets the heap grow by a whole copy of the weights before it
// collects the previous one: on a 420 M-parameter decoder the peak RSS went
// from 8.3 to 6.6 GB, in the same time.
func lowGC() (restore func()) {
	lowGCState.Lock()
	defer lowGCState.Unlock()
	if lowGCState.n == 0 {
		lowGCState.old = debug.SetGCPercent(25)
	}
	lowGCState.n++
	return func() {
		lowGCState.Lock()
		defer lowGCState.Unlock()
		if lowGCState.n--; lowGCState.n == 0 {
			debug.SetGCPercent(lowGCState.old)
		}
	}
}

// lowGCState counts the verifications running (in tests, several at once),
// so the last one to finish restores the setting the first one found.
var lowGCState struct {
	sync.Mutex
	n, old int
}

// sublayer names the mHC values of one sublayer in the graphs mhcc writes.
type sublayer struct {
	name, kind      string
	layer           int
	pre, post, comb string
	// den is the reference's value c + eps, the denominators of the last
	// column normalisation (one per column: shape [..., 1, n]), found by
	// check in the reference graph.
	den string
}

func sublayers(g *ir.Graph) []sublayer {
	var out []sublayer
	for _, n := range g.Nodes {
		if n.Op != ir.OpHCCoeffs {
			continue
		}
		name := strings.TrimSuffix(n.Name, ".hc")
		s := sublayer{name: name, pre: n.Outputs[0].Name, post: n.Outputs[1].Name}
		for _, u := range g.Nodes {
			if u.Op == ir.OpSinkhorn && u.Inputs[0] == n.Outputs[2] {
				s.comb = u.Outputs[0].Name
			}
		}
		fmt.Sscanf(name, "layers.%d.", &s.layer)
		s.kind = name[strings.LastIndex(name, ".")+1:]
		out = append(out, s)
	}
	return out
}

// tgtStates maps sublayer names to their output values in the graph checked
// (its mhcc.sublayers metadata; nil when it has none).
func check(path string, m *model.Model, w model.Weights, target *mhrt.Model, tgtStates map[string]string, checked string, opts Options) (*Report, error) {
	opts.step("building the float64 reference")
	g, err := lower.Lower(m, w)
	if err != nil {
		return nil, err
	}
	subs := sublayers(g)
	states := sublayerStates(g)
	// The reference is the biggest thing verify holds (float64 weights):
	// decode it from the message, which DecodeProto empties tensor by
	// tensor, not from marshalled bytes, and collect the IR graph and
	// weights (unused from here on) first, so the weights are not held
	// several times over.
	refProto, err := export.Encode(g, export.Options{Float64: true, ReleaseWeights: true})
	if err != nil {
		return nil, err
	}
	runtime.GC()
	ref, err := mhrt.DecodeProto(refProto)
	runtime.GC()
	if err != nil {
		return nil, fmt.Errorf("verify: decoding the reference: %w", err)
	}
	if err := findDenominators(ref, subs); err != nil {
		return nil, err
	}
	if (len(target.Inputs) != 1 && !m.Inputs.KVCache) || len(target.Outputs) < 1 {
		return nil, fmt.Errorf("verify: %s has %d inputs and %d outputs, want 1 input and an output", checked, len(target.Inputs), len(target.Outputs))
	}
	precision := "f32"
	switch target.Outputs[0].DType {
	case mhrt.Float16:
		precision = "f16"
	case mhrt.BFloat16:
		precision = "bf16"
	}
	rep := &Report{Model: path, Checked: checked, Tolerance: ToleranceFor(precision), OK: true}
	targetHas := map[string]bool{}
	for _, n := range target.Nodes() {
		for _, o := range n.Outputs {
			targetHas[o] = true
		}
	}
	acc := make([]*invariants, len(subs))
	for i, s := range subs {
		acc[i] = newInvariants(s, m.HC, rep.Tolerance)
	}
	gain := &Gain{}
	runShapes := shapesFor(m, opts.Shapes)
	for runIdx, shape := range runShapes {
		opts.step("run %d/%d: input %s", runIdx+1, len(runShapes), shapeString(m, shape))
		refIn, tgtIn := inputs(m, shape, opts.Seed+uint64(runIdx), target.Inputs[0].DType)
		var want []string
		var tgtWant []string
		for _, s := range subs {
			want = append(want, s.pre, s.post, s.comb, s.den)
			if targetHas[s.pre] && targetHas[s.post] && targetHas[s.comb] {
				tgtWant = append(tgtWant, s.pre, s.post, s.comb)
			}
		}
		for _, s := range states {
			want = append(want, s.value) // for locate, should the outputs differ
		}
		outName := ref.Outputs[0].Name
		refArgs, tgtArgs := emptyPast(ref, shape), emptyPast(target, shape)
		refArgs[ref.Inputs[0].Name], tgtArgs[target.Inputs[0].Name] = refIn, tgtIn
		refOut, err := ref.RunWith(refArgs, mhrt.RunOptions{Outputs: append(want, outName)})
		if err != nil {
			return nil, fmt.Errorf("verify: reference run %v: %w", shape, err)
		}
		tgtOutName := target.Outputs[0].Name
		tgtOut, err := target.RunWith(tgtArgs, mhrt.RunOptions{Outputs: append(tgtWant, tgtOutName)})
		if err != nil {
			return nil, fmt.Errorf("verify: %s run %v: %w", checked, shape, err)
		}
		rr := compare(tgtOut[tgtOutName], refOut[outName], rep.Tolerance)
		rr.Shape = refIn.Shape
		if !rr.OK {
			rep.OK = false
			if rep.Divergence == nil {
				rep.Divergence = locate(states, refOut, target, tgtStates, tgtArgs, refIn.Shape, rep.Tolerance)
			}
		}
		rep.Runs = append(rep.Runs, rr)
		var combs []*mhrt.Tensor
		for i, s := range subs {
			src, source := refOut, "reference"
			if targetHas[s.comb] && len(tgtWant) > 0 {
				src, source = tgtOut, "target"
			}
			acc[i].source = source
			acc[i].add(runIdx, src[s.pre], src[s.post], src[s.comb], refOut[s.den])
			combs = append(combs, refOut[s.comb])
		}
		if len(combs) > 0 {
			gainOf(combs, runIdx, gain)
		}
	}
	for _, a := range acc {
		r := a.report()
		if !r.OK {
			rep.OK = false
		}
		rep.Sublayers = append(rep.Sublayers, r)
	}
	if len(subs) > 0 {
		rep.Gain = gain
	}
	return rep, nil
}

// findDenominators sets each sublayer's den to the name of the
// reference's c + eps in its last column normalisation: the second input of
// the Div that writes comb in the reference lowering of Sinkhorn
// (export.expandSinkhorn: Div(c, Add(ReduceSum(c, -2), eps))).
func findDenominators(ref *mhrt.Model, subs []sublayer) error {
	div := map[string]*mhrt.Node{}
	for _, n := range ref.Nodes() {
		if n.OpType == "Div" && len(n.Inputs) == 2 && len(n.Outputs) == 1 {
			div[n.Outputs[0]] = n
		}
	}
	for i, s := range subs {
		d := div[s.comb]
		if d == nil {
			return fmt.Errorf("verify: the reference computes %s without a final column normalisation (a Div)", s.comb)
		}
		subs[i].den = d.Inputs[1]
	}
	return nil
}

// emptyPast returns the inputs after the first, the KV cache of a kv_cache
// graph, as empty caches (past length 0) for shape's batch sequences of
// shape's length, with an attention_mask of ones and position_ids 0..n-1:
// so a cache graph is checked as a prefill, which must equal the full
// forward pass. (Decoding on a filled cache and padding are checked by
// internal/crosscheck.)
func emptyPast(m *mhrt.Model, bs [2]int64) map[string]*mhrt.Tensor {
	args := map[string]*mhrt.Tensor{}
	for _, in := range m.Inputs[1:] {
		if in.DType == mhrt.Int64 && (in.Name == lower.AttentionMask || in.Name == lower.PositionIDs) {
			v := make([]int64, bs[0]*bs[1])
			for i := range v {
				v[i] = 1
				if in.Name == lower.PositionIDs {
					v[i] = int64(i) % bs[1]
				}
			}
			args[in.Name] = mhrt.NewInt64(bs[:], v)
			continue
		}
		batch := bs[0]
		shape := make([]int64, len(in.Shape))
		for i, d := range in.Shape {
			shape[i] = max(d, 0)
		}
		if len(shape) > 0 {
			shape[0] = batch
		}
		if in.DType == mhrt.Float64 {
			args[in.Name] = mhrt.NewFloat64(shape, make([]float64, 0))
		} else {
			args[in.Name] = mhrt.NewFloat32(shape, make([]float32, 0))
		}
	}
	return args
}

// shapesFor returns the (batch, sequence) pairs to run: the given ones, or
// defaults that include sizes other than 1, with fixed dims respected.
func shapesFor(m *model.Model, given [][2]int64) [][2]int64 {
	shapes := given
	if len(shapes) == 0 {
		shapes = [][2]int64{{1, 1}, {2, 7}, {3, 16}}
	}
	var out [][2]int64
	seen := map[[2]int64]bool{}
	for _, s := range shapes {
		if m.Inputs.Batch > 0 {
			s[0] = int64(m.Inputs.Batch)
		}
		if m.Arch.Kind == model.ArchDecoder {
			if m.Inputs.Sequence > 0 {
				s[1] = int64(m.Inputs.Sequence)
			}
			if s[1] > int64(m.Inputs.MaxSequence) {
				s[1] = int64(m.Inputs.MaxSequence)
			}
		} else {
			s[1] = 0
		}
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// inputs draws seeded inputs (feed.Rand, the generator of mhcc run, stable
// across Go releases): token ids for a decoder, N(0,1) for an mlp. The
// reference gets them in float64, the target in float32.
func inputs(m *model.Model, shape [2]int64, seed uint64, dt mhrt.DType) (ref, tgt *mhrt.Tensor) {
	r := feed.NewRand(seed, 0x6d6863635f766572)
	if m.Arch.Kind == model.ArchDecoder {
		ids := make([]int64, shape[0]*shape[1])
		for i := range ids {
			ids[i] = int64(r.IntN(uint64(m.Arch.VocabSize)))
		}
		t := mhrt.NewInt64([]int64{shape[0], shape[1]}, ids)
		return t, t
	}
	n := shape[0] * int64(m.Arch.InputSize)
	f64 := make([]float64, n)
	f32 := make([]float32, n)
	for i := range f64 {
		f32[i] = float32(r.Normal())
		f64[i] = float64(f32[i])
	}
	dims := []int64{shape[0], int64(m.Arch.InputSize)}
	switch dt {
	case mhrt.Float16, mhrt.BFloat16:
		// The target reads the features rounded to its type; the reference
		// gets exactly those values.
		tgt, _ = feed.FromFloat32s(dt, dims, f32) // cannot fail for a float type
		for i, f := range tgt.Float32s() {
			f64[i] = float64(f)
		}
		return mhrt.NewFloat64(dims, f64), tgt
	}
	return mhrt.NewFloat64(dims, f64), mhrt.NewFloat32(dims, f32)
}

// compare checks got against the float64 reference want.
func compare(got, want *mhrt.Tensor, tol Tolerance) RunReport {
	var rr RunReport
	if got == nil || want == nil {
		rr.Problem = "output missing"
		return rr
	}
	if fmt.Sprint(got.Shape) != fmt.Sprint(want.Shape) {
		rr.Problem = fmt.Sprintf("output shape %v, want %v", got.Shape, want.Shape)
		return rr
	}
	g, w := got.Float64s(), want.Float64s()
	var dot, ng, nw float64
	worst := -1
	rr.OK = true
	for i := range w {
		d := math.Abs(g[i] - w[i])
		if d != d || math.IsInf(g[i], 0) {
			rr.OK = false
			rr.Problem = fmt.Sprintf("non-finite value %v at %v", g[i], unravel(i, got.Shape))
			worst = i
			rr.MaxAbs = math.Inf(1)
			break
		}
		if d > rr.MaxAbs {
			rr.MaxAbs, worst = d, i
		}
		if rel := d / math.Max(math.Abs(w[i]), 1e-6); rel > rr.MaxRel {
			rr.MaxRel = rel
		}
		if d > tol.Abs+tol.Rel*math.Abs(w[i]) && rr.OK {
			rr.OK = false
			rr.Problem = fmt.Sprintf("element %v: got %.6g, want %.6g (|diff| %.3g > %.3g + %.3g·|want|)", unravel(i, got.Shape), g[i], w[i], d, tol.Abs, tol.Rel)
		}
		dot += g[i] * w[i]
		ng += g[i] * g[i]
		nw += w[i] * w[i]
	}
	rr.Cosine = 1
	if ng > 0 && nw > 0 {
		rr.Cosine = dot / math.Sqrt(ng*nw)
	}
	if rr.Cosine < tol.Cosine && rr.OK {
		rr.OK = false
		rr.Problem = fmt.Sprintf("cosine similarity %.9f < %g", rr.Cosine, tol.Cosine)
	}
	if worst >= 0 {
		rr.Worst = unravel(worst, got.Shape)
	}
	return rr
}

func unravel(i int, shape []int64) []int64 {
	idx := make([]int64, len(shape))
	for d := len(shape) - 1; d >= 0; d-- {
		if shape[d] > 0 {
			idx[d] = int64(i) % shape[d]
			i /= int(shape[d])
		}
	}
	return idx
}

// tokenName formats the token of flat token index t in a run.
func tokenName(run int, lead []int64, t int) string {
	if len(lead) == 0 {
		return fmt.Sprintf("run %d (static: one matrix for all tokens)", run)
	}
	idx := unravel(t, lead)
	if len(idx) == 2 {
		return fmt.Sprintf("run %d, batch %d, position %d", run, idx[0], idx[1])
	}
	return fmt.Sprintf("run %d, sample %d", run, idx[0])
}

// invariants accumulates one sublayer's figures over runs and tokens.
type invariants struct {
	s       sublayer
	n       int
	eps     float64
	rel     float64 // the relative tolerance of the target's precision
	source  string
	minComb float64
	colDev  float64
	// colErr and colBound: the column whose colErr/colBound is largest.
	colErr, colBound                 float64
	rowDev                           float64
	preMin, preMax, postMin, postMax float64
	worst                            string
	problems                         []string
}

func newInvariants(s sublayer, hc model.HyperConnections, tol Tolerance) *invariants {
	return &invariants{s: s, n: hc.Streams, eps: hc.Eps, rel: tol.Rel, colBound: -1,
		minComb: math.Inf(1), preMin: math.Inf(1), preMax: math.Inf(-1), postMin: math.Inf(1), postMax: math.Inf(-1)}
}

// unit is the rounding unit of the values checked: float64 for the
// reference; float32 for a target, whose Sinkhorn runs in float32 at least,
// whatever the model's precision (docs/spec.md §2).
func unit(source string) float64 {
	if source == "reference" {
		return 0x1p-52
	}
	return 0x1p-23
}

func (a *invariants) problem(format string, args ...any) {
	if len(a.problems) < 5 {
		a.problems = append(a.problems, fmt.Sprintf(format, args...))
	}
}

// colSumBound is what the check allows between a column sum of comb and
// c/(c+eps), c the reference's sum of that column before the last column
// normalisation (docs/spec.md §2), for values of the given source, n streams and a
// column deficit eps/(c+eps).
//
// In exact arithmetic the column sums to c/(c+eps) = 1 - eps/(c+eps)
// whatever n, the iterations and eps: each entry is divided by the sum of
// its column plus eps. Nothing bounds c from below (softmax + eps puts at
// least n·eps in a column, so one iteration can leave a column summing to
// n/(n+1); more iterations shrink that bound further), so 1 - eps/(c+eps)
// is the only exact statement, and the check needs c: the reference's.
//
//   - Values computed with rounding unit u: the column's n-term sum, eps
//     added, n divisions and verify's own sum of the n quotients each round
//     by at most u relative; (4n+4)·u covers their first-order total with
//     room for a lowering that sums in another order or in log space.
//   - The target's values came from the target's own c, which is not
//     observable in every lowering (a fused kernel, a Loop). It differs from
//     the reference's by the target's numerical error, which the output
//     check allows to be rel (the precision's relative tolerance); a
//     relative change δ in c changes the deficit eps/(c+eps) by at most
//     δ/(1-δ) of itself, so the target gets rel/(1-rel) of the deficit on
//     top. With eps = 0 or a converged column the deficit is tiny and the
//     bound is the rounding alone.
func colSumBound(source string, n int, rel, deficit float64) float64 {
	b := float64(4*n+4) * unit(source)
	if source != "reference" {
		b += rel / (1 - rel) * deficit
	}
	return b
}

func (a *invariants) add(run int, pre, post, comb, den *mhrt.Tensor) {
	n := a.n
	u := unit(a.source)
	c := comb.Float64s()
	d := den.Float64s()
	lead := comb.Shape[:len(comb.Shape)-2]
	tokens := len(c) / (n * n)
	if len(d) != tokens*n {
		a.problem("run %d: comb has %d values and the reference's column sums %d, want %d", run, len(c), len(d), tokens*n)
		return
	}
	for t := 0; t < tokens; t++ {
		m := c[t*n*n : (t+1)*n*n]
		for j := 0; j < n; j++ {
			var row, col float64
			for k := 0; k < n; k++ {
				row += m[j*n+k]
				col += m[k*n+j]
				if v := m[j*n+k]; v < a.minComb || v != v {
					a.minComb = v
					if !(v >= 0) {
						a.problem("%s: comb[%d,%d] = %g is negative", tokenName(run, lead, t), j, k, v)
					}
				}
			}
			// Column j's sum is c/(c+eps) = 1 - eps/(c+eps), with c + eps
			// the reference's denominator.
			deficit := a.eps / d[t*n+j]
			want := 1 - deficit
			bound := colSumBound(a.source, n, a.rel, deficit)
			if dev := math.Abs(col - 1); dev > a.colDev || dev != dev {
				a.colDev = dev
			}
			e := math.Abs(col - want)
			if a.colBound < 0 || e/bound > a.colErr/a.colBound || e != e {
				a.colErr, a.colBound = e, bound
				a.worst = tokenName(run, lead, t)
			}
			if !(e <= bound) {
				a.problem("%s: column %d of comb sums to %.9g, want c/(c+eps) = %.9g (c = %.6g, its sum before the last normalisation) within %.3g",
					tokenName(run, lead, t), j, col, want, d[t*n+j]-a.eps, bound)
			}
			if dev := math.Abs(row - 1); dev > a.rowDev {
				a.rowDev = dev
			}
		}
	}
	for i, v := range pre.Float64s() {
		a.preMin, a.preMax = math.Min(a.preMin, v), math.Max(a.preMax, v)
		// sigmoid(x) + eps is in (eps, 1+eps); a float32 sigmoid may round
		// to exactly 0 or 1 (x below -88 or above 17), and the sum rounds.
		if !(v >= a.eps*(1-2*u) && v <= (1+a.eps)*(1+2*u)) {
			a.problem("%s: pre[%d] = %g, want in [eps, 1+eps]", tokenName(run, pre.Shape[:len(pre.Shape)-1], i/n), i%n, v)
		}
	}
	for i, v := range post.Float64s() {
		a.postMin, a.postMax = math.Min(a.postMin, v), math.Max(a.postMax, v)
		// 2·sigmoid(x) is in (0, 2); a float32 sigmoid may round to exactly
		// 0 or 1.
		if !(v >= 0 && v <= 2) {
			a.problem("%s: post[%d] = %g, want in [0, 2]", tokenName(run, post.Shape[:len(post.Shape)-1], i/n), i%n, v)
		}
	}
}

func (a *invariants) report() SublayerReport {
	return SublayerReport{
		Name: a.s.name, Layer: a.s.layer, Sublayer: a.s.kind, Source: a.source,
		MinComb: a.minComb, ColSumDev: a.colDev, ColSumErr: a.colErr, ColSumBound: max(a.colBound, 0), RowSumDev: a.rowDev,
		PreMin: a.preMin, PreMax: a.preMax, PostMin: a.postMin, PostMax: a.postMax,
		WorstToken: a.worst, OK: len(a.problems) == 0, Problems: a.problems,
	}
}

// gainOf multiplies the mixing matrices H_res = combᵀ of every sublayer, in
// depth order, for each token of one run, and keeps the largest gains.
// Static sublayers ([n, n], no token dims) apply to every token.
func gainOf(combs []*mhrt.Tensor, run int, g *Gain) {
	n := int(combs[0].Shape[len(combs[0].Shape)-1])
	var lead []int64
	tokens := 1
	for _, c := range combs {
		if l := c.Shape[:len(c.Shape)-2]; len(l) > 0 {
			lead = l
			tokens = c.Len() / (n * n)
		}
	}
	data := make([][]float64, len(combs))
	for i, c := range combs {
		data[i] = c.Float64s()
	}
	p := make([]float64, n*n)
	q := make([]float64, n*n)
	for t := 0; t < tokens; t++ {
		for i := range p {
			p[i] = 0
		}
		for i := 0; i < n; i++ {
			p[i*n+i] = 1
		}
		for li, c := range data {
			m := c
			if len(combs[li].Shape) > 2 {
				m = c[t*n*n : (t+1)*n*n]
			}
			// q = H · p with H[k][j] = comb[j][k].
			for k := 0; k < n; k++ {
				for col := 0; col < n; col++ {
					var s float64
					for j := 0; j < n; j++ {
						s += m[j*n+k] * p[j*n+col]
					}
					q[k*n+col] = s
				}
			}
			p, q = q, p
		}
		for i := 0; i < n; i++ {
			var row, col float64
			for j := 0; j < n; j++ {
				row += math.Abs(p[i*n+j])
				col += math.Abs(p[j*n+i])
			}
			if row > g.Forward {
				g.Forward, g.ForwardToken = row, tokenName(run, lead, t)
			}
			if col > g.Backward {
				g.Backward, g.BackwardToken = col, tokenName(run, lead, t)
			}
		}
	}
}

// Text renders the report for people.
func (r *Report) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "verify %s (%s) against the float64 reference\n", r.Model, r.Checked)
	fmt.Fprintf(&b, "tolerance (%s): |diff| ≤ %g + %g·|want|, cosine ≥ %g\n\n", r.Tolerance.Precision, r.Tolerance.Abs, r.Tolerance.Rel, r.Tolerance.Cosine)
	fmt.Fprintf(&b, "%-16s %12s %12s %14s  %s\n", "input shape", "max abs", "max rel", "cosine", "")
	for _, run := range r.Runs {
		status := "ok"
		if !run.OK {
			status = "FAIL: " + run.Problem
		}
		fmt.Fprintf(&b, "%-16s %12.3g %12.3g %14.10f  %s\n", fmt.Sprint(run.Shape), run.MaxAbs, run.MaxRel, run.Cosine, status)
	}
	if len(r.Sublayers) > 0 {
		fmt.Fprintf(&b, "\nmHC invariants per sublayer (over every run and token)\n")
		fmt.Fprintf(&b, "(colsum: a column's sum, c/(c+eps) exactly, c its sum before the last normalisation; rowsum: reported only)\n")
		fmt.Fprintf(&b, "%-16s %-9s %10s %11s %11s %11s %11s %17s %17s  %s\n", "sublayer", "values", "min comb", "|colsum-1|", "colsum err", "bound", "|rowsum-1|", "pre range", "post range", "")
		for _, s := range r.Sublayers {
			status := "ok"
			if !s.OK {
				status = "FAIL (worst: " + s.WorstToken + "): " + strings.Join(s.Problems, "; ")
			}
			fmt.Fprintf(&b, "%-16s %-9s %10.3g %11.3g %11.3g %11.3g %11.3g [%7.4f,%7.4f] [%7.4f,%7.4f]  %s\n",
				s.Name, s.Source, s.MinComb, s.ColSumDev, s.ColSumErr, s.ColSumBound, s.RowSumDev, s.PreMin, s.PreMax, s.PostMin, s.PostMax, status)
		}
	}
	if r.Gain != nil {
		fmt.Fprintf(&b, "\nAmax gain of the composite mixing matrix over depth: forward %.6f (%s), backward %.6f (%s)\n",
			r.Gain.Forward, r.Gain.ForwardToken, r.Gain.Backward, r.Gain.BackwardToken)
	}
	if r.Divergence != nil {
		fmt.Fprintf(&b, "\nwhere the outputs start to differ: %s\n", r.Divergence.text())
	}
	if r.OK {
		b.WriteString("\nok\n")
	} else {
		b.WriteString("\nFAIL\n")
	}
	return b.String()
}

// Failures lists one line per failed check, for the error message.
func (r *Report) Failures() []string {
	var out []string
	for _, run := range r.Runs {
		if !run.OK {
			out = append(out, fmt.Sprintf("input %v: %s", run.Shape, run.Problem))
		}
	}
	for _, s := range r.Sublayers {
		if !s.OK {
			out = append(out, fmt.Sprintf("layer %d %s (worst token: %s): %s", s.Layer, s.Sublayer, s.WorstToken, strings.Join(s.Problems, "; ")))
		}
	}
	sort.Strings(out)
	if r.Divergence != nil {
		out = append(out, r.Divergence.text())
	}
	return out
}
