#include "textflag.h"
#include "simd_rows8_amd64.h"

// AVX2 kernels over eight Q4_K rows at a time, each row's product in one
// lane, as the Q4_0 eight-row kernels do (and, at the end, the one-vector
// kernels over packed groups with AVX-512 VNNI). q4KInterleave8AVX2 lays a
// super-block of eight rows out once, 2496 bytes:
//
//	0     d of each row (float32)
//	32    dmin of each row (float32)
//	64    sub-block j's scale of each row as int32 (32 bytes per j)
//	320   mins 2k and 2k+1 of each row as two int16 (32 bytes per k)
//	448   sub-block j's codes 0–15 in eight chunks of 32 bytes, chunk c
//	      holding codes 4c..4c+3 of each row (256 bytes per j)
//
// A chunk times the vector's codes 4c..4c+3 (broadcast) is one VPMADDUBSW;
// a sub-block's eight chunks sum exactly in int16 (8·2·15·127 = 30480 <
// 32768) and one VPMADDWD with the scales (as int16 pairs) makes them
// int32. The mins'
// products with the sums of the vector's sub-blocks are one VPMADDWD per
// two sub-blocks. Each super-block's two integer sums are then added to
// the row's lane with two FMAs (d·scale, then −dmin·scale), as
// dotQ4KAVX2 adds them, so every path gives the same bits.

// Byte shuffles of the lay-out, the same in both lanes: ksc8 + 32j makes
// each dword its byte j; kmin8 + 32h puts bytes 2h and
// 2h+1 of each dword in its low and high word; kdw8 gathers the low words
// of a lane's dwords, then the high words.
DATA ksc8<>+0(SB)/8, $0x8080800480808000
DATA ksc8<>+8(SB)/8, $0x8080800c80808008
DATA ksc8<>+16(SB)/8, $0x8080800480808000
DATA ksc8<>+24(SB)/8, $0x8080800c80808008
DATA ksc8<>+32(SB)/8, $0x8080800580808001
DATA ksc8<>+40(SB)/8, $0x8080800d80808009
DATA ksc8<>+48(SB)/8, $0x8080800580808001
DATA ksc8<>+56(SB)/8, $0x8080800d80808009
DATA ksc8<>+64(SB)/8, $0x8080800680808002
DATA ksc8<>+72(SB)/8, $0x8080800e8080800a
DATA ksc8<>+80(SB)/8, $0x8080800680808002
DATA ksc8<>+88(SB)/8, $0x8080800e8080800a
DATA ksc8<>+96(SB)/8, $0x8080800780808003
DATA ksc8<>+104(SB)/8, $0x8080800f8080800b
DATA ksc8<>+112(SB)/8, $0x8080800780808003
DATA ksc8<>+120(SB)/8, $0x8080800f8080800b
GLOBL ksc8<>(SB), RODATA|NOPTR, $128

DATA kmin8<>+0(SB)/8, $0x8005800480018000
DATA kmin8<>+8(SB)/8, $0x800d800c80098008
DATA kmin8<>+16(SB)/8, $0x8005800480018000
DATA kmin8<>+24(SB)/8, $0x800d800c80098008
DATA kmin8<>+32(SB)/8, $0x8007800680038002
DATA kmin8<>+40(SB)/8, $0x800f800e800b800a
DATA kmin8<>+48(SB)/8, $0x8007800680038002
DATA kmin8<>+56(SB)/8, $0x800f800e800b800a
GLOBL kmin8<>(SB), RODATA|NOPTR, $64

DATA kdw8<>+0(SB)/8, $0x0d0c090805040100
DATA kdw8<>+8(SB)/8, $0x0f0e0b0a07060302
DATA kdw8<>+16(SB)/8, $0x0d0c090805040100
DATA kdw8<>+24(SB)/8, $0x0f0e0b0a07060302
GLOBL kdw8<>(SB), RODATA|NOPTR, $32

// K8HEADER lays out the eight rows' d, dmin, scales and mins at DI from
// their first 16 bytes: scales and mins 0-3 are bytes 4-7 and 8-11 less
// their top two bits, 4-7 the nibbles of bytes 12-15 with those bits above
// (Y12: bytes 0x3f, Y13: bytes 0x03, Y15: the nibble mask; clobbers
// Y0-Y11).
#define K8HEADER \
	Q8ROWS16(0, X0, Y0, X1, Y1, X2, Y2, X3, Y3, Y8, Y9, Y10, Y11) \
	K8HEADERFROM

// K8HEADERFROM is K8HEADER from the rows' first 16 bytes transposed into
// Y0-Y3 (dword w of each row in Y_w).
#define K8HEADERFROM \
	VPSHUFB      kdw8<>(SB), Y0, Y0 \
	VPERMQ       $0xd8, Y0, Y0      \
	VCVTPH2PS    X0, Y4             \
	VMOVUPS      Y4, (DI)           \
	VEXTRACTI128 $1, Y0, X0         \
	VCVTPH2PS    X0, Y4             \
	VMOVUPS      Y4, 32(DI)         \
	VPAND        Y12, Y1, Y4        \
	VPSRLD       $6, Y1, Y5         \
	VPAND        Y13, Y5, Y5        \
	VPSLLD       $4, Y5, Y5         \
	VPAND        Y15, Y3, Y6        \
	VPOR         Y6, Y5, Y5         \
	VPAND        Y12, Y2, Y6        \
	VPSRLD       $6, Y2, Y7         \
	VPAND        Y13, Y7, Y7        \
	VPSLLD       $4, Y7, Y7         \
	VPSRLD       $4, Y3, Y8         \
	VPAND        Y15, Y8, Y8        \
	VPOR         Y8, Y7, Y7         \
	K8SCALE(0, Y4, 0)               \
	K8SCALE(1, Y4, 1)               \
	K8SCALE(2, Y4, 2)               \
	K8SCALE(3, Y4, 3)               \
	K8SCALE(0, Y5, 4)               \
	K8SCALE(1, Y5, 5)               \
	K8SCALE(2, Y5, 6)               \
	K8SCALE(3, Y5, 7)               \
	K8MIN(0, Y6, 0)                 \
	K8MIN(1, Y6, 1)                 \
	K8MIN(0, Y7, 2)                 \
	K8MIN(1, Y7, 3)

// K8SCALE stores byte b of each dword of src as sub-block j's scales.
#define K8SCALE(b, src, j) \
	VPSHUFB ksc8<>+(32*b)(SB), src, Y8 \
	VMOVDQU Y8, (64+32*j)(DI)

