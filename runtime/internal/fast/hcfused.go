package fast

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"

	"github.com/mhcc-dev/mhcc/runtime/internal/core"
	"github.com/mhcc-dev/mhcc/runtime/internal/ref"
)

// The Fast engine's forms of the fused mHC ops (docs/fused-ops.md; the
// Reference kernels and the input checks are ref's, mhcc_ops.go). Same
// float32 arithmetic as the reference, in another order: the dot products
// and axpys run in gonum's vector assembly, and the projection s·fnᵀ of
// many tokens is one GEMM. A call allocates its outputs (from the pool)
// and nothing else: scratch comes from the pool and goes back to it. Its
// tokens are split over the helper goroutines (ParallelFor) only when the
// work is large; a decode step (one token) runs on the calling goroutine.

// hcGemmTokens is the token count from which the coefficient ops' projection
// is one GEMM across tokens (packing fn is then paid once for many rows);
// below it, each token is a matrix-vector product.
const hcGemmTokens = 8

// hcChunk is the fewest tokens a helper goroutine takes (the library's
// MIN_CHUNK), and hcParallelMin the work (values of the state) from which a
// call splits its tokens at all.
const (
	hcChunk       = 8
	hcParallelMin = 1 << 15
)

// hcFast is the Fast form of the seven fused ops. HCCoeffsBoundary runs the
// coefficient part, then the boundary part reading the pre and comb just
// computed and, with many tokens, the states the projection was built
// from (formed once). HCHead is head, HCEntry entry (below).
func hcFast(c *core.Call, in []*core.Tensor) []*core.Tensor {
	w := hcWork{j: ref.ParseHC(c, in), c: c}
	j := &w.j
	w.outs = j.NewHCOutputs(j.Kind.WantState(c), GetF32)
	if j.T == 0 {
		return w.outs
	}
	switch j.Kind {
	case ref.HCHead:
		w.head()
		return w.outs
	case ref.HCEntry:
		w.entry()
		return w.outs
	}
	if b := j.Kind.Boundary(); b >= 0 {
		w.bouts = w.outs[b:]
	}
	if j.Kind.IsCoeffs() {
		w.keepS = w.bouts != nil
		w.coeffs()
	}
	if w.bouts != nil {
		if j.Kind.IsCoeffs() {
			j.UseOwnCoeffs(w.outs)
		}
		w.boundary()
	}
	if w.sBuf != nil {
		PutF32(w.sBuf)
	}
	return w.outs
}

// An hcWork is one call: the checked inputs, the outputs and the scratch
// its phases share.
type hcWork struct {
	j     ref.HCJob
	c     *core.Call
	outs  []*core.Tensor
	bouts []*core.Tensor // the boundary part's outputs: normed, mixed, state (nil entry: unwritten)
	keepS bool           // HCCoeffsBoundary: the states S stay for the boundary part
	// coefficient ops, many tokens: the states [T, n·C] (S, x itself or
	// sBuf), their inverse RMS r and the projections Z [T, m]. HCEntry: S
	// is e as float32 [T, C].
	S, sBuf, r, Z []float32
	wf            []float32 // boundary ops: w as float32
	wfPooled      bool      // wf is pool scratch (w is float16)
	fsum          []float32 // HCEntry: fn summed over the streams [m, C]
}

// Phases of a call, run over a range of tokens.
const (
	phaseStates   = iota // coefficient ops: S's rows and r
	phaseFinish          // coefficient ops: pre, post, comb from Z
	phaseBoundary        // boundary ops: everything
	phaseHead            // HCHead: everything after the projection's GEMM (or all of it)
	phaseEntry           // HCEntry: likewise
)

// tokens runs phase over the tokens [0, T): on the calling goroutine, or,
// for large work, in chunks of at least hcChunk tokens over the helpers.
func (w *hcWork) tokens(phase int) {
	j := &w.j
	if j.T < 2*hcChunk || j.T*j.N*j.C < hcParallelMin {
		w.run(phase, 0, j.T)
		return
	}
	hcParallel(w, phase)
}

// hcParallel runs phase over the helpers on a copy of w (so that w, which
// the closure would make escape, can stay on the caller's stack).
func hcParallel(w *hcWork, phase int) {
	c := new(hcWork)
	*c = *w
	T := c.j.T
	ParallelFor((T+hcChunk-1)/hcChunk, Workers(), func(b0, b1 int) { c.run(phase, b0*hcChunk, min(b1*hcChunk, T)) })
}

