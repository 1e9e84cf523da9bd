#include "textflag.h"
#include "simd_amd64.h"

// AVX-512 float kernels: attention's scores four keys at a time
// (dotQuadsAVX512, at the end), and the register tiles of packed F16 groups
// (see packF16Group): eight rows by two to six vectors, four zmm
// accumulators a vector. A zmm holds
// two rows' chunk of eight columns (one VCVTPH2PS of 32 packed bytes) and
// is multiplied by the vector's chunk broadcast to both halves, so each
// half is one row's eight-lane accumulator, added to in the order the AVX2
// kernels add to theirs and summed in the pairs HSUMR sums: the same bits.

// F16X8ARGS loads the arguments: the group SI, the vectors' pointers from
// AX, the chunks CX, the output DX and its stride R14 in bytes; BX, the
// vectors' offset, starts at 0.
#define F16X8ARGS \
	MOVQ group+0(FP), SI \
	MOVQ b+8(FP), AX     \
	MOVQ n+16(FP), CX    \
	MOVQ dst+24(FP), DX  \
	MOVQ ld+32(FP), R14  \
	SHLQ $2, R14         \
	SHRQ $3, CX          \
	XORQ BX, BX

// HSUMZ stores the sums of the two halves of accumulator z (rows 2p and
// 2p+1) at 8p(DX) and 8p+4(DX), each half summed as HSUMR sums eight
// lanes: lane i plus lane i+4, then those 0 and 2 plus 1 and 3, then the
// two (clobbers Z24, Z25).
#define HSUMZ(z, p) \
	VSHUFF32X4    $0xb1, z, z, Z24 \
	VADDPS        Z24, z, Z24      \
	VPERMILPS     $0x4e, Z24, Z25  \
	VADDPS        Z25, Z24, Z24    \
	VPERMILPS     $0xb1, Z24, Z25  \
	VADDPS        Z25, Z24, Z24    \
	VMOVSS        X24, (8*(p))(DX) \
	VEXTRACTF32X4 $2, Z24, X25     \
	VMOVSS        X25, (8*(p)+4)(DX)

// F16X8VEC adds the four row pairs (Z24-Z27) times a vector's chunk, at BX
// past its pointer p, to its accumulators a0-a3 (clobbers b); F16X8SUM
// stores their sums at DX, and moves DX to the next vector's row.
#define F16X8VEC(p, b, a0, a1, a2, a3) \
	VBROADCASTF64X4 (p)(BX*1), b \
	VFMADD231PS     b, Z24, a0   \
	VFMADD231PS     b, Z25, a1   \
	VFMADD231PS     b, Z26, a2   \
	VFMADD231PS     b, Z27, a3

#define F16X8SUM(a0, a1, a2, a3) \
	HSUMZ(a0, 0) \
	HSUMZ(a1, 1) \
	HSUMZ(a2, 2) \
	HSUMZ(a3, 3) \
	ADDQ R14, DX

// F16X8PTRSk loads the first k vectors' pointers (R8-R13), F16X8ZEROk
// clears their accumulators, F16X8VECSk adds a chunk's products to them
// and F16X8SUMSk stores their sums.
#define F16X8PTRS1 \
	MOVQ 0(AX), R8
#define F16X8PTRS2 \
	F16X8PTRS1 \
	MOVQ 8(AX), R9
#define F16X8PTRS3 \
	F16X8PTRS2 \
	MOVQ 16(AX), R10
#define F16X8PTRS4 \
	F16X8PTRS3 \
	MOVQ 24(AX), R11
#define F16X8PTRS5 \
	F16X8PTRS4 \
	MOVQ 32(AX), R12
#define F16X8PTRS6 \
	F16X8PTRS5 \
	MOVQ 40(AX), R13
#define F16X8ZERO1 \
	VPXORD Z0, Z0, Z0 \
	VPXORD Z1, Z1, Z1 \
	VPXORD Z2, Z2, Z2 \
	VPXORD Z3, Z3, Z3
#define F16X8ZERO2 \
	F16X8ZERO1 \
	VPXORD Z4, Z4, Z4 \
	VPXORD Z5, Z5, Z5 \
	VPXORD Z6, Z6, Z6 \
	VPXORD Z7, Z7, Z7
#define F16X8ZERO3 \
	F16X8ZERO2 \
	VPXORD Z8, Z8, Z8 \
	VPXORD Z9, Z9, Z9 \
	VPXORD Z10, Z10, Z10 \
	VPXORD Z11, Z11, Z11
