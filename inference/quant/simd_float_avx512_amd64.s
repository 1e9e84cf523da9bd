#include "textflag.h"

// The AVX-512 register tiles of packed F16 groups (see packF16Group): eight
// rows by two to six vectors, four zmm accumulators a vector. A zmm holds
// two rows' chunk of eight columns (one VCVTPH2PS of 32 packed bytes) and
// is multiplied by the vector's chunk broadcast to both halves, so each
// half is one row's eight-lane accumulator, added to in the order the AVX2
// kernels add to theirs and summed in the pairs HSUMR sums: the same bits.

// HSUMZ stores the sums of the two halves of accumulator z (rows 2p and
// 2p+1) at 8p(DX) and 8p+4(DX), each half summed as HSUMR sums eight
// lanes: lane i plus lane i+4, then those 0 and 2 plus 1 and 3, then the
// two (clobbers Z24, Z25).
#define HSUMZ(z, p) \
	VSHUFF32X4    $0xb1, z, z, Z24 \
	VADDPS        Z24, z, Z24 \
	VPERMILPS     $0x4e, Z24, Z25 \
	VADDPS        Z25, Z24, Z24 \
	VPERMILPS     $0xb1, Z24, Z25 \
	VADDPS        Z25, Z24, Z24 \
	VMOVSS        X24, (8*(p))(DX) \
	VEXTRACTF32X4 $2, Z24, X25 \
	VMOVSS        X25, (8*(p)+4)(DX)

// F16X8VEC adds the four row pairs (Z24-Z27) times vector v's chunk, at
// BX past its pointer p, to accumulators 4v..4v+3 (clobbers b).
#define F16X8VEC(p, b, a0, a1, a2, a3) \
	VBROADCASTF64X4 (p)(BX*1), b \
	VFMADD231PS     b, Z24, a0 \
	VFMADD231PS     b, Z25, a1 \
	VFMADD231PS     b, Z26, a2 \
	VFMADD231PS     b, Z27, a3

// func f16P8X6AVX512(group *uint16, b *[6]*float32, n int, dst *float32, ld int)
//
// A packed F16 group times the six vectors of b over n&^7 elements:
// dst[v·ld + i] = row i · b[v], with the bits of the AVX2 kernels.
TEXT ·f16P8X6AVX512(SB), NOSPLIT, $0-40
	MOVQ group+0(FP), SI
	MOVQ b+8(FP), AX
	MOVQ 0(AX), R8
	MOVQ 8(AX), R9
	MOVQ 16(AX), R10
	MOVQ 24(AX), R11
	MOVQ 32(AX), R12
	MOVQ 40(AX), R13
	MOVQ n+16(FP), CX
	MOVQ dst+24(FP), DX
	MOVQ ld+32(FP), R14
	SHLQ $2, R14
	SHRQ $3, CX
	XORQ BX, BX
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	VPXORD Z8, Z8, Z8
	VPXORD Z9, Z9, Z9
	VPXORD Z10, Z10, Z10
	VPXORD Z11, Z11, Z11
	VPXORD Z12, Z12, Z12
	VPXORD Z13, Z13, Z13
	VPXORD Z14, Z14, Z14
	VPXORD Z15, Z15, Z15
	VPXORD Z16, Z16, Z16
	VPXORD Z17, Z17, Z17
	VPXORD Z18, Z18, Z18
	VPXORD Z19, Z19, Z19
	VPXORD Z20, Z20, Z20
	VPXORD Z21, Z21, Z21
	VPXORD Z22, Z22, Z22
	VPXORD Z23, Z23, Z23
	TESTQ CX, CX
	JZ    f16x6_done

f16x6_loop:
	VCVTPH2PS (0)(SI), Z24
	VCVTPH2PS (32)(SI), Z25
	VCVTPH2PS (64)(SI), Z26
	VCVTPH2PS (96)(SI), Z27
	F16X8VEC(R8, Z28, Z0, Z1, Z2, Z3)
	F16X8VEC(R9, Z29, Z4, Z5, Z6, Z7)
	F16X8VEC(R10, Z30, Z8, Z9, Z10, Z11)
	F16X8VEC(R11, Z31, Z12, Z13, Z14, Z15)
	F16X8VEC(R12, Z28, Z16, Z17, Z18, Z19)
	F16X8VEC(R13, Z29, Z20, Z21, Z22, Z23)
	ADDQ $128, SI
	ADDQ $32, BX
	DECQ CX
	JNZ  f16x6_loop

f16x6_done:
	HSUMZ(Z0, 0)
	HSUMZ(Z1, 1)
	HSUMZ(Z2, 2)
	HSUMZ(Z3, 3)
	ADDQ R14, DX
	HSUMZ(Z4, 0)
	HSUMZ(Z5, 1)
	HSUMZ(Z6, 2)
	HSUMZ(Z7, 3)
	ADDQ R14, DX
	HSUMZ(Z8, 0)
	HSUMZ(Z9, 1)
	HSUMZ(Z10, 2)
	HSUMZ(Z11, 3)
	ADDQ R14, DX
	HSUMZ(Z12, 0)
	HSUMZ(Z13, 1)
	HSUMZ(Z14, 2)
	HSUMZ(Z15, 3)
	ADDQ R14, DX
	HSUMZ(Z16, 0)
	HSUMZ(Z17, 1)
	HSUMZ(Z18, 2)
	HSUMZ(Z19, 3)
	ADDQ R14, DX
	HSUMZ(Z20, 0)
	HSUMZ(Z21, 1)
	HSUMZ(Z22, 2)
	HSUMZ(Z23, 3)
	VZEROUPPER
	RET

