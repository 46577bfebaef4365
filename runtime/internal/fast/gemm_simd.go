//go:build goexperiment.simd && amd64

package fast

import "simd/archsimd"

// The AVX-512 micro-kernel written with simd/archsimd, built only with
// GOEXPERIMENT=simd on amd64 (see gemm.go). The tile is 8×32 as for the
// assembly kernel (gemm_amd64.s), computed as two 4×32 halves: Go's register
// allocator hands out 15 vector registers, and 8 accumulators, two B vectors
// and the broadcasts are what fits without spilling. It is used where the
// assembly kernel is not (the purego build tag), and the tests check both.

func init() {
	if archsimd.X86.AVX512() {
		ArchsimdKernel = microArchsimd
		if SIMDKernel == nil {
			SIMDKernel = microArchsimd
		}
	}
}

func microArchsimd(kc int, a, b, c []float32, ldc int, acc bool) {
	micro4x32(kc, a, b, c, ldc, acc, 0)
	micro4x32(kc, a, b, c[4*ldc:], ldc, acc, 4)
}

// micro4x32 is the 4×32 tile of rows first … first+3 of the 8-row A panel: the
// compiler gives archsimd code too few registers for the whole 8×32 tile.
func micro4x32(kc int, a, b, c []float32, ldc int, acc bool, first int) {
	var c00, c01, c10, c11, c20, c21, c30, c31 archsimd.Float32x16
	a = a[:kc*gemmMR]
	b = b[:kc*gemmNR]
	for p := 0; p < kc; p++ {
		bp := (*[gemmNR]float32)(b[p*gemmNR:])
		ap := (*[4]float32)(a[p*gemmMR+first:])
		b0 := archsimd.LoadFloat32x16((*[16]float32)(bp[0:16]))
		b1 := archsimd.LoadFloat32x16((*[16]float32)(bp[16:32]))
		c00 = archsimd.BroadcastFloat32x16(ap[0]).MulAdd(b0, c00)
		c01 = archsimd.BroadcastFloat32x16(ap[0]).MulAdd(b1, c01)
		c10 = archsimd.BroadcastFloat32x16(ap[1]).MulAdd(b0, c10)
		c11 = archsimd.BroadcastFloat32x16(ap[1]).MulAdd(b1, c11)
		c20 = archsimd.BroadcastFloat32x16(ap[2]).MulAdd(b0, c20)
		c21 = archsimd.BroadcastFloat32x16(ap[2]).MulAdd(b1, c21)
		c30 = archsimd.BroadcastFloat32x16(ap[3]).MulAdd(b0, c30)
		c31 = archsimd.BroadcastFloat32x16(ap[3]).MulAdd(b1, c31)
	}
	if acc {
		r0 := (*[gemmNR]float32)(c[0*ldc:])
		c00 = c00.Add(archsimd.LoadFloat32x16((*[16]float32)(r0[0:16])))
		c01 = c01.Add(archsimd.LoadFloat32x16((*[16]float32)(r0[16:32])))
		r1 := (*[gemmNR]float32)(c[1*ldc:])
		c10 = c10.Add(archsimd.LoadFloat32x16((*[16]float32)(r1[0:16])))
		c11 = c11.Add(archsimd.LoadFloat32x16((*[16]float32)(r1[16:32])))
		r2 := (*[gemmNR]float32)(c[2*ldc:])
		c20 = c20.Add(archsimd.LoadFloat32x16((*[16]float32)(r2[0:16])))
		c21 = c21.Add(archsimd.LoadFloat32x16((*[16]float32)(r2[16:32])))
		r3 := (*[gemmNR]float32)(c[3*ldc:])
		c30 = c30.Add(archsimd.LoadFloat32x16((*[16]float32)(r3[0:16])))
		c31 = c31.Add(archsimd.LoadFloat32x16((*[16]float32)(r3[16:32])))
	}
	r0 := (*[gemmNR]float32)(c[0*ldc:])
	c00.Store((*[16]float32)(r0[0:16]))
	c01.Store((*[16]float32)(r0[16:32]))
	r1 := (*[gemmNR]float32)(c[1*ldc:])
	c10.Store((*[16]float32)(r1[0:16]))
	c11.Store((*[16]float32)(r1[16:32]))
	r2 := (*[gemmNR]float32)(c[2*ldc:])
	c20.Store((*[16]float32)(r2[0:16]))
	c21.Store((*[16]float32)(r2[16:32]))
	r3 := (*[gemmNR]float32)(c[3*ldc:])
	c30.Store((*[16]float32)(r3[0:16]))
	c31.Store((*[16]float32)(r3[16:32]))
}
