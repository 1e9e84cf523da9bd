#include "textflag.h"
#include "simd_rows8_amd64.h"

// AVX-512 VNNI versions of the eight-row four-vector kernels, on 256-bit
// registers: VPDPBUSD adds a chunk's four unsigned codes of each row times
// the vector's four signed codes (broadcast from memory) straight into the
// row's int32 lane, where AVX2 takes VPMADDUBSW, an int16 add and a
// VPMADDWD. The integers are the same exact sums, and the float step is
// ROWSACC's, so the results are bit for bit those of the AVX2 kernels.
// Even and odd chunks go to two sets of sums (Y4-Y7, Y16-Y19) so that
// consecutive VPDPBUSDs into one lane do not wait on each other.

// Q8V8VEC adds vector v's chunk product to a: its four codes at x times
// sign(w), against |w| (in Y9) (clobbers t).
#define Q8V8VEC(w, x, t, a) \
	VPBROADCASTD x, t       \
	VPSIGNB      w, t, t    \
	VPDPBUSD     t, Y9, a

// Q8V8CHUNK adds chunk c of the laid-out Q8_0 block at SI times the four
// vectors' codes to a0-a3 (clobbers Y8-Y13).
#define Q8V8CHUNK(c, a0, a1, a2, a3) \
	VMOVDQU (32+32*c)(SI), Y8                  \
	VPABSB  Y8, Y9                             \
	Q8V8VEC(Y8, (4*c)(AX)(R12*1), Y10, a0)     \
	Q8V8VEC(Y8, (4*c)(DX)(R12*1), Y11, a1)     \
	Q8V8VEC(Y8, (4*c)(R9)(R12*1), Y12, a2)     \
	Q8V8VEC(Y8, (4*c)(R13)(R12*1), Y13, a3)

// Q8V8ACC adds vector v's sums (sum, and odd in the second set) times the
// rows' d (at SI) and the vector's scale (at 4v(R10)) to acc (clobbers
// Y11).
#define Q8V8ACC(v, sum, odd, acc) \
	VPADDD odd, sum, sum \
	ROWSACC((SI), (4*v)(R10), Y11, sum, acc)

// ACC4X adds the four vectors' two sets of sums (Y4-Y7 and Y16-Y19)
// through acc into Y0-Y3.
#define ACC4X(acc) \
	acc(0, Y4, Y16, Y0) \
	acc(1, Y5, Y17, Y1) \
	acc(2, Y6, Y18, Y2) \
	acc(3, Y7, Y19, Y3)

// ZERO4X clears the second set of sums, Y16-Y19.
#define ZERO4X \
	VPXORD Y16, Y16, Y16 \
	VPXORD Y17, Y17, Y17 \
	VPXORD Y18, Y18, Y18 \
	VPXORD Y19, Y19, Y19

// V8BLOCK runs a VNNI four-vector kernel's block: the eight chunks through
// chunk, even ones into Y4-Y7 and odd ones into Y16-Y19, each vector's
// sums through acc into Y0-Y3, then on to the next block.
#define V8BLOCK(chunk, acc) \
	ZERO4                            \
	ZERO4X                           \
	chunk(0, Y4, Y5, Y6, Y7)         \
	chunk(1, Y16, Y17, Y18, Y19)     \
	chunk(2, Y4, Y5, Y6, Y7)         \
	chunk(3, Y16, Y17, Y18, Y19)     \
	chunk(4, Y4, Y5, Y6, Y7)         \
	chunk(5, Y16, Y17, Y18, Y19)     \
	chunk(6, Y4, Y5, Y6, Y7)         \
	chunk(7, Y16, Y17, Y18, Y19)     \
	ACC4X(acc)                       \
	I8X4NEXT

// func q8_0I8X4VNNI(il *byte, codes *[4]uintptr, quads *uint32, blocks int, out *[32]float32)
//
// q8_0I8X4AVX2 with VPDPBUSD: the same arguments and bits.
TEXT ·q8_0I8X4VNNI(SB), NOSPLIT, $0-40
	I8X4ARGS
	JZ     q8v8_done