// K8MIN stores bytes 2h, 2h+1 of each dword of src as mins pair k.
#define K8MIN(h, src, k) \
	VPSHUFB kmin8<>+(32*h)(SB), src, Y8 \
	VMOVDQU Y8, (320+32*k)(DI)

// K8CODES lays out the eight rows' code bytes off..off+15 of sub-blocks 2p
// and 2p+1 as their chunks c..c+3.
#define K8CODES(off, p, c) \
	Q8ROWS16(off, X0, Y0, X1, Y1, X2, Y2, X3, Y3, Y8, Y9, Y10, Y11) \
	K8CODESFROM(p, c)

// K8CODESFROM is K8CODES from the rows' code bytes transposed into Y0-Y3.
#define K8CODESFROM(p, c) \
	Q4NIBBLES                                     \
	VMOVDQU Y0, (448+512*p+32*c)(DI)              \
	VMOVDQU Y1, (448+512*p+32*c+32)(DI)           \
	VMOVDQU Y2, (448+512*p+32*c+64)(DI)           \
	VMOVDQU Y3, (448+512*p+32*c+96)(DI)           \
	VMOVDQU Y4, (448+512*p+256+32*c)(DI)          \
	VMOVDQU Y5, (448+512*p+256+32*c+32)(DI)       \
	VMOVDQU Y6, (448+512*p+256+32*c+64)(DI)       \
	VMOVDQU Y7, (448+512*p+256+32*c+96)(DI)


// func q4KInterleave8AVX2(dst *byte, rows *byte, rb int, blocks int)
//
// Lays out blocks super-blocks of eight Q4_K rows rb bytes apart (rb may be
// 0) for q4KI8X4AVX2, 2496 bytes a super-block.
TEXT ·q4KInterleave8AVX2(SB), NOSPLIT, $0-32
	ILARGS
	BYTESOF(0x3f3f3f3f, X12, Y12)
	BYTESOF(0x03030303, X13, Y13)
	TESTQ CX, CX
	JZ    k8il_done

k8il_loop:
	PREFETCHT1 (R12)
	PREFETCHT1 64(R12)
	PREFETCHT1 128(R12)
	K8HEADER
	K8CODES(16, 0, 0)
	K8CODES(32, 0, 4)
	K8CODES(48, 1, 0)
	K8CODES(64, 1, 4)
	K8CODES(80, 2, 0)
	K8CODES(96, 2, 4)
	K8CODES(112, 3, 0)
	K8CODES(128, 3, 4)
	Q8ROWSNEXT(144)
	ADDQ $2496, DI
	DECQ CX
	JNZ  k8il_loop

k8il_done:
	VZEROUPPER
	RET

// A packed Q4_K group (see q4KGroupBytes) holds dword m of each of the
// eight rows' blocks back to back, 32 bytes per m: the transposes above
// become loads.

// P8DWORDS loads the packed dwords m..m+3 (at off) into Y0-Y3.
#define P8DWORDS(off) \
	VMOVDQU off(SI), Y0       \
	VMOVDQU (off+32)(SI), Y1  \
	VMOVDQU (off+64)(SI), Y2  \
	VMOVDQU (off+96)(SI), Y3

// P8K8CODES is K8CODES for packed code dwords 4q..4q+3.
#define P8K8CODES(q, p, c) \
	P8DWORDS(128+128*q) \
	K8CODESFROM(p, c)

// func q4KPackedInterleave8AVX2(dst *byte, group *byte, blocks int)
//
// Lays a packed Q4_K group out as q4KInterleave8AVX2 lays out eight stored
// rows.
TEXT ·q4KPackedInterleave8AVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ group+8(FP), SI
	MOVQ blocks+16(FP), CX
	NIBBLEMASK(X15, Y15)
	BYTESOF(0x3f3f3f3f, X12, Y12)
	BYTESOF(0x03030303, X13, Y13)
	TESTQ CX, CX
	JZ    k8pil_done

k8pil_loop:
	P8DWORDS(0)
	K8HEADERFROM
	P8K8CODES(0, 0, 0)
	P8K8CODES(1, 0, 4)
	P8K8CODES(2, 1, 0)
	P8K8CODES(3, 1, 4)
	P8K8CODES(4, 2, 0)
	P8K8CODES(5, 2, 4)
	P8K8CODES(6, 3, 0)
	P8K8CODES(7, 3, 4)
	ADDQ $1152, SI
	ADDQ $2496, DI
	DECQ CX
	JNZ  k8pil_loop

k8pil_done:
	VZEROUPPER
	RET

// kscw8 + 32b makes each dword two int16 copies of its byte b: a
// sub-block's scales as VPMADDWD takes them.
DATA kscw8<>+0(SB)/8, $0x8004800480008000
DATA kscw8<>+8(SB)/8, $0x800c800c80088008
DATA kscw8<>+16(SB)/8, $0x8004800480008000
DATA kscw8<>+24(SB)/8, $0x800c800c80088008
DATA kscw8<>+32(SB)/8, $0x8005800580018001
DATA kscw8<>+40(SB)/8, $0x800d800d80098009
DATA kscw8<>+48(SB)/8, $0x8005800580018001
DATA kscw8<>+56(SB)/8, $0x800d800d80098009
DATA kscw8<>+64(SB)/8, $0x8006800680028002
DATA kscw8<>+72(SB)/8, $0x800e800e800a800a
DATA kscw8<>+80(SB)/8, $0x8006800680028002
DATA kscw8<>+88(SB)/8, $0x800e800e800a800a
DATA kscw8<>+96(SB)/8, $0x8007800780038003
DATA kscw8<>+104(SB)/8, $0x800f800f800b800b
DATA kscw8<>+112(SB)/8, $0x8007800780038003
DATA kscw8<>+120(SB)/8, $0x800f800f800b800b
GLOBL kscw8<>(SB), RODATA|NOPTR, $128

DATA kbytes3f<>+0(SB)/8, $0x3f3f3f3f3f3f3f3f
DATA kbytes3f<>+8(SB)/8, $0x3f3f3f3f3f3f3f3f
DATA kbytes3f<>+16(SB)/8, $0x3f3f3f3f3f3f3f3f
DATA kbytes3f<>+24(SB)/8, $0x3f3f3f3f3f3f3f3f
GLOBL kbytes3f<>(SB), RODATA|NOPTR, $32

DATA kbytes03<>+0(SB)/8, $0x0303030303030303
DATA kbytes03<>+8(SB)/8, $0x0303030303030303
DATA kbytes03<>+16(SB)/8, $0x0303030303030303
DATA kbytes03<>+24(SB)/8, $0x0303030303030303
GLOBL kbytes03<>(SB), RODATA|NOPTR, $32

