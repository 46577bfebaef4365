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
