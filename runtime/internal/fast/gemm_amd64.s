//go:build amd64 && !purego

#include "textflag.h"

// Both kernels hold the 8×32 tile of C in Z0–Z15 (row i in Z(2i), Z(2i+1)),
// load the two B vectors of step p into Z16, Z17, and differ only in where
// the eight broadcasts of A come from. The macros below are their shared
// parts; DX points at C and R8 holds C's row stride in bytes.

// ZERO_TILE clears the sixteen accumulators.
#define ZERO_TILE \
	VPXORD Z0, Z0, Z0; VPXORD Z1, Z1, Z1; VPXORD Z2, Z2, Z2; VPXORD Z3, Z3, Z3; \
	VPXORD Z4, Z4, Z4; VPXORD Z5, Z5, Z5; VPXORD Z6, Z6, Z6; VPXORD Z7, Z7, Z7; \
	VPXORD Z8, Z8, Z8; VPXORD Z9, Z9, Z9; VPXORD Z10, Z10, Z10; VPXORD Z11, Z11, Z11; \
	VPXORD Z12, Z12, Z12; VPXORD Z13, Z13, Z13; VPXORD Z14, Z14, Z14; VPXORD Z15, Z15, Z15

// ROW broadcasts A[i, p] from src into t and adds it times the B vectors to
// row i's accumulators c0, c1.
#define ROW(src, t, c0, c1) \
	VBROADCASTSS src, t; \
	VFMADD231PS Z16, t, c0; \
	VFMADD231PS Z17, t, c1

// ADD_ROW adds C's row at DX into c0, c1; PUT_ROW stores them there.
#define ADD_ROW(c0, c1) VADDPS (DX), c0, c0; VADDPS 64(DX), c1, c1
#define PUT_ROW(c0, c1) VMOVUPS c0, (DX); VMOVUPS c1, 64(DX)

// ADD_C adds the tile of C into the accumulators (DX ends on the last row);
// PUT_C stores the accumulators as the tile of C.
#define ADD_C \
	ADD_ROW(Z0, Z1); ADDQ R8, DX; ADD_ROW(Z2, Z3); ADDQ R8, DX; \
	ADD_ROW(Z4, Z5); ADDQ R8, DX; ADD_ROW(Z6, Z7); ADDQ R8, DX; \
	ADD_ROW(Z8, Z9); ADDQ R8, DX; ADD_ROW(Z10, Z11); ADDQ R8, DX; \
	ADD_ROW(Z12, Z13); ADDQ R8, DX; ADD_ROW(Z14, Z15)
#define PUT_C \
	PUT_ROW(Z0, Z1); ADDQ R8, DX; PUT_ROW(Z2, Z3); ADDQ R8, DX; \
	PUT_ROW(Z4, Z5); ADDQ R8, DX; PUT_ROW(Z6, Z7); ADDQ R8, DX; \
	PUT_ROW(Z8, Z9); ADDQ R8, DX; PUT_ROW(Z10, Z11); ADDQ R8, DX; \
	PUT_ROW(Z12, Z13); ADDQ R8, DX; PUT_ROW(Z14, Z15)

// func microAVX512asm(kc int, a, b, c *float32, ldc int, acc bool)
//
// The 8×32 AVX-512 micro-kernel (see gemm_amd64.go): C[0:8, 0:32] (row
// stride ldc floats) = or += A panel (kc×8, a[p*8+i]) · B panel (kc×32,
// b[p*32+j]). Sixteen accumulators Z0–Z15; per step two B vectors (Z16, Z17)
// and eight broadcasts of A straight from memory into fused multiply-adds.
// Each step prefetches the B panel eight steps (1 KB) ahead: on an Intel
// Xeon that took BenchmarkSgemmPacked from 150–160 to 160–170 GFLOP/s on
// one core (512 and 2048 bytes ahead did about as well).
TEXT ·microAVX512asm(SB), NOSPLIT, $0-41
	MOVQ kc+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DI
	MOVQ c+24(FP), DX
	MOVQ ldc+32(FP), R8
	SHLQ $2, R8 // row stride in bytes
	ZERO_TILE
	TESTQ CX, CX
	JLE   store

loop:
	PREFETCHT0 1024(DI)
	VMOVUPS (DI), Z16
	VMOVUPS 64(DI), Z17
	ROW(0(SI), Z18, Z0, Z1)
	ROW(4(SI), Z19, Z2, Z3)
	ROW(8(SI), Z20, Z4, Z5)
	ROW(12(SI), Z21, Z6, Z7)
	ROW(16(SI), Z22, Z8, Z9)
	ROW(20(SI), Z23, Z10, Z11)
	ROW(24(SI), Z24, Z12, Z13)
	ROW(28(SI), Z25, Z14, Z15)
	ADDQ $32, SI
	ADDQ $128, DI
	DECQ CX
	JNZ  loop

store:
	MOVBLZX acc+40(FP), AX
	TESTQ AX, AX
	JZ    put
	ADD_C // C += the product
	MOVQ c+24(FP), DX

put:
	PUT_C
	VZEROUPPER
	RET

// func microRowsAVX512asm(kc int, a *float32, lda int, b, c *float32, ldc int, acc bool)
//
// microAVX512asm with A read in place instead of from a packed panel: the
// eight rows start at a, lda floats apart, and step p broadcasts A[i, p]
// from each. This is how MLAS reads A; it saves packing the activations,
// which cost a third as much as the multiply on hidden-256 decoders.
TEXT ·microRowsAVX512asm(SB), NOSPLIT, $0-49
	MOVQ kc+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ lda+16(FP), R9
	SHLQ $2, R9          // row stride of A in bytes
	LEAQ (R9)(R9*2), R10 // 3 rows
	LEAQ (SI)(R9*4), R11 // row 4
	MOVQ b+24(FP), DI
	MOVQ c+32(FP), DX
	MOVQ ldc+40(FP), R8
	SHLQ $2, R8 // row stride of C in bytes
	ZERO_TILE
	TESTQ CX, CX
	JLE   rstore

