#include "textflag.h"
#include "simd_amd64.h"

// Dot-product kernels for amd64: AVX-512 (F, BW, VL, VNNI, VBMI, GFNI) and
// AVX2 + FMA + F16C. See simd_amd64.go for the Go wrappers that check
// bounds and finish tails.

DATA pairA<>+0(SB)/8, $0x0000000000000000
DATA pairA<>+8(SB)/8, $0x0000000000000000
DATA pairA<>+16(SB)/8, $0x0000000000000000
DATA pairA<>+24(SB)/8, $0x0000000000000000
DATA pairA<>+32(SB)/8, $0x0000000100000001
DATA pairA<>+40(SB)/8, $0x0000000100000001
DATA pairA<>+48(SB)/8, $0x0000000100000001
DATA pairA<>+56(SB)/8, $0x0000000100000001
GLOBL pairA<>(SB), RODATA|NOPTR, $64

DATA pairB<>+0(SB)/8, $0x0000000200000002
DATA pairB<>+8(SB)/8, $0x0000000200000002
DATA pairB<>+16(SB)/8, $0x0000000200000002
DATA pairB<>+24(SB)/8, $0x0000000200000002
DATA pairB<>+32(SB)/8, $0x0000000300000003
DATA pairB<>+40(SB)/8, $0x0000000300000003
DATA pairB<>+48(SB)/8, $0x0000000300000003
DATA pairB<>+56(SB)/8, $0x0000000300000003
GLOBL pairB<>(SB), RODATA|NOPTR, $64

DATA q4nib4<>+0(SB)/8, $0x0908070605040302
DATA q4nib4<>+8(SB)/8, $0x11100f0e0d0c0b0a
DATA q4nib4<>+16(SB)/8, $0x1b1a191817161514
DATA q4nib4<>+24(SB)/8, $0x232221201f1e1d1c
DATA q4nib4<>+32(SB)/8, $0x2d2c2b2a29282726
DATA q4nib4<>+40(SB)/8, $0x3534333231302f2e
DATA q4nib4<>+48(SB)/8, $0x7776757473727170
DATA q4nib4<>+56(SB)/8, $0x7f7e7d7c7b7a7978
GLOBL q4nib4<>(SB), RODATA|NOPTR, $64

DATA q4d4<>+0(SB)/8, $0x3736252413120100
DATA q4d4<>+8(SB)/8, $0x0000000000000000
DATA q4d4<>+16(SB)/8, $0x0000000000000000
DATA q4d4<>+24(SB)/8, $0x0000000000000000
DATA q4d4<>+32(SB)/8, $0x0000000000000000
DATA q4d4<>+40(SB)/8, $0x0000000000000000
DATA q4d4<>+48(SB)/8, $0x0000000000000000
DATA q4d4<>+56(SB)/8, $0x0000000000000000
GLOBL q4d4<>(SB), RODATA|NOPTR, $64

DATA lane4<>+0(SB)/8, $0x0000000000000000
DATA lane4<>+8(SB)/8, $0x0000000000000000
DATA lane4<>+16(SB)/8, $0x0000000100000001
DATA lane4<>+24(SB)/8, $0x0000000100000001
DATA lane4<>+32(SB)/8, $0x0000000200000002
DATA lane4<>+40(SB)/8, $0x0000000200000002
DATA lane4<>+48(SB)/8, $0x0000000300000003
DATA lane4<>+56(SB)/8, $0x0000000300000003
GLOBL lane4<>(SB), RODATA|NOPTR, $64

DATA q4dlane<>+0(SB)/8, $0x0100010001000100
DATA q4dlane<>+8(SB)/8, $0x1312131213121312
DATA q4dlane<>+16(SB)/8, $0x2524252425242524
DATA q4dlane<>+24(SB)/8, $0x3736373637363736
DATA q4dlane<>+32(SB)/8, $0x0000000000000000
DATA q4dlane<>+40(SB)/8, $0x0000000000000000
DATA q4dlane<>+48(SB)/8, $0x0000000000000000
DATA q4dlane<>+56(SB)/8, $0x0000000000000000
GLOBL q4dlane<>(SB), RODATA|NOPTR, $64

// ---------------------------------------------------------------- AVX-512

// func dotF32AVX512(a, b *float32, n int) float32
TEXT ·dotF32AVX512(SB), NOSPLIT, $0-28
	MOVQ   a+0(FP), SI
	MOVQ   b+8(FP), DI
	MOVQ   n+16(FP), CX
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	MOVQ   CX, BX
	SHRQ   $6, BX
	JZ     f32z_16

f32z_64:
	PREFETCHT0 PFDIST+0(SI)
	PREFETCHT0 PFDIST+64(SI)
	PREFETCHT0 PFDIST+128(SI)
	PREFETCHT0 PFDIST+192(SI)
	VMOVUPS     (SI), Z4
	VMOVUPS     64(SI), Z5
	VMOVUPS     128(SI), Z6
	VMOVUPS     192(SI), Z7
	VFMADD231PS (DI), Z4, Z0
	VFMADD231PS 64(DI), Z5, Z1
	VFMADD231PS 128(DI), Z6, Z2
	VFMADD231PS 192(DI), Z7, Z3
	ADDQ        $256, SI
	ADDQ        $256, DI
	DECQ        BX
	JNZ         f32z_64

f32z_16:
	ANDQ $63, CX

f32z_16loop:
	CMPQ        CX, $16
	JB          f32z_tail
	VMOVUPS     (SI), Z4
	VFMADD231PS (DI), Z4, Z0
	ADDQ        $64, SI
	ADDQ        $64, DI
	SUBQ        $16, CX
	JMP         f32z_16loop

