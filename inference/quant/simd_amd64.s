#include "textflag.h"
#include "simd_amd64.h"

// Dot-product, quantizing and axpy kernels for amd64: AVX2 + FMA + F16C,
// and AVX-512 where it still pays. See simd_amd64.go for the Go wrappers
// that check bounds and finish tails.

// ---------------------------------------------------------------- AVX2

// func dotF32AVX2(a, b *float32, n int) float32
TEXT ·dotF32AVX2(SB), NOSPLIT, $0-28
	MOVQ  a+0(FP), SI
	MOVQ  b+8(FP), DI
	MOVQ  n+16(FP), CX
	VPXOR Y0, Y0, Y0
	VPXOR Y1, Y1, Y1
	VPXOR Y2, Y2, Y2
	VPXOR Y3, Y3, Y3
	MOVQ  CX, BX
	SHRQ  $5, BX
	JZ    f32y_8

f32y_32:
	PREFETCHT0 PFDIST+0(SI)
	PREFETCHT0 PFDIST+64(SI)
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
	JNZ         f32y_32

f32y_8:
	ANDQ $31, CX
	SHRQ $3, CX
	JZ   f32y_done

f32y_8loop:
	VMOVUPS     (SI), Y4
	VFMADD231PS (DI), Y4, Y0
	ADDQ        $32, SI
	ADDQ        $32, DI
	DECQ        CX
	JNZ         f32y_8loop

f32y_done:
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	HSUMY0
	VZEROUPPER
	MOVSS  X0, ret+24(FP)
	RET

// func dotBF16AVX2(a *uint16, b *float32, n int) float32
TEXT ·dotBF16AVX2(SB), NOSPLIT, $0-28
	MOVQ  a+0(FP), SI
	MOVQ  b+8(FP), DI
	MOVQ  n+16(FP), CX
	VPXOR Y0, Y0, Y0
	VPXOR Y1, Y1, Y1
	VPXOR Y2, Y2, Y2
	VPXOR Y3, Y3, Y3
	MOVQ  CX, BX
	SHRQ  $5, BX
	JZ    bf16y_8

bf16y_32:
	PREFETCHT0 PFDIST+0(SI)
	VPMOVZXWD   (SI), Y4
	VPMOVZXWD   16(SI), Y5
	VPMOVZXWD   32(SI), Y6
	VPMOVZXWD   48(SI), Y7
	VPSLLD      $16, Y4, Y4
	VPSLLD      $16, Y5, Y5
	VPSLLD      $16, Y6, Y6
	VPSLLD      $16, Y7, Y7
	VFMADD231PS (DI), Y4, Y0
	VFMADD231PS 32(DI), Y5, Y1
	VFMADD231PS 64(DI), Y6, Y2
	VFMADD231PS 96(DI), Y7, Y3
	ADDQ        $64, SI
	ADDQ        $128, DI
	DECQ        BX
	JNZ         bf16y_32

bf16y_8:
	ANDQ $31, CX
	SHRQ $3, CX
	JZ   bf16y_done

bf16y_8loop:
	VPMOVZXWD   (SI), Y4
	VPSLLD      $16, Y4, Y4
	VFMADD231PS (DI), Y4, Y0
	ADDQ        $16, SI
	ADDQ        $32, DI
	DECQ        CX
	JNZ         bf16y_8loop

bf16y_done:
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	HSUMY0
	VZEROUPPER
	MOVSS  X0, ret+24(FP)
	RET


// ---------------------------------------------------------------- activations

// func axpyAVX2(dst, x *float32, a float32, n int)
TEXT ·axpyAVX2(SB), NOSPLIT, $0-32
	MOVQ         dst+0(FP), DI
	MOVQ         x+8(FP), SI
	VBROADCASTSS a+16(FP), Y0
	MOVQ         n+24(FP), CX
	SHRQ         $3, CX
	JZ           axpyy_done

axpyy_loop:
	VMOVUPS     (SI), Y1
	VMOVUPS     (DI), Y2
	VFMADD231PS Y1, Y0, Y2
	VMOVUPS     Y2, (DI)
	ADDQ        $32, SI
	ADDQ        $32, DI
	DECQ        CX
	JNZ         axpyy_loop

axpyy_done:
	VZEROUPPER
	RET
