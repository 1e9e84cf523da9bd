#include "textflag.h"

// AVX2 kernels that multiply eight Q4_0 rows by one vector (q4_0R8AVX2) or
// by four (q4_0R8X4AVX2), a block of each row per step, each vector's eight
// products in the lanes of one register: per
// block the exact integer Σcode·x − 8·Σx is converted to float, multiplied
// by d·scale and added with one FMA into its row's lane, blocks in order.
// The integer sums stay exact in int16 through two rounds of VPHADDW: each
// VPMADDUBSW pair is at most 2·15·127 = 3810, a row's eight sums of four
// codes at most 7620, and after two pairwise additions 30480 < 32768.
// Matrix products of any batch size run through them, so every path gives
// the same bits.
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

DATA nibbleMask<>+0(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA nibbleMask<>+8(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA nibbleMask<>+16(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA nibbleMask<>+24(SB)/8, $0x0f0f0f0f0f0f0f0f
GLOBL nibbleMask<>(SB), RODATA|NOPTR, $32

DATA onesW<>+0(SB)/8, $0x0001000100010001
DATA onesW<>+8(SB)/8, $0x0001000100010001
DATA onesW<>+16(SB)/8, $0x0001000100010001
DATA onesW<>+24(SB)/8, $0x0001000100010001
GLOBL onesW<>(SB), RODATA|NOPTR, $32

// Q4UNPACK loads two rows' blocks (codes at ma in the low lane, mb in the
// high one) as low nibbles into lo and high nibbles into hi.
#define Q4UNPACK(ma, mb, xlo, lo, hi) \
	VMOVDQU     ma, xlo \
	VINSERTI128 $1, mb, lo, lo \
	VPSRLW      $4, lo, hi \
	VPAND       nibbleMask<>(SB), lo, lo \
	VPAND       nibbleMask<>(SB), hi, hi

// Q4QUAD leaves in p the products of the unpacked pair (lo, hi) with the
// prepared vector at m, as eight int16 sums per row (clobbers t).
#define Q4QUAD(lo, hi, m, p, t) \
	VPMADDUBSW m, lo, p \
	VPMADDUBSW 32+m, hi, t \
	VPADDW     t, p, p

// Q4QUADB adds the second pair's (B and F, unpacked in Y8 and Y9)
// products with the prepared vector at m to the first pair's in p, which
// then holds four int16 sums per row (clobbers Y10, Y11).
#define Q4QUADB(m, p) \
	Q4QUAD(Y8, Y9, m, Y10, Y11) \
	VPHADDW Y10, p, p

// Q4QUADCD adds the last two pairs' (C and G in Y8 and Y9, D and H in Y12
// and Y13) products with the prepared vector at m to p, and widens p to
// one int32 sum per row, row i in lane i (clobbers Y10, Y11, Y14).
#define Q4QUADCD(m, p) \
	Q4QUAD(Y8, Y9, m, Y10, Y11)     \
	Q4QUAD(Y12, Y13, m, Y11, Y14)   \
	VPHADDW  Y11, Y10, Y10          \
	VPHADDW  Y10, p, p              \
	VPMADDWD onesW<>(SB), p, p

// Q4QUADACC multiplies the vector's products f (row i in lane i) by the
// rows' d in Y15 times the vector's scale at m and adds them to acc
// (clobbers Y10).
#define Q4QUADACC(m, f, acc) \
	VPSUBD      64+m, f, f \
	VCVTDQ2PS   f, f \
	VMULPS      96+m, Y15, Y10 \
	VFMADD231PS Y10, f, acc

// func q4_0R8X4AVX2(rows *byte, rb int, prep *byte, blocks int, out *[32]float32)
//
// Eight Q4_0 rows rb bytes apart (rb may be 0) times four vectors laid out
// by prepQ4Quads (512 bytes a block): out[8v+i] = row i · x_v, computed as
// q4_0R8AVX2 computes it, the rows unpacked and their scales gathered once
// for the four vectors.
TEXT ·q4_0R8X4AVX2(SB), NOSPLIT, $0-40
	MOVQ rows+0(FP), SI
	MOVQ rb+8(FP), BX
	MOVQ prep+16(FP), DI
	MOVQ blocks+24(FP), CX
	MOVQ out+32(FP), DX
	ROWPTRS
	VPXOR Y0, Y0, Y0
	VPXOR Y1, Y1, Y1
	VPXOR Y2, Y2, Y2
	VPXOR Y3, Y3, Y3
	TESTQ CX, CX
	JZ    q4q_done

q4q_loop:
	R8PREFETCH
	Q4UNPACK(2(SI), 2(R11), X8, Y8, Y9)
	Q4QUAD(Y8, Y9, 0(DI), Y4, Y10)
	Q4QUAD(Y8, Y9, 128(DI), Y5, Y10)
	Q4QUAD(Y8, Y9, 256(DI), Y6, Y10)
	Q4QUAD(Y8, Y9, 384(DI), Y7, Y10)
	Q4UNPACK(2(SI)(BX*1), 2(R11)(BX*1), X8, Y8, Y9)
	Q4QUADB(0(DI), Y4)
	Q4QUADB(128(DI), Y5)
	Q4QUADB(256(DI), Y6)
	Q4QUADB(384(DI), Y7)
	Q4UNPACK(2(SI)(BX*2), 2(R11)(BX*2), X8, Y8, Y9)
	Q4UNPACK(2(SI)(R13*1), 2(R11)(R13*1), X12, Y12, Y13)
	Q4QUADCD(0(DI), Y4)
	Q4QUADCD(128(DI), Y5)
	Q4QUADCD(256(DI), Y6)
	Q4QUADCD(384(DI), Y7)
	ROWSD(X15, Y15)
	Q4QUADACC(0(DI), Y4, Y0)
	Q4QUADACC(128(DI), Y5, Y1)
	Q4QUADACC(256(DI), Y6, Y2)
	Q4QUADACC(384(DI), Y7, Y3)
	ADDQ $18, SI
	ADDQ $18, R11
	ADDQ $144, R12
	ADDQ $512, DI
	DECQ CX
	JNZ  q4q_loop

q4q_done:
	VMOVUPS Y0, (DX)
	VMOVUPS Y1, 32(DX)
	VMOVUPS Y2, 64(DX)
	VMOVUPS Y3, 96(DX)
	VZEROUPPER
	RET