q8v8_loop:
	V8BLOCK(Q8V8CHUNK, Q8V8ACC)
	JNZ q8v8_loop

q8v8_done:
	I8X4OUT
	RET

// Q4V8CHUNK adds chunk c of the laid-out Q4_0 block at SI times the four
// vectors' codes to a0-a3 (clobbers Y8).
#define Q4V8CHUNK(c, a0, a1, a2, a3) \
	VMOVDQU       (32+32*c)(SI), Y8          \
	VPDPBUSD.BCST (4*c)(AX)(R12*1), Y8, a0   \
	VPDPBUSD.BCST (4*c)(DX)(R12*1), Y8, a1   \
	VPDPBUSD.BCST (4*c)(R9)(R12*1), Y8, a2   \
	VPDPBUSD.BCST (4*c)(R13)(R12*1), Y8, a3

// Q4V8ACC adds vector v's sums (sum, and odd in the second set), less
// 8·Σx (at 16+4v(R10)), times the rows' d (at SI) and the vector's scale
// (at 4v(R10)) to acc (clobbers Y11).
#define Q4V8ACC(v, sum, odd, acc) \
	VPADDD       odd, sum, sum          \
	VPBROADCASTD (16+4*v)(R10), Y11     \
	VPSUBD       Y11, sum, sum          \
	ROWSACC((SI), (4*v)(R10), Y11, sum, acc)

// func q4_0I8X4VNNI(il *byte, codes *[4]uintptr, quads *uint32, blocks int, out *[32]float32)
//
// q4_0I8X4AVX2 with VPDPBUSD: the same arguments and bits.
TEXT ·q4_0I8X4VNNI(SB), NOSPLIT, $0-40
	I8X4ARGS
	JZ     q4v8_done

q4v8_loop:
	V8BLOCK(Q4V8CHUNK, Q4V8ACC)
	JNZ q4v8_loop

q4v8_done:
	I8X4OUT
	RET

// K8V8CHUNK adds chunk c of Q4_K sub-block j (laid out at SI) times the
// four vectors' codes to a0-a3 (clobbers Y12).
#define K8V8CHUNK(j, c, a0, a1, a2, a3) \
	VMOVDQU       (448+256*j+32*c)(SI), Y12        \
	VPDPBUSD.BCST (32*j+4*c)(AX)(R12*1), Y12, a0   \
	VPDPBUSD.BCST (32*j+4*c)(DX)(R12*1), Y12, a1   \
	VPDPBUSD.BCST (32*j+4*c)(R9)(R12*1), Y12, a2   \
	VPDPBUSD.BCST (32*j+4*c)(R13)(R12*1), Y12, a3

// K8V8SUB adds sub-block j's products of the four vectors times the rows'
// scales to their int32 sums, Y4-Y7 (clobbers Y8-Y12, Y16-Y19).
#define K8V8SUB(j) \
	VPXOR     Y8, Y8, Y8                   \
	VPXOR     Y9, Y9, Y9                   \
	VPXOR     Y10, Y10, Y10                \
	VPXOR     Y11, Y11, Y11                \
	ZERO4X                                 \
	K8V8CHUNK(j, 0, Y8, Y9, Y10, Y11)      \
	K8V8CHUNK(j, 1, Y16, Y17, Y18, Y19)    \
	K8V8CHUNK(j, 2, Y8, Y9, Y10, Y11)      \
	K8V8CHUNK(j, 3, Y16, Y17, Y18, Y19)    \
	K8V8CHUNK(j, 4, Y8, Y9, Y10, Y11)      \
	K8V8CHUNK(j, 5, Y16, Y17, Y18, Y19)    \
	K8V8CHUNK(j, 6, Y8, Y9, Y10, Y11)      \
	K8V8CHUNK(j, 7, Y16, Y17, Y18, Y19)    \
	VPADDD    Y16, Y8, Y8                  \
	VPADDD    Y17, Y9, Y9                  \
	VPADDD    Y18, Y10, Y10                \
	VPADDD    Y19, Y11, Y11                \
	VPMULLD   (64+32*j)(SI), Y8, Y8        \
	VPMULLD   (64+32*j)(SI), Y9, Y9        \
	VPMULLD   (64+32*j)(SI), Y10, Y10      \
	VPMULLD   (64+32*j)(SI), Y11, Y11      \
	VPADDD    Y8, Y4, Y4                   \
	VPADDD    Y9, Y5, Y5                   \
	VPADDD    Y10, Y6, Y6                  \
	VPADDD    Y11, Y7, Y7