func (w *hcWork) run(phase, t0, t1 int) {
	switch phase {
	case phaseStates:
		w.states(t0, t1)
	case phaseFinish:
		pre, post, comb := w.outs[0].Elems.([]float32), w.outs[1].Elems.([]float32), w.outs[2].Elems.([]float32)
		m := w.j.M()
		for t := t0; t < t1; t++ {
			w.j.CoeffsFinish(t, w.Z[t*m:][:m], w.r[t], pre, post, comb)
		}
	case phaseBoundary:
		w.boundaryRange(t0, t1)
	case phaseHead:
		w.headRange(t0, t1)
	case phaseEntry:
		w.entryRange(t0, t1)
	}
}

// coeffs computes pre, post and comb. With few tokens each is one pass:
// its state, its RMS, the products with fn's rows (gonum's Sgemv), the
// sigmoids and the Sinkhorn. With many, the states are gathered into one
// [T, n·C] matrix (x itself when it is float32 without a post-mix), the
// projection is one GEMM, and the rest runs per token.
func (w *hcWork) coeffs() {
	j := &w.j
	pre, post, comb := w.outs[0].Elems.([]float32), w.outs[1].Elems.([]float32), w.outs[2].Elems.([]float32)
	nc, m := j.N*j.C, j.M()
	if j.T < hcGemmTokens {
		s := GetF32(nc + j.C + m) // the state, y, the projection z
		z := s[nc+j.C:][:m]
		for t := range j.T {
			st := hcState(j, t, s)
			r := ref.RMSInv(st, j.RmsEps)
			gonum.Implementation{}.Sgemv(blas.NoTrans, m, nc, 1, j.Fn, nc, st, 1, 0, z[:m], 1)
			j.CoeffsFinish(t, z[:m], r, pre, post, comb)
		}
		PutF32(s)
		return
	}
	if x, ok := j.X.([]float32); ok && j.Y == nil {
		w.S = x[:j.T*nc]
	} else {
		w.sBuf = GetF32(j.T * nc)
		w.S = w.sBuf
	}
	w.r = GetF32(max(j.T, PoolMin))
	w.Z = GetF32(j.T * m)
	w.tokens(phaseStates)
	switch {
	case w.projectPacked(nc, m):
	case SIMDKernel != nil:
		Sgemm(SIMDKernel, j.T, m, nc, w.S, nc, false, j.Fn, nc, true, w.Z, m, Workers())
	default:
		matMulGonum32(w.Z, w.S, false, j.Fn, true, j.T, nc, m)
	}
	w.tokens(phaseFinish)
	if !w.keepS {
		w.S = nil
		if w.sBuf != nil {
			PutF32(w.sBuf)
			w.sBuf = nil
		}
	}
	PutF32(w.r)
	PutF32(w.Z)
}

// projectPacked computes Z = S·fnᵀ ([T, cols]) from the fn the plan
// packed (packHCProjections), reading S's rows in place, and reports
// whether there was one.
func (w *hcWork) projectPacked(k, cols int) bool {
	pk := fusionOf(w.c.N).packed
	if pk == nil || pk.K != k || pk.N != cols {
		return false
	}
	SgemmPacked(SIMDKernel, RowsKernel, w.j.T, w.S, k, pk.PackedB, w.Z, cols, Workers())
	return true
}

// states writes the rows t0…t1 of S (unless S is x) and their r.
func (w *hcWork) states(t0, t1 int) {
	j := &w.j
	nc := j.N * j.C
	var ybuf []float32
	if w.sBuf != nil && j.Y != nil {
		ybuf = GetF32(j.C)
	}
	for t := t0; t < t1; t++ {
		row := w.S[t*nc:][:nc]
		if w.sBuf != nil {
			hcFormState(j, t, row, ybuf)
		}
		w.r[t] = rmsInv(row, j.RmsEps)
	}
	if ybuf != nil {
		PutF32(ybuf)
	}
}

// hcState returns token t's float32 state: x's row itself when x is float32
// without a post-mix, else the state written into buf (n·C, then C of
// scratch for y).
func hcState(j *ref.HCJob, t int, buf []float32) []float32 {
	nc := j.N * j.C
	if x, ok := j.X.([]float32); ok && j.Y == nil {
		return x[t*nc:][:nc]
	}
	hcFormState(j, t, buf[:nc], buf[nc:nc+j.C])
	return buf[:nc]
}