// P8K4CHUNK adds packed code dword 8p+k of the eight rows (low nibbles:
// sub-block 2p, high: 2p+1) times the vector's codes to their int16 sums,
// Y12 and Y13 (clobbers Y8-Y10).
#define P8K4CHUNK(p, k) \
	VMOVDQU      (128+256*p+32*k)(SI), Y8 \
	VPSRLW       $4, Y8, Y9                \
	VPAND        Y15, Y8, Y8               \
	VPAND        Y15, Y9, Y9               \
	VPBROADCASTD (64*p+4*k)(DI), Y10       \
	VPMADDUBSW   Y10, Y8, Y8               \
	VPADDW       Y8, Y12, Y12              \
	VPBROADCASTD (64*p+32+4*k)(DI), Y10    \
	VPMADDUBSW   Y10, Y9, Y9               \
	VPADDW       Y9, Y13, Y13

// P8K4SCALE adds the int16 sums s of a sub-block times its scales (byte b
// of each dword of sc) to the int32 sums in Y11 (clobbers Y14).
#define P8K4SCALE(s, sc, b) \
	VPSHUFB  kscw8<>+(32*(b))(SB), sc, Y14 \
	VPMADDWD Y14, s, s                   \
	VPADDD   s, Y11, Y11

// P8K4PAIR adds sub-blocks 2p and 2p+1 times their scales (bytes b and
// b+1 of each dword of sc) to Y11.
#define P8K4PAIR(p, sc, b) \
	VPXOR     Y12, Y12, Y12 \
	VPXOR     Y13, Y13, Y13 \
	P8K4CHUNK(p, 0)         \
	P8K4CHUNK(p, 1)         \
	P8K4CHUNK(p, 2)         \
	P8K4CHUNK(p, 3)         \
	P8K4CHUNK(p, 4)         \
	P8K4CHUNK(p, 5)         \
	P8K4CHUNK(p, 6)         \
	P8K4CHUNK(p, 7)         \
	P8K4SCALE(Y12, sc, b)   \
	P8K4SCALE(Y13, sc, b+1)

// P8K4MINS leaves in Y6 each row's Σ_j min_j·(Σx of sub-block j): the mins
// (0-3 in Y6, 4-7 in Y7) as int16 pairs times the vector's sub-block sums
// in pairs, from its sums per 16 at R9 (clobbers Y1-Y3, Y8, Y9).
#define P8K4MINS \
	VMOVDQU  (R9), Y1                  \
	VPHADDW  Y1, Y1, Y1                \
	VPSHUFD  $0x00, Y1, Y2             \
	VPSHUFD  $0x55, Y1, Y3             \
	VPSHUFB  kmin8<>+0(SB), Y6, Y8     \
	VPERMQ   $0x00, Y2, Y9             \
	VPMADDWD Y9, Y8, Y8                \
	VPSHUFB  kmin8<>+32(SB), Y6, Y6    \
	VPERMQ   $0x00, Y3, Y9             \
	VPMADDWD Y9, Y6, Y6                \
	VPADDD   Y8, Y6, Y6                \
	VPSHUFB  kmin8<>+0(SB), Y7, Y8     \
	VPERMQ   $0xaa, Y2, Y9             \
	VPMADDWD Y9, Y8, Y8                \
	VPADDD   Y8, Y6, Y6                \
	VPSHUFB  kmin8<>+32(SB), Y7, Y8    \
	VPERMQ   $0xaa, Y3, Y9             \
	VPMADDWD Y9, Y8, Y8                \
	VPADDD   Y8, Y6, Y6

// K4P8BODY is the loop of the one-vector kernels over packed Q4_K groups,
// PAIR (P8K4PAIR or P8K4VPAIR) adding a pair of sub-blocks; loop and done
// are its labels (arguments as q4KP8AVX2 loads them).
#define K4P8BODY(PAIR, loop, done) \
	NIBBLEMASK(X15, Y15)             \
	VPXOR Y0, Y0, Y0                 \
	TESTQ CX, CX                     \
	JZ    done                       \
loop:                                    \
	VMOVDQU   32(SI), Y1             \
	VMOVDQU   64(SI), Y2             \
	VMOVDQU   96(SI), Y3             \
	VPAND     kbytes3f<>(SB), Y1, Y4 \
	VPSRLD    $6, Y1, Y5             \
	VPAND     kbytes03<>(SB), Y5, Y5 \
	VPSLLD    $4, Y5, Y5             \
	VPAND     Y15, Y3, Y6            \
	VPOR      Y6, Y5, Y5             \
	VPAND     kbytes3f<>(SB), Y2, Y6 \
	VPSRLD    $6, Y2, Y7             \
	VPAND     kbytes03<>(SB), Y7, Y7 \
	VPSLLD    $4, Y7, Y7             \
	VPSRLD    $4, Y3, Y8             \
	VPAND     Y15, Y8, Y8            \
	VPOR      Y8, Y7, Y7             \
	P8K4MINS                         \
	VPXOR     Y11, Y11, Y11          \
	PAIR(0, Y4, 0)                   \
	PAIR(1, Y4, 2)                   \
	PAIR(2, Y5, 0)                   \
	PAIR(3, Y5, 2)                   \
	VMOVDQU      (SI), Y1            \
	VPSHUFB      kdw8<>(SB), Y1, Y1  \
	VPERMQ       $0xd8, Y1, Y1       \
	VCVTPH2PS    X1, Y2              \
	VEXTRACTI128 $1, Y1, X1          \
	VCVTPH2PS    X1, Y3              \
	VCVTDQ2PS    Y11, Y11            \
	VCVTDQ2PS    Y6, Y6              \
	VBROADCASTSS (R8), Y10           \
	VMULPS       Y2, Y10, Y2         \
	VMULPS       Y3, Y10, Y3         \
	VFMADD231PS  Y2, Y11, Y0         \
	VFNMADD231PS Y3, Y6, Y0          \
	ADDQ $1152, SI                   \
	ADDQ $256, DI                    \
	ADDQ $4, R8                      \
	ADDQ $32, R9                     \
	DECQ CX                          \
	JNZ  loop                        \
done:                                    \
	VMOVUPS Y0, (DX)

// func q4KP8AVX2(group *byte, q *int8, scale *float32, sum *int16, blocks int, out *[8]float32)
//
// A packed Q4_K group times one vector (its codes q, scales and sums per
// 16): out[i] = row i · x, as dotQ4KAVX2 computes it. Per super-block the
// scales and mins of the eight rows are decoded at once, as K8HEADER
// decodes them.
TEXT ·q4KP8AVX2(SB), NOSPLIT, $0-48
	P8ARGS
	K4P8BODY(P8K4PAIR, k4p8_loop, k4p8_done)
	VZEROUPPER
	RET

