//go:build goexperiment.simd && amd64

package fast

import (
	"math"
	"simd/archsimd"

	"github.com/mhcc-dev/mhcc/runtime/internal/core"
)

// AVX-512 forms of the float32 fast paths (internal/fast), built only with
// GOEXPERIMENT=simd on amd64 and used only on a CPU with AVX-512. They give
// the same results as the scalar code: the binary ops are IEEE + − × ÷ lane
// by lane, and exp16 follows expf32 step for step.
//
// Each ends its vector code with archsimd.ClearAVXUpperBits (VZEROUPPER),
// as C compilers do, before any scalar code: Go's scalar float code and
// gonum's kernels are legacy SSE, and on an Intel Xeon SSE instructions
// after AVX-512 ones that leave the upper halves dirty are slow. Without it
// HCEntry took 7.3 ms at hidden 1024 and 256 tokens instead of 1.6 once its
// RMS became sumSqAVX512 (its norm's scalar loop and gonum's Saxpy ran
// after it), and keeping a scalar live across calls in a vector loop made
// expSubRowAVX512 fourteen times slower (expSubVec).

func init() {
	if archsimd.X86.AVX512() {
		binRowSIMD = binRowAVX512
		sigmoidRowSIMD = sigmoidRowAVX512
		expSubRowSIMD = expSubRowAVX512
		axpySIMD = axpyAVX512
		NormSum4SIMD = normSum4AVX512
		accRowSIMD = accRowAVX512
		maxRowSIMD = maxRowAVX512
		expRowSIMD = expRowAVX512
		scaleRowSIMD = scaleRowAVX512
		sumSqSIMD = sumSqAVX512
		combRowSIMD = combRowAVX512
	}
}

func binVec(k core.BinKind, x, y archsimd.Float32x16) archsimd.Float32x16 {
	switch k {
	case core.BinAdd:
		return x.Add(y)
	case core.BinSub:
		return x.Sub(y)
	case core.BinMul:
		return x.Mul(y)
	}
	return x.Div(y)
}

func binRowAVX512(k core.BinKind, dst, x []float32, xs int, y []float32, ys int) bool {
	n := len(dst)
	if n < 16 || xs == 0 && ys == 0 {
		return false
	}
	var xv, yv archsimd.Float32x16
	if xs == 0 {
		xv = archsimd.BroadcastFloat32x16(x[0])
	} else {
		x = x[:n]
	}
	if ys == 0 {
		yv = archsimd.BroadcastFloat32x16(y[0])
	} else {
		y = y[:n]
	}
	i := 0
	for ; i+16 <= n; i += 16 {
		if xs == 1 {
			xv = archsimd.LoadFloat32x16((*[16]float32)(x[i : i+16]))
		}
		if ys == 1 {
			yv = archsimd.LoadFloat32x16((*[16]float32)(y[i : i+16]))
		}
		binVec(k, xv, yv).Store((*[16]float32)(dst[i : i+16]))
	}
	archsimd.ClearAVXUpperBits()
	// The tail in scalar code, which rounds the same: archsimd's partial
	// loads trip checkptr under -race (golang/go#78413).
	for ; i < n; i++ {
		a, b := x[i*xs], y[i*ys]
		switch k {
		case core.BinAdd:
			dst[i] = a + b
		case core.BinSub:
			dst[i] = a - b
		case core.BinMul:
			dst[i] = a * b
		default:
			dst[i] = a / b
		}
	}
	return true
}

