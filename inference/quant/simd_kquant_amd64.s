#include "textflag.h"
#include "simd_amd64.h"

// K-quant dot-product kernels for amd64 with AVX2 + FMA + F16C (see
// simd_kquant_amd64.go): one stored row against one activation vector in
// GGML's Q8_K form (int8 codes in blocks of 256, a float32 scale per block,
// int16 sums per 16 codes). Each super-block's products are summed in
// integers; one float multiply-add per super-block (two with mins).

// Per-lane word shuffles: kshuf4 + 32·k broadcasts word k of each lane;
// kshuf6 + 32·k broadcasts word 2k in the low lane and 2k+1 in the high one.
DATA kshuf4<>+0(SB)/8, $0x0100010001000100
DATA kshuf4<>+8(SB)/8, $0x0100010001000100
DATA kshuf4<>+16(SB)/8, $0x0100010001000100
DATA kshuf4<>+24(SB)/8, $0x0100010001000100
DATA kshuf4<>+32(SB)/8, $0x0302030203020302
DATA kshuf4<>+40(SB)/8, $0x0302030203020302
DATA kshuf4<>+48(SB)/8, $0x0302030203020302
DATA kshuf4<>+56(SB)/8, $0x0302030203020302
DATA kshuf4<>+64(SB)/8, $0x0504050405040504
DATA kshuf4<>+72(SB)/8, $0x0504050405040504
DATA kshuf4<>+80(SB)/8, $0x0504050405040504
DATA kshuf4<>+88(SB)/8, $0x0504050405040504
DATA kshuf4<>+96(SB)/8, $0x0706070607060706
DATA kshuf4<>+104(SB)/8, $0x0706070607060706
DATA kshuf4<>+112(SB)/8, $0x0706070607060706
DATA kshuf4<>+120(SB)/8, $0x0706070607060706
DATA kshuf4<>+128(SB)/8, $0x0908090809080908
DATA kshuf4<>+136(SB)/8, $0x0908090809080908
DATA kshuf4<>+144(SB)/8, $0x0908090809080908
DATA kshuf4<>+152(SB)/8, $0x0908090809080908
DATA kshuf4<>+160(SB)/8, $0x0b0a0b0a0b0a0b0a
DATA kshuf4<>+168(SB)/8, $0x0b0a0b0a0b0a0b0a
DATA kshuf4<>+176(SB)/8, $0x0b0a0b0a0b0a0b0a
DATA kshuf4<>+184(SB)/8, $0x0b0a0b0a0b0a0b0a
DATA kshuf4<>+192(SB)/8, $0x0d0c0d0c0d0c0d0c
DATA kshuf4<>+200(SB)/8, $0x0d0c0d0c0d0c0d0c
DATA kshuf4<>+208(SB)/8, $0x0d0c0d0c0d0c0d0c
DATA kshuf4<>+216(SB)/8, $0x0d0c0d0c0d0c0d0c
DATA kshuf4<>+224(SB)/8, $0x0f0e0f0e0f0e0f0e
DATA kshuf4<>+232(SB)/8, $0x0f0e0f0e0f0e0f0e
DATA kshuf4<>+240(SB)/8, $0x0f0e0f0e0f0e0f0e
DATA kshuf4<>+248(SB)/8, $0x0f0e0f0e0f0e0f0e
GLOBL kshuf4<>(SB), RODATA|NOPTR, $256

