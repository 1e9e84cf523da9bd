#include "textflag.h"
#include "simd_rows8_amd64.h"

// AVX2 kernels over eight Q8_0 or Q4_0 rows at a time, each row's product
// in one lane. The eight rows' codes of a block are transposed in
// registers into eight chunks, chunk c holding codes 4c..4c+3 of each row
// (row i in lane i), so that a chunk times the vector's codes 4c..4c+3
// (broadcast) is one VPMADDUBSW, and the eight chunks' sums add up to each
// row's exact integer product of the block: for Q8_0 |w| is the unsigned
// operand and x·sign(w) the signed one (no saturation: 2·128·127 < 32768),
// each chunk widened by VPMADDWD; for Q4_0 the codes 0–15 are the unsigned
// operand and the sums stay exact in int16 (8·2·15·127 = 30480 < 32768)
// until one VPMADDWD, then 8·Σx is subtracted. That sum is converted to
// float, multiplied by d_w·d_x and added with one FMA into the row's lane,
// blocks in order. Matrix products of eight vectors or more lay a tile's
// rows out once (q8_0Interleave8AVX2, q4_0Interleave8AVX2) and take four
// vectors at a time (q8_0I8X4AVX2, q4_0I8X4AVX2); four to seven vectors
// transpose each block as they go (q8_0R8X4AVX2, q4_0R8X4AVX2), and so
// does a vector alone (q8_0R8AVX2; q4_0R8AVX2 sums the same integers its
// own way). Every path computes each product the same way,
// so every path gives the same bits.

// Q4OFFSET widens vector v's int16 Q4_0 sums in sum to int32 and subtracts
// 8·Σx (at 16+4v(R10)) (clobbers t).
#define Q4OFFSET(v, sum, t) \
	VPMADDWD     onesW16<>(SB), sum, sum \
	VPBROADCASTD (16+4*v)(R10), t        \
	VPSUBD       t, sum, sum

DATA onesW16<>+0(SB)/8, $0x0001000100010001
DATA onesW16<>+8(SB)/8, $0x0001000100010001
DATA onesW16<>+16(SB)/8, $0x0001000100010001
DATA onesW16<>+24(SB)/8, $0x0001000100010001
GLOBL onesW16<>(SB), RODATA|NOPTR, $32

// Q8TRANSPOSE loads the eight rows' codes of the current block as chunks
// 0-7 in Y0-Y7 (clobbers Y8-Y11).
#define Q8TRANSPOSE \
	Q8ROWS16(2, X0, Y0, X1, Y1, X2, Y2, X3, Y3, Y8, Y9, Y10, Y11)  \
	Q8ROWS16(18, X4, Y4, X5, Y5, X6, Y6, X7, Y7, Y8, Y9, Y10, Y11)

// Q8CHUNK leaves in t the int32 products of chunk w (|w| in abs) with the
// vector's four codes at x, row i in lane i.
#define Q8CHUNK(w, abs, x, t) Q8CHUNKW(w, abs, x, t, Y15)

// Q8CHUNKW is Q8CHUNK with int16 ones at ones.
#define Q8CHUNKW(w, abs, x, t, ones) \
	VPBROADCASTD x, t       \
	VPSIGNB      w, t, t    \
	VPMADDUBSW   t, abs, t  \
	VPMADDWD     ones, t, t

// Q8R8X4CHUNK adds chunk w (a register) times the four vectors' codes at
// off past DI, DX, R8 and R9 to their int32 sums, Y4-Y7 (clobbers Y12,
// Y13).
#define Q8R8X4CHUNK(w, off) \
	VPABSB w, Y12                                     \
	Q8CHUNKW(w, Y12, off(DI), Y13, onesW16<>(SB))     \
	VPADDD Y13, Y4, Y4                                \
	Q8CHUNKW(w, Y12, off(DX), Y13, onesW16<>(SB))     \
	VPADDD Y13, Y5, Y5                                \
	Q8CHUNKW(w, Y12, off(R8), Y13, onesW16<>(SB))     \
	VPADDD Y13, Y6, Y6                                \
	Q8CHUNKW(w, Y12, off(R9), Y13, onesW16<>(SB))     \
	VPADDD Y13, Y7, Y7

