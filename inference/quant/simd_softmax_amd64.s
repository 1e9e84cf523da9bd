#include "textflag.h"
#include "simd_amd64.h"

// The passes of the AVX2 softmax over n&^7 elements of a row: its
// maximum, the maximum taken off, the sum, and the division by it.

// FOLD4 folds x[0..n&^7) (SI, CX = n) into Y0-Y3 with OP, four chunks of
// eight at a time (the rest into Y0), then Y0 = (Y0 OP Y1) OP (Y2 OP Y3);
// l32, l8, loop8 and done are its labels.
#define FOLD4(OP, l32, l8, loop8, done) \
	SHRQ $3, CX          \
	MOVQ CX, BX          \
	SHRQ $2, BX          \
	JZ   l8              \
l32:                     \
	OP   (SI), Y0, Y0    \
	OP   32(SI), Y1, Y1  \
	OP   64(SI), Y2, Y2  \
	OP   96(SI), Y3, Y3  \
	ADDQ $128, SI        \
	DECQ BX              \
	JNZ  l32             \
l8:                      \
	ANDQ $3, CX          \
	JZ   done            \
loop8:                   \
	OP   (SI), Y0, Y0    \
	ADDQ $32, SI         \
	DECQ CX              \
	JNZ  loop8           \
done:                    \
	OP   Y1, Y0, Y0      \
	OP   Y3, Y2, Y2      \
	OP   Y2, Y0, Y0

// BYSCALAR sets x[i] = x[i] OP c for i < n&^7 (x+0(FP), n+8(FP); c is
// the scalar's argument) and returns; loop and done are its labels.
#define BYSCALAR(OP, c, loop, done) \
	MOVQ         x+0(FP), SI \
	MOVQ         n+8(FP), CX \
	SHRQ         $3, CX      \
	JZ           done        \
	VBROADCASTSS c, Y1       \
loop:                        \
	VMOVUPS (SI), Y0         \
	OP      Y1, Y0, Y0       \
	VMOVUPS Y0, (SI)         \
	ADDQ    $32, SI          \
	DECQ    CX               \
	JNZ     loop             \
	VZEROUPPER               \
done:                        \
	RET

// func maxAVX2(x *float32, n int) float32
//
// The largest of x[0..n&^7) (n ≥ 8).
TEXT ·maxAVX2(SB), NOSPLIT, $0-20
	MOVQ         x+0(FP), SI
	MOVQ         n+8(FP), CX
	VMOVUPS      (SI), Y0
	VMOVAPS      Y0, Y1
	VMOVAPS      Y0, Y2
	VMOVAPS      Y0, Y3
	FOLD4(VMAXPS, max_32, max_8, max_8loop, max_done)
	VEXTRACTF128 $1, Y0, X1
	VMAXPS       X1, X0, X0
	VMOVHLPS     X0, X0, X1
	VMAXPS       X1, X0, X0
	VMOVSHDUP    X0, X1
	VMAXSS       X1, X0, X0
	VZEROUPPER
	MOVSS        X0, ret+16(FP)
	RET

// func sumAVX2(x *float32, n int) float32
//
// The sum of x[0..n&^7): eight lanes in each of four accumulators, added
// pairwise, then HSUMR.
TEXT ·sumAVX2(SB), NOSPLIT, $0-20
	MOVQ  x+0(FP), SI
	MOVQ  n+8(FP), CX
	VPXOR Y0, Y0, Y0
	VPXOR Y1, Y1, Y1
	VPXOR Y2, Y2, Y2
	VPXOR Y3, Y3, Y3
	FOLD4(VADDPS, sum_32, sum_8, sum_8loop, sum_done)
	HSUMY0
	VZEROUPPER
	MOVSS X0, ret+16(FP)
	RET

// func subAVX2(x *float32, n int, c float32)
//
// x[i] -= c for i < n&^7.
TEXT ·subAVX2(SB), NOSPLIT, $0-20
	BYSCALAR(VSUBPS, c+16(FP), sub_loop, sub_done)

// func divAVX2(x *float32, n int, d float32)
//
// x[i] /= d for i < n&^7.
TEXT ·divAVX2(SB), NOSPLIT, $0-20
	BYSCALAR(VDIVPS, d+16(FP), div_loop, div_done)