DATA kshuf6<>+0(SB)/8, $0x0100010001000100
DATA kshuf6<>+8(SB)/8, $0x0100010001000100
DATA kshuf6<>+16(SB)/8, $0x0302030203020302
DATA kshuf6<>+24(SB)/8, $0x0302030203020302
DATA kshuf6<>+32(SB)/8, $0x0504050405040504
DATA kshuf6<>+40(SB)/8, $0x0504050405040504
DATA kshuf6<>+48(SB)/8, $0x0706070607060706
DATA kshuf6<>+56(SB)/8, $0x0706070607060706
DATA kshuf6<>+64(SB)/8, $0x0908090809080908
DATA kshuf6<>+72(SB)/8, $0x0908090809080908
DATA kshuf6<>+80(SB)/8, $0x0b0a0b0a0b0a0b0a
DATA kshuf6<>+88(SB)/8, $0x0b0a0b0a0b0a0b0a
DATA kshuf6<>+96(SB)/8, $0x0d0c0d0c0d0c0d0c
DATA kshuf6<>+104(SB)/8, $0x0d0c0d0c0d0c0d0c
DATA kshuf6<>+112(SB)/8, $0x0f0e0f0e0f0e0f0e
DATA kshuf6<>+120(SB)/8, $0x0f0e0f0e0f0e0f0e
GLOBL kshuf6<>(SB), RODATA|NOPTR, $128
// KSCALES unpacks the eight 6-bit scales and mins of a Q4_K/Q5_K
// super-block at SI into Y2's sixteen words (scales, then mins) and Y7
// (the scales in both lanes). Clobbers AX, BX, DX, R10-R13.
#define KSCALES KSCALESAT(0, X2, Y2, Y7)

// KSCALESAT is KSCALES for the super-block sb bytes past SI, into xw/yw
// (the words) and ys (the scales in both lanes).
#define KSCALESAT(sb, xw, yw, ys) \
	MOVL        (4+sb)(SI), AX         \
	MOVL        (8+sb)(SI), BX         \
	MOVL        (12+sb)(SI), DX        \
	MOVL        AX, R10                \
	ANDL        $0x3f3f3f3f, R10       \
	MOVL        DX, R11                \
	ANDL        $0x0f0f0f0f, R11       \
	SHRL        $6, AX                 \
	ANDL        $0x03030303, AX        \
	SHLL        $4, AX                 \
	ORL         AX, R11                \
	MOVL        BX, R12                \
	ANDL        $0x3f3f3f3f, R12       \
	MOVL        DX, R13                \
	SHRL        $4, R13                \
	ANDL        $0x0f0f0f0f, R13       \
	SHRL        $6, BX                 \
	ANDL        $0x03030303, BX        \
	SHLL        $4, BX                 \
	ORL         BX, R13                \
	SHLQ        $32, R11               \
	ORQ         R10, R11               \
	SHLQ        $32, R13               \
	ORQ         R12, R13               \
	VMOVQ       R11, xw                \
	VPINSRQ     $1, R13, xw, xw        \
	VPMOVZXBW   xw, yw                 \
	VPERMQ      $0x44, yw, ys

// KMINS subtracts dmin·scale·Σ m_j·(Σx of sub-block j) from X1: the
// activations' sums per 16 at R9 added in pairs, times the mins in Y2's
// high lane; dmin is the float16 at SI+2 and the activations' scale at R8.
#define KMINS KMINSAT(0, 0, 0, Y2)

// KMINSAT is KMINS for the super-block sb bytes past SI, its sums s16
// bytes past R9, its scale sc past R8 and its mins in yw's high lane.
#define KMINSAT(sb, s16, sc, yw) \
	VMOVDQU      s16(R9), Y3   \
	VEXTRACTI128 $1, Y3, X4    \
	VPHADDW      X4, X3, X3    \
	VEXTRACTI128 $1, yw, X4    \
	VPMADDWD     X3, X4, X4    \
	VCVTDQ2PS    X4, X4        \
	VPBROADCASTW (2+sb)(SI), X5 \
	VCVTPH2PS    X5, X5         \
	VBROADCASTSS sc(R8), X6    \
	VMULPS       X6, X5, X5    \
	VFNMADD231PS X5, X4, X1

// KFINISH adds d·scale·Y13 (the super-block's integer sums) to Y0; d is the
// float16 at SI+doff, the activations' scale at R8.
#define KFINISH(doff) KFINISHAT(doff, 0, Y13)