// func q4KI8X4VNNI(il *byte, codes *[4]uintptr, quads *uint32, blocks int, out *[32]float32)
//
// q4KI8X4AVX2 with VPDPBUSD: the same arguments and bits.
TEXT ·q4KI8X4VNNI(SB), NOSPLIT, $0-40
	I8X4ARGS
	JZ     k8v8_done

k8v8_loop:
	K8BLOCK(K8V8SUB)
	JNZ  k8v8_loop

k8v8_done:
	I8X4OUT
	RET

// Q4V8R8HALF adds the chunk of nibbles in y (shifted right by shift,
// masked by Y15) times the four vectors' codes at off past DI, DX, R8 and
// R9 to a0-a3 (clobbers Y13).
#define Q4V8R8HALF(y, shift, off, a0, a1, a2, a3) \
	VPSRLW        $shift, y, Y13     \
	VPAND         Y15, Y13, Y13      \
	VPDPBUSD.BCST off(DI), Y13, a0   \
	VPDPBUSD.BCST off(DX), Y13, a1   \
	VPDPBUSD.BCST off(R8), Y13, a2   \
	VPDPBUSD.BCST off(R9), Y13, a3

// Q4V8R8ACC adds vector v's sums (sum, and odd in the second set), less
// 8·Σx (at 16+4v(R10)), times the rows' d in Y12 and the vector's scale to
// acc (clobbers Y13).
#define Q4V8R8ACC(v, sum, odd, acc) \
	VPADDD       odd, sum, sum       \
	VPBROADCASTD (16+4*v)(R10), Y13  \
	VPSUBD       Y13, sum, sum       \
	Q8R8X4ACC(v, sum, acc)

// func q4_0R8X4VNNI(rows *byte, rb int, codes *[4]uintptr, quads *uint32, blocks int, out *[32]float32)
//
// q4_0R8X4AVX2 with VPDPBUSD: the same arguments and bits.
TEXT ·q4_0R8X4VNNI(SB), NOSPLIT, $0-48
	R8X4ARGS
	NIBBLEMASK(X15, Y15)
	R8X4ZERO
	JZ q4v8r8_done

q4v8r8_loop:
	Q4PREFETCH
	Q8ROWS16(2, X8, Y8, X9, Y9, X10, Y10, X11, Y11, Y4, Y5, Y6, Y7)
	ZERO4
	ZERO4X
	Q4V8R8HALF(Y8, 0, 0, Y4, Y5, Y6, Y7)
	Q4V8R8HALF(Y9, 0, 4, Y16, Y17, Y18, Y19)
	Q4V8R8HALF(Y10, 0, 8, Y4, Y5, Y6, Y7)
	Q4V8R8HALF(Y11, 0, 12, Y16, Y17, Y18, Y19)
	Q4V8R8HALF(Y8, 4, 16, Y4, Y5, Y6, Y7)
	Q4V8R8HALF(Y9, 4, 20, Y16, Y17, Y18, Y19)
	Q4V8R8HALF(Y10, 4, 24, Y4, Y5, Y6, Y7)
	Q4V8R8HALF(Y11, 4, 28, Y16, Y17, Y18, Y19)
	Q8ROWSD(X12, Y12)
	ACC4X(Q4V8R8ACC)
	R8X4NEXT(18)
	JNZ  q4v8r8_loop

q4v8r8_done:
	R8X4OUT
	RET

