//go:build goexperiment.simd && amd64

package runtime

import "simd/archsimd"

// The AVX-512 micro-kernel, built only with GOEXPERIMENT=simd on amd64 and
// used only on a CPU with AVX-512 (see gemm.go). Its MR×NR tile of C lives
// in vector registers; each step of p broadcasts one element of the A panel
// and multiplies it into the 16-lane vectors of the B panel (fused
// multiply-add, one rounding per step, as MLAS does). The tile is sized so
// that the accumulators, the B vectors and one broadcast fit the 15 vector
// registers Go's register allocator hands out without spilling.

func init() {
	if archsimd.X86.AVX512() {
		simdKernel = microAVX512
	}
}

func microAVX512(kc int, a, b, c []float32, ldc int, acc bool) {
	var (
		c00, c01 archsimd.Float32x16
		c10, c11 archsimd.Float32x16
		c20, c21 archsimd.Float32x16
		c30, c31 archsimd.Float32x16
	)
	a = a[:kc*gemmMR]
	b = b[:kc*gemmNR]
	for p := 0; p < kc; p++ {
		bp := (*[gemmNR]float32)(b[p*gemmNR:])
		ap := (*[gemmMR]float32)(a[p*gemmMR:])
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
