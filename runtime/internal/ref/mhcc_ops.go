package ref

import (
	"fmt"
	"math"
	"slices"

	"github.com/mhcc-dev/mhcc/onnx/tensor/half"
	"github.com/mhcc-dev/mhcc/runtime/internal/core"

	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
)

// mhcc's own operators, domain "ai.mhcc" version 1. Targets whose
// accelerator ships a native kernel emit them without a function body; the
// interpreter runs them natively so that such a model can still be checked.

// MhccDomain is the domain of mhcc's operators.
const MhccDomain = "ai.mhcc"

// sinkhorn is ai.mhcc::Sinkhorn (docs/spec.md §2): for each trailing n×n matrix of
// logits [..., n, n],
//
//	comb = softmax(logits, axis=-1) + eps
//	comb = comb / (sum(comb, axis=-2) + eps)      // columns
//	repeat iters-1 times:
//	    comb = comb / (sum(comb, axis=-1) + eps)  // rows
//	    comb = comb / (sum(comb, axis=-2) + eps)  // columns
//
// computed in float32 for float and float16 (float16 widens exactly and the
// result rounds once) and in float64 for double, every operation rounded to
// that precision and every sum taken in index order. Softmax subtracts the
// row's maximum first; exp is math.Exp rounded to the working precision.
func sinkhorn(c *core.Call, in []*core.Tensor) []*core.Tensor {
	x := in[0]
	r := len(x.Shape)
	if r < 2 || x.Shape[r-1] != x.Shape[r-2] {
		core.Failf("logits must have shape [..., n, n], got %v", x.Shape)
	}
	n := int(x.Shape[r-1])
	iters := int(c.Int("iters", 0))
	eps := c.Float("eps", 0)
	switch x.DType {
	case core.Float64:
		v := slices.Clone(x.Elems.([]float64))
		sinkhornMatrices(v, n, iters, eps, math.Exp)
		return []*core.Tensor{{DType: core.Float64, Shape: x.Shape, Elems: v}}
	case core.Float32, core.Float16:
		w := core.Widen(x)
		v := slices.Clone(w.Elems.([]float32))
		sinkhornMatrices(v, n, iters, float32(eps), func(f float32) float32 { return float32(math.Exp(float64(f))) })
		return []*core.Tensor{core.NarrowFloat32(&core.Tensor{DType: core.Float32, Shape: x.Shape, Elems: v}, x.DType)}
	}
	panic(core.ErrType)
}

// sinkhornMatrices runs the Sinkhorn of docs/spec.md §2 in place on each n×n matrix
// of v, in T's precision.
func sinkhornMatrices[T float32 | float64](v []T, n, iters int, eps T, exp func(T) T) {
	if n == 0 {
		return
	}
	cols := func(m []T) {
		for k := 0; k < n; k++ {
			var s T
			for j := 0; j < n; j++ {
				s += m[j*n+k]
			}
			d := s + eps
			for j := 0; j < n; j++ {
				m[j*n+k] /= d
			}
		}
	}
	rows := func(m []T) {
		for j := 0; j < n; j++ {
			row := m[j*n : (j+1)*n]
			var s T
			for _, e := range row {
				s += e
			}
			d := s + eps
			for k := range row {
				row[k] /= d
			}
		}
	}
	for off := 0; off < len(v); off += n * n {
		m := v[off : off+n*n]
		for j := 0; j < n; j++ { // softmax over the last axis, plus eps
			row := m[j*n : (j+1)*n]
			mx := row[0]
			for _, e := range row[1:] {
				mx = max(mx, e)
			}
			var s T
			for k, e := range row {
				row[k] = exp(e - mx)
				s += row[k]
			}
			for k := range row {
				row[k] = row[k]/s + eps
			}
		}
		cols(m)
		for it := 1; it < iters; it++ {
			rows(m)
			cols(m)
		}
	}
}