#define F16X8ZERO4 \
	F16X8ZERO3 \
	VPXORD Z12, Z12, Z12 \
	VPXORD Z13, Z13, Z13 \
	VPXORD Z14, Z14, Z14 \
	VPXORD Z15, Z15, Z15
#define F16X8ZERO5 \
	F16X8ZERO4 \
	VPXORD Z16, Z16, Z16 \
	VPXORD Z17, Z17, Z17 \
	VPXORD Z18, Z18, Z18 \
	VPXORD Z19, Z19, Z19
#define F16X8ZERO6 \
	F16X8ZERO5 \
	VPXORD Z20, Z20, Z20 \
	VPXORD Z21, Z21, Z21 \
	VPXORD Z22, Z22, Z22 \
	VPXORD Z23, Z23, Z23
#define F16X8VECS1 \
	F16X8VEC(R8, Z28, Z0, Z1, Z2, Z3)
#define F16X8VECS2 \
	F16X8VECS1 \
	F16X8VEC(R9, Z29, Z4, Z5, Z6, Z7)
#define F16X8VECS3 \
	F16X8VECS2 \
	F16X8VEC(R10, Z30, Z8, Z9, Z10, Z11)
#define F16X8VECS4 \
	F16X8VECS3 \
	F16X8VEC(R11, Z31, Z12, Z13, Z14, Z15)
#define F16X8VECS5 \
	F16X8VECS4 \
	F16X8VEC(R12, Z28, Z16, Z17, Z18, Z19)
#define F16X8VECS6 \
	F16X8VECS5 \
	F16X8VEC(R13, Z29, Z20, Z21, Z22, Z23)
#define F16X8SUMS1 \
	F16X8SUM(Z0, Z1, Z2, Z3)
#define F16X8SUMS2 \
	F16X8SUMS1 \
	F16X8SUM(Z4, Z5, Z6, Z7)
#define F16X8SUMS3 \
	F16X8SUMS2 \
	F16X8SUM(Z8, Z9, Z10, Z11)
#define F16X8SUMS4 \
	F16X8SUMS3 \
	F16X8SUM(Z12, Z13, Z14, Z15)
#define F16X8SUMS5 \
	F16X8SUMS4 \
	F16X8SUM(Z16, Z17, Z18, Z19)
#define F16X8SUMS6 \
	F16X8SUMS5 \
	F16X8SUM(Z20, Z21, Z22, Z23)

// F16X8TILE is a kernel's body for k vectors: F16X8TILE(F16X8PTRSk,
// F16X8ZEROk, F16X8VECSk, F16X8SUMSk, …); loop and done are its labels.
#define F16X8TILE(PTRS, ZERO, VECS, SUMS, loop, done) \
	F16X8ARGS                  \
	PTRS                       \
	ZERO                       \
	TESTQ CX, CX               \
	JZ    done                 \
loop:                          \
	VCVTPH2PS (SI), Z24        \
	VCVTPH2PS 32(SI), Z25      \
	VCVTPH2PS 64(SI), Z26      \
	VCVTPH2PS 96(SI), Z27      \
	VECS                       \
	ADDQ      $128, SI         \
	ADDQ      $32, BX          \
	DECQ      CX               \
	JNZ       loop             \
done:                          \
	SUMS                       \
	VZEROUPPER                 \
	RET

// func f16P8XkAVX512(group *uint16, b *[6]*float32, n int, dst *float32, ld int)
//
// For k = 6, 5, 4, 3, 2: a packed F16 group times the first k vectors of b
// over n&^7 elements, dst[v·ld + i] = row i · b[v], with the bits of the
// AVX2 kernels.
TEXT ·f16P8X6AVX512(SB), NOSPLIT, $0-40
	F16X8TILE(F16X8PTRS6, F16X8ZERO6, F16X8VECS6, F16X8SUMS6, f16x6_loop, f16x6_done)
TEXT ·f16P8X5AVX512(SB), NOSPLIT, $0-40
	F16X8TILE(F16X8PTRS5, F16X8ZERO5, F16X8VECS5, F16X8SUMS5, f16x5_loop, f16x5_done)
TEXT ·f16P8X4AVX512(SB), NOSPLIT, $0-40
	F16X8TILE(F16X8PTRS4, F16X8ZERO4, F16X8VECS4, F16X8SUMS4, f16x4_loop, f16x4_done)
