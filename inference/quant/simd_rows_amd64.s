#include "textflag.h"
#include "simd_amd64.h"

// QARGS loads a quantizer's arguments (x SI, blocks CX, q DI, scale R8,
// sum R9) and tests CX.
#define QARGS \
	MOVQ  x+0(FP), SI      \
	MOVQ  blocks+8(FP), CX \
	MOVQ  q+16(FP), DI     \
	MOVQ  scale+24(FP), R8 \
	MOVQ  sum+32(FP), R9   \
	TESTQ CX, CX

// HMAXY4 leaves the largest of Y4's eight floats in every lane of X4
// (clobbers X5).
#define HMAXY4 \
	VEXTRACTF128 $1, Y4, X5   \
	VMAXPS       X5, X4, X4   \
	VPERMILPS    $0x4e, X4, X5 \
	VMAXPS       X5, X4, X4   \
	VPERMILPS    $0xb1, X4, X5 \
	VMAXPS       X5, X4, X4

// DROWSARGS loads the arguments of dotHeadsAVX2 and dotQuadsAVX2 (the
// output DX, its stride R13 in bytes, the vectors AX, the rows R8 and
// their stride R9, the rows or quads of rows, count, in R10) and jumps to
// done if there is nothing to do.
#define DROWSARGS(count, done) \
	MOVQ  dst+0(FP), DX      \
	MOVQ  ld+8(FP), R13      \
	SHLQ  $2, R13            \
	MOVQ  heads+32(FP), AX   \
	MOVQ  rows+40(FP), R8    \
	MOVQ  stride+48(FP), R9  \
	MOVQ  count, R10         \
	TESTQ R10, R10           \
	JZ    done               \
	TESTQ AX, AX             \
	JZ    done

// DQDOT leaves in res the four partial sums of the vector at R12 times the
// row at DI over n (the argument) elements, added pairwise as dotF32AVX2
// adds them before its HSUMR (clobbers Y0-Y7, BX, CX, SI, DI); l32, l8,
// loop8 and sum are its labels.
#define DQDOT(n, res, l32, l8, loop8, sum) \
	MOVQ        R12, SI         \
	MOVQ        n, CX           \
	VPXOR       Y0, Y0, Y0      \
	VPXOR       Y1, Y1, Y1      \
	VPXOR       Y2, Y2, Y2      \
	VPXOR       Y3, Y3, Y3      \
	MOVQ        CX, BX          \
	SHRQ        $5, BX          \
	JZ          l8              \
l32:                            \
	VMOVUPS     (DI), Y4        \
	VFMADD231PS (SI), Y4, Y0    \
	VMOVUPS     32(DI), Y5      \
	VFMADD231PS 32(SI), Y5, Y1  \
	VMOVUPS     64(DI), Y6      \
	VFMADD231PS 64(SI), Y6, Y2  \
	VMOVUPS     96(DI), Y7      \
	VFMADD231PS 96(SI), Y7, Y3  \
	ADDQ        $128, SI        \
	ADDQ        $128, DI        \
	DECQ        BX              \
	JNZ         l32             \
l8:                             \
	ANDQ        $31, CX         \
	SHRQ        $3, CX          \
	JZ          sum             \
loop8:                          \
	VMOVUPS     (DI), Y4        \
	VFMADD231PS (SI), Y4, Y0    \
	ADDQ        $32, SI         \
	ADDQ        $32, DI         \
	DECQ        CX              \
	JNZ         loop8           \
sum:                            \
	VADDPS      Y1, Y0, Y0      \
	VADDPS      Y3, Y2, Y2      \
	VADDPS      Y2, Y0, res

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

DATA q8consts<>+0(SB)/4, $0x7fffffff // |x| mask
DATA q8consts<>+4(SB)/4, $127.0
DATA q8consts<>+8(SB)/4, $1.0
DATA q8consts<>+12(SB)/4, $0x000000ff // low byte of a dword
DATA q8consts<>+16(SB)/4, $0           // VPERMD order after the packs: 0 4 1 5 2 6 3 7
DATA q8consts<>+20(SB)/4, $4
DATA q8consts<>+24(SB)/4, $1
DATA q8consts<>+28(SB)/4, $5
DATA q8consts<>+32(SB)/4, $2
DATA q8consts<>+36(SB)/4, $6
DATA q8consts<>+40(SB)/4, $3
DATA q8consts<>+44(SB)/4, $7
GLOBL q8consts<>(SB), RODATA|NOPTR, $48