// checkSinkhorn requires iters (int, ≥ 1) and eps (float, ≥ 0).
func checkSinkhorn(n *core.Node) error {
	it, eps := n.Attrs["iters"], n.Attrs["eps"]
	switch {
	case it == nil:
		return core.Errorf("attribute \"iters\" is required")
	case it.GetType() != onnxpb.AttributeProto_INT:
		return core.Errorf("attribute \"iters\": got %v, want INT", it.GetType())
	case it.GetI() < 1:
		return core.Errorf("attribute \"iters\": got %d, want ≥ 1", it.GetI())
	case eps == nil:
		return core.Errorf("attribute \"eps\" is required")
	case eps.GetType() != onnxpb.AttributeProto_FLOAT:
		return core.Errorf("attribute \"eps\": got %v, want FLOAT", eps.GetType())
	case !(eps.GetF() >= 0) || math.IsInf(float64(eps.GetF()), 0):
		return core.Errorf("attribute \"eps\": got %g, want a finite value ≥ 0", eps.GetF())
	}
	for name := range n.Attrs {
		if name != "iters" && name != "eps" {
			return core.Errorf("unknown attribute %q", name)
		}
	}
	return nil
}

// isSinkhornType: float, double or float16.
func isSinkhornType(t core.DType) bool {
	return t == core.Float32 || t == core.Float64 || t == core.Float16
}

// ---- The fused mHC ops (docs/fused-ops.md) ----
//
// HCCoeffsSinkhorn, HCPostCoeffsSinkhorn, HCPremixNorm, HCBoundary,
// HCCoeffsBoundary (the second and fourth merged), HCEntry (the embedding
// expanded into streams, the first and third of that state) and HCHead
// (the last sublayer's post-mix, the head coefficients, collapse and final
// RMSNorm), the ops of the fused target. mhcc writes each with a model-local function
// whose body computes it in standard operators; the runtime runs these
// kernels instead (decode's NativeKernels), as onnxruntime does with mhcc's
// custom-op library (ortops/), and refuses what the library refuses: n
// outside 2…8, a state that is neither float32 nor float16. Every sum is a
// float32 sum in index order; a float16 value is widened on load and the T
// outputs are rounded once, on store; the Sinkhorn's n×n steps run in
// float64, as the library's do.

// MinStreams and MaxStreams bound the stream count the fused kernels take
// (the library's bounds).
const (
	MinStreams = 2
	MaxStreams = 8
)

// HCKind is which of the seven fused ops a node is.
type HCKind int

const (
	HCCoeffs      HCKind = iota // HCCoeffsSinkhorn (x, fn, base)
	HCPostCoeffs                // HCPostCoeffsSinkhorn (x, fn, base, y, post)
	HCPremix                    // HCPremixNorm (x, pre, comb, w)
	HCBound                     // HCBoundary (x, pre, comb, w, y, post)
	HCCoeffsBound               // HCCoeffsBoundary (x, fn, base, w, y, post): HCPostCoeffs and HCBound of one state
	HCHead                      // HCHead (x, fn, base, scale, w, y, post): the post-mix, pre, the collapse and its RMSNorm
	HCEntry                     // HCEntry (e, fn, base, w): HCCoeffs and HCPremix of the state of n copies of e
)

// FusedHCOps maps the fused ops' op types (domain ai.mhcc) to their kind.
var FusedHCOps = map[string]HCKind{
	"HCCoeffsSinkhorn": HCCoeffs, "HCPostCoeffsSinkhorn": HCPostCoeffs,
	"HCPremixNorm": HCPremix, "HCBoundary": HCBound, "HCCoeffsBoundary": HCCoeffsBound,
	"HCHead": HCHead, "HCEntry": HCEntry,
}

// IsCoeffs reports whether k computes coefficients (pre, post, comb) from
// inputs fn [n² + 2n, n·C] and base: its outputs 0…2. (HCHead projects
// with an fn of n rows to pre alone, which it does not output: not a
// coefficient op.)
func (k HCKind) IsCoeffs() bool {
	return k == HCCoeffs || k == HCPostCoeffs || k == HCCoeffsBound || k == HCEntry
}

// Boundary returns the index of k's first boundary output (normed; mixed
// and the optional state follow), or -1 for the coefficient-only ops and
// HCHead (normed and the optional state, no mixed).
func (k HCKind) Boundary() int {
	switch k {
	case HCPremix, HCBound:
		return 0
	case HCCoeffsBound, HCEntry:
		return 3
	}
	return -1
}

// yIndex is the input index of y (post follows it), or 0 without a post-mix.
func (k HCKind) yIndex() int {
	switch k {
	case HCPostCoeffs:
		return 3
	case HCBound, HCCoeffsBound:
		return 4
	case HCHead:
		return 5
	}
	return 0
}