// K8FIRST starts sub-block j's int16 sums of the four vectors, Y8-Y11,
// with chunk 0.
#define K8FIRST(j) \
	VMOVDQU      (448+256*j)(SI), Y12      \
	VPBROADCASTD (32*j)(AX)(R12*1), Y8     \
	VPBROADCASTD (32*j)(DX)(R12*1), Y9     \
	VPBROADCASTD (32*j)(R9)(R12*1), Y10    \
	VPBROADCASTD (32*j)(R13)(R12*1), Y11   \
	VPMADDUBSW   Y8, Y12, Y8               \
	VPMADDUBSW   Y9, Y12, Y9               \
	VPMADDUBSW   Y10, Y12, Y10             \
	VPMADDUBSW   Y11, Y12, Y11

// K8CHUNK adds chunk c of sub-block j times the four vectors' codes to
// their int16 sums, Y8-Y11 (clobbers Y12-Y15).
#define K8CHUNK(j, c) \
	VMOVDQU      (448+256*j+32*c)(SI), Y12       \
	VPBROADCASTD (32*j+4*c)(AX)(R12*1), Y13      \
	VPBROADCASTD (32*j+4*c)(DX)(R12*1), Y14      \
	VPMADDUBSW   Y13, Y12, Y13                   \
	VPMADDUBSW   Y14, Y12, Y14                   \
	VPADDW       Y13, Y8, Y8                     \
	VPADDW       Y14, Y9, Y9                     \
	VPBROADCASTD (32*j+4*c)(R9)(R12*1), Y15      \
	VPBROADCASTD (32*j+4*c)(R13)(R12*1), Y13     \
	VPMADDUBSW   Y15, Y12, Y15                   \
	VPMADDUBSW   Y13, Y12, Y13                   \
	VPADDW       Y15, Y10, Y10                   \
	VPADDW       Y13, Y11, Y11

// K8SUB adds sub-block j's products of the four vectors times the rows'
// scales (made int16 pairs) to their int32 sums, Y4-Y7.
#define K8SUB(j) \
	K8FIRST(j)                        \
	K8CHUNK(j, 1)                     \
	K8CHUNK(j, 2)                     \
	K8CHUNK(j, 3)                     \
	K8CHUNK(j, 4)                     \
	K8CHUNK(j, 5)                     \
	K8CHUNK(j, 6)                     \
	K8CHUNK(j, 7)                     \
	VMOVDQU  (64+32*j)(SI), Y12       \
	VPSLLD   $16, Y12, Y13            \
	VPOR     Y13, Y12, Y12            \
	VPMADDWD Y12, Y8, Y8              \
	VPMADDWD Y12, Y9, Y9              \
	VPMADDWD Y12, Y10, Y10            \
	VPMADDWD Y12, Y11, Y11            \
	VPADDD   Y8, Y4, Y4               \
	VPADDD   Y9, Y5, Y5               \
	VPADDD   Y10, Y6, Y6              \
	VPADDD   Y11, Y7, Y7

// func q4KI8X4AVX2(il *byte, codes *[4]uintptr, quads *uint32, blocks int, out *[32]float32)
//
// Eight rows laid out by q4KInterleave8AVX2 times four vectors whose codes
// start at codes[v] and whose scales and sub-block sums are laid out by
// Batch.kQuads: out[8v+i] = row i · x_v, as dotQ4KAVX2 computes it.
TEXT ·q4KI8X4AVX2(SB), NOSPLIT, $0-40
	I8X4ARGS
	JZ     k8x4_done

k8x4_loop:
	K8BLOCK(K8SUB)
	JNZ  k8x4_loop

k8x4_done:
	I8X4OUT
	RET

// Q6_K, eight rows at a time, as Q4_K above. q6KInterleave8AVX2 lays a
// super-block of eight rows out in 2848 bytes:
//
//	0     d of each row (float32)
//	32    sub-block K's scale of each row, sign-extended to int32 (32
//	      bytes per K, K = 0..15)
//	544   scales 2k and 2k+1 of each row as two int16 (32 bytes per k)
//	800   sub-block K's codes 0–63 in four chunks of 32 bytes, chunk c
//	      holding codes 4c..4c+3 of each row (128 bytes per K)
//
// Two chunks' VPMADDUBSW sums add exactly in int16 (2·2·63·127 = 32004 <
// 32768) before a VPMADDWD with the scales. The stored codes are the
// values +32: Σ sc·(code−32)·x = Σ sc·code·x − 32·Σ sc·Σx, the second
// from the activations' sums per 16 with one VPMADDWD per two sub-blocks.
// The super-block's exact sum is added to the row's lane with one FMA
// (d·scale), as dotQ6KAVX2 adds it.

// Byte shuffles of the lay-out, the same in both lanes: ksx6 + 32b puts
// byte b of each dword in its top byte; kpx6 + 32h puts bytes 2h and 2h+1
// of each dword in the top bytes of its two words.
DATA ksx6<>+0(SB)/8, $0x0480808000808080
DATA ksx6<>+8(SB)/8, $0x0c80808008808080
DATA ksx6<>+16(SB)/8, $0x0480808000808080
DATA ksx6<>+24(SB)/8, $0x0c80808008808080
DATA ksx6<>+32(SB)/8, $0x0580808001808080
DATA ksx6<>+40(SB)/8, $0x0d80808009808080
DATA ksx6<>+48(SB)/8, $0x0580808001808080
DATA ksx6<>+56(SB)/8, $0x0d80808009808080
DATA ksx6<>+64(SB)/8, $0x0680808002808080
DATA ksx6<>+72(SB)/8, $0x0e8080800a808080
DATA ksx6<>+80(SB)/8, $0x0680808002808080
DATA ksx6<>+88(SB)/8, $0x0e8080800a808080
DATA ksx6<>+96(SB)/8, $0x0780808003808080
DATA ksx6<>+104(SB)/8, $0x0f8080800b808080
DATA ksx6<>+112(SB)/8, $0x0780808003808080
DATA ksx6<>+120(SB)/8, $0x0f8080800b808080
GLOBL ksx6<>(SB), RODATA|NOPTR, $128