// Q8R8X4HALF transposes the eight rows' codes off..off+15 of the current
// block into chunks (Y8-Y11) and adds their products with the four
// vectors' codes at xoff.. to Y4-Y7 (clobbers Y12-Y15).
#define Q8R8X4HALF(off, xoff) \
	Q8ROWS16(off, X8, Y8, X9, Y9, X10, Y10, X11, Y11, Y12, Y13, Y14, Y15) \
	Q8R8X4CHUNK(Y8, xoff)                                 \
	Q8R8X4CHUNK(Y9, (xoff+4))                             \
	Q8R8X4CHUNK(Y10, (xoff+8))                            \
	Q8R8X4CHUNK(Y11, (xoff+12))

// Q8STORED stores the eight rows' d (as float32) and chunks Y0-Y7 at DI
// (clobbers AX, Y12).
#define Q8STORED \
	Q8ROWSD(X12, Y12)   \
	VMOVDQU Y12, (DI)   \
	VMOVDQU Y0, 32(DI)  \
	VMOVDQU Y1, 64(DI)  \
	VMOVDQU Y2, 96(DI)  \
	VMOVDQU Y3, 128(DI) \
	VMOVDQU Y4, 160(DI) \
	VMOVDQU Y5, 192(DI) \
	VMOVDQU Y6, 224(DI) \
	VMOVDQU Y7, 256(DI)

// func q8_0Interleave8AVX2(dst *byte, rows *byte, rb int, blocks int)
//
// Lays out eight rows rb bytes apart (rb may be 0) for q8_0I8X4AVX2, 288
// bytes a block: the eight rows' d as float32, then chunks 0-7.
TEXT ·q8_0Interleave8AVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ rows+8(FP), SI
	MOVQ rb+16(FP), BX
	MOVQ blocks+24(FP), CX
	Q8ROWPTRS
	TESTQ CX, CX
	JZ    q8il_done

q8il_loop:
	Q8PREFETCH
	Q8TRANSPOSE
	Q8STORED
	Q8ROWSNEXT(34)
	ADDQ $288, DI
	DECQ CX
	JNZ  q8il_loop

q8il_done:
	VZEROUPPER
	RET

// Q8I8CHUNK adds chunk c of the laid-out block at SI times the four
// vectors' codes to Y4-Y7 (clobbers Y8-Y13).
#define Q8I8CHUNK(c) \
	VMOVDQU (32+32*c)(SI), Y8             \
	VPABSB  Y8, Y9                        \
	Q8CHUNK(Y8, Y9, (4*c)(AX)(R12*1), Y10) \
	Q8CHUNK(Y8, Y9, (4*c)(DX)(R12*1), Y11) \
	Q8CHUNK(Y8, Y9, (4*c)(R9)(R12*1), Y12) \
	Q8CHUNK(Y8, Y9, (4*c)(R13)(R12*1), Y13) \
	VPADDD  Y10, Y4, Y4                   \
	VPADDD  Y11, Y5, Y5                   \
	VPADDD  Y12, Y6, Y6                   \
	VPADDD  Y13, Y7, Y7

// Q8I8ACC adds vector v's block product (int32 in sum) times the rows' d
// (at SI) and the vector's scale (at 4v(R10)) to acc (clobbers Y11).
#define Q8I8ACC(v, sum, acc) ROWSACC((SI), (4*v)(R10), Y11, sum, acc)

// func q8_0I8X4AVX2(il *byte, codes *[4]uintptr, quads *uint32, blocks int, out *[32]float32)
//
// Eight rows laid out by q8_0Interleave8AVX2 times four vectors whose codes
// start at codes[v] and whose scales are laid out by Batch.scaleQuads:
// out[8v+i] = row i · x_v, as q8_0R8AVX2 computes it.
TEXT ·q8_0I8X4AVX2(SB), NOSPLIT, $0-40
	I8X4ARGS
	JZ     q8i8_done

q8i8_loop:
	I8X4BLOCK(Q8I8CHUNK, Q8I8ACC)
	JNZ q8i8_loop

q8i8_done:
	I8X4OUT
	RET

// Q8R8CHUNK adds chunk w (in a register) times the vector's codes at
// 4c(DI) to Y10 (clobbers Y8, Y9).
#define Q8R8CHUNK(w, c) \
	VPABSB w, Y8                   \
	Q8CHUNK(w, Y8, (4*c)(DI), Y9)  \
	VPADDD Y9, Y10, Y10