// Q8V8R8CHUNK adds chunk w (a register) times the four vectors' codes at
// off past DI, DX, R8 and R9 to a0-a3, as Q8V8CHUNK does (clobbers Y9,
// Y12-Y15).
#define Q8V8R8CHUNK(w, off, a0, a1, a2, a3) \
	VPABSB w, Y9                      \
	Q8V8VEC(w, off(DI), Y12, a0)      \
	Q8V8VEC(w, off(DX), Y13, a1)      \
	Q8V8VEC(w, off(R8), Y14, a2)      \
	Q8V8VEC(w, off(R9), Y15, a3)

// Q8V8R8HALF transposes the eight rows' codes off..off+15 of the current
// block into chunks (Y8, Y10, Y11, Y20) and adds their products with the
// four vectors' codes at xoff.. to the two sets of sums.
#define Q8V8R8HALF(off, xoff) \
	Q8ROWS16(off, X8, Y8, X10, Y10, X11, Y11, X12, Y12, Y13, Y14, Y15, Y9) \
	VMOVDQU32 Y12, Y20                                            \
	Q8V8R8CHUNK(Y8, xoff, Y4, Y5, Y6, Y7)                         \
	Q8V8R8CHUNK(Y10, (xoff+4), Y16, Y17, Y18, Y19)                \
	Q8V8R8CHUNK(Y11, (xoff+8), Y4, Y5, Y6, Y7)                    \
	VMOVDQU32 Y20, Y11                                            \
	Q8V8R8CHUNK(Y11, (xoff+12), Y16, Y17, Y18, Y19)

// Q8V8R8ACC adds vector v's two sets of sums times the rows' d in Y12 and
// the vector's scale to acc (clobbers Y13).
#define Q8V8R8ACC(v, sum, odd, acc) \
	VPADDD odd, sum, sum \
	Q8R8X4ACC(v, sum, acc)

// func q8_0R8X4VNNI(rows *byte, rb int, codes *[4]uintptr, quads *uint32, blocks int, out *[32]float32)
//
// q8_0R8X4AVX2 with VPDPBUSD: the same arguments and bits.
TEXT ·q8_0R8X4VNNI(SB), NOSPLIT, $0-48
	R8X4ARGS
	R8X4ZERO
	JZ q8v8r8_done

q8v8r8_loop:
	Q8PREFETCH
	ZERO4
	ZERO4X
	Q8V8R8HALF(2, 0)
	Q8V8R8HALF(18, 16)
	Q8ROWSD(X12, Y12)
	ACC4X(Q8V8R8ACC)
	R8X4NEXT(34)
	JNZ  q8v8r8_loop

q8v8r8_done:
	R8X4OUT
	RET

// K6V8VEC adds sub-block K's products of one vector (codes at x past its
// pointer, R12 on) times the rows' scales (int32 in Y12) to its sums i
// (chunks in Y8-Y11; clobbers s).
#define K6V8VEC(K, x, i, s) \
	VPXORD        s, s, s                           \
	VPDPBUSD.BCST (16*K)(x)(R12*1), Y8, s           \
	VPDPBUSD.BCST (16*K+4)(x)(R12*1), Y9, s         \
	VPDPBUSD.BCST (16*K+8)(x)(R12*1), Y10, s        \
	VPDPBUSD.BCST (16*K+12)(x)(R12*1), Y11, s       \
	VPMULLD       Y12, s, s                         \
	VPADDD        s, i, i

// K6V8SUB adds sub-block K's products of the four vectors times the rows'
// scales to their sums, Y4-Y7 (clobbers Y8-Y16).
#define K6V8SUB(K) \
	VMOVDQU (800+128*K)(SI), Y8     \
	VMOVDQU (800+128*K+32)(SI), Y9  \
	VMOVDQU (800+128*K+64)(SI), Y10 \
	VMOVDQU (800+128*K+96)(SI), Y11 \
	VMOVDQU (32+32*K)(SI), Y12      \
	K6V8VEC(K, AX, Y4, Y13)         \
	K6V8VEC(K, DX, Y5, Y14)         \
	K6V8VEC(K, R9, Y6, Y15)         \
	K6V8VEC(K, R13, Y7, Y16)

