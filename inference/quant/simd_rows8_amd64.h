// Macros of the eight-row kernels (included by their .s files): eight
// rows rb bytes apart, addressed through SI, BX, R11 and R13, transposed
// four bytes per row at a time.

// Q8ROWPTRS sets the row pointers from SI (row 0) and BX (the row stride):
// row i at SI + i·BX for i < 4 and at R11 + (i−4)·BX after (R13 = 3·BX),
// and the prefetch pointer R12, 16 rows on: the rows of a tile are back to
// back, so it walks the group after next (eight interleaved streams are
// more than the hardware prefetchers follow).
#define Q8ROWPTRS \
	LEAQ (BX)(BX*2), R13 \
	LEAQ (SI)(BX*4), R11 \
	MOVQ BX, R12         \
	SHLQ $4, R12         \
	ADDQ SI, R12

// Q8LOAD2 loads 16 bytes of codes at ma (low lane) and mb (high lane)
// into y.
#define Q8LOAD2(ma, mb, x, y) \
	VMOVDQU     ma, x \
	VINSERTI128 $1, mb, y, y

// Q8T4 transposes four registers of two rows' four 4-byte chunks each
// (a: rows 0|4, b: 1|5, c: 2|6, d: 3|7) into chunks 0-3 (rows 0-3 | 4-7)
// in a, b, c, d (clobbers t0-t3).
#define Q8T4(a, b, c, d, t0, t1, t2, t3) \
	VPUNPCKLDQ  b, a, t0  \
	VPUNPCKHDQ  b, a, t1  \
	VPUNPCKLDQ  d, c, t2  \
	VPUNPCKHDQ  d, c, t3  \
	VPUNPCKLQDQ t2, t0, a \
	VPUNPCKHQDQ t2, t0, b \
	VPUNPCKLQDQ t3, t1, c \
	VPUNPCKHQDQ t3, t1, d

// Q8ROWS16 loads codes off..off+15 of the eight rows' current block (rows
// 0|4 in a, 1|5 in b, 2|6 in c, 3|7 in d; xa-xd their low halves) and
// transposes them into four chunks (clobbers t0-t3).
#define Q8ROWS16(off, xa, a, xb, b, xc, c, xd, d, t0, t1, t2, t3) \
	Q8LOAD2(off(SI), off(R11), xa, a)                   \
	Q8LOAD2(off(SI)(BX*1), off(R11)(BX*1), xb, b)       \
	Q8LOAD2(off(SI)(BX*2), off(R11)(BX*2), xc, c)       \
	Q8LOAD2(off(SI)(R13*1), off(R11)(R13*1), xd, d)     \
	Q8T4(a, b, c, d, t0, t1, t2, t3)

// BYTESOF sets every byte of y (x its low half) to c (clobbers AX).
#define BYTESOF(c, x, y) \
	MOVL         $c, AX \
	VMOVD        AX, x  \
	VPBROADCASTD x, y

// NIBBLEMASK sets every byte of y (x its low half) to 0x0f (clobbers AX).
#define NIBBLEMASK(x, y) BYTESOF(0x0f0f0f0f, x, y)

// Q8ROWSNEXT moves the row pointers to the next block (bytes on) and the
// prefetch pointer eight blocks on.
#define Q8ROWSNEXT(bytes) \
	ADDQ $bytes, SI  \
	ADDQ $bytes, R11 \
	ADDQ $(8*bytes), R12

// Q4NIBBLES splits the packed bytes in Y0-Y3 into their low nibbles (in
// Y0-Y3) and their high nibbles (in Y4-Y7); Y15 holds the nibble mask.
// For a Q4_0 block's bytes 4k..4k+3 of each row those are chunks k and
// 4+k.
#define Q4NIBBLES \
	VPSRLW $4, Y0, Y4 \
	VPSRLW $4, Y1, Y5 \
	VPSRLW $4, Y2, Y6 \
	VPSRLW $4, Y3, Y7 \
	VPAND  Y15, Y0, Y0 \
	VPAND  Y15, Y1, Y1 \
	VPAND  Y15, Y2, Y2 \
	VPAND  Y15, Y3, Y3 \
	VPAND  Y15, Y4, Y4 \
	VPAND  Y15, Y5, Y5 \
	VPAND  Y15, Y6, Y6 \
	VPAND  Y15, Y7, Y7