// func q8_0R8AVX2(rows *byte, rb int, q *int8, scale *float32, blocks int, out *[8]float32)
//
// Eight rows rb bytes apart (rb may be 0) times one vector: out[i] = row
// i · x.
TEXT ·q8_0R8AVX2(SB), NOSPLIT, $0-48
	MOVQ rows+0(FP), SI
	MOVQ rb+8(FP), BX
	MOVQ q+16(FP), DI
	MOVQ scale+24(FP), R8
	MOVQ blocks+32(FP), CX
	Q8ROWPTRS
	Q8ONES
	VXORPS Y14, Y14, Y14
	TESTQ  CX, CX
	JZ     q8r8_done

q8r8_loop:
	Q8PREFETCH
	Q8TRANSPOSE
	VPXOR Y10, Y10, Y10
	Q8R8CHUNK(Y0, 0)
	Q8R8CHUNK(Y1, 1)
	Q8R8CHUNK(Y2, 2)
	Q8R8CHUNK(Y3, 3)
	Q8R8CHUNK(Y4, 4)
	Q8R8CHUNK(Y5, 5)
	Q8R8CHUNK(Y6, 6)
	Q8R8CHUNK(Y7, 7)
	Q8ROWSD(X12, Y12)
	ROWSACC(Y12, (R8), Y13, Y10, Y14)
	Q8ROWSNEXT(34)
	ADDQ $32, DI
	ADDQ $4, R8
	DECQ CX
	JNZ  q8r8_loop

q8r8_done:
	MOVQ    out+40(FP), DX
	VMOVUPS Y14, (DX)
	VZEROUPPER
	RET

// func q4_0Interleave8AVX2(dst *byte, rows *byte, rb int, blocks int)
//
// Lays out eight Q4_0 rows rb bytes apart (rb may be 0) for q4_0I8X4AVX2,
// 288 bytes a block: the eight rows' d as float32, then chunks 0-7 (codes
// 0–15).
TEXT ·q4_0Interleave8AVX2(SB), NOSPLIT, $0-32
	ILARGS
	TESTQ        CX, CX
	JZ           q4il_done

q4il_loop:
	Q4PREFETCH
	Q8ROWS16(2, X0, Y0, X1, Y1, X2, Y2, X3, Y3, Y8, Y9, Y10, Y11)
	Q4NIBBLES
	Q8STORED
	Q8ROWSNEXT(18)
	ADDQ $288, DI
	DECQ CX
	JNZ  q4il_loop

q4il_done:
	VZEROUPPER
	RET

// Q4I8CHUNK adds chunk c of the laid-out block at SI times the four
// vectors' codes to their int16 sums, Y4-Y7 (clobbers Y8-Y12).
#define Q4I8CHUNK(c) \
	VMOVDQU      (32+32*c)(SI), Y8       \
	VPBROADCASTD (4*c)(AX)(R12*1), Y9    \
	VPBROADCASTD (4*c)(DX)(R12*1), Y10   \
	VPBROADCASTD (4*c)(R9)(R12*1), Y11   \
	VPBROADCASTD (4*c)(R13)(R12*1), Y12  \
	VPMADDUBSW   Y9, Y8, Y9              \
	VPMADDUBSW   Y10, Y8, Y10            \
	VPMADDUBSW   Y11, Y8, Y11            \
	VPMADDUBSW   Y12, Y8, Y12            \
	VPADDW       Y9, Y4, Y4              \
	VPADDW       Y10, Y5, Y5             \
	VPADDW       Y11, Y6, Y6             \
	VPADDW       Y12, Y7, Y7

// Q4I8ACC widens vector v's int16 sums in sum, subtracts 8·Σx (at
// 16+4v(R10)) and adds the product times the rows' d (at SI) and the
// vector's scale (at 4v(R10)) to acc (clobbers Y11).
#define Q4I8ACC(v, sum, acc) \
	Q4OFFSET(v, sum, Y11) \
	Q8I8ACC(v, sum, acc)