f32z_tail:
	TESTQ       CX, CX
	JZ          f32z_done
	MOVL        $1, AX
	SHLL        CX, AX
	DECL        AX
	KMOVW       AX, K1
	VMOVUPS.Z   (SI), K1, Z4
	VMOVUPS.Z   (DI), K1, Z5
	VFMADD231PS Z5, Z4, Z1

f32z_done:
	VADDPS Z1, Z0, Z0
	VADDPS Z3, Z2, Z2
	VADDPS Z2, Z0, Z0
	HSUMZ0
	VZEROUPPER
	MOVSS  X0, ret+24(FP)
	RET

// func dotF16AVX512(a *uint16, b *float32, n int) float32
TEXT ·dotF16AVX512(SB), NOSPLIT, $0-28
	MOVQ   a+0(FP), SI
	MOVQ   b+8(FP), DI
	MOVQ   n+16(FP), CX
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	MOVQ   CX, BX
	SHRQ   $6, BX
	JZ     f16z_16

f16z_64:
	PREFETCHT0 PFDIST+0(SI)
	PREFETCHT0 PFDIST+64(SI)
	VCVTPH2PS   (SI), Z4
	VCVTPH2PS   32(SI), Z5
	VCVTPH2PS   64(SI), Z6
	VCVTPH2PS   96(SI), Z7
	VFMADD231PS (DI), Z4, Z0
	VFMADD231PS 64(DI), Z5, Z1
	VFMADD231PS 128(DI), Z6, Z2
	VFMADD231PS 192(DI), Z7, Z3
	ADDQ        $128, SI
	ADDQ        $256, DI
	DECQ        BX
	JNZ         f16z_64

f16z_16:
	ANDQ $63, CX

f16z_16loop:
	CMPQ        CX, $16
	JB          f16z_tail
	VCVTPH2PS   (SI), Z4
	VFMADD231PS (DI), Z4, Z0
	ADDQ        $32, SI
	ADDQ        $64, DI
	SUBQ        $16, CX
	JMP         f16z_16loop

f16z_tail:
	TESTQ       CX, CX
	JZ          f16z_done
	MOVL        $1, AX
	SHLL        CX, AX
	DECL        AX
	KMOVW       AX, K1
	VMOVDQU16.Z (SI), K1, Y4
	VCVTPH2PS   Y4, Z4
	VMOVUPS.Z   (DI), K1, Z5
	VFMADD231PS Z5, Z4, Z1

f16z_done:
	VADDPS Z1, Z0, Z0
	VADDPS Z3, Z2, Z2
	VADDPS Z2, Z0, Z0
	HSUMZ0
	VZEROUPPER
	MOVSS  X0, ret+24(FP)
	RET

// func dotBF16AVX512(a *uint16, b *float32, n int) float32
// bfloat16 widens exactly to float32 by a 16-bit shift.
TEXT ·dotBF16AVX512(SB), NOSPLIT, $0-28
	MOVQ   a+0(FP), SI
	MOVQ   b+8(FP), DI
	MOVQ   n+16(FP), CX
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	MOVQ   CX, BX
	SHRQ   $6, BX
	JZ     bf16z_16

bf16z_64:
	PREFETCHT0 PFDIST+0(SI)
	PREFETCHT0 PFDIST+64(SI)
	VPMOVZXWD   (SI), Z4
	VPMOVZXWD   32(SI), Z5
	VPMOVZXWD   64(SI), Z6
	VPMOVZXWD   96(SI), Z7
	VPSLLD      $16, Z4, Z4
	VPSLLD      $16, Z5, Z5
	VPSLLD      $16, Z6, Z6
	VPSLLD      $16, Z7, Z7
	VFMADD231PS (DI), Z4, Z0
	VFMADD231PS 64(DI), Z5, Z1
	VFMADD231PS 128(DI), Z6, Z2
	VFMADD231PS 192(DI), Z7, Z3
	ADDQ        $128, SI
	ADDQ        $256, DI
	DECQ        BX
	JNZ         bf16z_64

bf16z_16:
	ANDQ $63, CX

bf16z_16loop:
	CMPQ        CX, $16
	JB          bf16z_tail
	VPMOVZXWD   (SI), Z4
	VPSLLD      $16, Z4, Z4
	VFMADD231PS (DI), Z4, Z0
	ADDQ        $32, SI
	ADDQ        $64, DI
	SUBQ        $16, CX
	JMP         bf16z_16loop

bf16z_tail:
	TESTQ       CX, CX
	JZ          bf16z_done
	MOVL        $1, AX
	SHLL        CX, AX
	DECL        AX
	KMOVW       AX, K1
	VMOVDQU16.Z (SI), K1, Y4
	VPMOVZXWD   Y4, Z4
	VPSLLD      $16, Z4, Z4
	VMOVUPS.Z   (DI), K1, Z5
	VFMADD231PS Z5, Z4, Z1

bf16z_done:
	VADDPS Z1, Z0, Z0
	VADDPS Z3, Z2, Z2
	VADDPS Z2, Z0, Z0
	HSUMZ0
	VZEROUPPER
	MOVSS  X0, ret+24(FP)
	RET

// ---------------------------------------------------------------- AVX-512 Q8_0
//
// Q8_0 works two blocks per 512-bit register, one per 256-bit half, so each
// block owns 8 int32 lanes. VPDPBUSD multiplies unsigned by signed bytes:
// with xu = x+128 (x XOR 0x80) as the unsigned operand and the weights w as
// the signed one it gives Σ(x+128)·w per lane, and a second VPDPBUSD of 128s
// by w gives 128·Σw; their difference is each lane's exact Σx·w. The lanes
// are converted to float and accumulated with the per-lane factor
// d(weights)·scale(x) of their block. Pairs alternate between two
// accumulators. The kernels that read prepared activations (prepQ8_0AVX512)
// bias the weights instead: Σ(w+128)·x − 128·Σx, with the second term
// prepared per lane, is the same exact Σx·w. Every Q8_0 kernel below (one
// row, rows, four vectors) computes the same lanes and the same float
// operations in the same order, so their results are bit-identical.

