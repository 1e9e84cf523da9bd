#include "textflag.h"

// Dot-product kernels for amd64: AVX-512 (F, BW, VL, VNNI, VBMI) and
// AVX2 + FMA + F16C. See simd_amd64.go for the Go wrappers that check
// bounds and finish tails.

// HSUMZ0 leaves the sum of the 16 floats of Z0 in X0 (clobbers Y1, X1).
#define HSUMZ0 \
	VEXTRACTF64X4 $1, Z0, Y1 \
	VADDPS        Y1, Y0, Y0 \
	VEXTRACTF128  $1, Y0, X1 \
	VADDPS        X1, X0, X0 \
	VMOVHLPS      X0, X0, X1 \
	VADDPS        X1, X0, X0 \
	VMOVSHDUP     X0, X1     \
	VADDSS        X1, X0, X0

// HSUMY0 leaves the sum of the 8 floats of Y0 in X0 (clobbers X1).
#define HSUMY0 \
	VEXTRACTF128 $1, Y0, X1 \
	VADDPS       X1, X0, X0 \
	VMOVHLPS     X0, X0, X1 \
	VADDPS       X1, X0, X0 \
	VMOVSHDUP    X0, X1     \
	VADDSS       X1, X0, X0

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

// func dotQ8_0AVX512(row *byte, q *int8, scale *float32, groups int) float32
//
// Four blocks per iteration, two per 512-bit register (one block per 256-bit
// half). VPDPBUSD multiplies unsigned by signed bytes, so the weights are
// biased to w+128 (unsigned) and 128·Σw, from a second VPDPBUSD with 128s,
// is subtracted: exact int32 block dot products, 8 partial sums per block,
// scaled in float by d(weights)·scale(activations) per lane.
TEXT ·dotQ8_0AVX512(SB), NOSPLIT, $0-36
	MOVQ      row+0(FP), SI
	MOVQ      q+8(FP), DI
	MOVQ      scale+16(FP), R8
	MOVQ      groups+24(FP), CX
	VMOVDQU64 pairA<>(SB), Z16
	VMOVDQU64 pairB<>(SB), Z17
	MOVL      $0x80808080, AX
	VPBROADCASTD AX, Z18
	MOVL      $0xff00, AX
	KMOVW     AX, K1
	VPXORD    Z0, Z0, Z0
	VPXORD    Z1, Z1, Z1
	TESTQ     CX, CX
	JZ        q8z_done

q8z_loop:
	VMOVUPS (R8), X2

	// blocks 0 (offset 0) and 1 (offset 34)
	VMOVDQU64    2(SI), Y4
	VINSERTI64X4 $1, 36(SI), Z4, Z4
	VPXORD       (DI), Z18, Z5
	VPXORD       Z6, Z6, Z6
	VPXORD       Z7, Z7, Z7
	VPDPBUSD     Z4, Z5, Z6
	VPDPBUSD     Z4, Z18, Z7
	VPSUBD       Z7, Z6, Z6
	VCVTDQ2PS    Z6, Z6
	VPBROADCASTW (SI), Y8
	VPBROADCASTW 34(SI), K1, Y8
	VCVTPH2PS    Y8, Z8
	VPERMPS      Z2, Z16, Z9
	VMULPS       Z9, Z8, Z8
	VFMADD231PS  Z8, Z6, Z0

	// blocks 2 (offset 68) and 3 (offset 102)
	VMOVDQU64    70(SI), Y10
	VINSERTI64X4 $1, 104(SI), Z10, Z10
	VPXORD       64(DI), Z18, Z11
	VPXORD       Z12, Z12, Z12
	VPXORD       Z13, Z13, Z13
	VPDPBUSD     Z10, Z11, Z12
	VPDPBUSD     Z10, Z18, Z13
	VPSUBD       Z13, Z12, Z12
	VCVTDQ2PS    Z12, Z12
	VPBROADCASTW 68(SI), Y14
	VPBROADCASTW 102(SI), K1, Y14
	VCVTPH2PS    Y14, Z14
	VPERMPS      Z2, Z17, Z15
	VMULPS       Z15, Z14, Z14
	VFMADD231PS  Z14, Z12, Z1

	ADDQ $136, SI
	ADDQ $128, DI
	ADDQ $16, R8
	DECQ CX
	JNZ  q8z_loop

q8z_done:
	VADDPS Z1, Z0, Z0
	HSUMZ0
	VZEROUPPER
	MOVSS  X0, ret+32(FP)
	RET