// func f16P8X5AVX512(group *uint16, b *[6]*float32, n int, dst *float32, ld int)
//
// A packed F16 group times the first five vectors of b over n&^7 elements:
// dst[v·ld + i] = row i · b[v], with the bits of the AVX2 kernels.
TEXT ·f16P8X5AVX512(SB), NOSPLIT, $0-40
	MOVQ group+0(FP), SI
	MOVQ b+8(FP), AX
	MOVQ 0(AX), R8
	MOVQ 8(AX), R9
	MOVQ 16(AX), R10
	MOVQ 24(AX), R11
	MOVQ 32(AX), R12
	MOVQ n+16(FP), CX
	MOVQ dst+24(FP), DX
	MOVQ ld+32(FP), R14
	SHLQ $2, R14
	SHRQ $3, CX
	XORQ BX, BX
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	VPXORD Z8, Z8, Z8
	VPXORD Z9, Z9, Z9
	VPXORD Z10, Z10, Z10
	VPXORD Z11, Z11, Z11
	VPXORD Z12, Z12, Z12
	VPXORD Z13, Z13, Z13
	VPXORD Z14, Z14, Z14
	VPXORD Z15, Z15, Z15
	VPXORD Z16, Z16, Z16
	VPXORD Z17, Z17, Z17
	VPXORD Z18, Z18, Z18
	VPXORD Z19, Z19, Z19
	TESTQ CX, CX
	JZ    f16x5_done

f16x5_loop:
	VCVTPH2PS (0)(SI), Z24
	VCVTPH2PS (32)(SI), Z25
	VCVTPH2PS (64)(SI), Z26
	VCVTPH2PS (96)(SI), Z27
	F16X8VEC(R8, Z28, Z0, Z1, Z2, Z3)
	F16X8VEC(R9, Z29, Z4, Z5, Z6, Z7)
	F16X8VEC(R10, Z30, Z8, Z9, Z10, Z11)
	F16X8VEC(R11, Z31, Z12, Z13, Z14, Z15)
	F16X8VEC(R12, Z28, Z16, Z17, Z18, Z19)
	ADDQ $128, SI
	ADDQ $32, BX
	DECQ CX
	JNZ  f16x5_loop

f16x5_done:
	HSUMZ(Z0, 0)
	HSUMZ(Z1, 1)
	HSUMZ(Z2, 2)
	HSUMZ(Z3, 3)
	ADDQ R14, DX
	HSUMZ(Z4, 0)
	HSUMZ(Z5, 1)
	HSUMZ(Z6, 2)
	HSUMZ(Z7, 3)
	ADDQ R14, DX
	HSUMZ(Z8, 0)
	HSUMZ(Z9, 1)
	HSUMZ(Z10, 2)
	HSUMZ(Z11, 3)
	ADDQ R14, DX
	HSUMZ(Z12, 0)
	HSUMZ(Z13, 1)
	HSUMZ(Z14, 2)
	HSUMZ(Z15, 3)
	ADDQ R14, DX
	HSUMZ(Z16, 0)
	HSUMZ(Z17, 1)
	HSUMZ(Z18, 2)
	HSUMZ(Z19, 3)
	VZEROUPPER
	RET

// func f16P8X4AVX512(group *uint16, b *[6]*float32, n int, dst *float32, ld int)
//
// A packed F16 group times the first four vectors of b over n&^7 elements:
// dst[v·ld + i] = row i · b[v], with the bits of the AVX2 kernels.
TEXT ·f16P8X4AVX512(SB), NOSPLIT, $0-40
	MOVQ group+0(FP), SI
	MOVQ b+8(FP), AX
	MOVQ 0(AX), R8
	MOVQ 8(AX), R9
	MOVQ 16(AX), R10
	MOVQ 24(AX), R11
	MOVQ n+16(FP), CX
	MOVQ dst+24(FP), DX
	MOVQ ld+32(FP), R14
	SHLQ $2, R14
	SHRQ $3, CX
	XORQ BX, BX
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	VPXORD Z8, Z8, Z8
	VPXORD Z9, Z9, Z9
	VPXORD Z10, Z10, Z10
	VPXORD Z11, Z11, Z11
	VPXORD Z12, Z12, Z12
	VPXORD Z13, Z13, Z13
	VPXORD Z14, Z14, Z14
	VPXORD Z15, Z15, Z15
	TESTQ CX, CX
	JZ    f16x4_done