// Q8PAIR accumulates one row's pair of blocks (at m, 68 bytes) against the
// biased activations xu (a register or memory) into acc, with S holding the
// pair's activation scales spread to lanes. Clobbers Z4-Z7, Y6.
#define Q8PAIR(m0, m2, m34, m36, xu, S, acc) \
	VMOVDQU64    m2, Y4 \
	VINSERTI64X4 $1, m36, Z4, Z4 \
	VPXORD       Z5, Z5, Z5 \
	VPXORD       Z7, Z7, Z7 \
	VPDPBUSD     Z4, xu, Z5 \
	VPDPBUSD     Z4, Z18, Z7 \
	VPSUBD       Z7, Z5, Z5 \
	VCVTDQ2PS    Z5, Z5 \
	VPBROADCASTW m0, Y6 \
	VPBROADCASTW m34, K1, Y6 \
	VCVTPH2PS    Y6, Z6 \
	VMULPS       S, Z6, Z6 \
	VFMADD231PS  Z6, Z5, acc

// Q8CONST loads the constants of the Q8_0 kernels: pair lane indices Z16,
// Z17, bytes of 128 in Z18, and K1 selecting the upper 8 words.
#define Q8CONST \
	VMOVDQU64    pairA<>(SB), Z16 \
	VMOVDQU64    pairB<>(SB), Z17 \
	MOVL         $0x80808080, AX \
	VPBROADCASTD AX, Z18 \
	MOVL         $0xff00, AX \
	KMOVW        AX, K1

// func dotQ8_0AVX512(row *byte, q *int8, scale *float32, groups int) float32
//
// One row, one vector, groups×4 blocks.
TEXT ·dotQ8_0AVX512(SB), NOSPLIT, $0-36
	MOVQ   row+0(FP), SI
	MOVQ   q+8(FP), DI
	MOVQ   scale+16(FP), R8
	MOVQ   groups+24(FP), CX
	Q8CONST
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	TESTQ  CX, CX
	JZ     q8z_done

q8z_loop:
	VMOVUPS (R8), X2
	VPERMPS Z2, Z16, Z8
	VPERMPS Z2, Z17, Z9
	VPXORD  (DI), Z18, Z10
	VPXORD  64(DI), Z18, Z11
	Q8PAIR((SI), 2(SI), 34(SI), 36(SI), Z10, Z8, Z0)
	Q8PAIR(68(SI), 70(SI), 102(SI), 104(SI), Z11, Z9, Z1)
	ADDQ    $136, SI
	ADDQ    $128, DI
	ADDQ    $16, R8
	DECQ    CX
	JNZ     q8z_loop

q8z_done:
	VADDPS Z1, Z0, Z0
	HSUMZ0
	VZEROUPPER
	MOVSS  X0, ret+32(FP)
	RET

// func prepQ8_0AVX512(dst *byte, q *int8, scale *float32, groups int)
//
// Lays out one activation vector for q8_0x4AVX512, 384 bytes per 4 blocks:
// for each pair of blocks, the codes x (64 bytes), −128·Σx over each lane's
// 4 codes (16 int32), and the two block scales spread to their 8 lanes each
// (16 floats).
TEXT ·prepQ8_0AVX512(SB), NOSPLIT, $0-32
	MOVQ   dst+0(FP), DX
	MOVQ   q+8(FP), DI
	MOVQ   scale+16(FP), R8
	MOVQ   groups+24(FP), CX
	Q8CONST
	VPXORD Z19, Z19, Z19
	TESTQ  CX, CX
	JZ     q8p_done

q8p_loop:
	VMOVUPS   (R8), X2
	VPERMPS   Z2, Z16, Z8
	VPERMPS   Z2, Z17, Z9
	VMOVDQU64 (DI), Z10
	VMOVDQU64 64(DI), Z11
	VPXORD    Z12, Z12, Z12
	VPXORD    Z13, Z13, Z13
	VPDPBUSD  Z10, Z18, Z12
	VPDPBUSD  Z11, Z18, Z13
	VPSUBD    Z12, Z19, Z12
	VPSUBD    Z13, Z19, Z13
	VMOVDQU64 Z10, (DX)
	VMOVDQU64 Z12, 64(DX)
	VMOVUPS   Z8, 128(DX)
	VMOVDQU64 Z11, 192(DX)
	VMOVDQU64 Z13, 256(DX)
	VMOVUPS   Z9, 320(DX)
	ADDQ      $128, DI
	ADDQ      $16, R8
	ADDQ      $384, DX
	DECQ      CX
	JNZ       q8p_loop

q8p_done:
	VZEROUPPER
	RET

// Q8PAIRW loads one row's pair of blocks for q8_0x4AVX512: the codes biased
// to w+128 into Z4 and the pair's d spread to lanes into Z6.
#define Q8PAIRW(m0, m2, m34, m36) \
	VMOVDQU64    m2, Y4 \
	VINSERTI64X4 $1, m36, Z4, Z4 \
	VPXORD       Z18, Z4, Z4 \
	VPBROADCASTW m0, Y6 \
	VPBROADCASTW m34, K1, Y6 \
	VCVTPH2PS    Y6, Z6

// Q8PAIRV accumulates the loaded pair (Q8PAIRW) times one prepared vector's
// pair (codes at mx, −128·Σx per lane at minit, lane scales at ms) into acc:
// Σ(w+128)·x − 128·Σx = Σw·x per lane, the same lanes as dotQ8_0AVX512.
#define Q8PAIRV(mx, minit, ms, acc, t, c) \
	VMOVDQU64   minit, t \
	VPDPBUSD    mx, Z4, t \
	VCVTDQ2PS   t, t \
	VMULPS      ms, Z6, c \
	VFMADD231PS c, t, acc