DATA kpx6<>+0(SB)/8, $0x0580048001800080
DATA kpx6<>+8(SB)/8, $0x0d800c8009800880
DATA kpx6<>+16(SB)/8, $0x0580048001800080
DATA kpx6<>+24(SB)/8, $0x0d800c8009800880
DATA kpx6<>+32(SB)/8, $0x0780068003800280
DATA kpx6<>+40(SB)/8, $0x0f800e800b800a80
DATA kpx6<>+48(SB)/8, $0x0780068003800280
DATA kpx6<>+56(SB)/8, $0x0f800e800b800a80
GLOBL kpx6<>(SB), RODATA|NOPTR, $64

// K6ROWSD gathers the eight rows' d (the float16 at 208) into y as
// float32 (clobbers AX).
#define K6ROWSD(x, y) \
	MOVWLZX   208(SI), AX                   \
	VMOVD     AX, x                         \
	VPINSRW   $1, 208(SI)(BX*1), x, x       \
	VPINSRW   $2, 208(SI)(BX*2), x, x       \
	VPINSRW   $3, 208(SI)(R13*1), x, x      \
	VPINSRW   $4, 208(R11), x, x            \
	VPINSRW   $5, 208(R11)(BX*1), x, x      \
	VPINSRW   $6, 208(R11)(BX*2), x, x      \
	VPINSRW   $7, 208(R11)(R13*1), x, x     \
	VCVTPH2PS x, y

// K6SCALE stores byte b of each dword of src, sign-extended, as sub-block
// K's scales.
#define K6SCALE(b, src, K) \
	VPSHUFB ksx6<>+(32*b)(SB), src, Y8 \
	VPSRAD  $24, Y8, Y8                \
	VMOVDQU Y8, (32+32*K)(DI)

// K6PAIR stores bytes 2h, 2h+1 of each dword of src, sign-extended, as
// scales pair k.
#define K6PAIR(h, src, k) \
	VPSHUFB kpx6<>+(32*h)(SB), src, Y8 \
	VPSRAW  $8, Y8, Y8                 \
	VMOVDQU Y8, (544+32*k)(DI)

// K6HEADER lays out the eight rows' d and scales at DI (clobbers Y0-Y3,
// Y8-Y12).
#define K6HEADER \
	K6ROWSD(X12, Y12)                                               \
	VMOVUPS Y12, (DI)                                               \
	Q8ROWS16(192, X0, Y0, X1, Y1, X2, Y2, X3, Y3, Y8, Y9, Y10, Y11) \
	K6SCALESFROM

// K6SCALESFROM lays out the scales from the rows' scale bytes transposed
// into Y0-Y3 (clobbers Y8).
#define K6SCALESFROM \
	K6SCALE(0, Y0, 0)                                               \
	K6SCALE(1, Y0, 1)                                               \
	K6SCALE(2, Y0, 2)                                               \
	K6SCALE(3, Y0, 3)                                               \
	K6SCALE(0, Y1, 4)                                               \
	K6SCALE(1, Y1, 5)                                               \
	K6SCALE(2, Y1, 6)                                               \
	K6SCALE(3, Y1, 7)                                               \
	K6SCALE(0, Y2, 8)                                               \
	K6SCALE(1, Y2, 9)                                               \
	K6SCALE(2, Y2, 10)                                              \
	K6SCALE(3, Y2, 11)                                              \
	K6SCALE(0, Y3, 12)                                              \
	K6SCALE(1, Y3, 13)                                              \
	K6SCALE(2, Y3, 14)                                              \
	K6SCALE(3, Y3, 15)                                              \
	K6PAIR(0, Y0, 0)                                                \
	K6PAIR(1, Y0, 1)                                                \
	K6PAIR(0, Y1, 2)                                                \
	K6PAIR(1, Y1, 3)                                                \
	K6PAIR(0, Y2, 4)                                                \
	K6PAIR(1, Y2, 5)                                                \
	K6PAIR(0, Y3, 6)                                                \
	K6PAIR(1, Y3, 7)

// K6CODE stores chunk c of sub-block K: the nibble of ql (shifted right by
// s) with bits s2, s2+1 of qh above it (Y15: the nibble mask, Y14: bytes
// 0x03; clobbers Y8, Y9).
#define K6CODE(ql, s, qh, s2, K, c) \
	VPSRLW  $s, ql, Y8                  \
	VPAND   Y15, Y8, Y8                 \
	VPSRLW  $s2, qh, Y9                 \
	VPAND   Y14, Y9, Y9                 \
	VPSLLW  $4, Y9, Y9                  \
	VPOR    Y9, Y8, Y8                  \
	VMOVDQU Y8, (800+128*K+32*c)(DI)

// K6QUARTERS lays out the chunks of half n's codes l = 16h..16h+15 of
// quarters q and q+2 (sub-blocks 8n+2q+h and 8n+2q+4+h), their low bits
// the nibbles of the ql bytes in Y4-Y7 and their high bits bits 2q, 2q+1
// and 2q+4, 2q+5 of the qh bytes in Y0-Y3.
#define K6QUARTERS(n, h, q) \
	K6CODE(Y4, 0, Y0, (2*q), (8*n+2*q+h), 0)     \
	K6CODE(Y5, 0, Y1, (2*q), (8*n+2*q+h), 1)     \
	K6CODE(Y6, 0, Y2, (2*q), (8*n+2*q+h), 2)     \
	K6CODE(Y7, 0, Y3, (2*q), (8*n+2*q+h), 3)     \
	K6CODE(Y4, 4, Y0, (2*q+4), (8*n+2*q+4+h), 0) \
	K6CODE(Y5, 4, Y1, (2*q+4), (8*n+2*q+4+h), 1) \
	K6CODE(Y6, 4, Y2, (2*q+4), (8*n+2*q+4+h), 2) \
	K6CODE(Y7, 4, Y3, (2*q+4), (8*n+2*q+4+h), 3)

// K6CODES lays out codes l = 16h..16h+15 of the four quarters of half n.
#define K6CODES(n, h) \
	Q8ROWS16((128+32*n+16*h), X0, Y0, X1, Y1, X2, Y2, X3, Y3, Y8, Y9, Y10, Y11) \
	Q8ROWS16((64*n+16*h), X4, Y4, X5, Y5, X6, Y6, X7, Y7, Y8, Y9, Y10, Y11)     \
	K6QUARTERS(n, h, 0)                                                         \
	Q8ROWS16((64*n+32+16*h), X4, Y4, X5, Y5, X6, Y6, X7, Y7, Y8, Y9, Y10, Y11)  \
	K6QUARTERS(n, h, 1)