// func quantizeQ8AVX2(x *float32, blocks int, q *int8, scale *float32, sum *int32)
//
// Quantizes blocks whole blocks of 32 floats as quantizeQ8Block does, bit
// for bit: scale = amax/127, codes the products with 1/scale rounded to
// nearest even, each code the low byte of its int32 (as Go's int8(r)),
// sum the int32s' sum.
TEXT ·quantizeQ8AVX2(SB), NOSPLIT, $0-40
	QARGS
	JZ           q8a_done
	VBROADCASTSS q8consts<>+0(SB), Y15
	VMOVSS       q8consts<>+4(SB), X14
	VMOVSS       q8consts<>+8(SB), X13
	VXORPS       X12, X12, X12
	VBROADCASTSS q8consts<>+12(SB), Y11
	VMOVDQU      q8consts<>+16(SB), Y10

q8a_loop:
	VMOVUPS      (SI), Y0
	VMOVUPS      32(SI), Y1
	VMOVUPS      64(SI), Y2
	VMOVUPS      96(SI), Y3
	VANDPS       Y15, Y0, Y4
	VANDPS       Y15, Y1, Y5
	VANDPS       Y15, Y2, Y6
	VANDPS       Y15, Y3, Y7
	VMAXPS       Y5, Y4, Y4
	VMAXPS       Y7, Y6, Y6
	VMAXPS       Y6, Y4, Y4
	HMAXY4
	VDIVSS       X14, X4, X8    // scale = amax / 127
	VDIVSS       X8, X13, X9    // 1 / scale
	VCMPSS       $4, X12, X8, X6 // scale != 0
	VANDPS       X6, X9, X9
	VMOVSS       X8, (R8)
	VBROADCASTSS X9, Y9
	VMULPS       Y9, Y0, Y0
	VMULPS       Y9, Y1, Y1
	VMULPS       Y9, Y2, Y2
	VMULPS       Y9, Y3, Y3
	VCVTPS2DQ    Y0, Y0
	VCVTPS2DQ    Y1, Y1
	VCVTPS2DQ    Y2, Y2
	VCVTPS2DQ    Y3, Y3
	VPADDD       Y1, Y0, Y4
	VPADDD       Y3, Y2, Y5
	VPADDD       Y5, Y4, Y4
	VEXTRACTI128 $1, Y4, X5
	VPADDD       X5, X4, X4
	VPSHUFD      $0x4e, X4, X5
	VPADDD       X5, X4, X4
	VPSHUFD      $0xb1, X4, X5
	VPADDD       X5, X4, X4
	VMOVD        X4, (R9)
	VPAND        Y11, Y0, Y0
	VPAND        Y11, Y1, Y1
	VPAND        Y11, Y2, Y2
	VPAND        Y11, Y3, Y3
	VPACKUSDW    Y1, Y0, Y0
	VPACKUSDW    Y3, Y2, Y2
	VPACKUSWB    Y2, Y0, Y0
	VPERMD       Y0, Y10, Y0
	VMOVDQU      Y0, (DI)
	ADDQ         $128, SI
	ADDQ         $32, DI
	ADDQ         $4, R8
	ADDQ         $4, R9
	DECQ         CX
	JNZ          q8a_loop
	VZEROUPPER

q8a_done:
	RET

DATA q8kconsts<>+0(SB)/4, $-127.0
DATA q8kconsts<>+4(SB)/4, $127 // int32
GLOBL q8kconsts<>(SB), RODATA|NOPTR, $8

// Q8KCODES converts 32 floats at off(SI) times Y9 to codes (rounded half
// to even, at most 127) in q's 32 bytes at off/4(DI), and stores the two
// sums of 16 as int16 at off/32(R9) (clobbers Y0-Y5).
#define Q8KCODES(off) \
	VMULPS       off(SI), Y9, Y0           \
	VMULPS       (off+32)(SI), Y9, Y1      \
	VMULPS       (off+64)(SI), Y9, Y2      \
	VMULPS       (off+96)(SI), Y9, Y3      \
	VCVTPS2DQ    Y0, Y0                    \
	VCVTPS2DQ    Y1, Y1                    \
	VCVTPS2DQ    Y2, Y2                    \
	VCVTPS2DQ    Y3, Y3                    \
	VPMINSD      Y14, Y0, Y0               \
	VPMINSD      Y14, Y1, Y1               \
	VPMINSD      Y14, Y2, Y2               \
	VPMINSD      Y14, Y3, Y3               \
	VPADDD       Y1, Y0, Y4                \
	VPADDD       Y3, Y2, Y5                \
	VPHADDD      Y5, Y4, Y4                \
	VEXTRACTI128 $1, Y4, X5                \
	VPADDD       X5, X4, X4                \
	VPHADDD      X4, X4, X4                \
	VPACKSSDW    X4, X4, X4                \
	VMOVD        X4, (off/32)(R9)          \
	VPACKSSDW    Y1, Y0, Y0                \
	VPACKSSDW    Y3, Y2, Y2                \
	VPACKSSWB    Y2, Y0, Y0                \
	VPERMD       Y0, Y10, Y0               \
	VMOVDQU      Y0, (off/4)(DI)

