#include "textflag.h"
#include "simd_amd64.h"

// AVX2 register tiles for F32 and F16 rows: four rows by three vectors,
// four rows by one, and one row by one. Every product keeps one
// accumulator of eight lanes, adds its eight-element chunks to it in
// order and sums the lanes the same way (HSUMR), so each kernel gives the
// bits the others give for the same row and vector.

// TARGS loads a tile's arguments: the rows SI, R12, R13 and R14 (rb bytes
// apart) and n>>3 chunks in CX.
#define TARGS \
	MOVQ a+0(FP), SI         \
	MOVQ rb+8(FP), BX        \
	LEAQ (SI)(BX*1), R12     \
	LEAQ (SI)(BX*2), R13     \
	LEAQ (R12)(BX*2), R14    \
	MOVQ n+24(FP), CX        \
	SHRQ $3, CX

// FMA3(a0, a1, a2) adds the weights in Y15 times the three vectors' chunk
// in Y12-Y14 to a0-a2.
#define FMA3(a0, a1, a2) \
	VFMADD231PS Y12, Y15, a0 \
	VFMADD231PS Y13, Y15, a1 \
	VFMADD231PS Y14, Y15, a2

// STORE(y, x, at) stores the sum of y's lanes at at(DX) (clobbers x, X15).
#define STORE(y, x, at) \
	HSUMR(y, x, X15) \
	VMOVSS x, at(DX)

// STORE12 stores the twelve products of a four-by-three tile, vector by
// vector: out[4v+r] from the accumulator of row r and vector v.
#define STORE12 \
	STORE(Y0, X0, 0)   \
	STORE(Y3, X3, 4)   \
	STORE(Y6, X6, 8)   \
	STORE(Y9, X9, 12)  \
	STORE(Y1, X1, 16)  \
	STORE(Y4, X4, 20)  \
	STORE(Y7, X7, 24)  \
	STORE(Y10, X10, 28) \
	STORE(Y2, X2, 32)  \
	STORE(Y5, X5, 36)  \
	STORE(Y8, X8, 40)  \
	STORE(Y11, X11, 44)

// STORE4 stores the four products of a four-by-one tile.
#define STORE4 \
	STORE(Y0, X0, 0) \
	STORE(Y1, X1, 4) \
	STORE(Y2, X2, 8) \
	STORE(Y3, X3, 12)

// T43STEPX adds one chunk of each of the four rows, at woff past their
// offset R11 (LOAD: VMOVUPS for F32, VCVTPH2PS for F16), times the three
// vectors' chunk, at xoff past R11·bs, to the twelve accumulators.
#define T43STEPX(LOAD, bs, woff, xoff) \
	VMOVUPS xoff(R8)(R11*bs), Y12  \
	VMOVUPS xoff(R9)(R11*bs), Y13  \
	VMOVUPS xoff(R10)(R11*bs), Y14 \
	LOAD    woff(SI)(R11*1), Y15   \
	FMA3(Y0, Y1, Y2)               \
	LOAD    woff(R12)(R11*1), Y15  \
	FMA3(Y3, Y4, Y5)               \
	LOAD    woff(R13)(R11*1), Y15  \
	FMA3(Y6, Y7, Y8)               \
	LOAD    woff(R14)(R11*1), Y15  \
	FMA3(Y9, Y10, Y11)

// T43LOOP runs T43STEPX over the CX chunks of w row bytes each, two at a
// time, then the odd one (clobbers AX, R11); loop, one and done are its
// labels.
#define T43LOOP(LOAD, bs, w, loop, one, done) \
	XORQ R11, R11                  \
	MOVQ CX, AX                    \
	SHRQ $1, AX                    \
	JZ   one                       \
loop:                              \
	T43STEPX(LOAD, bs, 0, 0)       \
	T43STEPX(LOAD, bs, w, 32)      \
	ADDQ $(2*w), R11               \
	DECQ AX                        \
	JNZ  loop                      \