// P6CODES is K6CODES for a packed group: the ql and qh dwords are loads.
#define P6CODES(n, h) \
	P6DWORDS((768*n+384*h+64), Y0, Y1, Y2, Y3) \
	P6DWORDS((768*n+384*h), Y4, Y5, Y6, Y7)    \
	K6QUARTERS(n, h, 0)                        \
	P6DWORDS((768*n+384*h+32), Y4, Y5, Y6, Y7) \
	K6QUARTERS(n, h, 1)

// P6DWORDS loads the packed dwords of four consecutive steps of a half (at
// off, 96 bytes apart) into a-d.
#define P6DWORDS(off, a, b, c, d) \
	VMOVDQU off(SI), a         \
	VMOVDQU (off+96)(SI), b    \
	VMOVDQU (off+192)(SI), c   \
	VMOVDQU (off+288)(SI), d

// func q6KInterleave8AVX2(dst *byte, rows *byte, rb int, blocks int)
//
// Lays out blocks super-blocks of eight Q6_K rows rb bytes apart (rb may be
// 0) for q6KI8X4AVX2, 2848 bytes a super-block.
TEXT ·q6KInterleave8AVX2(SB), NOSPLIT, $0-32
	ILARGS
	BYTESOF(0x03030303, X14, Y14)
	TESTQ CX, CX
	JZ    k6il_done

k6il_loop:
	PREFETCHT1 (R12)
	PREFETCHT1 64(R12)
	PREFETCHT1 128(R12)
	PREFETCHT1 192(R12)
	K6HEADER
	K6CODES(0, 0)
	K6CODES(0, 1)
	K6CODES(1, 0)
	K6CODES(1, 1)
	Q8ROWSNEXT(210)
	ADDQ $2848, DI
	DECQ CX
	JNZ  k6il_loop

k6il_done:
	VZEROUPPER
	RET

// A packed Q6_K group (see q6KGroupBytes) holds the eight rows' dwords of
// ql and qh in the order q6KP8AVX2 reads them, 96 bytes a step, then their
// scales and d.

// func q6KPackedInterleave8AVX2(dst *byte, group *byte, blocks int)
//
// Lays a packed Q6_K group out as q6KInterleave8AVX2 lays out eight stored
// rows.
TEXT ·q6KPackedInterleave8AVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ group+8(FP), SI
	MOVQ blocks+16(FP), CX
	NIBBLEMASK(X15, Y15)
	BYTESOF(0x03030303, X14, Y14)
	TESTQ CX, CX
	JZ    k6pil_done

k6pil_loop:
	VCVTPH2PS 1664(SI), Y12
	VMOVUPS   Y12, (DI)
	VMOVDQU 1536(SI), Y0
	VMOVDQU 1568(SI), Y1
	VMOVDQU 1600(SI), Y2
	VMOVDQU 1632(SI), Y3
	K6SCALESFROM
	P6CODES(0, 0)
	P6CODES(0, 1)
	P6CODES(1, 0)
	P6CODES(1, 1)
	ADDQ $1680, SI
	ADDQ $2848, DI
	DECQ CX
	JNZ  k6pil_loop

k6pil_done:
	VZEROUPPER
	RET

// kss6 + 32b puts byte b of each dword in the top bytes of its two words:
// a sub-block's scales as int16 pairs once shifted down.
DATA kss6<>+0(SB)/8, $0x0480048000800080
DATA kss6<>+8(SB)/8, $0x0c800c8008800880
DATA kss6<>+16(SB)/8, $0x0480048000800080
DATA kss6<>+24(SB)/8, $0x0c800c8008800880
DATA kss6<>+32(SB)/8, $0x0580058001800180
DATA kss6<>+40(SB)/8, $0x0d800d8009800980
DATA kss6<>+48(SB)/8, $0x0580058001800180
DATA kss6<>+56(SB)/8, $0x0d800d8009800980
DATA kss6<>+64(SB)/8, $0x0680068002800280
DATA kss6<>+72(SB)/8, $0x0e800e800a800a80
DATA kss6<>+80(SB)/8, $0x0680068002800280
DATA kss6<>+88(SB)/8, $0x0e800e800a800a80
DATA kss6<>+96(SB)/8, $0x0780078003800380
DATA kss6<>+104(SB)/8, $0x0f800f800b800b80
DATA kss6<>+112(SB)/8, $0x0780078003800380
DATA kss6<>+120(SB)/8, $0x0f800f800b800b80
GLOBL kss6<>(SB), RODATA|NOPTR, $128

DATA kbytes30<>+0(SB)/8, $0x3030303030303030
DATA kbytes30<>+8(SB)/8, $0x3030303030303030
DATA kbytes30<>+16(SB)/8, $0x3030303030303030
DATA kbytes30<>+24(SB)/8, $0x3030303030303030
GLOBL kbytes30<>(SB), RODATA|NOPTR, $32

// P6Q adds the codes in Y9 times the vector's four codes at x to the int16
// sums s (clobbers Y9, Y11).
#define P6Q(x, s) \
	VPBROADCASTD x(DI), Y11 \
	VPMADDUBSW   Y11, Y9, Y9 \
	VPADDW       Y9, s, s

// P6CHUNK adds codes l = 4k..4k+3 of half n's four quarters (the ql
// dwords k and 8+k, the qh dword k of the half) times the vector's codes
// to the quarters' sums, Y2-Y5, through Q: P6Q (int16 sums) or P6QV (int32)
// (Y15: nibble mask, Y14: bytes 0x30; clobbers Y6-Y11). It prefetches its step of the super-block two on: the
// hardware prefetchers alone leave the kernel waiting.
#define P6CHUNK(n, k, Q) \
	PREFETCHT0 (768*n+96*k+3360)(SI)  \
	PREFETCHT0 (768*n+96*k+3424)(SI)  \
	VMOVDQU (768*n+96*k)(SI), Y6      \
	VMOVDQU (768*n+96*k+32)(SI), Y7   \
	VMOVDQU (768*n+96*k+64)(SI), Y8   \
	VPAND   Y15, Y6, Y9               \
	VPSLLW  $4, Y8, Y10               \
	VPAND   Y14, Y10, Y10             \
	VPOR    Y10, Y9, Y9               \
	Q((128*n+4*k), Y2)              \
	VPAND   Y15, Y7, Y9               \
	VPSLLW  $2, Y8, Y10               \
	VPAND   Y14, Y10, Y10             \
	VPOR    Y10, Y9, Y9               \
	Q((128*n+32+4*k), Y3)           \
	VPSRLW  $4, Y6, Y9                \
	VPAND   Y15, Y9, Y9               \
	VPAND   Y14, Y8, Y10              \
	VPOR    Y10, Y9, Y9               \
	Q((128*n+64+4*k), Y4)           \
	VPSRLW  $4, Y7, Y9                \
	VPAND   Y15, Y9, Y9               \
	VPSRLW  $2, Y8, Y10               \
	VPAND   Y14, Y10, Y10             \
	VPOR    Y10, Y9, Y9               \
	Q((128*n+96+4*k), Y5)