// func quantizeQ8KAVX2(x *float32, blocks int, q *int8, scale *float32, sum *int16)
//
// Quantizes blocks blocks of 256 floats bit for bit as quantizeQ8KRow:
// the first value of largest magnitude (vmax) maps to ∓127, q =
// round-half-even(x·(−127/vmax)) (at most 127), scale = 1/(−127/vmax), 0
// and zero codes for a block of zeros, and the sums of each 16 codes.
TEXT ·quantizeQ8KAVX2(SB), NOSPLIT, $0-40
	QARGS
	JZ           q8k_done
	VBROADCASTSS q8consts<>+0(SB), Y15
	VPBROADCASTD q8kconsts<>+4(SB), Y14
	VMOVDQU      q8consts<>+16(SB), Y10

q8k_block:
	// amax over the 256 values.
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	XORQ   AX, AX

q8k_max:
	VANDPS (SI)(AX*1), Y15, Y0
	VANDPS 32(SI)(AX*1), Y15, Y1
	VMAXPS Y0, Y4, Y4
	VMAXPS Y1, Y5, Y5
	ADDQ   $64, AX
	CMPQ   AX, $1024
	JLT    q8k_max
	VMAXPS       Y5, Y4, Y4
	HMAXY4
	VXORPS       X5, X5, X5
	VUCOMISS     X5, X4
	JEQ          q8k_zero
	VBROADCASTSS X4, Y8

	// vmax: the first value whose magnitude is amax.
	XORQ AX, AX

q8k_find:
	VANDPS    (SI)(AX*1), Y15, Y0
	VCMPPS    $0, Y8, Y0, Y0
	VMOVMSKPS Y0, DX
	TESTL     DX, DX
	JNZ       q8k_found
	ADDQ      $32, AX
	JMP       q8k_find

q8k_found:
	BSFL         DX, DX
	LEAQ         (AX)(DX*4), AX
	VMOVSS       q8kconsts<>+0(SB), X9
	VDIVSS       (SI)(AX*1), X9, X9     // iscale = -127 / vmax
	VMOVSS       q8consts<>+8(SB), X6
	VDIVSS       X9, X6, X6             // 1 / iscale
	VMOVSS       X6, (R8)
	VBROADCASTSS X9, Y9
	Q8KCODES(0)
	Q8KCODES(128)
	Q8KCODES(256)
	Q8KCODES(384)
	Q8KCODES(512)
	Q8KCODES(640)
	Q8KCODES(768)
	Q8KCODES(896)
	JMP q8k_next

q8k_zero:
	VMOVSS  X5, (R8)
	VMOVDQU Y5, (DI)
	VMOVDQU Y5, 32(DI)
	VMOVDQU Y5, 64(DI)
	VMOVDQU Y5, 96(DI)
	VMOVDQU Y5, 128(DI)
	VMOVDQU Y5, 160(DI)
	VMOVDQU Y5, 192(DI)
	VMOVDQU Y5, 224(DI)
	VMOVDQU Y5, (R9)

q8k_next:
	ADDQ $1024, SI
	ADDQ $256, DI
	ADDQ $4, R8
	ADDQ $32, R9
	DECQ CX
	JNZ  q8k_block
	VZEROUPPER

q8k_done:
	RET

// func dotHeadsAVX2(dst *float32, ld int, x *float32, xs, heads int, rows *float32, stride, count, n int)
//
// dst[t·ld + j] = x_t · row j over n&^7 elements, for heads vectors x_t xs
// bytes apart and count rows stride bytes apart, each as dotF32AVX2
// computes it: row by row, every vector in turn, so that a row comes from
// memory once for all the vectors.
TEXT ·dotHeadsAVX2(SB), NOSPLIT, $0-72
	DROWSARGS(count+56(FP), dh_done)

dh_row:
	MOVQ x+16(FP), R12
	MOVQ DX, R14
	MOVQ AX, R11

dh_head:
	MOVQ R8, DI
	DQDOT(n+64(FP), Y0, dh_32, dh_8, dh_8loop, dh_sum)
	HSUMY0
	VMOVSS X0, (R14)
	ADDQ   R13, R14
	ADDQ   xs+24(FP), R12
	DECQ   R11
	JNZ    dh_head
	ADDQ   $4, DX
	ADDQ   R9, R8
	DECQ   R10
	JNZ    dh_row
	VZEROUPPER

dh_done:
	RET