// func q8_0x4AVX512(row *byte, prep *byte, vstride int, groups int, out *float32)
//
// One row times four prepared vectors (prepQ8_0AVX512, vstride bytes
// apart): the row's codes are loaded and its scales converted once for all
// four. out[v] = row · x_v.
TEXT ·q8_0x4AVX512(SB), NOSPLIT, $0-40
	MOVQ   row+0(FP), SI
	MOVQ   prep+8(FP), DI
	MOVQ   vstride+16(FP), BX
	MOVQ   groups+24(FP), CX
	MOVQ   out+32(FP), DX
	LEAQ   (BX)(BX*2), R13
	Q8CONST
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z24, Z24, Z24
	VPXORD Z25, Z25, Z25
	VPXORD Z26, Z26, Z26
	VPXORD Z27, Z27, Z27
	TESTQ  CX, CX
	JZ     q8x_sum

q8x_loop:
	Q8PAIRW((SI), 2(SI), 34(SI), 36(SI))
	Q8PAIRV((DI), 64(DI), 128(DI), Z0, Z8, Z9)
	Q8PAIRV((DI)(BX*1), 64(DI)(BX*1), 128(DI)(BX*1), Z1, Z10, Z11)
	Q8PAIRV((DI)(BX*2), 64(DI)(BX*2), 128(DI)(BX*2), Z2, Z12, Z13)
	Q8PAIRV((DI)(R13*1), 64(DI)(R13*1), 128(DI)(R13*1), Z3, Z14, Z15)
	Q8PAIRW(68(SI), 70(SI), 102(SI), 104(SI))
	Q8PAIRV(192(DI), 256(DI), 320(DI), Z24, Z8, Z9)
	Q8PAIRV(192(DI)(BX*1), 256(DI)(BX*1), 320(DI)(BX*1), Z25, Z10, Z11)
	Q8PAIRV(192(DI)(BX*2), 256(DI)(BX*2), 320(DI)(BX*2), Z26, Z12, Z13)
	Q8PAIRV(192(DI)(R13*1), 256(DI)(R13*1), 320(DI)(R13*1), Z27, Z14, Z15)
	ADDQ $136, SI
	ADDQ $384, DI
	DECQ CX
	JNZ  q8x_loop

q8x_sum:
	VADDPS  Z24, Z0, Z0
	VADDPS  Z25, Z1, Z1
	VADDPS  Z26, Z2, Z2
	VADDPS  Z27, Z3, Z3
	HSUM4
	VMOVUPS X0, (DX)
	VZEROUPPER
	RET

// func q8_0RowsAVX512(rows *byte, rb int, nrows int, prep *byte, groups int, out *float32, q *int8, scale *float32, sum *int32)
//
// nrows rows rb bytes apart, groups×4 blocks each, times one prepared
// vector (prepQ8_0AVX512; with q non-nil, the kernel prepares it from q and
// scale while it computes row 0; sum is unused), one row after the other (a single sequential
// stream, which the hardware prefetchers follow far better than several
// interleaved rows). out[i] = row i · x.
TEXT ·q8_0RowsAVX512(SB), NOSPLIT, $0-72
	MOVQ   rows+0(FP), SI
	MOVQ   rb+8(FP), BX
	MOVQ   nrows+16(FP), R14
	MOVQ   prep+24(FP), R10
	MOVQ   groups+32(FP), R15
	MOVQ   out+40(FP), DX
	Q8CONST
	VPXORD Z19, Z19, Z19
	TESTQ  R14, R14
	JZ     q8r_done
	MOVQ   q+48(FP), R8
	TESTQ  R8, R8
	JZ     q8r_row

	// Row 0 from the raw activations, laying them out into prep as it goes
	// (the same values prepQ8_0AVX512 writes).
	MOVQ   scale+56(FP), R11
	MOVQ   SI, AX
	MOVQ   R10, DI
	MOVQ   R15, CX
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	TESTQ  CX, CX
	JZ     q8f_sum

q8f_loop:
	PREFETCHT0  PFDIST(AX)
	PREFETCHT0  PFDIST+64(AX)
	PREFETCHT0  PFDIST+128(AX)
	VMOVUPS     (R11), X2
	VPERMPS     Z2, Z16, Z8
	VPERMPS     Z2, Z17, Z9
	VMOVDQU64   (R8), Z10
	VMOVDQU64   64(R8), Z11
	VPXORD      Z12, Z12, Z12
	VPXORD      Z13, Z13, Z13
	VPDPBUSD    Z10, Z18, Z12
	VPDPBUSD    Z11, Z18, Z13
	VPSUBD      Z12, Z19, Z12
	VPSUBD      Z13, Z19, Z13
	VMOVDQU64   Z10, (DI)
	VMOVDQU64   Z12, 64(DI)
	VMOVUPS     Z8, 128(DI)
	VMOVDQU64   Z11, 192(DI)
	VMOVDQU64   Z13, 256(DI)
	VMOVUPS     Z9, 320(DI)
	Q8PAIRW((AX), 2(AX), 34(AX), 36(AX))
	VMOVDQA64   Z12, Z14
	VPDPBUSD    Z10, Z4, Z14
	VCVTDQ2PS   Z14, Z14
	VMULPS      Z8, Z6, Z15
	VFMADD231PS Z15, Z14, Z0
	Q8PAIRW(68(AX), 70(AX), 102(AX), 104(AX))
	VMOVDQA64   Z13, Z14
	VPDPBUSD    Z11, Z4, Z14
	VCVTDQ2PS   Z14, Z14
	VMULPS      Z9, Z6, Z15
	VFMADD231PS Z15, Z14, Z1
	ADDQ        $136, AX
	ADDQ        $384, DI
	ADDQ        $128, R8
	ADDQ        $16, R11
	DECQ        CX
	JNZ         q8f_loop