// P6SCALE adds the int16 sums s of a sub-block times its scales (byte b
// of the packed scale dword d) to the int32 sums in Y1 (clobbers Y12).
#define P6SCALE(s, d, b) \
	VMOVDQU  (1536+32*(d))(SI), Y12      \
	VPSHUFB  kss6<>+(32*(b))(SB), Y12, Y12 \
	VPSRAW   $8, Y12, Y12                \
	VPMADDWD Y12, s, s                   \
	VPADDD   s, Y1, Y1

// P6HALF adds half n's codes l = k..k+7 (sub-blocks 8n+2q+h of the four
// quarters q) times the vector's codes and the scales to Y1: two chunks'
// sums add exactly in int16 (2·2·63·127 = 32004 < 32768).
#define P6HALF(n, k, h) \
	VPXOR Y2, Y2, Y2               \
	VPXOR Y3, Y3, Y3               \
	VPXOR Y4, Y4, Y4               \
	VPXOR Y5, Y5, Y5               \
	P6CHUNK(n, k, P6Q)             \
	P6CHUNK(n, (k+1), P6Q)         \
	P6SCALE(Y2, (2*n), h)          \
	P6SCALE(Y3, (2*n), (2+h))      \
	P6SCALE(Y4, (2*n+1), h)        \
	P6SCALE(Y5, (2*n+1), (2+h))

// P6CORRD adds scale pairs 2d and 2d+1 (the packed scale dword d) times
// the vector's sums per 16 in pairs (at R9) to Y10 (clobbers Y11-Y13).
#define P6CORRD(d) \
	VMOVDQU      (1536+32*d)(SI), Y12    \
	VPSHUFB      kpx6<>+0(SB), Y12, Y13  \
	VPSRAW       $8, Y13, Y13            \
	VPBROADCASTD (8*d)(R9), Y11          \
	VPMADDWD     Y11, Y13, Y13           \
	VPADDD       Y13, Y10, Y10           \
	VPSHUFB      kpx6<>+32(SB), Y12, Y13 \
	VPSRAW       $8, Y13, Y13            \
	VPBROADCASTD (8*d+4)(R9), Y11        \
	VPMADDWD     Y11, Y13, Y13           \
	VPADDD       Y13, Y10, Y10

// K6P8END ends a super-block of the one-vector kernels over packed Q6_K
// groups: the −32·Σsc·Σx correction, d·d_x times the sums added to the
// rows' lanes, the pointers moved on, and back to loop while any is left.
#define K6P8END(loop) \
	VPXOR   Y10, Y10, Y10      \
	P6CORRD(0)                 \
	P6CORRD(1)                 \
	P6CORRD(2)                 \
	P6CORRD(3)                 \
	VPSLLD       $5, Y10, Y10  \
	VPSUBD       Y10, Y1, Y1   \
	VCVTDQ2PS    Y1, Y1        \
	VCVTPH2PS    1664(SI), Y12 \
	VBROADCASTSS (R8), Y13     \
	VMULPS       Y12, Y13, Y13 \
	VFMADD231PS  Y13, Y1, Y0   \
	ADDQ $1680, SI             \
	ADDQ $256, DI              \
	ADDQ $4, R8                \
	ADDQ $32, R9               \
	DECQ CX                    \
	JNZ  loop

// K6P8HALVES and K6P8HALVESV add a super-block's codes times the vector's
// and the scales to Y1: P6HALF two chunks at a time in int16, P6HALFV
// four at a time in int32.
#define K6P8HALVES \
	P6HALF(0, 0, 0) \
	P6HALF(0, 2, 0) \
	P6HALF(0, 4, 1) \
	P6HALF(0, 6, 1) \
	P6HALF(1, 0, 0) \
	P6HALF(1, 2, 0) \
	P6HALF(1, 4, 1) \
	P6HALF(1, 6, 1)

#define K6P8HALVESV \
	P6HALFV(0, 0, 0) \
	P6HALFV(0, 4, 1) \
	P6HALFV(1, 0, 0) \
	P6HALFV(1, 4, 1)

// K6P8BODY is the body of the one-vector kernels over packed Q6_K groups
// (arguments as P8ARGS loads them), HALVES taking a super-block's codes;
// loop and done are its labels.
#define K6P8BODY(HALVES, loop, done) \
	NIBBLEMASK(X15, Y15)        \
	VMOVDQU kbytes30<>(SB), Y14 \
	VPXOR   Y0, Y0, Y0          \
	TESTQ   CX, CX              \
	JZ      done                \
loop:                           \
	VPXOR   Y1, Y1, Y1          \
	HALVES                      \
	K6P8END(loop)               \
done:                           \
	VMOVUPS Y0, (DX)            \
	VZEROUPPER                  \
	RET

// func q6KP8AVX2(group *byte, q *int8, scale *float32, sum *int16, blocks int, out *[8]float32)
//
// A packed Q6_K group times one vector (its codes, scales and sums per
// 16): out[i] = row i · x, as dotQ6KAVX2 computes it: per super-block the
// exact Σ sc·code·x − 32·Σ sc·Σx, then one FMA.
TEXT ·q6KP8AVX2(SB), NOSPLIT, $0-48
	P8ARGS
	K6P8BODY(K6P8HALVES, k6p8_loop, k6p8_done)

// K6VEC adds sub-block K's products of one vector (codes at x past its
// pointer, R12 on) times the scales in Y12 to its sums i (chunks in
// Y8-Y11; clobbers Y13-Y15).
#define K6VEC(K, x, i) \
	VPBROADCASTD (16*K)(x)(R12*1), Y13      \
	VPMADDUBSW   Y13, Y8, Y13               \
	VPBROADCASTD (16*K+4)(x)(R12*1), Y14    \
	VPMADDUBSW   Y14, Y9, Y14               \
	VPADDW       Y14, Y13, Y13              \
	VPBROADCASTD (16*K+8)(x)(R12*1), Y14    \
	VPMADDUBSW   Y14, Y10, Y14              \
	VPBROADCASTD (16*K+12)(x)(R12*1), Y15   \
	VPMADDUBSW   Y15, Y11, Y15              \
	VPADDW       Y15, Y14, Y14              \
	VPMADDWD     Y12, Y13, Y13              \
	VPMADDWD     Y12, Y14, Y14              \
	VPADDD       Y13, i, i                  \
	VPADDD       Y14, i, i