one:                               \
	ANDQ $1, CX                    \
	JZ   done                      \
	T43STEPX(LOAD, bs, 0, 0)       \
done:

// R4CHUNK adds the four rows' chunk at woff times the vector's chunk at
// xoff(DI) to Y0-Y3 (LOAD as for T43STEPX).
#define R4CHUNK(LOAD, xoff, woff) \
	VMOVUPS     xoff(DI), Y4 \
	LOAD        woff(SI), Y5 \
	VFMADD231PS Y4, Y5, Y0   \
	LOAD        woff(R12), Y5 \
	VFMADD231PS Y4, Y5, Y1   \
	LOAD        woff(R13), Y5 \
	VFMADD231PS Y4, Y5, Y2   \
	LOAD        woff(R14), Y5 \
	VFMADD231PS Y4, Y5, Y3

// ROWS4 moves the four row pointers w bytes on.
#define ROWS4(w) \
	ADDQ $w, SI  \
	ADDQ $w, R12 \
	ADDQ $w, R13 \
	ADDQ $w, R14

// PREFETCHNEXT prefetches into L2 the next 256 bytes of the four rows after
// these (R9), in memory order: a step reads 64 bytes of each row, so the
// four after are in L2 by the time their step comes. Four interleaved row
// streams are more than the hardware prefetchers follow at full speed, and
// rows of several KB are too far ahead for L1.
#define PREFETCHNEXT \
	PREFETCHT1 (R9)    \
	PREFETCHT1 64(R9)  \
	PREFETCHT1 128(R9) \
	PREFETCHT1 192(R9) \
	ADDQ       $256, R9

// T43ARGS loads the four-by-three tile's arguments and clears its
// accumulators.
#define T43ARGS \
	TARGS                \
	MOVQ b+16(FP), AX    \
	MOVQ (AX), R8        \
	MOVQ 8(AX), R9       \
	MOVQ 16(AX), R10     \
	MOVQ out+32(FP), DX  \
	ZERO12

// R4ARGS loads the four-by-one tile's arguments, clears its accumulators
// and sets AX to the chunks over u (chunks of 64 row bytes, 1<<shift).
#define R4ARGS(shift) \
	TARGS               \
	LEAQ (SI)(BX*4), R9 \
	MOVQ b+16(FP), DI   \
	MOVQ out+32(FP), DX \
	VPXOR Y0, Y0, Y0    \
	VPXOR Y1, Y1, Y1    \
	VPXOR Y2, Y2, Y2    \
	VPXOR Y3, Y3, Y3    \
	MOVQ CX, AX         \
	SHRQ $shift, AX

// R1ARGS loads the one-by-one kernel's arguments and clears Y0.
#define R1ARGS \
	MOVQ  a+0(FP), SI  \
	MOVQ  b+8(FP), DI  \
	MOVQ  n+16(FP), CX \
	SHRQ  $3, CX       \
	VPXOR Y0, Y0, Y0

// R1STEP adds one chunk of the row times the vector's to Y0.
#define R1STEP(LOAD, w) \
	VMOVUPS     (DI), Y4 \
	LOAD        (SI), Y5 \
	VFMADD231PS Y4, Y5, Y0 \
	ADDQ        $w, SI   \
	ADDQ        $32, DI

// func f32T4x3AVX2(a *float32, rb int, b *[3]*float32, n int, out *[12]float32)
//
// Four rows rb bytes apart times three vectors over n&^7 elements:
// out[4v+r] = row r · b[v].
TEXT ·f32T4x3AVX2(SB), NOSPLIT, $0-40
	T43ARGS
	T43LOOP(VMOVUPS, 1, 32, f32t43_loop, f32t43_one, f32t43_done)
	STORE12
	VZEROUPPER
	RET