q8f_sum:
	VADDPS Z1, Z0, Z0
	HSUMZ0
	MOVSS  X0, (DX)
	ADDQ   $4, DX
	ADDQ   BX, SI
	DECQ   R14
	JZ     q8r_done

q8r_row:
	MOVQ   SI, AX
	MOVQ   R10, DI
	MOVQ   R15, CX
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	TESTQ  CX, CX
	JZ     q8r_sum

q8r_loop:
	PREFETCHT0 PFDIST(AX)
	PREFETCHT0 PFDIST+64(AX)
	PREFETCHT0 PFDIST+128(AX)
	Q8PAIRW((AX), 2(AX), 34(AX), 36(AX))
	Q8PAIRV((DI), 64(DI), 128(DI), Z0, Z8, Z9)
	Q8PAIRW(68(AX), 70(AX), 102(AX), 104(AX))
	Q8PAIRV(192(DI), 256(DI), 320(DI), Z1, Z10, Z11)
	ADDQ $136, AX
	ADDQ $384, DI
	DECQ CX
	JNZ  q8r_loop

q8r_sum:
	VADDPS Z1, Z0, Z0
	HSUMZ0
	MOVSS  X0, (DX)
	ADDQ   $4, DX
	ADDQ   BX, SI
	DECQ   R14
	JNZ    q8r_row

q8r_done:
	VZEROUPPER
	RET

// ---------------------------------------------------------------- AVX-512 Q4_0
//
// Q4_0 works four blocks (72 bytes) at a time, read as two 64-byte loads at
// offsets 0 and 8 so nothing past the group is touched. VPERMT2B packs the
// four blocks' nibble bytes into one register, one 128-bit lane per block;
// the low nibbles (codes 0-15) and the high ones (codes 16-31, shifted down
// by GF2P8AFFINEQB) meet the activations rearranged to the same lanes (xlo:
// each block's x 0-15, xhi: x 16-31), and two VPDPBUSD multiply the unsigned
// codes by the signed activations on top of −2·Σx in each of the block's 4
// lanes: Σcode·x − 8·Σx = Σ(code−8)·x, exact. The lanes are converted to
// float and accumulated with the factor d·scale of their block. All Q4_0
// kernels below compute the same lanes and float operations in the same
// order, so their results are bit-identical.

// Q4CONST loads the Q4_0 constants: nibble gather Z20, scale gathers Z22
// (4 scales) and Z17 (each scale to its block's 4 lanes), block lane index
// Z23, shift-by-4 matrix Z21, 0x0f bytes Z18, zero Z19.
#define Q4CONST \
	VMOVDQU64    q4nib4<>(SB), Z20 \
	VMOVDQU64    q4d4<>(SB), Z22 \
	VMOVDQU64    q4dlane<>(SB), Z17 \
	VMOVDQU64    lane4<>(SB), Z23 \
	MOVQ         $0x1020408000000000, AX \
	VPBROADCASTQ AX, Z21 \
	MOVL         $0x0f0f0f0f, AX \
	VPBROADCASTD AX, Z18 \
	VPXORD       Z19, Z19, Z19

// Q4X loads 4 blocks of activations (codes at mq, scales at ms, sums at
// msum): xlo Z8, xhi Z9, −2·Σx per lane Z10, scales X2.
#define Q4X(mq, mq64, ms, msum) \
	VMOVDQU64  mq, Z7 \
	VSHUFI64X2 $0x88, mq64, Z7, Z8 \
	VSHUFI64X2 $0xdd, mq64, Z7, Z9 \
	VPSUBD     msum, X19, X3 \
	VPSLLD     $1, X3, X3 \
	VPERMD     Z3, Z23, Z10 \
	VMOVUPS    ms, X2

// Q4WREG unpacks 4 blocks of one row from Z12 (the group's bytes 0-63) and
// Z13 (bytes 8-71): low codes Z4, high codes Z5, the 4 scales d as float in
// X6. Clobbers Z12.
#define Q4WREG \
	VPERMB         Z12, Z22, Z6 \
	VPERMT2B       Z13, Z20, Z12 \
	VPANDD         Z18, Z12, Z4 \
	VGF2P8AFFINEQB $0, Z21, Z12, Z5 \
	VCVTPH2PS      X6, X6

// Q4W loads and unpacks 4 blocks of one row at m0 (m8 = m0+8).
#define Q4W(m0, m8) \
	VMOVDQU64 m0, Z12 \
	VMOVDQU64 m8, Z13 \
	Q4WREG

// Q4WLANE unpacks 4 blocks of one row from Z12 and Z13 like Q4WREG, but
// with the scales d as float spread to their blocks' lanes in Z6.
#define Q4WLANE \
	VPERMB         Z12, Z17, Z6 \
	VPERMT2B       Z13, Z20, Z12 \
	VPANDD         Z18, Z12, Z4 \
	VGF2P8AFFINEQB $0, Z21, Z12, Z5 \
	VCVTPH2PS      Y6, Z6

// Q4VEC accumulates the row unpacked by Q4WLANE times one prepared vector's
// 4 blocks (prepQ4_0AVX512: xlo at mlo, xhi at mhi, −2·Σx per lane at
// minit, lane scales at ms) into acc; t and c are scratch.
#define Q4VEC(mlo, mhi, minit, ms, acc, t, c) \
	VMOVDQU64   minit, t \
	VPDPBUSD    mlo, Z4, t \
	VPDPBUSD    mhi, Z5, t \
	VCVTDQ2PS   t, t \
	VMULPS      ms, Z6, c \
	VFMADD231PS c, t, acc