// K6SUB adds sub-block K's products of the four vectors times the rows'
// scales (made int16 pairs) to their sums, Y4-Y7.
#define K6SUB(K) \
	VMOVDQU  (800+128*K)(SI), Y8     \
	VMOVDQU  (800+128*K+32)(SI), Y9  \
	VMOVDQU  (800+128*K+64)(SI), Y10 \
	VMOVDQU  (800+128*K+96)(SI), Y11 \
	VMOVDQU  (32+32*K)(SI), Y12      \
	VPSLLD   $16, Y12, Y13           \
	VPBLENDW $0xaa, Y13, Y12, Y12    \
	K6VEC(K, AX, Y4)                 \
	K6VEC(K, DX, Y5)                 \
	K6VEC(K, R9, Y6)                 \
	K6VEC(K, R13, Y7)

// func q6KI8X4AVX2(il *byte, codes *[4]uintptr, quads *uint32, blocks int, out *[32]float32)
//
// Eight rows laid out by q6KInterleave8AVX2 times four vectors whose codes
// start at codes[v] and whose scales and sums are laid out by
// Batch.k6Quads: out[8v+i] = row i · x_v, as dotQ6KAVX2 computes it.
TEXT ·q6KI8X4AVX2(SB), NOSPLIT, $0-40
	I8X4ARGS
	JZ     k6x4_done

k6x4_loop:
	K6BLOCK(K6SUB)
	JNZ  k6x4_loop

k6x4_done:
	I8X4OUT
	RET

// P8K4VCHUNK is P8K4CHUNK with VNNI: packed code dword 8p+k of the eight
// rows times the vector's codes, added to the int32 sums lo (sub-block 2p)
// and hi (2p+1) (clobbers Y8, Y9).
#define P8K4VCHUNK(p, k, lo, hi) \
	VMOVDQU       (128+256*p+32*k)(SI), Y8 \
	VPSRLW        $4, Y8, Y9                \
	VPAND         Y15, Y8, Y8               \
	VPAND         Y15, Y9, Y9               \
	VPDPBUSD.BCST (64*p+4*k)(DI), Y8, lo     \
	VPDPBUSD.BCST (64*p+32+4*k)(DI), Y9, hi

// P8K4VSCALE adds the int32 sums s of a sub-block times its scales (byte b
// of each dword of sc, made a dword by ksc8) to Y11 (clobbers Y14).
#define P8K4VSCALE(s, sc, b) \
	VPSHUFB ksc8<>+(32*(b))(SB), sc, Y14 \
	VPMULLD Y14, s, s                    \
	VPADDD  s, Y11, Y11

// P8K4VPAIR is P8K4PAIR with VNNI: sub-blocks 2p and 2p+1 times their
// scales (bytes b and b+1 of each dword of sc) added to Y11, the chunks'
// sums in two chains per sub-block (Y12, Y16 and Y13, Y17).
#define P8K4VPAIR(p, sc, b) \
	VPXORD     Y12, Y12, Y12       \
	VPXORD     Y13, Y13, Y13       \
	VPXORD     Y16, Y16, Y16       \
	VPXORD     Y17, Y17, Y17       \
	P8K4VCHUNK(p, 0, Y12, Y13)     \
	P8K4VCHUNK(p, 1, Y16, Y17)     \
	P8K4VCHUNK(p, 2, Y12, Y13)     \
	P8K4VCHUNK(p, 3, Y16, Y17)     \
	P8K4VCHUNK(p, 4, Y12, Y13)     \
	P8K4VCHUNK(p, 5, Y16, Y17)     \
	P8K4VCHUNK(p, 6, Y12, Y13)     \
	P8K4VCHUNK(p, 7, Y16, Y17)     \
	VPADDD     Y16, Y12, Y12       \
	VPADDD     Y17, Y13, Y13       \
	P8K4VSCALE(Y12, sc, b)         \
	P8K4VSCALE(Y13, sc, b+1)

// func q4KP8VNNI(group *byte, q *int8, scale *float32, sum *int16, blocks int, out *[8]float32)
//
// q4KP8AVX2 with AVX-512 VNNI: a chunk of codes times the vector's is one
// VPDPBUSD into int32 sums, which VPMULLD scales; the same exact integers,
// so the same bits.
TEXT ·q4KP8VNNI(SB), NOSPLIT, $0-48
	P8ARGS
	K4P8BODY(P8K4VPAIR, k4p8v_loop, k4p8v_done)
	VZEROUPPER
	RET

// P6QV is P6Q with VNNI: the codes in Y9 times the vector's four codes at
// x added to the int32 sums s.
#define P6QV(x, s) \
	VPDPBUSD.BCST x(DI), Y9, s

// P6SCALEV adds the int32 sums s of a sub-block times its scales (byte b
// of the packed scale dword d, sign-extended) to Y1 (clobbers Y12).
#define P6SCALEV(s, d, b) \
	VMOVDQU (1536+32*(d))(SI), Y12         \
	VPSHUFB ksx6<>+(32*(b))(SB), Y12, Y12 \
	VPSRAD  $24, Y12, Y12                  \
	VPMULLD Y12, s, s                      \
	VPADDD  s, Y1, Y1

// P6HALFV adds half n's codes l = k..k+15 (sub-blocks 8n+2q+h of the
// four quarters q) times the vector's codes and the scales to Y1.
#define P6HALFV(n, k, h) \
	VPXOR Y2, Y2, Y2               \
	VPXOR Y3, Y3, Y3               \
	VPXOR Y4, Y4, Y4               \
	VPXOR Y5, Y5, Y5               \
	P6CHUNK(n, k, P6QV)            \
	P6CHUNK(n, (k+1), P6QV)        \
	P6CHUNK(n, (k+2), P6QV)        \
	P6CHUNK(n, (k+3), P6QV)        \
	P6SCALEV(Y2, (2*n), h)         \
	P6SCALEV(Y3, (2*n), (2+h))     \
	P6SCALEV(Y4, (2*n+1), h)       \
	P6SCALEV(Y5, (2*n+1), (2+h))

// func q6KP8VNNI(group *byte, q *int8, scale *float32, sum *int16, blocks int, out *[8]float32)
//
// q6KP8AVX2 with AVX-512 VNNI: a chunk of codes times the vector's is one
// VPDPBUSD into int32 sums, which VPMULLD scales; the same exact integers,
// so the same bits.
TEXT ·q6KP8VNNI(SB), NOSPLIT, $0-48
	P8ARGS
	K6P8BODY(K6P8HALVESV, k6p8v_loop, k6p8v_done)