f16x4_loop:
	VCVTPH2PS (0)(SI), Z24
	VCVTPH2PS (32)(SI), Z25
	VCVTPH2PS (64)(SI), Z26
	VCVTPH2PS (96)(SI), Z27
	F16X8VEC(R8, Z28, Z0, Z1, Z2, Z3)
	F16X8VEC(R9, Z29, Z4, Z5, Z6, Z7)
	F16X8VEC(R10, Z30, Z8, Z9, Z10, Z11)
	F16X8VEC(R11, Z31, Z12, Z13, Z14, Z15)
	ADDQ $128, SI
	ADDQ $32, BX
	DECQ CX
	JNZ  f16x4_loop

f16x4_done:
	HSUMZ(Z0, 0)
	HSUMZ(Z1, 1)
	HSUMZ(Z2, 2)
	HSUMZ(Z3, 3)
	ADDQ R14, DX
	HSUMZ(Z4, 0)
	HSUMZ(Z5, 1)
	HSUMZ(Z6, 2)
	HSUMZ(Z7, 3)
	ADDQ R14, DX
	HSUMZ(Z8, 0)
	HSUMZ(Z9, 1)
	HSUMZ(Z10, 2)
	HSUMZ(Z11, 3)
	ADDQ R14, DX
	HSUMZ(Z12, 0)
	HSUMZ(Z13, 1)
	HSUMZ(Z14, 2)
	HSUMZ(Z15, 3)
	VZEROUPPER
	RET

// func f16P8X3AVX512(group *uint16, b *[6]*float32, n int, dst *float32, ld int)
//
// A packed F16 group times the first three vectors of b over n&^7 elements:
// dst[v·ld + i] = row i · b[v], with the bits of the AVX2 kernels.
TEXT ·f16P8X3AVX512(SB), NOSPLIT, $0-40
	MOVQ group+0(FP), SI
	MOVQ b+8(FP), AX
	MOVQ 0(AX), R8
	MOVQ 8(AX), R9
	MOVQ 16(AX), R10
	MOVQ n+16(FP), CX
	MOVQ dst+24(FP), DX
	MOVQ ld+32(FP), R14
	SHLQ $2, R14
	SHRQ $3, CX
	XORQ BX, BX
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	VPXORD Z8, Z8, Z8
	VPXORD Z9, Z9, Z9
	VPXORD Z10, Z10, Z10
	VPXORD Z11, Z11, Z11
	TESTQ CX, CX
	JZ    f16x3_done

f16x3_loop:
	VCVTPH2PS (0)(SI), Z24
	VCVTPH2PS (32)(SI), Z25
	VCVTPH2PS (64)(SI), Z26
	VCVTPH2PS (96)(SI), Z27
	F16X8VEC(R8, Z28, Z0, Z1, Z2, Z3)
	F16X8VEC(R9, Z29, Z4, Z5, Z6, Z7)
	F16X8VEC(R10, Z30, Z8, Z9, Z10, Z11)
	ADDQ $128, SI
	ADDQ $32, BX
	DECQ CX
	JNZ  f16x3_loop

f16x3_done:
	HSUMZ(Z0, 0)
	HSUMZ(Z1, 1)
	HSUMZ(Z2, 2)
	HSUMZ(Z3, 3)
	ADDQ R14, DX
	HSUMZ(Z4, 0)
	HSUMZ(Z5, 1)
	HSUMZ(Z6, 2)
	HSUMZ(Z7, 3)
	ADDQ R14, DX
	HSUMZ(Z8, 0)
	HSUMZ(Z9, 1)
	HSUMZ(Z10, 2)
	HSUMZ(Z11, 3)
	VZEROUPPER
	RET

// func f16P8X2AVX512(group *uint16, b *[6]*float32, n int, dst *float32, ld int)
//
// A packed F16 group times the first two vectors of b over n&^7 elements:
// dst[v·ld + i] = row i · b[v], with the bits of the AVX2 kernels.
TEXT ·f16P8X2AVX512(SB), NOSPLIT, $0-40
	MOVQ group+0(FP), SI
	MOVQ b+8(FP), AX
	MOVQ 0(AX), R8
	MOVQ 8(AX), R9
	MOVQ n+16(FP), CX
	MOVQ dst+24(FP), DX
	MOVQ ld+32(FP), R14
	SHLQ $2, R14
	SHRQ $3, CX
	XORQ BX, BX
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	TESTQ CX, CX
	JZ    f16x2_done

f16x2_loop:
	VCVTPH2PS (0)(SI), Z24
	VCVTPH2PS (32)(SI), Z25
	VCVTPH2PS (64)(SI), Z26
	VCVTPH2PS (96)(SI), Z27
	F16X8VEC(R8, Z28, Z0, Z1, Z2, Z3)
	F16X8VEC(R9, Z29, Z4, Z5, Z6, Z7)
	ADDQ $128, SI
	ADDQ $32, BX
	DECQ CX
	JNZ  f16x2_loop

f16x2_done:
	HSUMZ(Z0, 0)
	HSUMZ(Z1, 1)
	HSUMZ(Z2, 2)
	HSUMZ(Z3, 3)
	ADDQ R14, DX
	HSUMZ(Z4, 0)
	HSUMZ(Z5, 1)
	HSUMZ(Z6, 2)
	HSUMZ(Z7, 3)
	VZEROUPPER
	RET