// hcFormState is j.State with the post-mix's axpys in vector code where
// the build has it (one fused multiply-add an element).
func hcFormState(j *ref.HCJob, t int, s, ybuf []float32) {
	if axpySIMD == nil || j.Y == nil {
		j.State(t, s, ybuf)
		return
	}
	nc := j.N * j.C
	ref.LoadRow(s[:nc], j.X, t*nc)
	y := ybuf[:j.C]
	ref.LoadRow(y, j.Y, t*j.C)
	p := j.PostIn[t*j.PostStride:][:j.N]
	for k := range j.N {
		axpySIMD(s[k*j.C:][:j.C], y, p[k])
	}
}

// rmsInv is ref.RMSInv with the sum of squares in vector code where the
// build has it (sumSqSIMD: float32 sums in another order).
func rmsInv(v []float32, eps float32) float32 {
	if sumSqSIMD != nil {
		if s, ok := sumSqSIMD(v); ok {
			return ref.RMSInvOf(s, len(v), eps)
		}
	}
	return ref.RMSInv(v, eps)
}

// sumSqSIMD is Σ v[i]² in float32 where the build has a vector form
// (kernels_simd.go), else nil; it reports whether it did the work.
var sumSqSIMD func(v []float32) (float32, bool)

// combRowSIMD is dst[i] = Σ_q coef[q]·s[q·stride + i] (len(coef) ≤ 8)
// where the build has a vector form (kernels_simd.go), else nil; it
// reports whether it did the work.
var combRowSIMD func(dst, s []float32, stride int, coef []float32) bool

// loadW sets w.wf, the norm weight as float32 (widened into pool scratch
// when it is float16); putW gives the scratch back.
func (w *hcWork) loadW() {
	if wf, ok := w.j.W.Elems.([]float32); ok {
		w.wf, w.wfPooled = wf, false
		return
	}
	w.wf, w.wfPooled = GetF32(w.j.C), true
	ref.LoadRow(w.wf, w.j.W.Elems, 0)
}

func (w *hcWork) putW() {
	if w.wfPooled {
		PutF32(w.wf)
	}
}

// norm is the RMSNorm of h in place: h · inv · w, inv from h's RMS and
// the op's norm epsilon.
func (w *hcWork) norm(h []float32) {
	inv := rmsInv(h, w.j.NormEps)
	for i, v := range h {
		h[i] = v * inv * w.wf[i]
	}
}

// boundary computes normed, mixed and the optional state.
func (w *hcWork) boundary() {
	w.loadW()
	defer w.putW()
	w.tokens(phaseBoundary)
}

// boundaryRange is the boundary ops on tokens t0…t1: the collapse h and
// each mixed stream as axpys over the state's streams (gonum's vector
// assembly), mixed written straight into a float32 output.
func (w *hcWork) boundaryRange(t0, t1 int) {
	j := &w.j
	n, C, nc := j.N, j.C, j.N*j.C
	mixed32, direct := w.bouts[1].Elems.([]float32)
	impl := gonum.Implementation{}
	// buf: the state (n·C), y (C), h (C), mixed when not direct (n·C), a
	// column of comb (n).
	buf := GetF32(2*nc + 2*C + n)
	h := buf[nc+C:][:C]
	col := buf[2*nc+2*C:][:n]
	for t := t0; t < t1; t++ {
		var s []float32
		if w.S != nil { // HCCoeffsBoundary, many tokens: the states formed for the projection
			s = w.S[t*nc:][:nc]
		} else {
			s = hcState(j, t, buf)
		}
		pre, comb := j.Pre[t*j.PreStride:][:n], j.Comb[t*j.CombStride:][:n*n]
		mix := buf[nc+2*C:][:nc]
		if direct {
			mix = mixed32[t*nc:][:nc]
		}
		if !hcCombRows(h, mix, s, pre, comb, col, n, C) {
			clear(h)
			for k := range n {
				impl.Saxpy(C, pre[k], s[k*C:], 1, h, 1)
			}
			clear(mix)
			for k := range n { // mixed[k] = Σ_q comb[q,k]·s[q]
				mk := mix[k*C:][:C]
				for q := range n {
					impl.Saxpy(C, comb[q*n+k], s[q*C:], 1, mk, 1)
				}
			}
		}
		w.norm(h)
		ref.StoreRow(w.bouts[0].Elems, t*C, h)
		if !direct {
			ref.StoreRow(w.bouts[1].Elems, t*nc, mix)
		}
		if w.bouts[2] != nil {
			ref.StoreRow(w.bouts[2].Elems, t*nc, s)
		}
	}
	PutF32(buf)
}