// KFINISHAT is KFINISH with the integer sums in acc and the scale sc past
// R8.
#define KFINISHAT(doff, sc, acc) \
	VCVTDQ2PS    acc, acc      \
	VPBROADCASTW doff(SI), X5  \
	VCVTPH2PS    X5, Y5        \
	VBROADCASTSS sc(R8), Y6    \
	VMULPS       Y6, Y5, Y5    \
	VFMADD231PS  Y5, acc, Y0

// Q4CHUNK adds to Y13 the 64 products of the 32 code bytes at SI+off
// (low nibbles: sub-block 2j, high: 2j+1) with the activations at DI+64·j,
// each sub-block's sums times its scale.
#define Q4CHUNK(off, j) Q4CHUNKAT(off, j, 0, Y7, Y13)

// Q4CHUNKAT is Q4CHUNK with the activations aoff bytes further, the
// scales in ys and the sums in acc.
#define Q4CHUNKAT(off, j, aoff, ys, acc) \
	VMOVDQU     off(SI), Y9             \
	VPSRLW      $4, Y9, Y10             \
	VPAND       Y15, Y9, Y9             \
	VPAND       Y15, Y10, Y10           \
	VPMADDUBSW  (aoff+64*j)(DI), Y9, Y9      \
	VPMADDUBSW  (aoff+64*j+32)(DI), Y10, Y10 \
	VPSHUFB     kshuf4<>+(64*j)(SB), ys, Y11    \
	VPSHUFB     kshuf4<>+(64*j+32)(SB), ys, Y12 \
	VPMADDWD    Y11, Y9, Y9             \
	VPMADDWD    Y12, Y10, Y10           \
	VPADDD      Y9, acc, acc            \
	VPADDD      Y10, acc, acc

// Q5HIGH ors bit b of each byte of Y14 (the fifth bits), as 16, into reg.
#define Q5HIGH(b, reg) \
	VPSRLW      $b, Y14, Y11  \
	VPAND       Y8, Y11, Y11  \
	VPSLLW      $4, Y11, Y11  \
	VPOR        Y11, reg, reg

// Q5CHUNK is Q4CHUNK with the fifth bits 2j and 2j+1 of the bytes in Y14.
#define Q5CHUNK(off, j) \
	VMOVDQU     off(SI), Y9             \
	VPSRLW      $4, Y9, Y10             \
	VPAND       Y15, Y9, Y9             \
	VPAND       Y15, Y10, Y10           \
	Q5HIGH((2*j), Y9)                   \
	Q5HIGH((2*j+1), Y10)                \
	VPMADDUBSW  (64*j)(DI), Y9, Y9      \
	VPMADDUBSW  (64*j+32)(DI), Y10, Y10 \
	VPSHUFB     kshuf4<>+(64*j)(SB), Y7, Y11    \
	VPSHUFB     kshuf4<>+(64*j+32)(SB), Y7, Y12 \
	VPMADDWD    Y11, Y9, Y9             \
	VPMADDWD    Y12, Y10, Y10           \
	VPADDD      Y9, Y13, Y13            \
	VPADDD      Y10, Y13, Y13

// KX4ARGS loads the four-vector kernels' arguments (row SI, acts DI, nsb
// CX, acc R9), sets Y15 to the nibble mask, and zeroes acc's 64 floats and
// the super-block index R8.
#define KX4ARGS \
	MOVQ         row+0(FP), SI      \
	MOVQ         acts+8(FP), DI     \
	MOVQ         nsb+16(FP), CX     \
	MOVQ         acc+24(FP), R9     \
	MOVL         $0x0f0f0f0f, AX    \
	VMOVD        AX, X15            \
	VPBROADCASTD X15, Y15           \
	VXORPS       Y0, Y0, Y0         \
	VMOVUPS      Y0, (R9)           \
	VMOVUPS      Y0, 32(R9)         \
	VMOVUPS      Y0, 64(R9)         \
	VMOVUPS      Y0, 96(R9)         \
	VMOVUPS      Y0, 128(R9)        \
	VMOVUPS      Y0, 160(R9)        \
	VMOVUPS      Y0, 192(R9)        \
	VMOVUPS      Y0, 224(R9)        \
	XORQ         R8, R8