// AH4FMA adds the broadcast a of one head times the two row blocks (Y8,
// Y9) to its accumulators lo and hi.
#define AH4FMA(at, lo, hi) \
	VBROADCASTSS at, Y10 \
	VFMADD231PS  Y8, Y10, lo \
	VFMADD231PS  Y9, Y10, hi

// func addHeads4AVX2(dst *float32, ds int, a *float32, lda int, rows *float32, stride, count, width int)
//
// For the four heads h, dst_h = dst + h·ds bytes and a_h = a + h·lda bytes:
// dst_h[i] += a_h[j]·rows[j·stride/4 + i] for j = 0, 1, … count−1 in turn,
// one fused multiply-add each (as addRowsAVX2 head by head), for i <
// width (a multiple of 16). Sixteen columns of the four heads stay in
// registers while the rows go by, each row's columns read once for the
// four heads.
TEXT ·addHeads4AVX2(SB), NOSPLIT, $0-64
	MOVQ dst+0(FP), DI
	MOVQ ds+8(FP), R14
	MOVQ a+16(FP), R8
	MOVQ lda+24(FP), R11
	MOVQ rows+32(FP), SI
	MOVQ stride+40(FP), BX
	MOVQ count+48(FP), R9
	MOVQ width+56(FP), DX
	LEAQ (R11)(R11*2), R13
	LEAQ (R14)(R14*2), R12
	TESTQ R9, R9
	JZ    ah_done

ah_block:
	CMPQ    DX, $16
	JLT     ah_end
	VMOVUPS (DI), Y0
	VMOVUPS 32(DI), Y1
	VMOVUPS (DI)(R14*1), Y2
	VMOVUPS 32(DI)(R14*1), Y3
	VMOVUPS (DI)(R14*2), Y4
	VMOVUPS 32(DI)(R14*2), Y5
	VMOVUPS (DI)(R12*1), Y6
	VMOVUPS 32(DI)(R12*1), Y7
	MOVQ    SI, AX
	MOVQ    R8, R10
	MOVQ    R9, CX

ah_row:
	VMOVUPS (AX), Y8
	VMOVUPS 32(AX), Y9
	AH4FMA((R10), Y0, Y1)
	AH4FMA((R10)(R11*1), Y2, Y3)
	AH4FMA((R10)(R11*2), Y4, Y5)
	AH4FMA((R10)(R13*1), Y6, Y7)
	ADDQ    BX, AX
	ADDQ    $4, R10
	DECQ    CX
	JNZ     ah_row
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, (DI)(R14*1)
	VMOVUPS Y3, 32(DI)(R14*1)
	VMOVUPS Y4, (DI)(R14*2)
	VMOVUPS Y5, 32(DI)(R14*2)
	VMOVUPS Y6, (DI)(R12*1)
	VMOVUPS Y7, 32(DI)(R12*1)
	ADDQ    $64, DI
	ADDQ    $64, SI
	SUBQ    $16, DX
	JMP     ah_block

ah_end:
	VZEROUPPER

ah_done:
	RET

// func dotQuadsAVX2(dst *float32, ld int, x *float32, xs, heads int, rows *float32, stride, quads, n int)
//
// dotHeadsAVX2 for 4·quads rows, four at a time: the four products of a
// vector with four rows are summed across their lanes together, in the
// pairs HSUMR sums each (HSUMR4), and stored at once.
TEXT ·dotQuadsAVX2(SB), NOSPLIT, $0-72
	DROWSARGS(quads+56(FP), dq_done)

dq_quad:
	MOVQ x+16(FP), R12
	MOVQ DX, R14
	MOVQ AX, R11

dq_head:
	MOVQ R8, DI
	DQDOT(n+64(FP), Y8, dq_a32, dq_a8, dq_a8loop, dq_asum)
	LEAQ (R8)(R9*1), DI
	DQDOT(n+64(FP), Y9, dq_b32, dq_b8, dq_b8loop, dq_bsum)
	LEAQ (R8)(R9*2), DI
	DQDOT(n+64(FP), Y10, dq_c32, dq_c8, dq_c8loop, dq_csum)
	LEAQ (R8)(R9*2), DI
	ADDQ R9, DI
	DQDOT(n+64(FP), Y11, dq_d32, dq_d8, dq_d8loop, dq_dsum)
	HSUMR4(Y8, Y9, Y10, Y11, Y12, Y13, Y14, Y15, X14, X15, (R14))
	ADDQ       R13, R14
	ADDQ       xs+24(FP), R12
	DECQ       R11
	JNZ        dq_head
	ADDQ       $16, DX
	LEAQ       (R8)(R9*4), R8
	DECQ       R10
	JNZ        dq_quad
	VZEROUPPER

dq_done:
	RET