// func q4_0I8X4AVX2(il *byte, codes *[4]uintptr, quads *uint32, blocks int, out *[32]float32)
//
// Eight rows laid out by q4_0Interleave8AVX2 times four vectors whose codes
// start at codes[v] and whose scales and sums are laid out by
// Batch.scaleQuads: out[8v+i] = row i · x_v, as q4_0R8AVX2 computes it.
TEXT ·q4_0I8X4AVX2(SB), NOSPLIT, $0-40
	I8X4ARGS
	JZ     q4i8_done

q4i8_loop:
	I8X4BLOCK(Q4I8CHUNK, Q4I8ACC)
	JNZ q4i8_loop

q4i8_done:
	I8X4OUT
	RET

// Q4R8HALF adds the chunk of nibbles in y (shifted right by shift, masked
// by Y15) times the four vectors' codes at off past DI, DX, R8 and R9 to
// their int16 sums, Y4-Y7 (clobbers Y13, Y14).
#define Q4R8HALF(y, shift, off) \
	VPSRLW $shift, y, Y13     \
	VPAND  Y15, Y13, Y13      \
	Q4R8VEC(off(DI), Y4)      \
	Q4R8VEC(off(DX), Y5)      \
	Q4R8VEC(off(R8), Y6)      \
	Q4R8VEC(off(R9), Y7)

// Q4R8CODES adds a block's four chunks of codes (Y8-Y11: low nibbles for
// codes 0-15, high for 16-31) times the four vectors' codes to Y4-Y7.
#define Q4R8CODES \
	Q4R8HALF(Y8, 0, 0)   \
	Q4R8HALF(Y9, 0, 4)   \
	Q4R8HALF(Y10, 0, 8)  \
	Q4R8HALF(Y11, 0, 12) \
	Q4R8HALF(Y8, 4, 16)  \
	Q4R8HALF(Y9, 4, 20)  \
	Q4R8HALF(Y10, 4, 24) \
	Q4R8HALF(Y11, 4, 28)

// Q4R8VEC adds the codes chunk in Y13 times a vector's four codes at x to
// its int16 sums in acc (clobbers Y14).
#define Q4R8VEC(x, acc) \
	VPBROADCASTD x, Y14       \
	VPMADDUBSW   Y14, Y13, Y14 \
	VPADDW       Y14, acc, acc

// Q4R8ACC is Q4I8ACC with the rows' d in Y12 (clobbers Y13).
#define Q4R8ACC(v, sum, acc) \
	Q4OFFSET(v, sum, Y13) \
	Q8R8X4ACC(v, sum, acc)

// func q4_0R8X4AVX2(rows *byte, rb int, codes *[4]uintptr, quads *uint32, blocks int, out *[32]float32)
//
// Eight Q4_0 rows rb bytes apart (rb may be 0) times four vectors, as
// q4_0I8X4AVX2 computes it, transposing each block as it goes: for a batch
// of four to seven vectors, where a lay-out would serve one pass.
TEXT ·q4_0R8X4AVX2(SB), NOSPLIT, $0-48
	R8X4ARGS
	NIBBLEMASK(X15, Y15)
	R8X4ZERO
	JZ q4r8x4_done

q4r8x4_loop:
	Q4PREFETCH
	Q8ROWS16(2, X8, Y8, X9, Y9, X10, Y10, X11, Y11, Y4, Y5, Y6, Y7)
	ZERO4
	Q4R8CODES
	Q8ROWSD(X12, Y12)
	ACC4(Q4R8ACC)
	R8X4NEXT(18)
	JNZ  q4r8x4_loop

q4r8x4_done:
	R8X4OUT
	RET

// The AVX2 kernel that multiplies eight Q4_0 rows by one vector
// (q4_0R8AVX2), a block of each row per step, each row's product in one
// lane: per block the exact integer Σcode·x − 8·Σx is converted to float,
// multiplied by d·scale and added with one FMA into its row's lane, blocks
// in order, as the four-vector kernels do. Rows i
// and i+4 share a register; the integer sums stay exact in int16 through
// two rounds of VPHADDW: each VPMADDUBSW pair is at most 2·15·127 = 3810, a
// row's eight sums of four codes at most 7620, and after two pairwise
// additions 30480 < 32768.