// exp16 is expf32 on 16 lanes.
func exp16(x archsimd.Float32x16) archsimd.Float32x16 {
	lo := archsimd.BroadcastFloat32x16(expLo)
	hi := archsimd.BroadcastFloat32x16(ExpHi)
	// Lanes under lo (a masked score's -Inf, a NaN) compute e^0 and are
	// zeroed below: clamped to lo they made 2^-126·p, a denormal, and on
	// Intel cores every instruction with a denormal result takes a
	// microcode assist (causal softmax rows are half masked lanes).
	var zero archsimd.Float32x16
	ok := x.GreaterEqual(lo)
	xc := x.Min(hi).Merge(zero, ok)
	n := xc.Mul(archsimd.BroadcastFloat32x16(expLog2e)).RoundToEvenScaled(0)
	r := n.MulAdd(archsimd.BroadcastFloat32x16(-expC1), xc)
	r = n.MulAdd(archsimd.BroadcastFloat32x16(-expC2), r)
	p := archsimd.BroadcastFloat32x16(expP0)
	p = p.MulAdd(r, archsimd.BroadcastFloat32x16(expP1))
	p = p.MulAdd(r, archsimd.BroadcastFloat32x16(expP2))
	p = p.MulAdd(r, archsimd.BroadcastFloat32x16(expP3))
	p = p.MulAdd(r, archsimd.BroadcastFloat32x16(expP4))
	p = p.MulAdd(r, archsimd.BroadcastFloat32x16(expP5))
	p = p.MulAdd(r.Mul(r), r.Add(archsimd.BroadcastFloat32x16(1)))
	scale := n.ConvertToInt32().Add(archsimd.BroadcastInt32x16(127)).ShiftAllLeft(23).AsFloat32x16()
	res := p.Mul(scale).Merge(zero, ok)
	res = archsimd.BroadcastFloat32x16(float32(math.Inf(1))).Merge(res, x.Greater(hi))
	return x.Merge(res, x.IsNaN())
}

func sigmoidRowAVX512(dst, src []float32) bool {
	n := len(dst)
	src = src[:n]
	one := archsimd.BroadcastFloat32x16(1)
	var zero archsimd.Float32x16
	i := 0
	for ; i+16 <= n; i += 16 {
		x := archsimd.LoadFloat32x16((*[16]float32)(src[i : i+16]))
		one.Div(one.Add(exp16(zero.Sub(x)))).Store((*[16]float32)(dst[i : i+16]))
	}
	archsimd.ClearAVXUpperBits()
	for ; i < n; i++ { // not a partial load: golang/go#78413
		dst[i] = 1 / (1 + Expf32(-src[i]))
	}
	return true
}

// maxRowAVX512 is lineMax sixteen lanes at a time: NaN if any element is.
func maxRowAVX512(src []float32) (float32, bool) {
	n := len(src)
	if n < 16 {
		return 0, false
	}
	m := archsimd.LoadFloat32x16((*[16]float32)(src[0:16]))
	nan := m.IsNaN()
	i := 16
	for ; i+16 <= n; i += 16 {
		v := archsimd.LoadFloat32x16((*[16]float32)(src[i : i+16]))
		m = m.Max(v)
		nan = nan.Or(v.IsNaN())
	}
	isNaN := nan.ToBits() != 0
	var lanes [16]float32
	m.Store(&lanes)
	archsimd.ClearAVXUpperBits()
	if isNaN {
		return float32(math.NaN()), true
	}
	mx := lanes[0]
	for _, v := range lanes[1:] {
		mx = max(mx, v)
	}
	for ; i < n; i++ {
		v := src[i]
		if v != v {
			return v, true
		}
		mx = max(mx, v)
	}
	return mx, true
}

// expRowAVX512 is x[i] = expf32(x[i]) sixteen at a time (exp16).
func expRowAVX512(x []float32) {
	n := len(x)
	i := 0
	for ; i+16 <= n; i += 16 {
		p := (*[16]float32)(x[i : i+16])
		exp16(archsimd.LoadFloat32x16(p)).Store(p)
	}
	archsimd.ClearAVXUpperBits()
	for ; i < n; i++ { // not a partial load: golang/go#78413
		x[i] = Expf32(x[i])
	}
}

// scaleRowAVX512 is x[i] *= s sixteen at a time.
func scaleRowAVX512(x []float32, s float32) bool {
	n := len(x)
	if n < 16 {
		return false
	}
	sv := archsimd.BroadcastFloat32x16(s)
	i := 0
	for ; i+16 <= n; i += 16 {
		p := (*[16]float32)(x[i : i+16])
		archsimd.LoadFloat32x16(p).Mul(sv).Store(p)
	}
	archsimd.ClearAVXUpperBits()
	for ; i < n; i++ {
		x[i] *= s
	}
	return true
}