// StreamOut reports whether k's output i is a state of n streams ([lead,
// n, C]: mixed, state), whose stream count is the op's.
func (k HCKind) StreamOut(i int) bool {
	if k == HCHead {
		return i == 1
	}
	b := k.Boundary()
	return b >= 0 && (i == b+1 || i == b+2)
}

// isT reports whether input i has the state's type T (x, y, w); the others
// are float32 coefficients.
func (k HCKind) isT(i int) bool {
	switch k {
	case HCCoeffs:
		return i == 0
	case HCPostCoeffs, HCPremix:
		return i == 0 || i == 3
	case HCHead:
		return i == 0 || i == 4 || i == 5
	case HCEntry:
		return i == 0 || i == 3
	}
	return i == 0 || i == 3 || i == 4
}

// An HCJob is one call of a fused op, its inputs checked (ParseHC): the
// Reference kernels below and the Fast engine's forms run from it.
type HCJob struct {
	Kind    HCKind
	DType   core.DType // of x, y, w and the T outputs: Float32 or Float16
	Lead    []int64    // x's leading dims (HCEntry: e's)
	T, N, C int        // tokens (the product of Lead), streams, channels
	X, Y    any        // []float32 or []uint16 (float16); Y nil without a post-mix. HCEntry: X is e [T, C]
	PostIn  []float32  // post of the post-mix, PostStride per token (0: shared)
	Fn      []float32  // [M, N·C] (coefficient ops, HCHead)
	Base    []float32  // [M]
	Scale   float32    // HCHead: the projection's scale (scale[0])
	Pre     []float32  // PreStride per token (boundary ops)
	Comb    []float32  // CombStride per token
	W       *core.Tensor
	Eps     float32 // the coefficients' (HCBoundary, HCPremixNorm: the norm's)
	RmsEps  float32
	Iters   int
	NormEps float32 // the RMSNorm of h: attribute eps, or HCCoeffsBoundary's and HCHead's norm_eps

	PostStride, PreStride, CombStride int
}

// M is the projection's row count: n² + 2n, or n for HCHead.
func (j *HCJob) M() int {
	if j.Kind == HCHead {
		return j.N
	}
	return j.N*j.N + 2*j.N
}

// ParseHC checks a fused op's inputs and attributes against its schema
// (docs/fused-ops.md), failing (Failf) with what is wrong.
func ParseHC(c *core.Call, in []*core.Tensor) HCJob {
	kind, ok := FusedHCOps[c.N.OpType]
	if !ok {
		core.Failf("not a fused mHC op")
	}
	if kind == HCEntry {
		return parseEntry(c, in)
	}
	x := in[0]
	r := len(x.Shape)
	wantStateType("x", x)
	if r < 2 {
		core.Failf("input x has shape %v, want [..., n, C]", x.Shape)
	}
	j := newJob(c, kind, x, x.Shape[:r-2], int(x.Shape[r-2]), int(x.Shape[r-1]))
	j.NormEps = j.Eps
	if iy := kind.yIndex(); iy > 0 {
		y := in[iy]
		if y.DType != x.DType || len(y.Shape) != r-1 || !slices.Equal(y.Shape[:r-2], j.Lead) || y.Shape[r-2] != x.Shape[r-1] {
			core.Failf("input y is %v%v, want x's type and shape without the stream axis", y.DType, y.Shape)
		}
		j.Y = y.Elems
		j.PostIn, j.PostStride = hcCoeff(in[iy+1], "post", j.Lead, j.N, 1)
	}
	nc := j.N * j.C
	if kind == HCHead {
		fn, base, scale, n := in[1], in[2], in[3], int64(j.N)
		if fn.DType != core.Float32 || len(fn.Shape) != 2 || fn.Shape[0] != n || fn.Shape[1] != int64(nc) {
			core.Failf("input fn is %v%v, want float32 [%d %d]", fn.DType, fn.Shape, n, nc)
		}
		if base.DType != core.Float32 || len(base.Shape) != 1 || base.Shape[0] != n {
			core.Failf("input base is %v%v, want float32 [%d]", base.DType, base.Shape, n)
		}
		if scale.DType != core.Float32 || len(scale.Shape) != 1 || scale.Shape[0] != 1 {
			core.Failf("input scale is %v%v, want float32 [1]", scale.DType, scale.Shape)
		}
		j.Fn, j.Base, j.Scale = fn.Elems.([]float32), base.Elems.([]float32), scale.Elems.([]float32)[0]
		j.RmsEps = float32(c.Float("rms_eps", 0))
		j.NormEps = float32(c.Float("norm_eps", 0))
		j.W = hcWeight(in[4], x.DType, j.C)
		return j
	}
	if kind.IsCoeffs() {
		j.projection(c, in[1], in[2])
		if kind != HCCoeffsBound {
			return j
		}
		if j.PostStride == 0 && len(j.Lead) > 0 {
			core.Failf("input post has shape %v, want x's leading dims %v and %d (per token)", in[5].Shape, j.Lead, j.N)
		}
		j.NormEps = float32(c.Float("norm_eps", 0))
	} else {
		j.Pre, j.PreStride = hcCoeff(in[1], "pre", j.Lead, j.N, 1)
		j.Comb, j.CombStride = hcCoeff(in[2], "comb", j.Lead, j.N, 2)
	}
	j.W = hcWeight(in[3], x.DType, j.C)
	return j
}