// Q4ACC accumulates the unpacked row times the activations loaded by Q4X
// into acc.
#define Q4ACC(acc) \
	VMOVDQA64   Z10, Z11 \
	VPDPBUSD    Z8, Z4, Z11 \
	VPDPBUSD    Z9, Z5, Z11 \
	VCVTDQ2PS   Z11, Z11 \
	VMULPS      X2, X6, X6 \
	VPERMPS     Z6, Z23, Z6 \
	VFMADD231PS Z6, Z11, acc

// Q4ROW accumulates 4 blocks of one row (at m0, m8) times the activations
// loaded by Q4X into acc.
#define Q4ROW(m0, m8, acc) \
	Q4W(m0, m8) \
	Q4ACC(acc)

// func dotQ4_0AVX512(row *byte, q *int8, scale *float32, sum *int32, groups int) float32
TEXT ·dotQ4_0AVX512(SB), NOSPLIT, $0-44
	MOVQ   row+0(FP), SI
	MOVQ   q+8(FP), DI
	MOVQ   scale+16(FP), R8
	MOVQ   sum+24(FP), R9
	MOVQ   groups+32(FP), CX
	Q4CONST
	VPXORD Z0, Z0, Z0
	TESTQ  CX, CX
	JZ     q4z_done

q4z_loop:
	Q4X((DI), 64(DI), (R8), (R9))
	Q4ROW((SI), 8(SI), Z0)
	ADDQ $72, SI
	ADDQ $128, DI
	ADDQ $16, R8
	ADDQ $16, R9
	DECQ CX
	JNZ  q4z_loop

q4z_done:
	HSUMZ0
	VZEROUPPER
	MOVSS X0, ret+40(FP)
	RET

// func q4_0RowsAVX512(rows *byte, rb int, nrows int, prep *byte, groups int, out *float32, q *int8, scale *float32, sum *int32)
//
// nrows rows rb bytes apart, groups×4 blocks each, times one prepared
// vector (prepQ4_0AVX512; with q non-nil, the kernel prepares it from q,
// scale and sum while it computes row 0): one row after the other (a single sequential
// stream, which the hardware prefetchers follow far better than several
// interleaved rows). out[i] = row i · x.
//
// Streaming from memory, 64-byte loads that straddle cache lines cost about
// a fifth of the bandwidth, so where a row is 8-byte aligned the groups from
// its first 64-byte aligned one on are read 8 at a time (576 bytes, 9 whole
// lines) with aligned loads and cut into groups with VALIGNQ; the groups
// before and after take the unaligned loads. Both paths compute the same.
TEXT ·q4_0RowsAVX512(SB), NOSPLIT, $0-72
	MOVQ  rows+0(FP), SI
	MOVQ  rb+8(FP), BX
	MOVQ  nrows+16(FP), R14
	MOVQ  prep+24(FP), R10
	MOVQ  groups+32(FP), R15
	MOVQ  out+40(FP), DX
	Q4CONST
	TESTQ R14, R14
	JZ    q4r_done
	MOVQ  q+48(FP), R8
	TESTQ R8, R8
	JZ    q4r_row

	// Row 0 from the raw activations, laying them out into prep as it goes
	// (the same values prepQ4_0AVX512 writes), so the stream of rows never
	// waits for a separate pass over the activations.
	MOVQ   scale+56(FP), R11
	MOVQ   sum+64(FP), R9
	MOVQ   SI, AX
	MOVQ   R10, DI
	MOVQ   R15, CX
	VPXORD Z0, Z0, Z0
	TESTQ  CX, CX
	JZ     q4f_sum

q4f_loop:
	PREFETCHT0  PFDIST(AX)
	PREFETCHT0  PFDIST+64(AX)
	Q4X((R8), 64(R8), (R11), (R9))
	VPERMPS     Z2, Z23, Z11
	VMOVDQU64   Z8, (DI)
	VMOVDQU64   Z9, 64(DI)
	VMOVDQU64   Z10, 128(DI)
	VMOVUPS     Z11, 192(DI)
	VMOVDQU64   (AX), Z12
	VMOVDQU64   8(AX), Z13
	Q4WLANE
	VMOVDQA64   Z10, Z15
	VPDPBUSD    Z8, Z4, Z15
	VPDPBUSD    Z9, Z5, Z15
	VCVTDQ2PS   Z15, Z15
	VMULPS      Z11, Z6, Z16
	VFMADD231PS Z16, Z15, Z0
	ADDQ        $72, AX
	ADDQ        $256, DI
	ADDQ        $128, R8
	ADDQ        $16, R11
	ADDQ        $16, R9
	DECQ        CX
	JNZ         q4f_loop

q4f_sum:
	HSUMZ0
	MOVSS X0, (DX)
	ADDQ  $4, DX
	ADDQ  BX, SI
	DECQ  R14
	JZ    q4r_done

q4r_row:
	MOVQ   SI, AX
	MOVQ   R10, DI
	MOVQ   R15, CX
	VPXORD Z0, Z0, Z0

	// R13 = groups before the first 64-byte aligned one.
	MOVL  AX, R13
	ANDL  $63, R13
	TESTL $7, R13
	JNZ   q4r_tail
	NEGL  R13
	ADDL  $64, R13
	SHRL  $3, R13
	ANDL  $7, R13

q4r_head:
	TESTQ     R13, R13
	JZ        q4r_chunk
	TESTQ     CX, CX
	JZ        q4r_sum
	PREFETCHT0 PFDIST(AX)
	PREFETCHT0 PFDIST+64(AX)
	VMOVDQU64 (AX), Z12
	VMOVDQU64 8(AX), Z13
	Q4WLANE
	Q4VEC((DI), 64(DI), 128(DI), 192(DI), Z0, Z8, Z9)
	ADDQ      $72, AX
	ADDQ      $256, DI
	DECQ      R13
	DECQ      CX
	JMP       q4r_head

