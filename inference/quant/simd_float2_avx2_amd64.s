#include "textflag.h"
#include "simd_amd64.h"

// Kernels that multiply two F32 or F16 rows, rb bytes apart, by one
// vector, the vector loaded once for the two and each row prefetched on
// its own. Each product keeps the four accumulators of dotF32AVX2
// (dotF16AVX2) and sums them the same way, so it has the bits the one-row
// kernel gives.

// R2ARGS loads the arguments: the first row SI, the gap to the second R11,
// the vector DI, n CX and out DX; BX counts the blocks of 32 elements. It
// clears the accumulators: Y0-Y3 for the first row, Y4-Y7 for the second.
#define R2ARGS \
	MOVQ  a+0(FP), SI    \
	MOVQ  rb+8(FP), R11  \
	MOVQ  b+16(FP), DI   \
	MOVQ  n+24(FP), CX   \
	MOVQ  out+32(FP), DX \
	VPXOR Y0, Y0, Y0     \
	VPXOR Y1, Y1, Y1     \
	VPXOR Y2, Y2, Y2     \
	VPXOR Y3, Y3, Y3     \
	VPXOR Y4, Y4, Y4     \
	VPXOR Y5, Y5, Y5     \
	VPXOR Y6, Y6, Y6     \
	VPXOR Y7, Y7, Y7     \
	MOVQ  CX, BX         \
	SHRQ  $5, BX

// X32 loads 32 floats of the vector into Y8-Y11.
#define X32 \
	VMOVUPS (DI), Y8    \
	VMOVUPS 32(DI), Y9  \
	VMOVUPS 64(DI), Y10 \
	VMOVUPS 96(DI), Y11

// FMA32(a0, a1, a2, a3) adds the weights in Y12-Y15 times the vector's 32
// floats in Y8-Y11 to accumulators a0-a3.
#define FMA32(a0, a1, a2, a3) \
	VFMADD231PS Y8, Y12, a0  \
	VFMADD231PS Y9, Y13, a1  \
	VFMADD231PS Y10, Y14, a2 \
	VFMADD231PS Y11, Y15, a3

// SUM2 stores the two products at out (DX), each row's accumulators
// summed as the one-row kernel sums its own.
#define SUM2 \
	VADDPS Y1, Y0, Y0  \
	VADDPS Y3, Y2, Y2  \
	VADDPS Y2, Y0, Y0  \
	HSUMR(Y0, X0, X12) \
	VMOVSS X0, (DX)    \
	VADDPS Y5, Y4, Y4  \
	VADDPS Y7, Y6, Y6  \
	VADDPS Y6, Y4, Y4  \
	HSUMR(Y4, X4, X12) \
	VMOVSS X4, 4(DX)

// func f32R2AVX2(a *float32, rb int, b *float32, n int, out *[2]float32)
//
// out[i] = row i · b over n&^7 elements.
TEXT ·f32R2AVX2(SB), NOSPLIT, $0-40
	R2ARGS
	JZ f32r2_8

f32r2_32:
	PREFETCHT0 PFDIST(SI)
	PREFETCHT0 (PFDIST+64)(SI)
	PREFETCHT0 PFDIST(SI)(R11*1)
	PREFETCHT0 (PFDIST+64)(SI)(R11*1)
	X32
	VMOVUPS    (SI), Y12
	VMOVUPS    32(SI), Y13
	VMOVUPS    64(SI), Y14
	VMOVUPS    96(SI), Y15
	FMA32(Y0, Y1, Y2, Y3)
	VMOVUPS    (SI)(R11*1), Y12
	VMOVUPS    32(SI)(R11*1), Y13
	VMOVUPS    64(SI)(R11*1), Y14
	VMOVUPS    96(SI)(R11*1), Y15
	FMA32(Y4, Y5, Y6, Y7)
	ADDQ       $128, SI
	ADDQ       $128, DI
	DECQ       BX
	JNZ        f32r2_32

f32r2_8:
	ANDQ $31, CX
	SHRQ $3, CX
	JZ   f32r2_done

f32r2_8loop:
	VMOVUPS     (DI), Y8
	VMOVUPS     (SI), Y12
	VFMADD231PS Y8, Y12, Y0
	VMOVUPS     (SI)(R11*1), Y12
	VFMADD231PS Y8, Y12, Y4
	ADDQ        $32, SI
	ADDQ        $32, DI
	DECQ        CX
	JNZ         f32r2_8loop

f32r2_done:
	SUM2
	VZEROUPPER
	RET

// func f16R2AVX2(a *uint16, rb int, b *float32, n int, out *[2]float32)
//
// f32R2AVX2 for F16 rows.
TEXT ·f16R2AVX2(SB), NOSPLIT, $0-40
	R2ARGS
	JZ f16r2_8

f16r2_32:
	PREFETCHT0 PFDIST(SI)
	PREFETCHT0 PFDIST(SI)(R11*1)
	X32
	VCVTPH2PS  (SI), Y12
	VCVTPH2PS  16(SI), Y13
	VCVTPH2PS  32(SI), Y14
	VCVTPH2PS  48(SI), Y15
	FMA32(Y0, Y1, Y2, Y3)
	VCVTPH2PS  (SI)(R11*1), Y12
	VCVTPH2PS  16(SI)(R11*1), Y13
	VCVTPH2PS  32(SI)(R11*1), Y14
	VCVTPH2PS  48(SI)(R11*1), Y15
	FMA32(Y4, Y5, Y6, Y7)
	ADDQ       $64, SI
	ADDQ       $128, DI
	DECQ       BX
	JNZ        f16r2_32

f16r2_8:
	ANDQ $31, CX
	SHRQ $3, CX
	JZ   f16r2_done

f16r2_8loop:
	VMOVUPS     (DI), Y8
	VCVTPH2PS   (SI), Y12
	VFMADD231PS Y8, Y12, Y0
	VCVTPH2PS   (SI)(R11*1), Y12
	VFMADD231PS Y8, Y12, Y4
	ADDQ        $16, SI
	ADDQ        $32, DI
	DECQ        CX
	JNZ         f16r2_8loop

f16r2_done:
	SUM2
	VZEROUPPER
	RET
