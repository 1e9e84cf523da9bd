#include "textflag.h"

// The AVX-512 register tile of packed F16 groups (see packF16Group): eight
// rows by six vectors in 24 zmm accumulators. A zmm holds two rows' chunk
// of eight columns (one VCVTPH2PS of 32 packed bytes) and is multiplied by
// the vector's chunk broadcast to both halves, so each half is one row's
// eight-lane accumulator, added to in the order the AVX2 kernels add to
// theirs and summed as HSUMR sums: the same bits.

// HSUM8 stores the sum of the eight floats of y (x its low 128 bits) at
// at(DX), as HSUMR sums them (clobbers X25, X26).
#define HSUM8(y, x, at) \
	VEXTRACTF32X4 $1, y, X25 \
	VADDPS        X25, x, X25 \
	VMOVHLPS      X25, X25, X26 \
	VADDPS        X26, X25, X25 \
	VMOVSHDUP     X25, X26 \
	VADDSS        X26, X25, X25 \
	VMOVSS        X25, at(DX)

// HSUMZ stores the two rows' sums of accumulator z (low half y, x; rows
// 2p and 2p+1 of vector v) at out[8v+2p] and out[8v+2p+1] (clobbers
// Y24-Y26).
#define HSUMZ(z, y, x, v, p) \
	HSUM8(y, x, (32*(v)+8*(p))) \
	VEXTRACTF64X4 $1, z, Y24 \
	HSUM8(Y24, X24, (32*(v)+8*(p)+4))

// F16X6VEC adds the four row pairs (Z24-Z27) times vector v's chunk, at
// BX past its pointer p, to accumulators 4v..4v+3 (clobbers b).
#define F16X6VEC(p, b, a0, a1, a2, a3) \
	VBROADCASTF64X4 (p)(BX*1), b \
	VFMADD231PS     b, Z24, a0 \
	VFMADD231PS     b, Z25, a1 \
	VFMADD231PS     b, Z26, a2 \
	VFMADD231PS     b, Z27, a3

// func f16P8X6AVX512(group *uint16, b *[6]*float32, n int, out *[48]float32)
//
// A packed F16 group times six vectors over n&^7 elements: out[8v+i] =
// row i · b[v], with the bits of the AVX2 kernels.
TEXT ·f16P8X6AVX512(SB), NOSPLIT, $0-32
	MOVQ group+0(FP), SI
	MOVQ b+8(FP), AX
	MOVQ 0(AX), R8
	MOVQ 8(AX), R9
	MOVQ 16(AX), R10
	MOVQ 24(AX), R11
	MOVQ 32(AX), R12
	MOVQ 40(AX), R13
	MOVQ n+16(FP), CX
	MOVQ out+24(FP), DX
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
	F16X6VEC(R8, Z28, Z0, Z1, Z2, Z3)
	F16X6VEC(R9, Z29, Z4, Z5, Z6, Z7)
	F16X6VEC(R10, Z30, Z8, Z9, Z10, Z11)
	F16X6VEC(R11, Z31, Z12, Z13, Z14, Z15)
	F16X6VEC(R12, Z28, Z16, Z17, Z18, Z19)
	F16X6VEC(R13, Z29, Z20, Z21, Z22, Z23)
	ADDQ $128, SI
	ADDQ $32, BX
	DECQ CX
	JNZ  f16x6_loop

f16x6_done:
	HSUMZ(Z0, Y0, X0, 0, 0)
	HSUMZ(Z1, Y1, X1, 0, 1)
	HSUMZ(Z2, Y2, X2, 0, 2)
	HSUMZ(Z3, Y3, X3, 0, 3)
	HSUMZ(Z4, Y4, X4, 1, 0)
	HSUMZ(Z5, Y5, X5, 1, 1)
	HSUMZ(Z6, Y6, X6, 1, 2)
	HSUMZ(Z7, Y7, X7, 1, 3)
	HSUMZ(Z8, Y8, X8, 2, 0)
	HSUMZ(Z9, Y9, X9, 2, 1)
	HSUMZ(Z10, Y10, X10, 2, 2)
	HSUMZ(Z11, Y11, X11, 2, 3)
	HSUMZ(Z12, Y12, X12, 3, 0)
	HSUMZ(Z13, Y13, X13, 3, 1)
	HSUMZ(Z14, Y14, X14, 3, 2)
	HSUMZ(Z15, Y15, X15, 3, 3)
	HSUMZ(Z16, Y16, X16, 4, 0)
	HSUMZ(Z17, Y17, X17, 4, 1)
	HSUMZ(Z18, Y18, X18, 4, 2)
	HSUMZ(Z19, Y19, X19, 4, 3)
	HSUMZ(Z20, Y20, X20, 5, 0)
	HSUMZ(Z21, Y21, X21, 5, 1)
	HSUMZ(Z22, Y22, X22, 5, 2)
	HSUMZ(Z23, Y23, X23, 5, 3)
	VZEROUPPER
	RET