q4r_chunk:
	CMPQ CX, $8
	JB   q4r_tail
	PREFETCHT0 PFDIST+0(AX)
	PREFETCHT0 PFDIST+64(AX)
	PREFETCHT0 PFDIST+128(AX)
	PREFETCHT0 PFDIST+192(AX)
	PREFETCHT0 PFDIST+256(AX)
	PREFETCHT0 PFDIST+320(AX)
	PREFETCHT0 PFDIST+384(AX)
	PREFETCHT0 PFDIST+448(AX)
	PREFETCHT0 PFDIST+512(AX)
	VMOVDQU64 0(AX), Z24
	VMOVDQU64 64(AX), Z25
	VMOVDQU64 128(AX), Z26
	VMOVDQU64 192(AX), Z27
	VMOVDQU64 256(AX), Z28
	VMOVDQU64 320(AX), Z29
	VMOVDQU64 384(AX), Z30
	VMOVDQU64 448(AX), Z31
	VMOVDQU64 512(AX), Z14
	VALIGNQ   $0, Z24, Z25, Z12
	VALIGNQ   $1, Z24, Z25, Z13
	Q4WLANE
	Q4VEC((DI), 64(DI), 128(DI), 192(DI), Z0, Z8, Z9)
	VALIGNQ   $1, Z25, Z26, Z12
	VALIGNQ   $2, Z25, Z26, Z13
	Q4WLANE
	Q4VEC(256(DI), 320(DI), 384(DI), 448(DI), Z0, Z8, Z9)
	VALIGNQ   $2, Z26, Z27, Z12
	VALIGNQ   $3, Z26, Z27, Z13
	Q4WLANE
	Q4VEC(512(DI), 576(DI), 640(DI), 704(DI), Z0, Z8, Z9)
	VALIGNQ   $3, Z27, Z28, Z12
	VALIGNQ   $4, Z27, Z28, Z13
	Q4WLANE
	Q4VEC(768(DI), 832(DI), 896(DI), 960(DI), Z0, Z8, Z9)
	VALIGNQ   $4, Z28, Z29, Z12
	VALIGNQ   $5, Z28, Z29, Z13
	Q4WLANE
	Q4VEC(1024(DI), 1088(DI), 1152(DI), 1216(DI), Z0, Z8, Z9)
	VALIGNQ   $5, Z29, Z30, Z12
	VALIGNQ   $6, Z29, Z30, Z13
	Q4WLANE
	Q4VEC(1280(DI), 1344(DI), 1408(DI), 1472(DI), Z0, Z8, Z9)
	VALIGNQ   $6, Z30, Z31, Z12
	VALIGNQ   $7, Z30, Z31, Z13
	Q4WLANE
	Q4VEC(1536(DI), 1600(DI), 1664(DI), 1728(DI), Z0, Z8, Z9)
	VALIGNQ   $7, Z31, Z14, Z12
	VMOVDQA64 Z14, Z13
	Q4WLANE
	Q4VEC(1792(DI), 1856(DI), 1920(DI), 1984(DI), Z0, Z8, Z9)
	ADDQ $576, AX
	ADDQ $2048, DI
	SUBQ $8, CX
	JMP  q4r_chunk

q4r_tail:
	TESTQ     CX, CX
	JZ        q4r_sum
	PREFETCHT0 PFDIST(AX)
	PREFETCHT0 PFDIST+64(AX)
	VMOVDQU64 (AX), Z12
	VMOVDQU64 8(AX), Z13
	Q4WLANE
	Q4VEC((DI), 64(DI), 128(DI), 192(DI), Z0, Z8, Z9)
	ADDQ      $72, AX
	ADDQ      $256, DI
	DECQ      CX
	JMP       q4r_tail

q4r_sum:
	HSUMZ0
	MOVSS X0, (DX)
	ADDQ  $4, DX
	ADDQ  BX, SI
	DECQ  R14
	JNZ   q4r_row

q4r_done:
	VZEROUPPER
	RET