// wantStateType fails unless the state input x (named name) is float32 or
// float16.
func wantStateType(name string, x *core.Tensor) {
	if x.DType != core.Float32 && x.DType != core.Float16 {
		core.Failf("input %s has type %v; the kernels take float32 or float16", name, x.DType)
	}
}

// newJob starts the job of a call of kind: its state input x, the leading
// dims lead, n streams (within the kernels' bounds) of C channels, the
// token count and eps.
func newJob(c *core.Call, kind HCKind, x *core.Tensor, lead []int64, n, C int) HCJob {
	if n < MinStreams || n > MaxStreams {
		core.Failf("x has %d streams; the kernels support n = %d to %d", n, MinStreams, MaxStreams)
	}
	j := HCJob{Kind: kind, DType: x.DType, Lead: lead, N: n, C: C, X: x.Elems, T: 1, Eps: float32(c.Float("eps", 0))}
	for _, d := range lead {
		j.T *= int(d)
	}
	return j
}

// projection checks a coefficient op's fn [n² + 2n, n·C] and base [n² +
// 2n] and takes them, rms_eps and iters into j.
func (j *HCJob) projection(c *core.Call, fn, base *core.Tensor) {
	m, nc := int64(j.M()), int64(j.N*j.C)
	if fn.DType != core.Float32 || len(fn.Shape) != 2 || fn.Shape[0] != m || fn.Shape[1] != nc {
		core.Failf("input fn is %v%v, want float32 [%d %d]", fn.DType, fn.Shape, m, nc)
	}
	if base.DType != core.Float32 || len(base.Shape) != 1 || base.Shape[0] != m {
		core.Failf("input base is %v%v, want float32 [%d]", base.DType, base.Shape, m)
	}
	j.Fn, j.Base = fn.Elems.([]float32), base.Elems.([]float32)
	j.RmsEps = float32(c.Float("rms_eps", 0))
	j.Iters = int(c.Int("iters", 1))
}

// parseEntry is ParseHC for HCEntry (e, fn, base, w): e is [lead, C] and
// the stream count is the attribute streams.
func parseEntry(c *core.Call, in []*core.Tensor) HCJob {
	e := in[0]
	r := len(e.Shape)
	wantStateType("e", e)
	if r < 1 {
		core.Failf("input e has shape %v, want [..., C]", e.Shape)
	}
	j := newJob(c, HCEntry, e, e.Shape[:r-1], int(c.Int("streams", 0)), int(e.Shape[r-1]))
	j.NormEps = float32(c.Float("norm_eps", 0))
	j.projection(c, in[1], in[2])
	j.W = hcWeight(in[3], e.DType, j.C)
	return j
}

// hcWeight checks the norm weight w: x's type dt, shape [C].
func hcWeight(w *core.Tensor, dt core.DType, C int) *core.Tensor {
	if w.DType != dt || len(w.Shape) != 1 || w.Shape[0] != int64(C) {
		core.Failf("input w is %v%v, want x's type and shape [%d]", w.DType, w.Shape, C)
	}
	return w
}