// hcCombRows is the collapse h = Σ_k pre[k]·s[k] and the mix
// mixed[k] = Σ_q comb[q,k]·s[q] of one token's state s (n streams of C) in
// one vector pass each (combRowSIMD), where the build has it; it reports
// whether it did the work. col is n floats of scratch.
func hcCombRows(h, mix, s, pre, comb, col []float32, n, C int) bool {
	if combRowSIMD == nil || !combRowSIMD(h, s, C, pre) {
		return false
	}
	for k := range n {
		for q := range n {
			col[q] = comb[q*n+k]
		}
		combRowSIMD(mix[k*C:][:C], s, C, col)
	}
	return true
}

// head is HCHead: with few tokens each is one pass (its state, its RMS,
// the n products with fn's rows in gonum's Sgemv, pre, the collapse and
// the RMSNorm); with many, the states are gathered into one [T, n·C]
// matrix with their r (phaseStates), the projection is one GEMM, and the
// rest runs per token on the gathered states.
func (w *hcWork) head() {
	j := &w.j
	nc, n := j.N*j.C, j.N
	w.loadW()
	defer w.putW()
	if j.T >= hcGemmTokens {
		w.sBuf = GetF32(j.T * nc)
		w.S = w.sBuf
		w.r = GetF32(max(j.T, PoolMin))
		w.Z = GetF32(max(j.T*n, PoolMin))
		w.tokens(phaseStates)
		if SIMDKernel != nil {
			if !w.projectPacked(nc, n) {
				Sgemm(SIMDKernel, j.T, n, nc, w.S, nc, false, j.Fn, nc, true, w.Z, n, Workers())
			}
		} else {
			matMulGonum32(w.Z[:j.T*n], w.S, false, j.Fn, true, j.T, nc, n)
		}
	}
	w.tokens(phaseHead)
	if w.sBuf != nil {
		PutF32(w.sBuf)
		PutF32(w.r)
		PutF32(w.Z)
		w.S, w.sBuf, w.r, w.Z = nil, nil, nil, nil
	}
}

// headRange is HCHead on tokens t0…t1: the state, r and the projection z
// (from the gathered states and the GEMM, or formed here), pre, the
// collapse h as axpys over the state's streams, normed = RMSNorm(h, w),
// and the state when asked for.
func (w *hcWork) headRange(t0, t1 int) {
	j := &w.j
	n, C, nc := j.N, j.C, j.N*j.C
	impl := gonum.Implementation{}
	// buf: the state (n·C), y (C), h (C), z (n), pre (n).
	buf := GetF32(max(nc+2*C+2*n, PoolMin))
	h := buf[nc+C:][:C]
	z, pre := buf[nc+2*C:][:n], buf[nc+2*C+n:][:n]
	for t := t0; t < t1; t++ {
		var s, zt []float32
		var r float32
		if w.S != nil {
			s, zt, r = w.S[t*nc:][:nc], w.Z[t*n:][:n], w.r[t]
		} else {
			s = hcState(j, t, buf)
			r = ref.RMSInv(s, j.RmsEps)
			impl.Sgemv(blas.NoTrans, n, nc, 1, j.Fn, nc, s, 1, 0, z, 1)
			zt = z
		}
		j.HeadPre(zt, r, pre)
		clear(h)
		for k := range n {
			impl.Saxpy(C, pre[k], s[k*C:], 1, h, 1)
		}
		w.norm(h)
		ref.StoreRow(w.outs[0].Elems, t*C, h)
		if w.outs[1] != nil {
			ref.StoreRow(w.outs[1].Elems, t*nc, s)
		}
	}
	PutF32(buf)
}