// func prepQ4_0AVX512(dst *byte, q *int8, scale *float32, sum *int32, groups int)
//
// Lays out one activation vector for q4_0x4AVX512, 256 bytes per 4 blocks:
// xlo, xhi, −2·Σx per lane, and the block scales spread to their 4 lanes.
TEXT ·prepQ4_0AVX512(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DX
	MOVQ q+8(FP), DI
	MOVQ scale+16(FP), R8
	MOVQ sum+24(FP), R9
	MOVQ groups+32(FP), CX
	Q4CONST
	TESTQ CX, CX
	JZ    q4p_done

q4p_loop:
	Q4X((DI), 64(DI), (R8), (R9))
	VPERMPS   Z2, Z23, Z11
	VMOVDQU64 Z8, (DX)
	VMOVDQU64 Z9, 64(DX)
	VMOVDQU64 Z10, 128(DX)
	VMOVUPS   Z11, 192(DX)
	ADDQ      $128, DI
	ADDQ      $16, R8
	ADDQ      $16, R9
	ADDQ      $256, DX
	DECQ      CX
	JNZ       q4p_loop

q4p_done:
	VZEROUPPER
	RET

// func q4_0x4AVX512(row *byte, prep *byte, vstride int, groups int, out *float32)
//
// One row times four prepared vectors (prepQ4_0AVX512, vstride bytes apart):
// the row is unpacked once for all four. out[v] = row · x_v.
TEXT ·q4_0x4AVX512(SB), NOSPLIT, $0-40
	MOVQ   row+0(FP), SI
	MOVQ   prep+8(FP), DI
	MOVQ   vstride+16(FP), BX
	MOVQ   groups+24(FP), CX
	MOVQ   out+32(FP), DX
	LEAQ   (BX)(BX*2), R13
	Q4CONST
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	TESTQ  CX, CX
	JZ     q4x_sum

q4x_loop:
	VMOVDQU64 (SI), Z12
	VMOVDQU64 8(SI), Z13
	Q4WLANE
	Q4VEC((DI), 64(DI), 128(DI), 192(DI), Z0, Z8, Z9)
	Q4VEC((DI)(BX*1), 64(DI)(BX*1), 128(DI)(BX*1), 192(DI)(BX*1), Z1, Z10, Z11)
	Q4VEC((DI)(BX*2), 64(DI)(BX*2), 128(DI)(BX*2), 192(DI)(BX*2), Z2, Z14, Z15)
	Q4VEC((DI)(R13*1), 64(DI)(R13*1), 128(DI)(R13*1), 192(DI)(R13*1), Z3, Z24, Z25)
	ADDQ    $72, SI
	ADDQ    $256, DI
	DECQ    CX
	JNZ     q4x_loop

q4x_sum:
	HSUM4
	VMOVUPS X0, (DX)
	VZEROUPPER
	RET

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

// func quantizeQ8AVX512(x *float32, n int, q *int8, scale *float32, sum *int32)
//
// Quantizes n floats (⌈n/32⌉ blocks, the last zero-padded) exactly as
// quantizeQ8Block does: scale = amax/127, q = round-half-even(x·(1/scale))
// (0 where amax is 0), and the sum of each block's q.
TEXT ·quantizeQ8AVX512(SB), NOSPLIT, $0-40
	MOVQ         x+0(FP), SI
	MOVQ         n+8(FP), CX
	MOVQ         q+16(FP), DI
	MOVQ         scale+24(FP), R8
	MOVQ         sum+32(FP), R9
	MOVL         $0x7fffffff, AX
	VPBROADCASTD AX, Z16
	MOVL         $0x42fe0000, AX // 127.0
	VMOVD        AX, X17
	MOVL         $0x3f800000, AX // 1.0
	VMOVD        AX, X18
	VXORPS       X7, X7, X7
	MOVQ         $-1, AX
	KMOVW        AX, K1
	KMOVW        AX, K2

q8q_loop:
	TESTQ CX, CX
	JLE   q8q_done
	CMPQ  CX, $32
	JGE   q8q_load

	// Partial last block: K1, K2 cover the remaining floats.
	MOVQ  CX, BX
	MOVQ  $16, DX
	CMPQ  BX, DX
	CMOVQGT DX, BX
	MOVL  $1, AX
	SHLXL BX, AX, AX
	DECL  AX
	CMPQ  BX, $16
	JNE   q8q_k1
	MOVL  $0xffff, AX

q8q_k1:
	KMOVW AX, K1
	MOVQ  CX, BX
	SUBQ  $16, BX
	MOVL  $0, AX
	JLE   q8q_k2
	MOVL  $1, AX
	SHLXL BX, AX, AX
	DECL  AX

q8q_k2:
	KMOVW AX, K2

q8q_load:
	VMOVUPS.Z     (SI), K1, Z0
	VMOVUPS.Z     64(SI), K2, Z1
	VANDPS        Z16, Z0, Z2
	VANDPS        Z16, Z1, Z3
	VMAXPS        Z3, Z2, Z2
	VEXTRACTF64X4 $1, Z2, Y3
	VMAXPS        Y3, Y2, Y2
	VEXTRACTF128  $1, Y2, X3
	VMAXPS        X3, X2, X2
	VPERMILPS     $0x4e, X2, X3
	VMAXPS        X3, X2, X2
	VPERMILPS     $0xb1, X2, X3
	VMAXPS        X3, X2, X2
	VDIVSS        X17, X2, X4      // scale = amax / 127
	VDIVSS        X4, X18, X5      // 1 / scale
	VCMPSS        $4, X7, X4, X6   // scale != 0
	VANDPS        X6, X5, X5
	VMOVSS        X4, (R8)
	VBROADCASTSS  X5, Z5
	VMULPS        Z5, Z0, Z0
	VMULPS        Z5, Z1, Z1
	VCVTPS2DQ     Z0, Z0
	VCVTPS2DQ     Z1, Z1
	VPMOVDB       Z0, (DI)
	VPMOVDB       Z1, 16(DI)
	VPADDD        Z1, Z0, Z0
	VEXTRACTI64X4 $1, Z0, Y1
	VPADDD        Y1, Y0, Y0
	VEXTRACTI128  $1, Y0, X1
	VPADDD        X1, X0, X0
	VPSHUFD       $0x4e, X0, X1
	VPADDD        X1, X0, X0
	VPSHUFD       $0xb1, X0, X1
	VPADDD        X1, X0, X0
	VMOVD         X0, (R9)
	ADDQ          $128, SI
	ADDQ          $32, DI
	ADDQ          $4, R8
	ADDQ          $4, R9
	SUBQ          $32, CX
	JMP           q8q_loop

q8q_done:
	VZEROUPPER
	RET

// func axpyAVX512(dst, x *float32, a float32, n int)
// dst[i] += a·x[i] for i < n&^15.
TEXT ·axpyAVX512(SB), NOSPLIT, $0-32
	MOVQ         dst+0(FP), DI
	MOVQ         x+8(FP), SI
	VBROADCASTSS a+16(FP), Z0
	MOVQ         n+24(FP), CX
	SHRQ         $4, CX
	JZ           axpy_done

axpy_loop:
	VMOVUPS     (SI), Z1
	VMOVUPS     (DI), Z2
	VFMADD231PS Z1, Z0, Z2
	VMOVUPS     Z2, (DI)
	ADDQ        $64, SI
	ADDQ        $64, DI
	DECQ        CX
	JNZ         axpy_loop

axpy_done:
	VZEROUPPER
	RET

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
