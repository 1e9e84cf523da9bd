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