// Q4CONSTY sets Y14 to the nibble mask and Y15 to int16 ones.
#define Q4CONSTY \
	Q8ONES \
	NIBBLEMASK(X14, Y14)

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
	Q8ROWPTRS
	Q4CONSTY
	VPXOR Y0, Y0, Y0
	TESTQ CX, CX
	JZ    q4r8_done

q4r8_loop:
	Q4PREFETCH
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
	Q8ROWSD(X10, Y10)
	ROWSACC(Y10, (R8), Y11, Y4, Y0)
	Q8ROWSNEXT(18)
	ADDQ $32, DI
	ADDQ $4, R8
	ADDQ $4, R9
	DECQ CX
	JNZ  q4r8_loop

q4r8_done:
	VMOVUPS Y0, (DX)
	VZEROUPPER
	RET

// func q8_0R8X4AVX2(rows *byte, rb int, codes *[4]uintptr, quads *uint32, blocks int, out *[32]float32)
//
// Eight Q8_0 rows rb bytes apart (rb may be 0) times four vectors, as
// q8_0I8X4AVX2 computes it, transposing each block as it goes: for a batch
// of four to seven vectors, where a lay-out would serve one pass.
TEXT ·q8_0R8X4AVX2(SB), NOSPLIT, $0-48
	R8X4ARGS
	R8X4ZERO
	JZ q8r8x4_done

q8r8x4_loop:
	Q8PREFETCH
	ZERO4
	Q8R8X4HALF(2, 0)
	Q8R8X4HALF(18, 16)
	Q8ROWSD(X12, Y12)
	ACC4(Q8R8X4ACC)
	R8X4NEXT(34)
	JNZ  q8r8x4_loop

q8r8x4_done:
	R8X4OUT
	RET

// Kernels over packed Q4_0 groups (eight rows interleaved block by block,
// see q4_0GroupBlockBytes): a block's four chunks are four loads, its d
// one conversion, and the rows are one sequential stream, which the
// hardware prefetchers follow. They compute what the kernels over stored
// rows compute, in the same order: the same bits.

// P8ONE adds the chunk of nibbles in y (shifted right by shift, masked by
// Y14) times the vector's four codes at off(DI) to the int16 sums in Y4
// (clobbers Y13, Y5).
#define P8ONE(y, shift, off) \
	VPSRLW       $shift, y, Y13 \
	VPAND        Y14, Y13, Y13  \
	VPBROADCASTD off(DI), Y5    \
	VPMADDUBSW   Y5, Y13, Y13   \
	VPADDW       Y13, Y4, Y4

// func q4_0P8AVX2(group *byte, q *int8, scale *float32, sum *int32, blocks int, out *[8]float32)
//
// A packed group times one vector: out[i] = row i · x, as q4_0R8AVX2
// computes it.
TEXT ·q4_0P8AVX2(SB), NOSPLIT, $0-48
	P8ARGS
	Q4CONSTY
	VPXOR Y0, Y0, Y0
	TESTQ CX, CX
	JZ    q4p8_done

q4p8_loop:
	P8LOAD
	VPXOR Y4, Y4, Y4
	P8ONE(Y8, 0, 0)
	P8ONE(Y9, 0, 4)
	P8ONE(Y10, 0, 8)
	P8ONE(Y11, 0, 12)
	P8ONE(Y8, 4, 16)
	P8ONE(Y9, 4, 20)
	P8ONE(Y10, 4, 24)
	P8ONE(Y11, 4, 28)
	VPMADDWD     Y15, Y4, Y4
	P8Q4END(q4p8_loop, q4p8_done)
	VZEROUPPER
	RET

// func q4_0P8X4AVX2(group *byte, codes *[4]uintptr, quads *uint32, blocks int, out *[32]float32)
//
// A packed group times four vectors, as q4_0R8X4AVX2 computes it.
TEXT ·q4_0P8X4AVX2(SB), NOSPLIT, $0-40
	P8X4ARGS
	NIBBLEMASK(X15, Y15)
	TESTQ CX, CX
	JZ    q4p8x4_done

q4p8x4_loop:
	P8PREFETCH
	P8LOAD
	ZERO4
	Q4R8CODES
	ACC4(Q4R8ACC)
	P8X4NEXT
	JNZ  q4p8x4_loop

q4p8x4_done:
	I8X4OUT
	RET
