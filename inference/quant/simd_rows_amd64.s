#include "textflag.h"
#include "simd_amd64.h"

// func addRowsAVX2(dst, a, rows *float32, stride, count, width int)
//
// dst[i] += a[j]·rows[j·stride/4 + i] for j = 0, 1, … count−1 in turn, one
// fused multiply-add each (as axpyAVX2 row by row), for i < width (a
// multiple of 8); stride is in bytes. dst stays in registers, 32 floats
// at a time, while the rows go by.
TEXT ·addRowsAVX2(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ a+8(FP), R8
	MOVQ rows+16(FP), SI
	MOVQ stride+24(FP), BX
	MOVQ count+32(FP), R9
	MOVQ width+40(FP), DX
	TESTQ R9, R9
	JZ   ar_done

ar_block32:
	CMPQ DX, $32
	JLT  ar_block8
	VMOVUPS (DI), Y0
	VMOVUPS 32(DI), Y1
	VMOVUPS 64(DI), Y2
	VMOVUPS 96(DI), Y3
	MOVQ SI, AX
	MOVQ R8, R10
	MOVQ R9, CX

ar_loop32:
	VBROADCASTSS (R10), Y4
	VFMADD231PS  (AX), Y4, Y0
	VFMADD231PS  32(AX), Y4, Y1
	VFMADD231PS  64(AX), Y4, Y2
	VFMADD231PS  96(AX), Y4, Y3
	ADDQ         BX, AX
	ADDQ         $4, R10
	DECQ         CX
	JNZ          ar_loop32
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ $128, DI
	ADDQ $128, SI
	SUBQ $32, DX
	JMP  ar_block32

ar_block8:
	CMPQ DX, $8
	JLT  ar_end
	VMOVUPS (DI), Y0
	MOVQ SI, AX
	MOVQ R8, R10
	MOVQ R9, CX

ar_loop8:
	VBROADCASTSS (R10), Y4
	VFMADD231PS  (AX), Y4, Y0
	ADDQ         BX, AX
	ADDQ         $4, R10
	DECQ         CX
	JNZ          ar_loop8
	VMOVUPS Y0, (DI)
	ADDQ $32, DI
	ADDQ $32, SI
	SUBQ $8, DX
	JMP  ar_block8

ar_end:
	VZEROUPPER

ar_done:
	RET

// func dotRowsAVX2(dst, x, rows *float32, stride, count, n int)
//
// dst[j] = x · row j for count rows stride bytes apart, over n&^7
// elements, each as dotF32AVX2(x, row j, n) computes it.
TEXT ·dotRowsAVX2(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DX
	MOVQ rows+16(FP), R8
	MOVQ stride+24(FP), R9
	MOVQ count+32(FP), R10
	TESTQ R10, R10
	JZ   dr_done

dr_row:
	MOVQ  x+8(FP), SI
	MOVQ  R8, DI
	MOVQ  n+40(FP), CX
	VPXOR Y0, Y0, Y0
	VPXOR Y1, Y1, Y1
	VPXOR Y2, Y2, Y2
	VPXOR Y3, Y3, Y3
	MOVQ  CX, BX
	SHRQ  $5, BX
	JZ    dr_8

dr_32:
	VMOVUPS     (SI), Y4
	VMOVUPS     32(SI), Y5
	VMOVUPS     64(SI), Y6
	VMOVUPS     96(SI), Y7
	VFMADD231PS (DI), Y4, Y0
	VFMADD231PS 32(DI), Y5, Y1
	VFMADD231PS 64(DI), Y6, Y2
	VFMADD231PS 96(DI), Y7, Y3
	ADDQ        $128, SI
	ADDQ        $128, DI
	DECQ        BX
	JNZ         dr_32

dr_8:
	ANDQ $31, CX
	SHRQ $3, CX
	JZ   dr_sum

dr_8loop:
	VMOVUPS     (SI), Y4
	VFMADD231PS (DI), Y4, Y0
	ADDQ        $32, SI
	ADDQ        $32, DI
	DECQ        CX
	JNZ         dr_8loop

dr_sum:
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	HSUMY0
	VMOVSS X0, (DX)
	ADDQ   $4, DX
	ADDQ   R9, R8
	DECQ   R10
	JNZ    dr_row
	VZEROUPPER

dr_done:
	RET