// func q6KI8X4VNNI(il *byte, codes *[4]uintptr, quads *uint32, blocks int, out *[32]float32)
//
// q6KI8X4AVX2 with VPDPBUSD: the same arguments and bits.
TEXT ·q6KI8X4VNNI(SB), NOSPLIT, $0-40
	I8X4ARGS
	JZ     k6v8_done

k6v8_loop:
	K6BLOCK(K6V8SUB)
	JNZ  k6v8_loop

k6v8_done:
	I8X4OUT
	RET

// P8V adds the chunk of nibbles in y (shifted right by shift, masked by
// Y15) times the vector's four codes at off(DI) to the int32 sums in a
// (clobbers Y13).
#define P8V(y, shift, off, a) \
	VPSRLW        $shift, y, Y13 \
	VPAND         Y15, Y13, Y13  \
	VPDPBUSD.BCST off(DI), Y13, a

// func q4_0P8VNNI(group *byte, q *int8, scale *float32, sum *int32, blocks int, out *[8]float32)
//
// q4_0P8AVX2 with VPDPBUSD: the same arguments and bits.
TEXT ·q4_0P8VNNI(SB), NOSPLIT, $0-48
	P8ARGS
	NIBBLEMASK(X15, Y15)
	VPXOR Y0, Y0, Y0
	TESTQ CX, CX
	JZ    q4p8v_done

q4p8v_loop:
	P8LOAD
	VPXORD Y4, Y4, Y4
	VPXORD Y16, Y16, Y16
	P8V(Y8, 0, 0, Y4)
	P8V(Y9, 0, 4, Y16)
	P8V(Y10, 0, 8, Y4)
	P8V(Y11, 0, 12, Y16)
	P8V(Y8, 4, 16, Y4)
	P8V(Y9, 4, 20, Y16)
	P8V(Y10, 4, 24, Y4)
	P8V(Y11, 4, 28, Y16)
	VPADDD       Y16, Y4, Y4
	P8Q4END(q4p8v_loop, q4p8v_done)
	VZEROUPPER
	RET

// P8X4V adds a packed chunk's codes (y: low nibbles times the four
// vectors' codes at off, high nibbles times those at 16+off, past DI, DX,
// R8 and R9) to a0-a3 (clobbers y, Y13).
#define P8X4V(y, off, a0, a1, a2, a3) \
	VPSRLW        $4, y, Y13              \
	VPAND         Y15, y, y               \
	VPAND         Y15, Y13, Y13           \
	VPDPBUSD.BCST off(DI), y, a0          \
	VPDPBUSD.BCST off(DX), y, a1          \
	VPDPBUSD.BCST off(R8), y, a2          \
	VPDPBUSD.BCST off(R9), y, a3          \
	VPDPBUSD.BCST (16+off)(DI), Y13, a0   \
	VPDPBUSD.BCST (16+off)(DX), Y13, a1   \
	VPDPBUSD.BCST (16+off)(R8), Y13, a2   \
	VPDPBUSD.BCST (16+off)(R9), Y13, a3

// func q4_0P8X4VNNI(group *byte, codes *[4]uintptr, quads *uint32, blocks int, out *[32]float32)
//
// q4_0P8X4AVX2 with VPDPBUSD: the same arguments and bits.
TEXT ·q4_0P8X4VNNI(SB), NOSPLIT, $0-40
	P8X4ARGS
	NIBBLEMASK(X15, Y15)
	TESTQ CX, CX
	JZ    q4p8x4v_done

q4p8x4v_loop:
	P8PREFETCH
	P8LOAD
	ZERO4
	ZERO4X
	P8X4V(Y8, 0, Y4, Y5, Y6, Y7)
	P8X4V(Y9, 4, Y16, Y17, Y18, Y19)
	P8X4V(Y10, 8, Y4, Y5, Y6, Y7)
	P8X4V(Y11, 12, Y16, Y17, Y18, Y19)
	ACC4X(Q4V8R8ACC)
	P8X4NEXT
	JNZ  q4p8x4v_loop

q4p8x4v_done:
	I8X4OUT
	RET