// KMINSI leaves in dst Σ m_j·(Σx of sub-block j) in four int32 lanes, for
// the activations' sums per 16 s16 bytes past R9 added in pairs and the
// mins in yw's high lane (clobbers Y5, X6).
#define KMINSI(s16, yw, dst) \
	VMOVDQU      s16(R9), Y5   \
	VEXTRACTI128 $1, Y5, X6    \
	VPHADDW      X6, X5, X5    \
	VEXTRACTI128 $1, yw, X6    \
	VPMADDWD     X5, X6, dst

// KROWSTEP adds to X0 a super-block's product from its integer sums in
// lanes 0 and 1 of sums (codes·scales, mins·Σx) and its d·scale, dmin·scale
// in lanes 0 and 1 of ds: X0 + d·scale·sums0 − dmin·scale·sums1, two FMAs
// in that order, the float step of every Q4_K kernel (clobbers X6, X9).
#define KROWSTEP(ds, sums) \
	VFMADD231SS  ds, sums, X0    \
	VMOVSHDUP    ds, X6          \
	VMOVSHDUP    sums, X9        \
	VFNMADD231SS X6, X9, X0

// func dotQ4KAVX2(row *byte, q *int8, scale *float32, sum *int16, nsb int) float32
//
// Each super-block's two integer sums (codes times scales, mins times the
// activations' sums) are exact; they are converted and added to the
// result with two FMAs, super-block by super-block (KROWSTEP), as the
// eight-row kernels add them in each row's lane. Two super-blocks a step,
// their instructions interleaved so that both are in flight at once.
TEXT ·dotQ4KAVX2(SB), NOSPLIT, $0-44
	MOVQ         row+0(FP), SI
	MOVQ         q+8(FP), DI
	MOVQ         scale+16(FP), R8
	MOVQ         sum+24(FP), R9
	MOVQ         nsb+32(FP), CX
	MOVL         $0x0f0f0f0f, AX
	VMOVD        AX, X15
	VPBROADCASTD X15, Y15
	VXORPS       X0, X0, X0
	CMPQ         CX, $2
	JLT          q4k_one

q4k_pair:
	PREFETCHT0 PFDIST(SI)
	PREFETCHT0 (PFDIST+64)(SI)
	PREFETCHT0 (PFDIST+128)(SI)
	PREFETCHT0 (PFDIST+192)(SI)
	PREFETCHT0 (PFDIST+256)(SI)
	KSCALESAT(0, X2, Y2, Y7)
	KSCALESAT(144, X8, Y8, Y14)
	KMINSI(0, Y2, X1)
	KMINSI(32, Y8, X3)
	VPXOR      Y13, Y13, Y13
	VPXOR      Y4, Y4, Y4
	Q4CHUNKAT(16, 0, 0, Y7, Y13)
	Q4CHUNKAT(160, 0, 256, Y14, Y4)
	Q4CHUNKAT(48, 1, 0, Y7, Y13)
	Q4CHUNKAT(192, 1, 256, Y14, Y4)
	Q4CHUNKAT(80, 2, 0, Y7, Y13)
	Q4CHUNKAT(224, 2, 256, Y14, Y4)
	Q4CHUNKAT(112, 3, 0, Y7, Y13)
	Q4CHUNKAT(256, 3, 256, Y14, Y4)
	// [a, ma, b, mb]: each super-block's two sums, exact.
	VEXTRACTI128 $1, Y13, X5
	VPADDD       X5, X13, X13
	VEXTRACTI128 $1, Y4, X5
	VPADDD       X5, X4, X4
	VPHADDD      X1, X13, X13
	VPHADDD      X3, X4, X4
	VPHADDD      X4, X13, X13
	VCVTDQ2PS    X13, X13
	// [d, dmin] of each times its activations' scale.
	VMOVD        (SI), X5
	VPINSRD      $1, 144(SI), X5, X5
	VCVTPH2PS    X5, X5
	VMOVQ        (R8), X6
	VUNPCKLPS    X6, X6, X6
	VMULPS       X6, X5, X5
	KROWSTEP(X5, X13)
	VMOVHLPS     X5, X5, X5
	VMOVHLPS     X13, X13, X13
	KROWSTEP(X5, X13)
	ADDQ       $288, SI
	ADDQ       $512, DI
	ADDQ       $8, R8
	ADDQ       $64, R9
	SUBQ       $2, CX
	CMPQ       CX, $2
	JGE        q4k_pair

