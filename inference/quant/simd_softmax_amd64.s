#include "textflag.h"
#include "simd_amd64.h"

// The passes of the AVX2 softmax over n&^7 elements of a row: its
// maximum, the maximum taken off, the sum, and the division by it.

// func maxAVX2(x *float32, n int) float32
//
// The largest of x[0..n&^7) (n ≥ 8).
TEXT ·maxAVX2(SB), NOSPLIT, $0-20
	MOVQ    x+0(FP), SI
	MOVQ    n+8(FP), CX
	SHRQ    $3, CX
	VMOVUPS (SI), Y0
	VMOVAPS Y0, Y1
	VMOVAPS Y0, Y2
	VMOVAPS Y0, Y3
	MOVQ    CX, BX
	SHRQ    $2, BX
	JZ      max_8

max_32:
	VMAXPS (SI), Y0, Y0
	VMAXPS 32(SI), Y1, Y1
	VMAXPS 64(SI), Y2, Y2
	VMAXPS 96(SI), Y3, Y3
	ADDQ   $128, SI
	DECQ   BX
	JNZ    max_32

max_8:
	ANDQ $3, CX
	JZ   max_done

max_8loop:
	VMAXPS (SI), Y0, Y0
	ADDQ   $32, SI
	DECQ   CX
	JNZ    max_8loop

max_done:
	VMAXPS       Y1, Y0, Y0
	VMAXPS       Y3, Y2, Y2
	VMAXPS       Y2, Y0, Y0
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
	SHRQ  $3, CX
	VPXOR Y0, Y0, Y0
	VPXOR Y1, Y1, Y1
	VPXOR Y2, Y2, Y2
	VPXOR Y3, Y3, Y3
	MOVQ  CX, BX
	SHRQ  $2, BX
	JZ    sum_8

sum_32:
	VADDPS (SI), Y0, Y0
	VADDPS 32(SI), Y1, Y1
	VADDPS 64(SI), Y2, Y2
	VADDPS 96(SI), Y3, Y3
	ADDQ   $128, SI
	DECQ   BX
	JNZ    sum_32

sum_8:
	ANDQ $3, CX
	JZ   sum_done

sum_8loop:
	VADDPS (SI), Y0, Y0
	ADDQ   $32, SI
	DECQ   CX
	JNZ    sum_8loop

sum_done:
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	HSUMY0
	VZEROUPPER
	MOVSS  X0, ret+16(FP)
	RET

// func subAVX2(x *float32, n int, c float32)
//
// x[i] -= c for i < n&^7.
TEXT ·subAVX2(SB), NOSPLIT, $0-20
	MOVQ         x+0(FP), SI
	MOVQ         n+8(FP), CX
	SHRQ         $3, CX
	JZ           sub_done
	VBROADCASTSS c+16(FP), Y1

sub_loop:
	VMOVUPS (SI), Y0
	VSUBPS  Y1, Y0, Y0
	VMOVUPS Y0, (SI)
	ADDQ    $32, SI
	DECQ    CX
	JNZ     sub_loop
	VZEROUPPER

sub_done:
	RET

// func divAVX2(x *float32, n int, d float32)
//
// x[i] /= d for i < n&^7.
TEXT ·divAVX2(SB), NOSPLIT, $0-20
	MOVQ         x+0(FP), SI
	MOVQ         n+8(FP), CX
	SHRQ         $3, CX
	JZ           div_done
	VBROADCASTSS d+16(FP), Y1

div_loop:
	VMOVUPS (SI), Y0
	VDIVPS  Y1, Y0, Y0
	VMOVUPS Y0, (SI)
	ADDQ    $32, SI
	DECQ    CX
	JNZ     div_loop
	VZEROUPPER

div_done:
	RET