// hcCoeff checks a float32 coefficient of shape lead + tail stream axes, or
// the tail alone (shared by every token: static mHC), and returns its data
// and per-token stride (0 when shared).
func hcCoeff(t *core.Tensor, name string, lead []int64, n, tail int) ([]float32, int) {
	if t.DType != core.Float32 {
		core.Failf("input %s is %v, want float32", name, t.DType)
	}
	tailOK := len(t.Shape) >= tail
	for i := 0; tailOK && i < tail; i++ {
		tailOK = t.Shape[len(t.Shape)-1-i] == int64(n)
	}
	stride := n
	if tail == 2 {
		stride = n * n
	}
	switch {
	case tailOK && len(t.Shape) == tail:
		return t.Elems.([]float32), 0
	case tailOK && len(t.Shape) == len(lead)+tail && slices.Equal(t.Shape[:len(lead)], lead):
		return t.Elems.([]float32), stride
	}
	core.Failf("input %s has shape %v, want x's leading dims %v and %d stream axes of %d, or the stream axes alone", name, t.Shape, lead, tail, n)
	return nil, 0
}

// LoadRow widens count values of a T slice (src: []float32 or []uint16
// float16) from offset off into dst.
func LoadRow(dst []float32, src any, off int) {
	switch s := src.(type) {
	case []float32:
		copy(dst, s[off:off+len(dst)])
	case []uint16:
		for i, h := range s[off : off+len(dst)] {
			dst[i] = half.Float16ToFloat32(h)
		}
	}
}

// StoreRow rounds src into a T slice (dst: []float32 or []uint16 float16)
// from offset off.
func StoreRow(dst any, off int, src []float32) {
	switch d := dst.(type) {
	case []float32:
		copy(d[off:off+len(src)], src)
	case []uint16:
		for i, v := range src {
			d[off+i] = half.Float32ToFloat16(v)
		}
	}
}

// State writes token t's float32 state into s[N·C]: x[t], plus post⊗y with
// a post-mix (ybuf[C] is scratch).
func (j *HCJob) State(t int, s, ybuf []float32) {
	nc := j.N * j.C
	LoadRow(s[:nc], j.X, t*nc)
	if j.Y == nil {
		return
	}
	LoadRow(ybuf[:j.C], j.Y, t*j.C)
	p := j.PostIn[t*j.PostStride:][:j.N]
	for k := range j.N {
		row := s[k*j.C:][:j.C]
		for i, v := range ybuf[:j.C] {
			row[i] += p[k] * v
		}
	}
}

// NewHCOutputs allocates the op's outputs: pre, post, comb (float32) for the
// coefficient ops; normed, mixed and (if wantState) state in x's type for
// the boundary ops; the six for HCCoeffsBoundary; the first five for
// HCEntry; normed and (if wantState) state for HCHead. alloc makes the
// float32 storage.
func (j *HCJob) NewHCOutputs(wantState bool, alloc func(n int) []float32) []*core.Tensor {
	with := func(tail ...int64) []int64 { return append(slices.Clip(j.Lead), tail...) }
	n, c := int64(j.N), int64(j.C)
	mk := func(dt core.DType, shape []int64) *core.Tensor {
		size := 1 // at most x's size (n ≤ 8 ≤ C·8), which exists already
		for _, d := range shape {
			size *= int(d)
		}
		if j.Kind == HCEntry { // mixed is n times e's size: check it
			size = core.CheckSizeOf(shape, dt.Size())
		}
		if dt == core.Float32 {
			return &core.Tensor{DType: dt, Shape: shape, Elems: alloc(size)}
		}
		return &core.Tensor{DType: dt, Shape: shape, Elems: make([]uint16, size)}
	}
	outs := make([]*core.Tensor, 0, 6) // one allocation for any op
	if j.Kind == HCHead {
		outs = append(outs, mk(j.DType, with(c)), nil)
		if wantState {
			outs[1] = mk(j.DType, with(n, c))
		}
		return outs
	}
	if j.Kind.IsCoeffs() {
		outs = append(outs, mk(core.Float32, with(n)), mk(core.Float32, with(n)), mk(core.Float32, with(n, n)))
	}
	if j.Kind.Boundary() < 0 {
		return outs
	}
	outs = append(outs, mk(j.DType, with(c)), mk(j.DType, with(n, c)))
	if j.Kind == HCEntry {
		return outs
	}
	outs = append(outs, nil)
	if wantState {
		outs[len(outs)-1] = mk(j.DType, with(n, c))
	}
	return outs
}

// StateOut is the index of the op's optional state output (HCBoundary's,
// HCCoeffsBoundary's and HCHead's), or -1.
func (k HCKind) StateOut() int {
	if k == HCHead {
		return 1
	}
	if k == HCBound || k == HCCoeffsBound {
		return k.Boundary() + 2
	}
	return -1
}