// func f32R4AVX2(a *float32, rb int, b *float32, n int, out *[4]float32)
//
// Four rows rb bytes apart times one vector over n&^7 elements: out[r] =
// row r · b; the rows are prefetched as they stream.
TEXT ·f32R4AVX2(SB), NOSPLIT, $0-40
	R4ARGS(1)
	JZ   f32r4_one

f32r4_loop:
	PREFETCHNEXT
	R4CHUNK(VMOVUPS, 0, 0)
	R4CHUNK(VMOVUPS, 32, 32)
	ROWS4(64)
	ADDQ $64, DI
	DECQ AX
	JNZ  f32r4_loop

f32r4_one:
	ANDQ $1, CX
	JZ   f32r4_done

f32r4_oneloop:
	R4CHUNK(VMOVUPS, 0, 0)
	ROWS4(32)
	ADDQ $32, DI
	DECQ CX
	JNZ  f32r4_oneloop

f32r4_done:
	STORE4
	VZEROUPPER
	RET

// func f32R1AVX2(a *float32, b *float32, n int) float32
//
// One row times one vector over n&^7 elements, as the tiles compute it.
TEXT ·f32R1AVX2(SB), NOSPLIT, $0-28
	R1ARGS
	TESTQ CX, CX
	JZ    f32r1_done

f32r1_loop:
	R1STEP(VMOVUPS, 32)
	DECQ CX
	JNZ  f32r1_loop

f32r1_done:
	HSUMR(Y0, X0, X1)
	VZEROUPPER
	MOVSS X0, ret+24(FP)
	RET

// func f16T4x3AVX2(a *uint16, rb int, b *[3]*float32, n int, out *[12]float32)
//
// Four rows rb bytes apart times three vectors over n&^7 elements:
// out[4v+r] = row r · b[v].
TEXT ·f16T4x3AVX2(SB), NOSPLIT, $0-40
	T43ARGS
	T43LOOP(VCVTPH2PS, 2, 16, f16t43_loop, f16t43_one, f16t43_done)
	STORE12
	VZEROUPPER
	RET

// func f16R4AVX2(a *uint16, rb int, b *float32, n int, out *[4]float32)
//
// Four rows rb bytes apart times one vector over n&^7 elements: out[r] =
// row r · b; the rows are prefetched as they stream.
TEXT ·f16R4AVX2(SB), NOSPLIT, $0-40
	R4ARGS(2)
	JZ   f16r4_one

f16r4_loop:
	PREFETCHNEXT
	R4CHUNK(VCVTPH2PS, 0, 0)
	R4CHUNK(VCVTPH2PS, 32, 16)
	R4CHUNK(VCVTPH2PS, 64, 32)
	R4CHUNK(VCVTPH2PS, 96, 48)
	ROWS4(64)
	ADDQ $128, DI
	DECQ AX
	JNZ  f16r4_loop

f16r4_one:
	ANDQ $3, CX
	JZ   f16r4_done

f16r4_oneloop:
	R4CHUNK(VCVTPH2PS, 0, 0)
	ROWS4(16)
	ADDQ $32, DI
	DECQ CX
	JNZ  f16r4_oneloop

f16r4_done:
	STORE4
	VZEROUPPER
	RET

// func f16R1AVX2(a *uint16, b *float32, n int) float32
//
// One row times one vector over n&^7 elements, as the tiles compute it.
TEXT ·f16R1AVX2(SB), NOSPLIT, $0-28
	R1ARGS
	TESTQ CX, CX
	JZ    f16r1_done

f16r1_loop:
	R1STEP(VCVTPH2PS, 16)
	DECQ CX
	JNZ  f16r1_loop

f16r1_done:
	HSUMR(Y0, X0, X1)
	VZEROUPPER
	MOVSS X0, ret+24(FP)
	RET

// P8F16 adds the packed group's chunk of row i (at 16i past SI) times the
// vector's chunk in Y8 to acc (clobbers Y9).
#define P8F16(i, acc) \
	VCVTPH2PS   (16*i)(SI), Y9 \
	VFMADD231PS Y8, Y9, acc