q4k_one:
	TESTQ      CX, CX
	JZ         q4k_done
	KSCALES
	KMINSI(0, Y2, X1)
	VPXOR      Y13, Y13, Y13
	Q4CHUNK(16, 0)
	Q4CHUNK(48, 1)
	Q4CHUNK(80, 2)
	Q4CHUNK(112, 3)
	VEXTRACTI128 $1, Y13, X5
	VPADDD       X5, X13, X13
	VPHADDD      X1, X13, X13
	VPHADDD      X13, X13, X13
	VCVTDQ2PS    X13, X13
	VMOVD        (SI), X5
	VCVTPH2PS    X5, X5
	VBROADCASTSS (R8), X6
	VMULPS       X6, X5, X5
	KROWSTEP(X5, X13)

q4k_done:
	VZEROUPPER
	MOVSS  X0, ret+40(FP)
	RET

// func dotQ5KAVX2(row *byte, q *int8, scale *float32, sum *int16, nsb int) float32
TEXT ·dotQ5KAVX2(SB), NOSPLIT, $0-44
	MOVQ         row+0(FP), SI
	MOVQ         q+8(FP), DI
	MOVQ         scale+16(FP), R8
	MOVQ         sum+24(FP), R9
	MOVQ         nsb+32(FP), CX
	MOVL         $0x0f0f0f0f, AX
	VMOVD        AX, X15
	VPBROADCASTD X15, Y15
	MOVL         $0x01010101, AX
	VMOVD        AX, X8
	VPBROADCASTD X8, Y8
	VXORPS       Y0, Y0, Y0
	VXORPS       Y1, Y1, Y1
	TESTQ        CX, CX
	JZ           q5k_done

q5k_loop:
	PREFETCHT0 PFDIST(SI)
	PREFETCHT0 (PFDIST+64)(SI)
	PREFETCHT0 (PFDIST+128)(SI)
	KSCALES
	KMINS
	VMOVDQU    16(SI), Y14
	VPXOR      Y13, Y13, Y13
	Q5CHUNK(48, 0)
	Q5CHUNK(80, 1)
	Q5CHUNK(112, 2)
	Q5CHUNK(144, 3)
	KFINISH(0)
	ADDQ       $176, SI
	ADDQ       $256, DI
	ADDQ       $4, R8
	ADDQ       $32, R9
	DECQ       CX
	JNZ        q5k_loop

q5k_done:
	VADDPS Y1, Y0, Y0
	HSUMY0
	VZEROUPPER
	MOVSS  X0, ret+40(FP)
	RET

// Q6QUARTER adds to Y13 the 32 products of quarter k of half n: codes
// (nibbles of reg, already masked) with the high bits 2k of Y14 as 16 and
// 32, times the activations at DI+32·k, each 16 times its scale (Y7 words,
// picked by kshuf6 + 32·k).
#define Q6QUARTER(reg, k) \
	VPSRLW      $(2*k), Y14, Y11            \
	VPAND       Y8, Y11, Y11                \
	VPSLLW      $4, Y11, Y11                \
	VPOR        Y11, reg, reg               \
	VPMADDUBSW  (32*k)(DI), reg, reg        \
	VPSHUFB     kshuf6<>+(32*k)(SB), Y7, Y11 \
	VPMADDWD    Y11, reg, reg               \
	VPADDD      reg, Y13, Y13