// ROWSACC adds the rows' products of a block (int32 in sum, row i in lane
// i) times the rows' d (in d) and the vector's scale (at s) to acc: the
// float step every kernel here takes (clobbers t).
#define ROWSACC(d, s, t, sum, acc) \
	VCVTDQ2PS    sum, sum \
	VBROADCASTSS s, t     \
	VMULPS       d, t, t  \
	VFMADD231PS  t, sum, acc

// ZERO4 clears the four vectors' integer sums, Y4-Y7.
#define ZERO4 \
	VPXOR Y4, Y4, Y4 \
	VPXOR Y5, Y5, Y5 \
	VPXOR Y6, Y6, Y6 \
	VPXOR Y7, Y7, Y7

// ACC4 adds the four vectors' sums, Y4-Y7, through acc into Y0-Y3.
#define ACC4(acc) \
	acc(0, Y4, Y0) \
	acc(1, Y5, Y1) \
	acc(2, Y6, Y2) \
	acc(3, Y7, Y3)

// Q8ONES sets Y15 to int16 ones.
#define Q8ONES \
	VPCMPEQW Y15, Y15, Y15 \
	VPSRLW   $15, Y15, Y15

// I8X4ARGS loads the four-vector kernels' arguments (the laid-out rows
// SI, the vectors' codes AX, DX, R9, R13 at offset R12, the quads R10, the
// blocks CX), sets Y15 to int16 ones, clears the accumulators Y0-Y3 and
// tests CX.
#define I8X4ARGS \
	MOVQ   il+0(FP), SI     \
	MOVQ   codes+8(FP), DI  \
	MOVQ   quads+16(FP), R10 \
	MOVQ   blocks+24(FP), CX \
	MOVQ   (DI), AX         \
	MOVQ   8(DI), DX        \
	MOVQ   16(DI), R9       \
	MOVQ   24(DI), R13      \
	XORQ   R12, R12         \
	Q8ONES                  \
	VXORPS Y0, Y0, Y0       \
	VXORPS Y1, Y1, Y1       \
	VXORPS Y2, Y2, Y2       \
	VXORPS Y3, Y3, Y3       \
	TESTQ  CX, CX

// I8X4BLOCK runs a four-vector kernel's block: the eight chunks through
// chunk into the sums Y4-Y7, each vector's through acc into Y0-Y3, then
// on to the next block, counting it.
#define I8X4BLOCK(chunk, acc) \
	ZERO4            \
	chunk(0)         \
	chunk(1)         \
	chunk(2)         \
	chunk(3)         \
	chunk(4)         \
	chunk(5)         \
	chunk(6)         \
	chunk(7)         \
	ACC4(acc)        \
	I8X4NEXT

// I8X4OUT stores the four-vector kernels' products at out.
#define I8X4OUT \
	MOVQ    out+32(FP), DX \
	VMOVUPS Y0, (DX)       \
	VMOVUPS Y1, 32(DX)     \
	VMOVUPS Y2, 64(DX)     \
	VMOVUPS Y3, 96(DX)     \
	VZEROUPPER

// I8X4NEXT moves the four-vector kernels to the next block and counts it.
#define I8X4NEXT \
	ADDQ $288, SI \
	ADDQ $32, R12 \
	ADDQ $32, R10 \
	DECQ CX