// func f16P8AVX2(group *uint16, b *float32, n int, out *[8]float32)
//
// A packed F16 group (eight rows interleaved eight columns at a time) times
// one vector over n&^7 elements: out[i] = row i · b, as the tiles compute
// it. The group is one stream the hardware prefetchers follow.
TEXT ·f16P8AVX2(SB), NOSPLIT, $0-32
	MOVQ  group+0(FP), SI
	MOVQ  b+8(FP), DI
	MOVQ  n+16(FP), CX
	MOVQ  out+24(FP), DX
	SHRQ  $3, CX
	ZERO8
	TESTQ CX, CX
	JZ    f16p8_done

f16p8_loop:
	VMOVUPS (DI), Y8
	P8F16(0, Y0)
	P8F16(1, Y1)
	P8F16(2, Y2)
	P8F16(3, Y3)
	P8F16(4, Y4)
	P8F16(5, Y5)
	P8F16(6, Y6)
	P8F16(7, Y7)
	ADDQ $128, SI
	ADDQ $32, DI
	DECQ CX
	JNZ  f16p8_loop

f16p8_done:
	STORE4
	STORE(Y4, X4, 16)
	STORE(Y5, X5, 20)
	STORE(Y6, X6, 24)
	STORE(Y7, X7, 28)
	VZEROUPPER
	RET

// P43STEP adds the half group's chunk of rows 0-3 (at 0, 16, 32 and 48 past
// SI) times the three vectors' chunk (at R11 past R8, R9 and R10) to the
// twelve accumulators.
#define P43STEP \
	VMOVUPS   (R8)(R11*1), Y12  \
	VMOVUPS   (R9)(R11*1), Y13  \
	VMOVUPS   (R10)(R11*1), Y14 \
	VCVTPH2PS (SI), Y15         \
	FMA3(Y0, Y1, Y2)            \
	VCVTPH2PS 16(SI), Y15       \
	FMA3(Y3, Y4, Y5)            \
	VCVTPH2PS 32(SI), Y15       \
	FMA3(Y6, Y7, Y8)            \
	VCVTPH2PS 48(SI), Y15       \
	FMA3(Y9, Y10, Y11)          \
	ADDQ      $128, SI          \
	ADDQ      $32, R11

// func f16P4x3AVX2(half *uint16, b *[3]*float32, n int, dst *float32, ld int)
//
// Four rows of a packed F16 group (half: the group, or 64 bytes past it for
// rows 4-7) times three vectors over n&^7 elements: dst[v·ld + r] = row r ·
// b[v], with the bits of the tiles over stored rows.
TEXT ·f16P4x3AVX2(SB), NOSPLIT, $0-40
	MOVQ half+0(FP), SI
	MOVQ b+8(FP), AX
	MOVQ (AX), R8
	MOVQ 8(AX), R9
	MOVQ 16(AX), R10
	MOVQ n+16(FP), CX
	MOVQ dst+24(FP), DX
	MOVQ ld+32(FP), R12
	SHLQ $2, R12
	SHRQ $3, CX
	XORQ R11, R11
	ZERO12
	TESTQ CX, CX
	JZ    f16p43_done

f16p43_loop:
	P43STEP
	DECQ CX
	JNZ  f16p43_loop

f16p43_done:
	HSUMR4(Y0, Y3, Y6, Y9, Y12, Y13, Y14, Y15, X14, X15, (DX))
	ADDQ R12, DX
	HSUMR4(Y1, Y4, Y7, Y10, Y12, Y13, Y14, Y15, X14, X15, (DX))
	ADDQ R12, DX
	HSUMR4(Y2, Y5, Y8, Y11, Y12, Y13, Y14, Y15, X14, X15, (DX))
	VZEROUPPER
	RET