// Q6HALF adds half n (128 codes) of the Q6_K super-block at SI to Y13.
#define Q6HALF(n) \
	VPBROADCASTQ (192+8*n)(SI), X7 \
	VPMOVSXBW    X7, Y7            \
	VMOVDQU      (128+32*n)(SI), Y14 \
	VMOVDQU      (64*n)(SI), Y9    \
	VMOVDQU      (64*n+32)(SI), Y10 \
	VPSRLW       $4, Y9, Y3        \
	VPSRLW       $4, Y10, Y4       \
	VPAND        Y15, Y9, Y9       \
	VPAND        Y15, Y10, Y10     \
	VPAND        Y15, Y3, Y3       \
	VPAND        Y15, Y4, Y4       \
	Q6QUARTER(Y9, 0)               \
	Q6QUARTER(Y10, 1)              \
	Q6QUARTER(Y3, 2)               \
	Q6QUARTER(Y4, 3)               \
	ADDQ         $128, DI

// func dotQ6KAVX2(row *byte, q *int8, scale *float32, sum *int16, nsb int) float32
//
// The codes are stored +32: Σ sc·(code−32)·x = Σ sc·code·x − 32·Σ sc·Σx,
// the second sum from the activations' sums per 16. Each super-block's sum
// is exact; it is added to the result with one FMA (d·scale), super-block
// by super-block, as the eight-row kernels add it in each row's lane.
TEXT ·dotQ6KAVX2(SB), NOSPLIT, $0-44
	MOVQ         row+0(FP), SI
	MOVQ         q+8(FP), DI
	MOVQ         scale+16(FP), R8
	MOVQ         sum+24(FP), R9
	MOVQ         nsb+32(FP), CX
	MOVL         $0x0f0f0f0f, AX
	VMOVD        AX, X15
	VPBROADCASTD X15, Y15
	MOVL         $0x03030303, AX
	VMOVD        AX, X8
	VPBROADCASTD X8, Y8
	VXORPS       Y0, Y0, Y0
	TESTQ        CX, CX
	JZ           q6k_done

q6k_loop:
	PREFETCHT0   PFDIST(SI)
	PREFETCHT0   (PFDIST+64)(SI)
	PREFETCHT0   (PFDIST+128)(SI)
	PREFETCHT0   (PFDIST+192)(SI)
	VPMOVSXBW    192(SI), Y2
	VPMADDWD     (R9), Y2, Y13
	VPSLLD       $5, Y13, Y13
	VPXOR        Y12, Y12, Y12
	VPSUBD       Y13, Y12, Y13
	Q6HALF(0)
	Q6HALF(1)
	// The super-block's exact sum, then one FMA with d·scale.
	VEXTRACTI128 $1, Y13, X5
	VPADDD       X5, X13, X13
	VPSHUFD      $0x4e, X13, X5
	VPADDD       X5, X13, X13
	VPSHUFD      $0xb1, X13, X5
	VPADDD       X5, X13, X13
	VCVTDQ2PS    X13, X13
	VPBROADCASTW 208(SI), X5
	VCVTPH2PS    X5, X5
	VMULSS       (R8), X5, X5
	VFMADD231SS  X5, X13, X0
	ADDQ         $210, SI
	ADDQ         $4, R8
	ADDQ         $32, R9
	DECQ         CX
	JNZ          q6k_loop

q6k_done:
	VZEROUPPER
	MOVSS  X0, ret+40(FP)
	RET

// Q4CHUNKV adds to acc the products of the vector whose super-block's
// codes are at ptr (see KX4CODES) with the chunk unpacked in Y9 and Y10
// (scales shuffled in Y11 and Y12), as Q4CHUNK does (clobbers Y4, Y13).
#define Q4CHUNKV(j, ptr, acc) \
	VPMADDUBSW (64*j)(ptr), Y9, Y13            \
	VPMADDUBSW (64*j+32)(ptr), Y10, Y4         \
	VPMADDWD   Y11, Y13, Y13                   \
	VPMADDWD   Y12, Y4, Y4                     \
	VPADDD     Y13, acc, acc                   \
	VPADDD     Y4, acc, acc