// WantState reports whether call c of kind k writes its state output.
func (k HCKind) WantState(c *core.Call) bool { return k.StateOut() >= 0 && c.WantOut(k.StateOut()) }

// UseOwnCoeffs makes j's boundary part (HCCoeffsBoundary) read the
// coefficients the op computes: pre and comb of outs, per token.
func (j *HCJob) UseOwnCoeffs(outs []*core.Tensor) {
	j.Pre, j.PreStride = outs[0].Elems.([]float32), j.N
	j.Comb, j.CombStride = outs[2].Elems.([]float32), j.N*j.N
}

// Sigmoid32 is 1/(1 + e^−z) in float32, e^−z rounded from float64.
func Sigmoid32(z float32) float32 { return 1 / (1 + float32(math.Exp(float64(-z)))) }

// SinkhornF64 runs docs/spec.md §2's Sinkhorn in float64 on the n×n logits
// of z and writes the result, rounded to float32, into comb; m is n×n
// scratch.
func SinkhornF64(comb, z []float32, m []float64, n, iters int, eps float32) {
	for i := range n * n {
		m[i] = float64(z[i])
	}
	sinkhornMatrices(m[:n*n], n, iters, float64(eps), math.Exp)
	for i := range n * n {
		comb[i] = float32(m[i])
	}
}

// CoeffsFinish turns token t's projection z (without scale and base) into
// pre, post and comb: z·r + base, then the sigmoids and the Sinkhorn.
func (j *HCJob) CoeffsFinish(t int, z []float32, r float32, pre, post, comb []float32) {
	n := j.N
	for q := range z[:j.M()] {
		z[q] = z[q]*r + j.Base[q]
	}
	for k := range n {
		pre[t*n+k] = Sigmoid32(z[k]) + j.Eps
		post[t*n+k] = 2 * Sigmoid32(z[n+k])
	}
	var m [MaxStreams * MaxStreams]float64
	SinkhornF64(comb[t*n*n:][:n*n], z[2*n:], m[:], n, j.Iters, j.Eps)
}

// HeadPre turns HCHead's projection z (n values, without r, scale and
// base) into pre: sigmoid(scale·(z·r) + base) + eps.
func (j *HCJob) HeadPre(z []float32, r float32, pre []float32) {
	for k := range j.N {
		pre[k] = Sigmoid32(j.Scale*(z[k]*r)+j.Base[k]) + j.Eps
	}
}

// RMSInv is 1/sqrt(mean(v²) + eps) in float32, the sum in index order.
func RMSInv(v []float32, eps float32) float32 {
	var s float32
	for _, e := range v {
		s += e * e
	}
	return RMSInvOf(s, len(v), eps)
}

// RMSInvOf is the inverse RMS of n values whose squares sum to sumSq.
func RMSInvOf(sumSq float32, n int, eps float32) float32 {
	return 1 / float32(math.Sqrt(float64(sumSq/float32(n)+eps)))
}