TEXT ·f16P8X3AVX512(SB), NOSPLIT, $0-40
	F16X8TILE(F16X8PTRS3, F16X8ZERO3, F16X8VECS3, F16X8SUMS3, f16x3_loop, f16x3_done)
TEXT ·f16P8X2AVX512(SB), NOSPLIT, $0-40
	F16X8TILE(F16X8PTRS2, F16X8ZERO2, F16X8VECS2, F16X8SUMS2, f16x2_loop, f16x2_done)

// DQ4SUB adds a 32-float block of the vector (Y16-Y19) times the block of
// the row at rb to its four partial sums a0-a3.
#define DQ4SUB(rb, a0, a1, a2, a3) \
	VFMADD231PS (rb)(DI*1), Y16, a0   \
	VFMADD231PS 32(rb)(DI*1), Y17, a1 \
	VFMADD231PS 64(rb)(DI*1), Y18, a2 \
	VFMADD231PS 96(rb)(DI*1), Y19, a3

// DQ4PAIRS adds a row's four partial sums pairwise into a0, as dotF32AVX2
// adds its own.
#define DQ4PAIRS(a0, a1, a2, a3) \
	VADDPS a1, a0, a0 \
	VADDPS a3, a2, a2 \
	VADDPS a2, a0, a0

// func dotQuadsAVX512(dst *float32, ld int, x *float32, xs, heads int, rows *float32, stride, quads, n int)
//
// dotQuadsAVX2 with the 32 registers of AVX-512: each vector's block of 32
// floats is read once for the four rows, whose sixteen partial sums stay
// in registers, so the four products are one pass over the columns; the
// same partial sums, so the same bits.
TEXT ·dotQuadsAVX512(SB), NOSPLIT, $0-72
	MOVQ  dst+0(FP), DX
	MOVQ  rows+40(FP), R8
	MOVQ  quads+56(FP), R10
	TESTQ R10, R10
	JZ    dq5_done
	CMPQ  heads+32(FP), $0
	JEQ   dq5_done

dq5_quad:
	MOVQ stride+48(FP), AX
	LEAQ (R8)(AX*1), BX
	LEAQ (R8)(AX*2), CX
	LEAQ (CX)(AX*1), R9
	MOVQ x+16(FP), R12
	MOVQ DX, R14
	MOVQ heads+32(FP), R11

dq5_head:
	ZERO16
	XORQ  DI, DI
	MOVQ  n+64(FP), SI
	SHRQ  $5, SI
	JZ    dq5_8

dq5_32:
	VMOVUPS (R12)(DI*1), Y16
	VMOVUPS 32(R12)(DI*1), Y17
	VMOVUPS 64(R12)(DI*1), Y18
	VMOVUPS 96(R12)(DI*1), Y19
	DQ4SUB(R8, Y0, Y1, Y2, Y3)
	DQ4SUB(BX, Y4, Y5, Y6, Y7)
	DQ4SUB(CX, Y8, Y9, Y10, Y11)
	DQ4SUB(R9, Y12, Y13, Y14, Y15)
	ADDQ    $128, DI
	DECQ    SI
	JNZ     dq5_32

dq5_8:
	MOVQ n+64(FP), SI
	ANDQ $31, SI
	SHRQ $3, SI
	JZ   dq5_sum

dq5_8loop:
	VMOVUPS     (R12)(DI*1), Y16
	VFMADD231PS (R8)(DI*1), Y16, Y0
	VFMADD231PS (BX)(DI*1), Y16, Y4
	VFMADD231PS (CX)(DI*1), Y16, Y8
	VFMADD231PS (R9)(DI*1), Y16, Y12
	ADDQ        $32, DI
	DECQ        SI
	JNZ         dq5_8loop

dq5_sum:
	DQ4PAIRS(Y0, Y1, Y2, Y3)
	DQ4PAIRS(Y4, Y5, Y6, Y7)
	DQ4PAIRS(Y8, Y9, Y10, Y11)
	DQ4PAIRS(Y12, Y13, Y14, Y15)
	HSUMR4(Y0, Y4, Y8, Y12, Y1, Y2, Y3, Y5, X3, X5, (R14))
	MOVQ         ld+8(FP), AX
	LEAQ         (R14)(AX*4), R14
	ADDQ         xs+24(FP), R12
	DECQ         R11
	JNZ          dq5_head
	ADDQ         $16, DX
	MOVQ         stride+48(FP), AX
	LEAQ         (R8)(AX*4), R8
	DECQ         R10
	JNZ          dq5_quad
	VZEROUPPER

dq5_done:
	RET