// KSUMV stores vector v's dot product at 4·v(DX) from its accumulators
// (the mins' added first), as dotQ5KAVX2 sums its own.
#define KSUMV(v) \
	VMOVUPS (64*v)(R9), Y0    \
	VMOVUPS (64*v+32)(R9), Y1 \
	VADDPS  Y1, Y0, Y0        \
	HSUMY0                    \
	VMOVSS  X0, (4*v)(DX)

// KMINSPREP readies KMINS2: the mins in Y2's high lane as words arranged
// [m0..m3 m0..m3 | m4..m7 m4..m7] in Y4, dmin (the float16 at SI+2) in
// every lane of dmin.
#define KMINSPREP(dmin, xdmin) \
	VPERMQ       $0xfa, Y2, Y4 \
	VPBROADCASTW 2(SI), xdmin  \
	VCVTPH2PS    xdmin, dmin

// KMINS2 subtracts from acc, a register, dmin·scale·Σ m_j·(Σx of sub-block
// j) for vectors va and vb of a four-vector kernel (their pointers in the
// table at DI, the super-block's offsets in R10 and R11) as KMINS does for
// one: the activations' sums per 16 added in pairs, times the mins (Y4,
// see KMINSPREP), in lanes va's 0, 1, then vb's 0, 1 | va's 2, 3, then
// vb's 2, 3, each lane computed with KMINS's integer and float
// operations (clobbers AX, BX, Y3, Y12, t).
#define KMINS2(va, vb, acc, dmin, t) \
	MOVQ         (24*va+16)(DI), BX  \
	VMOVDQU      (BX)(R11*1), Y3     \
	MOVQ         (24*vb+16)(DI), BX  \
	VPHADDW      (BX)(R11*1), Y3, Y3 \
	VPMADDWD     Y4, Y3, Y3          \
	VCVTDQ2PS    Y3, Y3              \
	MOVQ         (24*va+8)(DI), AX   \
	VBROADCASTSS (AX)(R10*1), t      \
	MOVQ         (24*vb+8)(DI), AX   \
	VBROADCASTSS (AX)(R10*1), Y12    \
	VSHUFPS      $0x44, Y12, t, t    \
	VMULPS       t, dmin, t          \
	VFNMADD231PS t, Y3, acc

// KMINSOUT stores the pair accumulator acc of KMINS2 as the two vectors'
// mins accumulators (the lanes of dotQ4KAVX2's X1), at off(R9) and
// off+64(R9).
#define KMINSOUT(acc, half, off) \
	VPERMQ       $0xd8, acc, acc \
	VMOVUPS      half, off(R9)   \
	VEXTRACTF128 $1, acc, half   \
	VMOVUPS      half, (off+64)(R9)

// KFINISHDV is KFINISH for vector v of a four-vector kernel, the integer
// sums in acc, the row's d in every lane of Y9 (clobbers AX, Y12, p, b).
#define KFINISHDV(v, acc, p, b) \
	VCVTDQ2PS    acc, acc          \
	MOVQ         (24*v+8)(DI), AX  \
	VBROADCASTSS (AX)(R10*1), b    \
	VMULPS       b, Y9, p          \
	VMOVUPS      (64*v)(R9), Y12   \
	VFMADD231PS  p, acc, Y12       \
	VMOVUPS      Y12, (64*v)(R9)

// KX4FINISHD is KFINISHDV for the four vectors, the row's d the float16
// at SI+doff (clobbers Y9).
#define KX4FINISHD(doff, p, b) \
	VPBROADCASTW doff(SI), X9  \
	VCVTPH2PS    X9, Y9        \
	KFINISHDV(0, Y0, p, b)     \
	KFINISHDV(1, Y1, p, b)     \
	KFINISHDV(2, Y2, p, b)     \
	KFINISHDV(3, Y3, p, b)

// KX4OFFSETS sets the offsets of super-block R8 in each vector's scales
// (R10), sums (R11) and codes (R12).
#define KX4OFFSETS \
	MOVQ R8, R10 \
	SHLQ $2, R10 \
	MOVQ R8, R11 \
	SHLQ $5, R11 \
	MOVQ R8, R12 \
	SHLQ $8, R12

