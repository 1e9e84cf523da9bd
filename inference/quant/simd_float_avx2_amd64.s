#include "textflag.h"
#include "simd_amd64.h"

// AVX2 kernels that multiply one F32 or F16 row by three vectors at once,
// the row loaded (and converted) once for the three. Each product keeps
// the four accumulators of dotF32AVX2 (dotF16AVX2) and sums them the same
// way, so it has the bits the one-vector kernel gives.

// FMA3 adds the products of the weights in w0-w3 with 32 floats of each
// vector (at R8, R9 and R10, off bytes on) to their accumulators.
#define FMA3(off) \
	VFMADD231PS (off)(R8), Y12, Y0    \
	VFMADD231PS (off+32)(R8), Y13, Y1 \
	VFMADD231PS (off+64)(R8), Y14, Y2 \
	VFMADD231PS (off+96)(R8), Y15, Y3 \
	VFMADD231PS (off)(R9), Y12, Y4    \
	VFMADD231PS (off+32)(R9), Y13, Y5 \
	VFMADD231PS (off+64)(R9), Y14, Y6 \
	VFMADD231PS (off+96)(R9), Y15, Y7 \
	VFMADD231PS (off)(R10), Y12, Y8   \
	VFMADD231PS (off+32)(R10), Y13, Y9 \
	VFMADD231PS (off+64)(R10), Y14, Y10 \
	VFMADD231PS (off+96)(R10), Y15, Y11

// SUM3 stores the three products: each vector's accumulators summed as
// dotF32AVX2 sums its own, at out (DX).
#define SUM3 \
	VADDPS Y1, Y0, Y0   \
	VADDPS Y3, Y2, Y2   \
	VADDPS Y2, Y0, Y0   \
	HSUMR(Y0, X0, X12)  \
	VMOVSS X0, (DX)     \
	VADDPS Y5, Y4, Y4   \
	VADDPS Y7, Y6, Y6   \
	VADDPS Y6, Y4, Y4   \
	HSUMR(Y4, X4, X12)  \
	VMOVSS X4, 4(DX)    \
	VADDPS Y9, Y8, Y8   \
	VADDPS Y11, Y10, Y10 \
	VADDPS Y10, Y8, Y8  \
	HSUMR(Y8, X8, X12)  \
	VMOVSS X8, 8(DX)

// ZERO12 clears the twelve accumulators.
#define ZERO12 \
	VPXOR Y0, Y0, Y0 \
	VPXOR Y1, Y1, Y1 \
	VPXOR Y2, Y2, Y2 \
	VPXOR Y3, Y3, Y3 \
	VPXOR Y4, Y4, Y4 \
	VPXOR Y5, Y5, Y5 \
	VPXOR Y6, Y6, Y6 \
	VPXOR Y7, Y7, Y7 \
	VPXOR Y8, Y8, Y8 \
	VPXOR Y9, Y9, Y9 \
	VPXOR Y10, Y10, Y10 \
	VPXOR Y11, Y11, Y11

// X3ARGS loads the arguments: the row SI, the vectors R8, R9 and R10, n
// CX and out DX; BX counts the blocks of 32 elements. It clears the
// accumulators.
#define X3ARGS \
	MOVQ a+0(FP), SI    \
	MOVQ b+8(FP), AX    \
	MOVQ (AX), R8       \
	MOVQ 8(AX), R9      \
	MOVQ 16(AX), R10    \
	MOVQ n+16(FP), CX   \
	MOVQ out+24(FP), DX \
	ZERO12              \
	MOVQ CX, BX         \
	SHRQ $5, BX

// FMA8X3 adds 8 weights in Y12 times 8 floats of each vector to its first
// accumulator, and moves the vectors on (the row by rowstep bytes).
#define FMA8X3(rowstep) \
	VFMADD231PS (R8), Y12, Y0  \
	VFMADD231PS (R9), Y12, Y4  \
	VFMADD231PS (R10), Y12, Y8 \
	ADDQ        $rowstep, SI   \
	ADDQ        $32, R8        \
	ADDQ        $32, R9        \
	ADDQ        $32, R10

// NEXT32X3 moves the vectors 32 floats on (the row by rowstep bytes) and
// loops to label while a block of 32 is left.
#define NEXT32X3(rowstep, label) \
	ADDQ $rowstep, SI \
	ADDQ $128, R8     \
	ADDQ $128, R9     \
	ADDQ $128, R10    \
	DECQ BX           \
	JNZ  label

// func f32x3AVX2(a *float32, b *[3]*float32, n int, out *[3]float32)
//
// out[v] = a · b[v] over n&^7 elements.
TEXT ·f32x3AVX2(SB), NOSPLIT, $0-32
	X3ARGS
	JZ f32x3_8

f32x3_32:
	VMOVUPS (SI), Y12
	VMOVUPS 32(SI), Y13
	VMOVUPS 64(SI), Y14
	VMOVUPS 96(SI), Y15
	FMA3(0)
	NEXT32X3(128, f32x3_32)

f32x3_8:
	ANDQ $31, CX
	SHRQ $3, CX
	JZ   f32x3_done

f32x3_8loop:
	VMOVUPS (SI), Y12
	FMA8X3(32)
	DECQ    CX
	JNZ     f32x3_8loop

f32x3_done:
	SUM3
	VZEROUPPER
	RET

// func f16x3AVX2(a *uint16, b *[3]*float32, n int, out *[3]float32)
//
// f32x3AVX2 for F16 rows, as dotF16AVX2.
TEXT ·f16x3AVX2(SB), NOSPLIT, $0-32
	X3ARGS
	JZ f16x3_8

f16x3_32:
	VCVTPH2PS (SI), Y12
	VCVTPH2PS 16(SI), Y13
	VCVTPH2PS 32(SI), Y14
	VCVTPH2PS 48(SI), Y15
	FMA3(0)
	NEXT32X3(64, f16x3_32)

f16x3_8:
	ANDQ $31, CX
	SHRQ $3, CX
	JZ   f16x3_done

f16x3_8loop:
	VCVTPH2PS (SI), Y12
	FMA8X3(16)
	DECQ      CX
	JNZ       f16x3_8loop

f16x3_done:
	SUM3
	VZEROUPPER
	RET