func expSubRowAVX512(dst, src []float32, m float32) (float32, bool) {
	n := len(dst)
	if n < 16 {
		return 0, false
	}
	i := n &^ 15
	var lanes [16]float32
	expSubVec(dst[:i], src[:i], archsimd.BroadcastFloat32x16(m)).Store(&lanes)
	archsimd.ClearAVXUpperBits()
	var s float64
	for _, v := range lanes {
		s += float64(v)
	}
	for ; i < n; i++ {
		dst[i] = Expf32(src[i] - m)
		s += float64(dst[i])
	}
	return float32(s), true
}

// expSubVec is expSubRowAVX512's vector loop (len(dst) a multiple of 16),
// returning the lanes' sums. It is a function of its own so that no
// scalar float is live across its calls of exp16: with m live, the
// compiler reloaded it each iteration with a legacy-SSE MOVSS, and on an
// Intel Xeon that SSE instruction after exp16's AVX-512 code made the loop
// 14 times slower (BenchmarkRowsAVX512/expSubRow: 9.3 µs for 1000 floats,
// 0.64 µs since). Inlined, it would be that loop again.
//
//go:noinline
func expSubVec(dst, src []float32, mv archsimd.Float32x16) archsimd.Float32x16 {
	src = src[:len(dst)]
	var sum archsimd.Float32x16
	for i := 0; i+16 <= len(dst); i += 16 {
		e := exp16(archsimd.LoadFloat32x16((*[16]float32)(src[i : i+16])).Sub(mv))
		e.Store((*[16]float32)(dst[i : i+16]))
		sum = sum.Add(e)
	}
	return sum
}

func axpyAVX512(dst, x []float32, alpha float32) {
	n := len(dst)
	x = x[:n]
	av := archsimd.BroadcastFloat32x16(alpha)
	i := 0
	for ; i+16 <= n; i += 16 {
		d := (*[16]float32)(dst[i : i+16])
		av.MulAdd(archsimd.LoadFloat32x16((*[16]float32)(x[i:i+16])), archsimd.LoadFloat32x16(d)).Store(d)
	}
	archsimd.ClearAVXUpperBits()
	for ; i < n; i++ {
		dst[i] += alpha * x[i]
	}
}

// Lane permutations for normSum4AVX512: rowRot[r][i] is lane i's r-th
// neighbour within its group of four (axis −1: groups are rows); colRot[r][i]
// is lane (i + 4r) mod 16 (axis −2: the four rows of a 4×4 block).
var rowRot, colRot [3][16]uint32

func init() {
	for r := 1; r <= 3; r++ {
		for i := range 16 {
			rowRot[r-1][i] = uint32(i&^3 | (i+r)&3)
			colRot[r-1][i] = uint32((i + 4*r) % 16)
		}
	}
}

// normSum4AVX512 is normSum for dim 4 with inner 1 (rows of four) or inner 4
// (4×4 blocks, summing columns), sixteen elements at a time: the sums are
// float32, so they differ from the float64 ones by float32 rounding.
func normSum4AVX512(dst, src []float32, inner int, eps float32) bool {
	n := len(src)
	if n%16 != 0 || inner != 1 && inner != 4 {
		return false
	}
	rot := &rowRot
	if inner == 4 {
		rot = &colRot
	}
	r1 := archsimd.LoadUint32x16(&rot[0])
	r2 := archsimd.LoadUint32x16(&rot[1])
	r3 := archsimd.LoadUint32x16(&rot[2])
	e := archsimd.BroadcastFloat32x16(eps)
	dst = dst[:n]
	for i := 0; i < n; i += 16 {
		v := archsimd.LoadFloat32x16((*[16]float32)(src[i : i+16]))
		s := v.Add(v.Permute(r1)).Add(v.Permute(r2).Add(v.Permute(r3)))
		v.Div(s.Add(e)).Store((*[16]float32)(dst[i : i+16]))
	}
	archsimd.ClearAVXUpperBits()
	return true
}