// func dotQ4_0AVX512(row *byte, q *int8, scale *float32, sum *int32, groups int) float32
//
// Four blocks (72 bytes) per iteration, read as two 64-byte loads at offsets
// 0 and 8 so nothing past the group is touched. VPERMT2B packs the four
// blocks' nibble bytes into one register, one 128-bit lane per block; the low
// nibbles (codes 0-15) and high nibbles (codes 16-31, via GF2P8AFFINEQB as a
// byte shift) meet the activations rearranged to the same lanes, and two
// VPDPBUSD multiply the unsigned codes by the signed activations on top of
// −2·Σx in each of the block's 4 lanes: Σcode·x − 8·Σx = Σ(code−8)·x, exact.
// The lanes are then scaled in float by d·scale of their block.
TEXT ·dotQ4_0AVX512(SB), NOSPLIT, $0-44
	MOVQ      row+0(FP), SI
	MOVQ      q+8(FP), DI
	MOVQ      scale+16(FP), R8
	MOVQ      sum+24(FP), R9
	MOVQ      groups+32(FP), CX
	VMOVDQU64 q4nib4<>(SB), Z20
	VMOVDQU64 q4d4<>(SB), Z22
	VMOVDQU64 lane4<>(SB), Z23
	MOVQ      $0x1020408000000000, AX
	VPBROADCASTQ AX, Z21
	MOVL      $0x0f0f0f0f, AX
	VPBROADCASTD AX, Z18
	VPXORD    Z19, Z19, Z19
	VPXORD    Z0, Z0, Z0
	VPXORD    Z1, Z1, Z1
	TESTQ     CX, CX
	JZ        q4z_done

q4z_loop:
	VMOVDQU64      (SI), Z12
	VMOVDQU64      8(SI), Z13
	VPERMB         Z12, Z22, Z6
	VPERMT2B       Z13, Z20, Z12
	VPANDD         Z18, Z12, Z4
	VGF2P8AFFINEQB $0, Z21, Z12, Z5
	VMOVDQU64      (DI), Z7
	VSHUFI64X2     $0x88, 64(DI), Z7, Z8
	VSHUFI64X2     $0xdd, 64(DI), Z7, Z9
	VPSUBD         (R9), X19, X3
	VPSLLD         $1, X3, X3
	VPERMD         Z3, Z23, Z10
	VPDPBUSD       Z8, Z4, Z10
	VPDPBUSD       Z9, Z5, Z10
	VCVTDQ2PS      Z10, Z10
	VCVTPH2PS      X6, X6
	VMULPS         (R8), X6, X6
	VPERMPS        Z6, Z23, Z11
	VFMADD231PS    Z11, Z10, Z0

	ADDQ $72, SI
	ADDQ $128, DI
	ADDQ $16, R8
	ADDQ $16, R9
	DECQ CX
	JNZ  q4z_loop

q4z_done:
	VADDPS Z1, Z0, Z0
	HSUMZ0
	VZEROUPPER
	MOVSS  X0, ret+40(FP)
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

// func dotF16AVX2(a *uint16, b *float32, n int) float32
TEXT ·dotF16AVX2(SB), NOSPLIT, $0-28
	MOVQ  a+0(FP), SI
	MOVQ  b+8(FP), DI
	MOVQ  n+16(FP), CX
	VPXOR Y0, Y0, Y0
	VPXOR Y1, Y1, Y1
	VPXOR Y2, Y2, Y2
	VPXOR Y3, Y3, Y3
	MOVQ  CX, BX
	SHRQ  $5, BX
	JZ    f16y_8

f16y_32:
	VCVTPH2PS   (SI), Y4
	VCVTPH2PS   16(SI), Y5
	VCVTPH2PS   32(SI), Y6
	VCVTPH2PS   48(SI), Y7
	VFMADD231PS (DI), Y4, Y0
	VFMADD231PS 32(DI), Y5, Y1
	VFMADD231PS 64(DI), Y6, Y2
	VFMADD231PS 96(DI), Y7, Y3
	ADDQ        $64, SI
	ADDQ        $128, DI
	DECQ        BX
	JNZ         f16y_32

f16y_8:
	ANDQ $31, CX
	SHRQ $3, CX
	JZ   f16y_done

f16y_8loop:
	VCVTPH2PS   (SI), Y4
	VFMADD231PS (DI), Y4, Y0
	ADDQ        $16, SI
	ADDQ        $32, DI
	DECQ        CX
	JNZ         f16y_8loop

f16y_done:
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

// func dotQ8_0AVX2(row *byte, q *int8, scale *float32, pairs int) float32
//
// Two blocks per iteration. Signed×signed bytes through VPMADDUBSW: |w| as
// the unsigned operand and x·sign(w) as the signed one (no saturation:
// 2·128·127 < 32768), then VPMADDWD by ones to int32.
TEXT ·dotQ8_0AVX2(SB), NOSPLIT, $0-36
	MOVQ     row+0(FP), SI
	MOVQ     q+8(FP), DI
	MOVQ     scale+16(FP), R8
	MOVQ     pairs+24(FP), CX
	VPCMPEQW Y15, Y15, Y15
	VPSRLW   $15, Y15, Y15
	VPXOR    Y0, Y0, Y0
	VPXOR    Y1, Y1, Y1
	TESTQ    CX, CX
	JZ       q8y_done

