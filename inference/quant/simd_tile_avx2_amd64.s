#include "textflag.h"

// The AVX2 kernel that multiplies eight Q4_0 rows by one vector
// (q4_0R8AVX2), a block of each row per step, each row's product in one
// lane: per block the exact integer Σcode·x − 8·Σx is converted to float,
// multiplied by d·scale and added with one FMA into its row's lane, blocks
// in order, as simd_rows8_avx2_amd64.s's four-vector kernel does. Rows i
// and i+4 share a register; the integer sums stay exact in int16 through
// two rounds of VPHADDW: each VPMADDUBSW pair is at most 2·15·127 = 3810, a
// row's eight sums of four codes at most 7620, and after two pairwise
// additions 30480 < 32768.
//
// They prefetch the rows 16 rows on: eight interleaved streams are more
// than the hardware prefetchers follow.

// ROWPTRS sets the row pointers from SI (row 0) and BX (the row stride):
// row i at SI + i·BX for i < 4 and at R11 + (i−4)·BX after (R13 = 3·BX),
// and the prefetch pointer R12, 16 rows on.
#define ROWPTRS \
	LEAQ (BX)(BX*2), R13 \
	LEAQ (SI)(BX*4), R11 \
	LEAQ (R11)(BX*4), R12 \
	LEAQ (R12)(BX*8), R12

// ROWSD gathers the eight rows' d (the float16 at the start of each row's
// block) into y as float32 (clobbers AX).
#define ROWSD(x, y) \
	MOVWLZX   (SI), AX \
	VMOVD     AX, x \
	VPINSRW   $1, (SI)(BX*1), x, x \
	VPINSRW   $2, (SI)(BX*2), x, x \
	VPINSRW   $3, (SI)(R13*1), x, x \
	VPINSRW   $4, (R11), x, x \
	VPINSRW   $5, (R11)(BX*1), x, x \
	VPINSRW   $6, (R11)(BX*2), x, x \
	VPINSRW   $7, (R11)(R13*1), x, x \
	VCVTPH2PS x, y

// R8SCALE multiplies the int32 products in Y4 (row i in lane i) by the
// eight rows' d (the float16 at the start of each row's block) times the
// vector's block scale and adds them to Y0 (clobbers Y10, Y11, AX).
#define R8SCALE \
	VCVTDQ2PS    Y4, Y4 \
	ROWSD(X10, Y10) \
	VBROADCASTSS (R8), Y11 \
	VMULPS       Y11, Y10, Y10 \
	VFMADD231PS  Y10, Y4, Y0

// R8PREFETCH prefetches the 144 bytes the eight rows' next block takes,
// 16 rows on.
#define R8PREFETCH \
	PREFETCHT0 (R12) \
	PREFETCHT0 64(R12) \
	PREFETCHT0 128(R12)

// Q4CONSTY sets Y14 to the nibble mask and Y15 to int16 ones.
#define Q4CONSTY \
	VPCMPEQW     Y15, Y15, Y15 \
	VPSRLW       $15, Y15, Y15 \
	MOVL         $0x0f0f0f0f, AX \
	VMOVD        AX, X14 \
	VPBROADCASTD X14, Y14

// Q4PAIR leaves in y the products of two rows' blocks (codes at ma in the
// low lane, mb in the high one) with the activation block held as
// [x0..15 | x0..15] in Y12 and [x16..31 | x16..31] in Y13, as eight int16
// sums per row (clobbers Y9).
#define Q4PAIR(ma, mb, x, y) \
	VMOVDQU     ma, x \
	VINSERTI128 $1, mb, y, y \
	VPSRLW      $4, y, Y9 \
	VPAND       Y14, y, y \
	VPAND       Y14, Y9, Y9 \
	VPMADDUBSW  Y12, y, y \
	VPMADDUBSW  Y13, Y9, Y9 \
	VPADDW      Y9, y, y

// func q4_0R8AVX2(rows *byte, rb int, q *int8, scale *float32, sum *int32, blocks int, out *[8]float32)
//
// Eight rows rb bytes apart (rb may be 0) times one vector: out[i] = row
// i · x. Rows i and i+4 share a register, i in the low lane.
TEXT ·q4_0R8AVX2(SB), NOSPLIT, $0-56
	MOVQ rows+0(FP), SI
	MOVQ rb+8(FP), BX
	MOVQ q+16(FP), DI
	MOVQ scale+24(FP), R8
	MOVQ sum+32(FP), R9
	MOVQ blocks+40(FP), CX
	MOVQ out+48(FP), DX
	ROWPTRS
	Q4CONSTY
	VPXOR Y0, Y0, Y0
	TESTQ CX, CX
	JZ    q4r8_done

q4r8_loop:
	R8PREFETCH
	VBROADCASTI128 (DI), Y12
	VBROADCASTI128 16(DI), Y13
	Q4PAIR(2(SI), 2(R11), X4, Y4)
	Q4PAIR(2(SI)(BX*1), 2(R11)(BX*1), X6, Y6)
	Q4PAIR(2(SI)(BX*2), 2(R11)(BX*2), X7, Y7)
	Q4PAIR(2(SI)(R13*1), 2(R11)(R13*1), X8, Y8)
	VPHADDW      Y6, Y4, Y4
	VPHADDW      Y8, Y7, Y7
	VPHADDW      Y7, Y4, Y4
	VPMADDWD     Y15, Y4, Y4
	VPBROADCASTD (R9), Y11
	VPSLLD       $3, Y11, Y11
	VPSUBD       Y11, Y4, Y4
	R8SCALE
	ADDQ $18, SI
	ADDQ $18, R11
	ADDQ $144, R12
	ADDQ $32, DI
	ADDQ $4, R8
	ADDQ $4, R9
	DECQ CX
	JNZ  q4r8_loop

q4r8_done:
	VMOVUPS Y0, (DX)
	VZEROUPPER
	RET