rloop:
	PREFETCHT0 1024(DI) // B, eight steps ahead (see microAVX512asm)
	VMOVUPS (DI), Z16
	VMOVUPS 64(DI), Z17
	ROW((SI), Z18, Z0, Z1)
	ROW((SI)(R9*1), Z19, Z2, Z3)
	ROW((SI)(R9*2), Z20, Z4, Z5)
	ROW((SI)(R10*1), Z21, Z6, Z7)
	ROW((R11), Z22, Z8, Z9)
	ROW((R11)(R9*1), Z23, Z10, Z11)
	ROW((R11)(R9*2), Z24, Z12, Z13)
	ROW((R11)(R10*1), Z25, Z14, Z15)
	ADDQ $4, SI
	ADDQ $4, R11
	ADDQ $128, DI
	DECQ CX
	JNZ  rloop

rstore:
	MOVBLZX acc+48(FP), AX
	TESTQ AX, AX
	JZ    rput
	ADD_C // C += the product
	MOVQ c+32(FP), DX

rput:
	PUT_C
	VZEROUPPER
	RET

// func rowAVX512asm(kc int, a *float32, as int, b *float32, brs, bps int, c *float32, panels int, acc bool)
//
// One row of C against panels NR-column panels of B: C[0, 0:32·panels] = or
// += Σ_p A[p]·B[p, ·], A[p] at a + p·as bytes, B[p, q·32 + j] at
// b + p·brs + q·bps + 4j bytes (brs = 128, bps = kc·128 for packed panels).
// Every element is the same chain of fused multiply-adds from zero, p in
// order, plus C with acc, as in microAVX512asm's tile, so a row computed
// here equals that row of the 8-row kernel's tile bit for bit, without the
// seven other rows' work (the whole product of a decode step's one token).
// Four panels at a time: eight independent accumulators Z0–Z7 cover the
// multiply-add latency.
TEXT ·rowAVX512asm(SB), NOSPLIT, $0-65
	MOVQ    kc+0(FP), CX
	MOVQ    a+8(FP), SI
	MOVQ    as+16(FP), R9
	MOVQ    b+24(FP), DI
	MOVQ    brs+32(FP), R10
	MOVQ    bps+40(FP), R11
	MOVQ    c+48(FP), DX
	MOVQ    panels+56(FP), BX
	MOVBLZX acc+64(FP), AX
	LEAQ    (R11)(R11*2), R12 // three panels

group4:
	CMPQ BX, $4
	JLT  single
	VPXORD Z0, Z0, Z0; VPXORD Z1, Z1, Z1; VPXORD Z2, Z2, Z2; VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4; VPXORD Z5, Z5, Z5; VPXORD Z6, Z6, Z6; VPXORD Z7, Z7, Z7
	MOVQ SI, R13
	MOVQ DI, R14
	MOVQ CX, R8
	TESTQ R8, R8
	JLE  g4store

g4loop:
	VBROADCASTSS (R13), Z16
	VFMADD231PS  (R14), Z16, Z0
	VFMADD231PS  64(R14), Z16, Z1
	VFMADD231PS  (R14)(R11*1), Z16, Z2
	VFMADD231PS  64(R14)(R11*1), Z16, Z3
	VFMADD231PS  (R14)(R11*2), Z16, Z4
	VFMADD231PS  64(R14)(R11*2), Z16, Z5
	VFMADD231PS  (R14)(R12*1), Z16, Z6
	VFMADD231PS  64(R14)(R12*1), Z16, Z7
	ADDQ R9, R13
	ADDQ R10, R14
	DECQ R8
	JNZ  g4loop

g4store:
	TESTQ AX, AX
	JZ    g4put
	VADDPS (DX), Z0, Z0; VADDPS 64(DX), Z1, Z1; VADDPS 128(DX), Z2, Z2; VADDPS 192(DX), Z3, Z3
	VADDPS 256(DX), Z4, Z4; VADDPS 320(DX), Z5, Z5; VADDPS 384(DX), Z6, Z6; VADDPS 448(DX), Z7, Z7

g4put:
	VMOVUPS Z0, (DX); VMOVUPS Z1, 64(DX); VMOVUPS Z2, 128(DX); VMOVUPS Z3, 192(DX)
	VMOVUPS Z4, 256(DX); VMOVUPS Z5, 320(DX); VMOVUPS Z6, 384(DX); VMOVUPS Z7, 448(DX)
	ADDQ $512, DX
	LEAQ (DI)(R11*4), DI
	SUBQ $4, BX
	JMP  group4

single:
	TESTQ BX, BX
	JLE   done
	VPXORD Z0, Z0, Z0; VPXORD Z1, Z1, Z1
	MOVQ SI, R13
	MOVQ DI, R14
	MOVQ CX, R8
	TESTQ R8, R8
	JLE  s1store

s1loop:
	VBROADCASTSS (R13), Z16
	VFMADD231PS  (R14), Z16, Z0
	VFMADD231PS  64(R14), Z16, Z1
	ADDQ R9, R13
	ADDQ R10, R14
	DECQ R8
	JNZ  s1loop

s1store:
	TESTQ AX, AX
	JZ    s1put
	VADDPS (DX), Z0, Z0; VADDPS 64(DX), Z1, Z1

s1put:
	VMOVUPS Z0, (DX); VMOVUPS Z1, 64(DX)
	ADDQ $128, DX
	ADDQ R11, DI
	DECQ BX
	JMP  single

done:
	VZEROUPPER
	RET