// accRowAVX512 is acc[j] += float64(x[j]) (or its square), eight at a time:
// the same float64 additions, lane by lane, as the scalar loop.
func accRowAVX512(acc []float64, x []float32, sq bool) {
	n := len(acc)
	x = x[:n]
	j := 0
	for ; j+8 <= n; j += 8 {
		v := archsimd.LoadFloat32x8((*[8]float32)(x[j : j+8])).ConvertToFloat64()
		if sq {
			v = v.Mul(v)
		}
		a := (*[8]float64)(acc[j : j+8])
		archsimd.LoadFloat64x8(a).Add(v).Store(a)
	}
	archsimd.ClearAVXUpperBits()
	for ; j < n; j++ {
		v := float64(x[j])
		if sq {
			v *= v
		}
		acc[j] += v
	}
}

// sumSqAVX512 is Σ x[i]² in float32, four 16-lane accumulators (64 floats
// an iteration), then the lanes and a scalar tail: the RMS of an mHC
// state, n·C values a token, whose one-chain scalar sum waited out the
// adder's latency at every element.
func sumSqAVX512(x []float32) (float32, bool) {
	n := len(x)
	if n < 64 {
		return 0, false
	}
	i := n &^ 63
	var lanes [16]float32
	sumSqVec(x[:i]).Store(&lanes)
	archsimd.ClearAVXUpperBits()
	var s float32
	for _, v := range lanes {
		s += v
	}
	for _, v := range x[i:] {
		s += v * v
	}
	return s, true
}

// sumSqVec is sumSqAVX512's vector loop (len(x) a multiple of 64): no
// scalar float is live in it (see expSubVec).
//
//go:noinline
func sumSqVec(x []float32) archsimd.Float32x16 {
	var a0, a1, a2, a3 archsimd.Float32x16
	for i := 0; i+64 <= len(x); i += 64 {
		v0 := archsimd.LoadFloat32x16((*[16]float32)(x[i : i+16]))
		v1 := archsimd.LoadFloat32x16((*[16]float32)(x[i+16 : i+32]))
		v2 := archsimd.LoadFloat32x16((*[16]float32)(x[i+32 : i+48]))
		v3 := archsimd.LoadFloat32x16((*[16]float32)(x[i+48 : i+64]))
		a0 = v0.MulAdd(v0, a0)
		a1 = v1.MulAdd(v1, a1)
		a2 = v2.MulAdd(v2, a2)
		a3 = v3.MulAdd(v3, a3)
	}
	return a0.Add(a1).Add(a2.Add(a3))
}

// combRowAVX512 is dst[i] = Σ_q coef[q]·s[q·stride + i] for i < len(dst),
// q < len(coef) ≤ 8, sixteen lanes at a time, the terms added in q order
// with fused multiply-adds: an mHC collapse (coef = pre) or one mixed
// stream (coef = a column of comb) in one pass over the streams.
func combRowAVX512(dst, s []float32, stride int, coef []float32) bool {
	n, C := len(coef), len(dst)
	if n == 0 || n > 8 || C < 16 || len(s) < (n-1)*stride+C {
		return false
	}
	var cv [8]archsimd.Float32x16
	for q, c := range coef {
		cv[q] = archsimd.BroadcastFloat32x16(c)
	}
	i := C &^ 15
	combVec(dst[:i], s, stride, &cv, n)
	archsimd.ClearAVXUpperBits()
	for ; i < C; i++ {
		var a float32
		for q := range n {
			a += coef[q] * s[q*stride+i]
		}
		dst[i] = a
	}
	return true
}

//go:noinline
func combVec(dst, s []float32, stride int, cv *[8]archsimd.Float32x16, n int) {
	for i := 0; i+16 <= len(dst); i += 16 {
		acc := cv[0].Mul(archsimd.LoadFloat32x16((*[16]float32)(s[i : i+16])))
		for q := 1; q < n; q++ {
			o := q*stride + i
			acc = cv[q].MulAdd(archsimd.LoadFloat32x16((*[16]float32)(s[o:o+16])), acc)
		}
		acc.Store((*[16]float32)(dst[i : i+16]))
	}
}
