#include "textflag.h"

// expAVX2: e^x for eight floats at a time, Cephes' expf: x clamped to
// [-87.3, 88.7], split as n·ln2 + r (n the nearest integer to x·log2e,
// ln2 in two parts for an exact r), e^r by a degree-7 polynomial, times
// 2^n built in the exponent bits. Within 2 ulps of e^x.

DATA expConsts<>+0(SB)/4, $88.7228393555      // hi
DATA expConsts<>+4(SB)/4, $-87.3365478516     // lo
DATA expConsts<>+8(SB)/4, $1.44269504089      // log2e
DATA expConsts<>+12(SB)/4, $0.693359375       // ln2 high part
DATA expConsts<>+16(SB)/4, $-2.12194440e-4    // ln2 low part (negated)
DATA expConsts<>+20(SB)/4, $1.9875691500e-4   // p0
DATA expConsts<>+24(SB)/4, $1.3981999507e-3   // p1
DATA expConsts<>+28(SB)/4, $8.3334519073e-3   // p2
DATA expConsts<>+32(SB)/4, $4.1665795894e-2   // p3
DATA expConsts<>+36(SB)/4, $1.6666665459e-1   // p4
DATA expConsts<>+40(SB)/4, $5.0000001201e-1   // p5
DATA expConsts<>+44(SB)/4, $1.0               // one
DATA expConsts<>+48(SB)/4, $127               // exponent bias (int32)
GLOBL expConsts<>(SB), RODATA|NOPTR, $52

// EXPY0 sets Y2 = e^Y0 as described above (clobbers Y0-Y4; Y8-Y14 hold
// the constants EXPCONSTS loads: Y13 is 1).
#define EXPY0 \
	VMINPS       Y8, Y0, Y0 \
	VMAXPS       Y9, Y0, Y0 \
	VMULPS       Y10, Y0, Y1 \
	VROUNDPS     $0, Y1, Y1 \
	VFNMADD231PS Y11, Y1, Y0 \
	VFNMADD231PS Y12, Y1, Y0 \
	VBROADCASTSS expConsts<>+20(SB), Y2 \
	VBROADCASTSS expConsts<>+24(SB), Y3 \
	VFMADD213PS  Y3, Y0, Y2 \
	VBROADCASTSS expConsts<>+28(SB), Y3 \
	VFMADD213PS  Y3, Y0, Y2 \
	VBROADCASTSS expConsts<>+32(SB), Y3 \
	VFMADD213PS  Y3, Y0, Y2 \
	VBROADCASTSS expConsts<>+36(SB), Y3 \
	VFMADD213PS  Y3, Y0, Y2 \
	VBROADCASTSS expConsts<>+40(SB), Y3 \
	VFMADD213PS  Y3, Y0, Y2 \
	VMULPS       Y0, Y0, Y4 \
	VFMADD213PS  Y0, Y4, Y2 \
	VADDPS       Y13, Y2, Y2 \
	VCVTPS2DQ    Y1, Y1 \
	VPADDD       Y14, Y1, Y1 \
	VPSLLD       $23, Y1, Y1 \
	VMULPS       Y1, Y2, Y2

// EXPCONSTS loads the constants EXPY0 keeps in Y8-Y14.
#define EXPCONSTS \
	VBROADCASTSS expConsts<>+0(SB), Y8 \
	VBROADCASTSS expConsts<>+4(SB), Y9 \
	VBROADCASTSS expConsts<>+8(SB), Y10 \
	VBROADCASTSS expConsts<>+12(SB), Y11 \
	VBROADCASTSS expConsts<>+16(SB), Y12 \
	VBROADCASTSS expConsts<>+44(SB), Y13 \
	VPBROADCASTD expConsts<>+48(SB), Y14

// func expAVX2(dst, src *float32, n int)
//
// dst[i] = e^src[i] for i < n&^7 (dst may be src).
TEXT ·expAVX2(SB), NOSPLIT, $0-24
	MOVQ         dst+0(FP), DI
	MOVQ         src+8(FP), SI
	MOVQ         n+16(FP), CX
	SHRQ         $3, CX
	JZ           exp_done
	EXPCONSTS

exp_loop:
	VMOVUPS      (SI), Y0
	EXPY0
	VMOVUPS      Y2, (DI)
	ADDQ         $32, SI
	ADDQ         $32, DI
	DECQ         CX
	JNZ          exp_loop
	VZEROUPPER

exp_done:
	RET

// func swiGLUKernelAVX2(gate, up *float32, n int)
//
// gate[i] = gate[i] / (1 + e^−gate[i]) · up[i] for i < n&^7, each step
// rounded as Go rounds it, e^x as expAVX2 computes it.
TEXT ·swiGLUKernelAVX2(SB), NOSPLIT, $0-24
	MOVQ         gate+0(FP), DI
	MOVQ         up+8(FP), SI
	MOVQ         n+16(FP), CX
	SHRQ         $3, CX
	JZ           swiglu_done
	EXPCONSTS
	VPCMPEQD     Y7, Y7, Y7
	VPSLLD       $31, Y7, Y7                // sign bits

swiglu_loop:
	VMOVUPS      (DI), Y5
	VXORPS       Y7, Y5, Y0                 // −g
	EXPY0
	VADDPS       Y13, Y2, Y2                // 1 + e^−g
	VDIVPS       Y2, Y5, Y5
	VMULPS       (SI), Y5, Y5
	VMOVUPS      Y5, (DI)
	ADDQ         $32, SI
	ADDQ         $32, DI
	DECQ         CX
	JNZ          swiglu_loop
	VZEROUPPER

swiglu_done:
	RET