// hcFused is the Reference kernel of the seven fused ops: per token, plain
// loops. HCCoeffsBoundary forms each token's state once and runs the
// coefficient part then the boundary part on it.
func hcFused(c *core.Call, in []*core.Tensor) []*core.Tensor {
	j := ParseHC(c, in)
	outs := j.NewHCOutputs(j.Kind.WantState(c), func(n int) []float32 { return make([]float32, n) })
	switch j.Kind {
	case HCHead:
		hcHead(&j, outs)
		return outs
	case HCEntry:
		hcEntry(&j, outs)
		return outs
	}
	n, C, nc := j.N, j.C, j.N*j.C
	s, ybuf := make([]float32, nc), make([]float32, C)
	var z []float32
	if j.Kind.IsCoeffs() {
		z = make([]float32, j.M())
	}
	var h, mixed, w []float32
	b := j.Kind.Boundary()
	if b >= 0 {
		w = core.Widen(j.W).Elems.([]float32)
		h, mixed = make([]float32, C), make([]float32, nc)
	}
	if j.Kind == HCCoeffsBound {
		j.UseOwnCoeffs(outs)
	}
	for t := range j.T {
		j.State(t, s, ybuf)
		if z != nil {
			pre, post, comb := outs[0].Elems.([]float32), outs[1].Elems.([]float32), outs[2].Elems.([]float32)
			r := RMSInv(s, j.RmsEps)
			for q := range z { // z = s · fn_q (r applies after: CoeffsFinish)
				f := j.Fn[q*nc:][:nc]
				var acc float32
				for i, v := range s {
					acc += v * f[i]
				}
				z[q] = acc
			}
			j.CoeffsFinish(t, z, r, pre, post, comb)
		}
		if b < 0 {
			continue
		}
		pre, comb := j.Pre[t*j.PreStride:][:n], j.Comb[t*j.CombStride:][:n*n]
		for i := range h {
			var acc float32
			for k := range n {
				acc += pre[k] * s[k*C+i]
			}
			h[i] = acc
		}
		for k := range n { // mixed[k] = Σ_j comb[j,k]·s[j]
			for i := range C {
				var acc float32
				for q := range n {
					acc += comb[q*n+k] * s[q*C+i]
				}
				mixed[k*C+i] = acc
			}
		}
		inv := RMSInv(h, j.NormEps)
		for i := range h {
			h[i] = h[i] * inv * w[i]
		}
		StoreRow(outs[b].Elems, t*C, h)
		StoreRow(outs[b+1].Elems, t*nc, mixed)
		if outs[b+2] != nil {
			StoreRow(outs[b+2].Elems, t*nc, s)
		}
	}
	return outs
}

// hcHead is HCHead's Reference form: per token, its state s = x + post⊗y,
// r = 1/RMS(s), z = scale·((s·fnᵀ)·r) + base, pre = sigmoid(z) + eps, the
// collapse h = Σ_i pre[i]·s[i], normed = RMSNorm(h, w) with norm_eps, and
// the state s when asked for.
func hcHead(j *HCJob, outs []*core.Tensor) {
	n, C, nc := j.N, j.C, j.N*j.C
	s, ybuf, h, z, pre := make([]float32, nc), make([]float32, C), make([]float32, C), make([]float32, n), make([]float32, n)
	w := core.Widen(j.W).Elems.([]float32)
	for t := range j.T {
		j.State(t, s, ybuf)
		r := RMSInv(s, j.RmsEps)
		for q := range z {
			f := j.Fn[q*nc:][:nc]
			var acc float32
			for i, v := range s {
				acc += v * f[i]
			}
			z[q] = acc
		}
		j.HeadPre(z, r, pre)
		for i := range h {
			var acc float32
			for k := range n {
				acc += pre[k] * s[k*C+i]
			}
			h[i] = acc
		}
		inv := RMSInv(h, j.NormEps)
		for i := range h {
			h[i] = h[i] * inv * w[i]
		}
		StoreRow(outs[0].Elems, t*C, h)
		if outs[1] != nil {
			StoreRow(outs[1].Elems, t*nc, s)
		}
	}
}

// EntryFnSum writes HCEntry's fn summed over the streams' column blocks
// into fsum [M, C]: fsum[q, i] = Σ_k fn[q, k·C + i], k in order. With
// every stream equal to e, s·fn_qᵀ = e·fsum_qᵀ.
func (j *HCJob) EntryFnSum(fsum []float32) {
	C, nc := j.C, j.N*j.C
	for q := range j.M() {
		f, row := j.Fn[q*nc:][:nc], fsum[q*C:][:C]
		copy(row, f[:C])
		for k := 1; k < j.N; k++ {
			for i, v := range f[k*C:][:C] {
				row[i] += v
			}
		}
	}
}