// entry is HCEntry, whose state is n copies of the token's e: its
// projection is e·fsumᵀ with fsum [m, C] the sum of fn's n column blocks
// (formed per call by axpys), the collapse and every mixed stream are
// multiples of e. With few tokens each is one pass (gonum's Sgemv of fsum
// and e, then the rest); with many, the projection is one GEMM of e (x
// itself when float32, else widened into scratch) and fsum, and the rest
// runs per token.
func (w *hcWork) entry() {
	j := &w.j
	C, nc, m := j.C, j.N*j.C, j.M()
	w.loadW()
	defer w.putW()
	fsumBuf := GetF32(max(m*C, PoolMin))
	w.fsum = fsumBuf[:m*C]
	impl := gonum.Implementation{}
	for q := range m {
		f, row := j.Fn[q*nc:][:nc], w.fsum[q*C:][:C]
		copy(row, f[:C])
		for k := 1; k < j.N; k++ {
			impl.Saxpy(C, 1, f[k*C:], 1, row, 1)
		}
	}
	if j.T >= hcGemmTokens {
		if x, ok := j.X.([]float32); ok {
			w.S = x[:j.T*C]
		} else {
			w.sBuf = GetF32(j.T * C)
			ref.LoadRow(w.sBuf, j.X, 0)
			w.S = w.sBuf
		}
		w.Z = GetF32(max(j.T*m, PoolMin))
		if SIMDKernel != nil {
			Sgemm(SIMDKernel, j.T, m, C, w.S, C, false, w.fsum, C, true, w.Z, m, Workers())
		} else {
			matMulGonum32(w.Z[:j.T*m], w.S, false, w.fsum, true, j.T, C, m)
		}
	}
	w.tokens(phaseEntry)
	PutF32(fsumBuf)
	if w.Z != nil {
		PutF32(w.Z)
	}
	if w.sBuf != nil {
		PutF32(w.sBuf)
	}
	w.S, w.sBuf, w.Z, w.fsum = nil, nil, nil, nil
}

// entryRange is HCEntry on tokens t0…t1: e as float32, r = 1/RMS(e), the
// projection z (from the GEMM, or fsum·e here), pre, post and comb
// (CoeffsFinish), h = (Σ pre)·e and normed = RMSNorm(h, w), and mixed[k]
// = (Σ_q comb[q, k])·e, written straight into a float32 output.
func (w *hcWork) entryRange(t0, t1 int) {
	j := &w.j
	n, C, nc, m := j.N, j.C, j.N*j.C, j.M()
	pre, post, comb := w.outs[0].Elems.([]float32), w.outs[1].Elems.([]float32), w.outs[2].Elems.([]float32)
	mixed32, direct := w.outs[4].Elems.([]float32)
	x32, _ := j.X.([]float32)
	impl := gonum.Implementation{}
	// buf: e (C), h (C), z (m), mixed when not direct (n·C).
	buf := GetF32(max(2*C+m+nc, PoolMin))
	h, z := buf[C:][:C], buf[2*C:][:m]
	for t := t0; t < t1; t++ {
		var e []float32
		switch {
		case w.S != nil:
			e = w.S[t*C:][:C]
		case x32 != nil:
			e = x32[t*C:][:C]
		default:
			e = buf[:C]
			ref.LoadRow(e, j.X, t*C)
		}
		r := ref.RMSInv(e, j.RmsEps)
		zt := z
		if w.Z != nil {
			zt = w.Z[t*m:][:m]
		} else {
			impl.Sgemv(blas.NoTrans, m, C, 1, w.fsum, C, e, 1, 0, z, 1)
		}
		j.CoeffsFinish(t, zt, r, pre, post, comb)
		var psum float32
		for _, p := range pre[t*n:][:n] {
			psum += p
		}
		clear(h)
		impl.Saxpy(C, psum, e, 1, h, 1)
		mix := buf[2*C+m:][:nc]
		if direct {
			mix = mixed32[t*nc:][:nc]
		}
		clear(mix)
		cm := comb[t*n*n:][:n*n]
		for k := range n {
			var csum float32
			for q := range n {
				csum += cm[q*n+k]
			}
			impl.Saxpy(C, csum, e, 1, mix[k*C:], 1)
		}
		w.norm(h)
		ref.StoreRow(w.outs[3].Elems, t*C, h)
		if !direct {
			ref.StoreRow(w.outs[4].Elems, t*nc, mix)
		}
	}
	PutF32(buf)
}