// KX4CODES points AX, BX, DX and R13 at the four vectors' codes of
// super-block R8 (their offset in R12).
#define KX4CODES \
	MOVQ (DI), AX    \
	ADDQ R12, AX     \
	MOVQ 24(DI), BX  \
	ADDQ R12, BX     \
	MOVQ 48(DI), DX  \
	ADDQ R12, DX     \
	MOVQ 72(DI), R13 \
	ADDQ R12, R13

// KX4ZERO clears the four vectors' integer sums, Y0-Y3.
#define KX4ZERO \
	VPXOR Y0, Y0, Y0 \
	VPXOR Y1, Y1, Y1 \
	VPXOR Y2, Y2, Y2 \
	VPXOR Y3, Y3, Y3

// KX4SUMS stores the four vectors' products at out (DX) with sum (KSUMV).
#define KX4SUMS(sum) \
	sum(0) \
	sum(1) \
	sum(2) \
	sum(3)

// BYTES8 sets every 32-bit lane of Y8 to c (clobbers AX).
#define BYTES8(c) \
	MOVL         $c, AX  \
	VMOVD        AX, X8  \
	VPBROADCASTD X8, Y8

// KX4NEXT moves to the next super-block (bytes past SI) and loops to
// label while one is left.
#define KX4NEXT(bytes, label) \
	ADDQ $bytes, SI \
	INCQ R8         \
	DECQ CX         \
	JNZ  label

// Q5CHUNK4 is Q5CHUNK for the four vectors of q5KX4AVX2.
#define Q5CHUNK4(off, j) \
	VMOVDQU off(SI), Y9                             \
	VPSRLW  $4, Y9, Y10                             \
	VPAND   Y15, Y9, Y9                             \
	VPAND   Y15, Y10, Y10                           \
	Q5HIGH((2*j), Y9)                               \
	Q5HIGH((2*j+1), Y10)                            \
	VPSHUFB kshuf4<>+(64*j)(SB), Y7, Y11            \
	VPSHUFB kshuf4<>+(64*j+32)(SB), Y7, Y12         \
	Q4CHUNKV(j, AX, Y0)                             \
	Q4CHUNKV(j, BX, Y1)                             \
	Q4CHUNKV(j, DX, Y2)                             \
	Q4CHUNKV(j, R13, Y3)

// func q5KX4AVX2(row *byte, acts *[12]uintptr, nsb int, acc *[64]float32, out *[4]float32)
//
// One Q5_K row of nsb super-blocks times four activation vectors, whose
// codes, scales and sums are at acts[3v], acts[3v+1] and acts[3v+2]: the
// row's codes are unpacked and its scales decoded once for the four.
// out[v] has the bits dotQ5KAVX2 gives for vector v; acc holds each
// vector's float accumulators meanwhile.
TEXT ·q5KX4AVX2(SB), NOSPLIT, $0-40
	KX4ARGS
	BYTES8(0x01010101)
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	TESTQ CX, CX
	JZ    q5kx_sum

q5kx_loop:
	PREFETCHT0 PFDIST(SI)
	PREFETCHT0 (PFDIST+64)(SI)
	PREFETCHT0 (PFDIST+128)(SI)
	KSCALES
	KX4OFFSETS
	KMINSPREP(Y9, X9)
	KMINS2(0, 1, Y5, Y9, Y10)
	KMINS2(2, 3, Y6, Y9, Y10)
	KX4CODES
	VMOVDQU    16(SI), Y14
	KX4ZERO
	Q5CHUNK4(48, 0)
	Q5CHUNK4(80, 1)
	Q5CHUNK4(112, 2)
	Q5CHUNK4(144, 3)
	KX4FINISHD(0, Y10, Y11)
	KX4NEXT(176, q5kx_loop)

q5kx_sum:
	KMINSOUT(Y5, X5, 32)
	KMINSOUT(Y6, X6, 160)
	MOVQ out+32(FP), DX
	KX4SUMS(KSUMV)
	VZEROUPPER
	RET