// hcEntry is HCEntry's Reference form, the state being n copies of the
// token's e (docs/fused-ops.md): r = 1/RMS(e) (mean(s²) = mean(e²)), z =
// (e·fsumᵀ)·r + base with fsum = EntryFnSum, pre, post and comb as
// HCCoeffsSinkhorn's (CoeffsFinish), the collapse h = (Σ_i pre[i])·e,
// normed = RMSNorm(h, w) with norm_eps, mixed[k] = (Σ_q comb[q, k])·e.
func hcEntry(j *HCJob, outs []*core.Tensor) {
	n, C, m := j.N, j.C, j.M()
	fsum := make([]float32, m*C)
	j.EntryFnSum(fsum)
	e, z, h, mixed := make([]float32, C), make([]float32, m), make([]float32, C), make([]float32, n*C)
	w := core.Widen(j.W).Elems.([]float32)
	pre, post, comb := outs[0].Elems.([]float32), outs[1].Elems.([]float32), outs[2].Elems.([]float32)
	for t := range j.T {
		LoadRow(e, j.X, t*C)
		r := RMSInv(e, j.RmsEps)
		for q := range z {
			f := fsum[q*C:][:C]
			var acc float32
			for i, v := range e {
				acc += v * f[i]
			}
			z[q] = acc
		}
		j.CoeffsFinish(t, z, r, pre, post, comb)
		var psum float32
		for _, p := range pre[t*n:][:n] {
			psum += p
		}
		for i, v := range e {
			h[i] = psum * v
		}
		cm := comb[t*n*n:][:n*n]
		for k := range n {
			var csum float32
			for q := range n {
				csum += cm[q*n+k]
			}
			for i, v := range e {
				mixed[k*C+i] = csum * v
			}
		}
		inv := RMSInv(h, j.NormEps)
		for i := range h {
			h[i] = h[i] * inv * w[i]
		}
		StoreRow(outs[3].Elems, t*C, h)
		StoreRow(outs[4].Elems, t*n*C, mixed)
	}
}

// hcTypes: x float32 or float16, y and w of x's type, the coefficients
// float32; the coefficient ops' outputs are float32, the boundary ops' and
// HCHead's of x's type.
func hcTypes(n *core.Node, in []core.DType) ([]core.DType, error) {
	kind := FusedHCOps[n.OpType]
	x := core.Undefined
	if len(in) > 0 {
		x = in[0]
	}
	if x != core.Undefined && x != core.Float32 && x != core.Float16 {
		name := "x"
		if kind == HCEntry {
			name = "e"
		}
		return nil, fmt.Errorf("input %s has type %v; the kernels take float32 or float16", name, x)
	}
	for i, t := range in[min(1, len(in)):] {
		i++
		switch {
		case t == core.Undefined:
		case kind.isT(i) && x != core.Undefined && t != x:
			return nil, fmt.Errorf("input %d has type %v, want x's type %v", i, t, x)
		case !kind.isT(i) && t != core.Float32:
			return nil, fmt.Errorf("input %d has type %v, want float32", i, t)
		}
	}
	if kind.IsCoeffs() && kind.Boundary() < 0 {
		return fill(len(n.Outputs), core.Float32), nil
	}
	outs := fill(len(n.Outputs), x)
	for i := range min(max(kind.Boundary(), 0), len(outs)) {
		outs[i] = core.Float32 // HCCoeffsBoundary's pre, post, comb
	}
	return outs, nil
}

// checkHC requires the fused op's attributes: eps (float) for all, rms_eps
// (float) and iters (int ≥ 1) for the coefficient ops, norm_eps (float) for
// HCCoeffsBoundary and HCEntry, streams (int) for HCEntry; eps, rms_eps
// and norm_eps (floats) for HCHead.
func checkHC(n *core.Node) error {
	want := map[string]onnxpb.AttributeProto_AttributeType{"eps": onnxpb.AttributeProto_FLOAT}
	if FusedHCOps[n.OpType].IsCoeffs() {
		want["rms_eps"] = onnxpb.AttributeProto_FLOAT
		want["iters"] = onnxpb.AttributeProto_INT
	}
	switch FusedHCOps[n.OpType] {
	case HCCoeffsBound:
		want["norm_eps"] = onnxpb.AttributeProto_FLOAT
	case HCEntry:
		want["norm_eps"] = onnxpb.AttributeProto_FLOAT
		want["streams"] = onnxpb.AttributeProto_INT
	case HCHead:
		want["rms_eps"] = onnxpb.AttributeProto_FLOAT
		want["norm_eps"] = onnxpb.AttributeProto_FLOAT
	}
	for name, typ := range want {
		a := n.Attrs[name]
		switch {
		case a == nil:
			return core.Errorf("attribute %q is required", name)
		case a.GetType() != typ:
			return core.Errorf("attribute %q: got %v, want %v", name, a.GetType(), typ)
		case name == "iters" && a.GetI() < 1:
			return core.Errorf("attribute \"iters\": got %d, want ≥ 1", a.GetI())
		}
	}
	for name := range n.Attrs {
		if _, ok := want[name]; !ok {
			return core.Errorf("unknown attribute %q", name)
		}
	}
	return nil
}