q8y_loop:
	VMOVDQU      2(SI), Y4
	VPABSB       Y4, Y5
	VMOVDQU      (DI), Y6
	VPSIGNB      Y4, Y6, Y6
	VPMADDUBSW   Y6, Y5, Y5
	VPMADDWD     Y15, Y5, Y5
	VCVTDQ2PS    Y5, Y5
	VPBROADCASTW (SI), X6
	VCVTPH2PS    X6, Y6
	VBROADCASTSS (R8), Y7
	VMULPS       Y7, Y6, Y6
	VFMADD231PS  Y6, Y5, Y0

	VMOVDQU      36(SI), Y8
	VPABSB       Y8, Y9
	VMOVDQU      32(DI), Y10
	VPSIGNB      Y8, Y10, Y10
	VPMADDUBSW   Y10, Y9, Y9
	VPMADDWD     Y15, Y9, Y9
	VCVTDQ2PS    Y9, Y9
	VPBROADCASTW 34(SI), X10
	VCVTPH2PS    X10, Y10
	VBROADCASTSS 4(R8), Y11
	VMULPS       Y11, Y10, Y10
	VFMADD231PS  Y10, Y9, Y1

	ADDQ $68, SI
	ADDQ $64, DI
	ADDQ $8, R8
	DECQ CX
	JNZ  q8y_loop

q8y_done:
	VADDPS Y1, Y0, Y0
	HSUMY0
	VZEROUPPER
	MOVSS  X0, ret+32(FP)
	RET

// func dotQ4_0AVX2(row *byte, q *int8, scale *float32, sum *int32, pairs int) float32
//
// Two blocks per iteration: nibbles to 32 unsigned codes, VPMADDUBSW with the
// signed activations (≤ 2·15·127, no saturation), VPMADDWD to int32, minus
// Σx in each of the 8 lanes (−8·Σx in all).
TEXT ·dotQ4_0AVX2(SB), NOSPLIT, $0-44
	MOVQ     row+0(FP), SI
	MOVQ     q+8(FP), DI
	MOVQ     scale+16(FP), R8
	MOVQ     sum+24(FP), R9
	MOVQ     pairs+32(FP), CX
	VPCMPEQW Y15, Y15, Y15
	VPSRLW   $15, Y15, Y15
	MOVL     $0x0f0f0f0f, AX
	MOVL     AX, X14
	VPBROADCASTD X14, Y14
	VPXOR    Y0, Y0, Y0
	VPXOR    Y1, Y1, Y1
	TESTQ    CX, CX
	JZ       q4y_done

q4y_loop:
	VMOVDQU      2(SI), X4
	VPSRLW       $4, X4, X5
	VINSERTI128  $1, X5, Y4, Y4
	VPAND        Y14, Y4, Y4
	VPMADDUBSW   (DI), Y4, Y4
	VPMADDWD     Y15, Y4, Y4
	VPBROADCASTD (R9), Y5
	VPSUBD       Y5, Y4, Y4
	VCVTDQ2PS    Y4, Y4
	VPBROADCASTW (SI), X6
	VCVTPH2PS    X6, Y6
	VBROADCASTSS (R8), Y7
	VMULPS       Y7, Y6, Y6
	VFMADD231PS  Y6, Y4, Y0

	VMOVDQU      20(SI), X8
	VPSRLW       $4, X8, X9
	VINSERTI128  $1, X9, Y8, Y8
	VPAND        Y14, Y8, Y8
	VPMADDUBSW   32(DI), Y8, Y8
	VPMADDWD     Y15, Y8, Y8
	VPBROADCASTD 4(R9), Y9
	VPSUBD       Y9, Y8, Y8
	VCVTDQ2PS    Y8, Y8
	VPBROADCASTW 18(SI), X10
	VCVTPH2PS    X10, Y10
	VBROADCASTSS 4(R8), Y11
	VMULPS       Y11, Y10, Y10
	VFMADD231PS  Y10, Y8, Y1

	ADDQ $36, SI
	ADDQ $64, DI
	ADDQ $8, R8
	ADDQ $8, R9
	DECQ CX
	JNZ  q4y_loop

q4y_done:
	VADDPS Y1, Y0, Y0
	HSUMY0
	VZEROUPPER
	MOVSS  X0, ret+40(FP)
	RET
