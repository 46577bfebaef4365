//go:build amd64 && !purego

package fast

import "golang.org/x/sys/cpu"

// The assembly micro-kernel (gemm_amd64.s), used on every amd64 CPU with
// AVX-512 unless the build has the purego tag. Assembly, not simd/archsimd,
// because it can keep the whole 8×32 tile in 16 of AVX-512's 32 registers
// and feed the multiply-adds from memory broadcasts, which the compiler does
// not do (RATIONALE.md).

//go:noescape
func microAVX512asm(kc int, a, b, c *float32, ldc int, acc bool)

func init() {
	if cpu.X86.HasAVX512F {
		AsmKernel = microAsm
		SIMDKernel = microAsm
	}
}

// microAsm checks that the panels and the tile are inside their slices
// (the assembly does not) and calls the assembly kernel.
func microAsm(kc int, a, b, c []float32, ldc int, acc bool) {
	if kc <= 0 {
		emptyProduct(c, ldc, acc)
		return
	}
	_ = a[kc*gemmMR-1]
	_ = b[kc*gemmNR-1]
	_ = c[(gemmMR-1)*ldc+gemmNR-1]
	microAVX512asm(kc, &a[0], &b[0], &c[0], ldc, acc)
}

//go:noescape
func microRowsAVX512asm(kc int, a *float32, lda int, b, c *float32, ldc int, acc bool)

func init() {
	if cpu.X86.HasAVX512F {
		RowsKernel = microRowsAsm
	}
}

// microRowsAsm checks that the rows of A, the panel and the tile are inside
// their slices and calls the assembly kernel.
func microRowsAsm(kc int, a []float32, lda int, b, c []float32, ldc int, acc bool) {
	if kc <= 0 {
		emptyProduct(c, ldc, acc)
		return
	}
	_ = a[(gemmMR-1)*lda+kc-1]
	_ = b[kc*gemmNR-1]
	_ = c[(gemmMR-1)*ldc+gemmNR-1]
	microRowsAVX512asm(kc, &a[0], lda, &b[0], &c[0], ldc, acc)
}

// emptyProduct is a kernel's work when kc is 0: the product is 0, so the
// tile stays (acc) or becomes 0.
func emptyProduct(c []float32, ldc int, acc bool) {
	if !acc {
		for i := range gemmMR {
			clear(c[i*ldc : i*ldc+gemmNR])
		}
	}
}

//go:noescape
func rowAVX512asm(kc int, a *float32, as int, b *float32, brs, bps int, c *float32, panels int, acc bool)

func init() {
	if cpu.X86.HasAVX512F {
		RowKernel = rowAsm
	}
}

// rowAsm checks that A's kc elements, the panels of B and the row of C are
// inside their slices (the assembly does not) and calls the assembly kernel.
func rowAsm(kc int, a []float32, as int, b []float32, brs, bps int, c []float32, panels int, acc bool) {
	if panels <= 0 {
		return
	}
	_ = c[panels*gemmNR-1]
	if kc <= 0 {
		if !acc {
			clear(c[:panels*gemmNR])
		}
		return
	}
	_ = a[(kc-1)*as]
	_ = b[(kc-1)*brs+(panels-1)*bps+gemmNR-1]
	rowAVX512asm(kc, &a[0], as*4, &b[0], brs*4, bps*4, &c[0], panels, acc)
}