// K8MINS leaves in t vector v's Σ_j m_j·(Σx of sub-block j) for each row:
// the mins pairs times the vector's sums pairs (kQuads, at 16+16v(R10))
// (clobbers Y12).
#define K8MINS(v, t) \
	VPBROADCASTD (16+16*v)(R10), t   \
	VPMADDWD     320(SI), t, t       \
	VPBROADCASTD (20+16*v)(R10), Y12 \
	VPMADDWD     352(SI), Y12, Y12   \
	VPADDD       Y12, t, t           \
	VPBROADCASTD (24+16*v)(R10), Y12 \
	VPMADDWD     384(SI), Y12, Y12   \
	VPADDD       Y12, t, t           \
	VPBROADCASTD (28+16*v)(R10), Y12 \
	VPMADDWD     416(SI), Y12, Y12   \
	VPADDD       Y12, t, t

// K8ACC adds vector v's super-block to acc: its sums i1 (codes·scales)
// and i2 (mins·Σx) times the rows' d and dmin and the vector's scale (at
// 4v(R10)), as KROWSTEP does (clobbers Y13-Y15).
#define K8ACC(v, i1, i2, acc) \
	VCVTDQ2PS    i1, i1          \
	VCVTDQ2PS    i2, i2          \
	VBROADCASTSS (4*v)(R10), Y13 \
	VMULPS       (SI), Y13, Y14  \
	VMULPS       32(SI), Y13, Y15 \
	VFMADD231PS  Y14, i1, acc    \
	VFNMADD231PS Y15, i2, acc

// X4CODES loads the four vectors' code pointers from AX into DI, DX, R8
// and R9.
#define X4CODES \
	MOVQ (AX), DI   \
	MOVQ 8(AX), DX  \
	MOVQ 16(AX), R8 \
	MOVQ 24(AX), R9

// R8X4ARGS loads the direct four-vector kernels' arguments: the rows SI
// (stride BX, see Q8ROWPTRS), the vectors' codes DI, DX, R8, R9, the quads
// R10 and the blocks CX.
#define R8X4ARGS \
	MOVQ rows+0(FP), SI   \
	MOVQ rb+8(FP), BX     \
	MOVQ codes+16(FP), AX \
	MOVQ quads+24(FP), R10 \
	MOVQ blocks+32(FP), CX \
	X4CODES                \
	Q8ROWPTRS

// R8X4ZERO clears the accumulators Y0-Y3 and tests CX.
#define R8X4ZERO \
	VXORPS Y0, Y0, Y0 \
	VXORPS Y1, Y1, Y1 \
	VXORPS Y2, Y2, Y2 \
	VXORPS Y3, Y3, Y3 \
	TESTQ  CX, CX

// R8X4NEXT moves the direct four-vector kernels to the next block (bytes
// on in each row) and counts it.
#define R8X4NEXT(bytes) \
	Q8ROWSNEXT(bytes) \
	ADDQ $32, DI      \
	ADDQ $32, DX      \
	ADDQ $32, R8      \
	ADDQ $32, R9      \
	ADDQ $32, R10     \
	DECQ CX

// R8X4OUT stores the direct four-vector kernels' products at out.
#define R8X4OUT \
	MOVQ    out+40(FP), AX \
	VMOVUPS Y0, (AX)       \
	VMOVUPS Y1, 32(AX)     \
	VMOVUPS Y2, 64(AX)     \
	VMOVUPS Y3, 96(AX)     \
	VZEROUPPER

// Q8ROWSD gathers the eight rows' d (the float16 at the start of each row's
// block) into y as float32 (clobbers AX).
#define Q8ROWSD(x, y) \
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

// Q8PREFETCH prefetches into L2 the 272 bytes the next group's block takes
// (Q8_0): sixteen rows on is further ahead than L1 holds.
#define Q8PREFETCH \
	PREFETCHT1 (R12)    \
	PREFETCHT1 64(R12)  \
	PREFETCHT1 128(R12) \
	PREFETCHT1 192(R12) \
	PREFETCHT1 256(R12)

// Q4PREFETCH prefetches into L2 the 144 bytes the next group's block takes
// (Q4_0).
#define Q4PREFETCH \
	PREFETCHT1 (R12)   \
	PREFETCHT1 64(R12) \
	PREFETCHT1 128(R12)

// Q8R8X4ACC adds vector v's block product (int32 in sum) times the rows'
// d in Y12 and the vector's scale (at 4v(R10)) to acc (clobbers Y13).
#define Q8R8X4ACC(v, sum, acc) ROWSACC(Y12, (4*v)(R10), Y13, sum, acc)

// K6CORR subtracts 32·Σ_K sc_K·(Σx of sub-block K) of vector v (its sums
// pairs at 16+32v(R10)) from its sums i (clobbers Y12, Y13).
#define K6CORR(v, i) \
	VPBROADCASTD (16+32*v)(R10), Y12 \
	VPMADDWD     544(SI), Y12, Y12   \
	K6CORRK(v, 1)                    \
	K6CORRK(v, 2)                    \
	K6CORRK(v, 3)                    \
	K6CORRK(v, 4)                    \
	K6CORRK(v, 5)                    \
	K6CORRK(v, 6)                    \
	K6CORRK(v, 7)                    \
	VPSLLD       $5, Y12, Y12        \
	VPSUBD       Y12, i, i

// K6CORRK adds pair k of K6CORR to Y12 (clobbers Y13).
#define K6CORRK(v, k) \
	VPBROADCASTD (16+32*v+4*k)(R10), Y13 \
	VPMADDWD     (544+32*k)(SI), Y13, Y13 \
	VPADDD       Y13, Y12, Y12

// K6ACC adds vector v's super-block sum i times the rows' d and the
// vector's scale (at 4v(R10)) to acc (clobbers Y13).
#define K6ACC(v, i, acc) \
	VCVTDQ2PS    i, i            \
	VBROADCASTSS (4*v)(R10), Y13 \
	VMULPS       (SI), Y13, Y13  \
	VFMADD231PS  Y13, i, acc

// K8X4NEXT moves the K-quant four-vector kernels to the next super-block
// (il bytes of the lay-out, quad bytes of the quads) and counts it.
#define K8X4NEXT(il, quad) \
	ADDQ $il, SI    \
	ADDQ $256, R12  \
	ADDQ $quad, R10 \
	DECQ CX

// K8BLOCK runs a Q4_K four-vector kernel's super-block: the eight
// sub-blocks through sub into Y4-Y7, the mins, then each vector's sums into
// Y0-Y3, and on to the next super-block.
#define K8BLOCK(sub) \
	ZERO4                \
	sub(0)               \
	sub(1)               \
	sub(2)               \
	sub(3)               \
	sub(4)               \
	sub(5)               \
	sub(6)               \
	sub(7)               \
	K8MINS(0, Y8)        \
	K8MINS(1, Y9)        \
	K8MINS(2, Y10)       \
	K8MINS(3, Y11)       \
	K8ACC(0, Y4, Y8, Y0) \
	K8ACC(1, Y5, Y9, Y1) \
	K8ACC(2, Y6, Y10, Y2) \
	K8ACC(3, Y7, Y11, Y3) \
	K8X4NEXT(2496, 80)

// K6BLOCK runs a Q6_K four-vector kernel's super-block: the sixteen
// sub-blocks through sub into Y4-Y7, the −32·Σx terms, then each vector's
// sum into Y0-Y3, and on to the next super-block.
#define K6BLOCK(sub) \
	ZERO4            \
	sub(0)           \
	sub(1)           \
	sub(2)           \
	sub(3)           \
	sub(4)           \
	sub(5)           \
	sub(6)           \
	sub(7)           \
	sub(8)           \
	sub(9)           \
	sub(10)          \
	sub(11)          \
	sub(12)          \
	sub(13)          \
	sub(14)          \
	sub(15)          \
	K6CORR(0, Y4)    \
	K6CORR(1, Y5)    \
	K6CORR(2, Y6)    \
	K6CORR(3, Y7)    \
	K6ACC(0, Y4, Y0) \
	K6ACC(1, Y5, Y1) \
	K6ACC(2, Y6, Y2) \
	K6ACC(3, Y7, Y3) \
	K8X4NEXT(2848, 144)

// ILARGS loads a lay-out kernel's arguments (dst DI, the rows SI with
// stride BX, see Q8ROWPTRS, the blocks CX) and sets Y15 to the nibble
// mask (clobbers AX).
#define ILARGS \
	MOVQ dst+0(FP), DI     \
	MOVQ rows+8(FP), SI    \
	MOVQ rb+16(FP), BX     \
	MOVQ blocks+24(FP), CX \
	Q8ROWPTRS              \
	NIBBLEMASK(X15, Y15)

// P8X4ARGS loads the packed four-vector kernels' arguments: the packed
// group SI, the vectors' codes DI, DX, R8, R9, the quads R10 and the blocks
// CX; it clears the accumulators Y0-Y3 and tests CX.
#define P8X4ARGS \
	MOVQ group+0(FP), SI   \
	MOVQ codes+8(FP), AX   \
	MOVQ quads+16(FP), R10 \
	MOVQ blocks+24(FP), CX \
	X4CODES                \
	R8X4ZERO

// P8LOAD loads a packed Q4_0 block of eight rows at SI: its four chunks of
// codes (bytes 4k..4k+3 of each row) in Y8-Y11 and the rows' d as float32
// in Y12.
#define P8LOAD \
	VMOVDQU   16(SI), Y8  \
	VMOVDQU   48(SI), Y9  \
	VMOVDQU   80(SI), Y10 \
	VMOVDQU   112(SI), Y11 \
	VCVTPH2PS (SI), Y12

// P8PREFETCH prefetches into L2 the block 32 on from SI's: the
// four-vector kernels, bound by their multiplies, read too slowly for the
// hardware prefetchers to run far enough ahead on their own.
#define P8PREFETCH \
	PREFETCHT1 4608(SI) \
	PREFETCHT1 4672(SI) \
	PREFETCHT1 4736(SI)

// P8X4NEXT moves the packed four-vector kernels to the next block and
// counts it.
#define P8X4NEXT \
	ADDQ $144, SI \
	ADDQ $32, DI  \
	ADDQ $32, DX  \
	ADDQ $32, R8  \
	ADDQ $32, R9  \
	ADDQ $32, R10 \
	DECQ CX

// P8ARGS loads the arguments of the one-vector kernels over packed groups:
// the group SI, the vector's codes DI, scales R8 and sums R9, the blocks CX
// and out DX.
#define P8ARGS \
	MOVQ group+0(FP), SI   \
	MOVQ q+8(FP), DI       \
	MOVQ scale+16(FP), R8  \
	MOVQ sum+24(FP), R9    \
	MOVQ blocks+32(FP), CX \
	MOVQ out+40(FP), DX

// P8Q4END ends a block of the one-vector kernels over packed Q4_0 groups:
// the offset 8·Σx taken off the rows' int32 sums in Y4, d·d_x times them
// added to the lanes in Y0 (d in Y12), the pointers moved on, back to loop
// while any block is left; then out.
#define P8Q4END(loop, done) \
	VPBROADCASTD (R9), Y11          \
	VPSLLD       $3, Y11, Y11       \
	VPSUBD       Y11, Y4, Y4        \
	ROWSACC(Y12, (R8), Y11, Y4, Y0) \
	ADDQ         $144, SI           \
	ADDQ         $32, DI            \
	ADDQ         $4, R8             \
	ADDQ         $4, R9             \
	DECQ         CX                 \
	JNZ          loop               \
done:                               \
	VMOVUPS      Y0, (DX)
