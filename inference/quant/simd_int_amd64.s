#include "textflag.h"
#include "simd_amd64.h"

// AVX-512 kernels of the Int formats (int.go's layout; simd_int_amd64.go has
// the Go side). They need AVX-512 F, BW, VL, VNNI, VBMI and GFNI, and for
// int3 BITALG (VPSHUFBITQMB).
//
// The kernels work a superblock of 16 chunks (512 weights) at a time. The
// weight codes are unpacked to unsigned bytes u = q + 2^(b−1) (int8: q XOR
// 0x80, u = q + 128) and multiplied with the activation codes by VPDPBUSD
// (u unsigned, x signed: no overflow, |Σ| < 2^20 per lane). The activations
// are first laid out per vector (prepIntT4AVX512, prepIntP2AVX512: 704
// bytes per superblock) so that the cheapest unpacking of each format meets
// them lane for lane:
//
//	bytes   0–511  X: the superblock's 512 codes, reordered (below)
//	      512–575  init: −2^(b−1)·xsum of the chunk in each of 16 lanes
//	      576–639  xs: the chunk's activation scale per lane
//	      640–703  xs·xsum per lane (used by asymmetric rows)
//
// Each format's VPDPBUSDs and a short reduction tree (VPUNPCK*QDQ,
// VSHUFPS, VPADDD) leave S_k + 2^(b−1)·xsum_k, one chunk per int32 lane, and
// adding init gives exactly the S_k of int_dot.go, an integer. The float part
// per superblock is then
//
//	acc += d_k · (float(S_k) · xs_k)          (VMULPS, VFMADD231PS)
//	acc += m_k · (xs_k·xsum_k)                (asymmetric rows)
//
// with d_k (m_k) the float16 scale (offset) of chunk k's group, gathered to
// the lanes from the row's scale array by VPERMW with a per-shape table
// (intTable: 16 word indices, the window's byte offset and a load mask per
// superblock) and widened by VCVTPH2PS. The 16 lanes are summed at the end of
// the row (HSUMZ0, or HSUM4 for four vectors, the same tree). Every kernel
// (rows, four vectors, and the one-row dot built on the rows kernel) does the
// same integer and float operations per row and vector in the same order, so
// they agree bit for bit; against the generic kernels, which sum the same
// exact S_k per group as Σ xs_k·S_k and then multiply by d, only float
// rounding order differs.
//
// Lane orders. T4 (int8, int4): lane 4c+p holds chunk 4p+c. P2 (int2,
// int3): lane 4L+j holds chunk 2L, 2L+1, 8+2L, 9+2L for j = 0, 1, 2, 3.
//
// The last superblock of a row may be partial: its code loads run past the
// row's codes (the Go side makes sure they stay inside the matrix's memory)
// and meet zero activations, zero init and zero scales there.

// Prepared activation offsets.
#define XINIT 512
#define XSCALE 576
#define XSUMS 640
#define PREPSB 704

DATA intPermT4<>+0(SB)/8, $0x0000000400000000
DATA intPermT4<>+8(SB)/8, $0x0000000c00000008
DATA intPermT4<>+16(SB)/8, $0x0000000500000001
DATA intPermT4<>+24(SB)/8, $0x0000000d00000009
DATA intPermT4<>+32(SB)/8, $0x0000000600000002
DATA intPermT4<>+40(SB)/8, $0x0000000e0000000a
DATA intPermT4<>+48(SB)/8, $0x0000000700000003
DATA intPermT4<>+56(SB)/8, $0x0000000f0000000b
GLOBL intPermT4<>(SB), RODATA|NOPTR, $64

DATA intPermP2<>+0(SB)/8, $0x0000000100000000
DATA intPermP2<>+8(SB)/8, $0x0000000900000008
DATA intPermP2<>+16(SB)/8, $0x0000000300000002
DATA intPermP2<>+24(SB)/8, $0x0000000b0000000a
DATA intPermP2<>+32(SB)/8, $0x0000000500000004
DATA intPermP2<>+40(SB)/8, $0x0000000d0000000c
DATA intPermP2<>+48(SB)/8, $0x0000000700000006
DATA intPermP2<>+56(SB)/8, $0x0000000f0000000e
GLOBL intPermP2<>(SB), RODATA|NOPTR, $64

// i3perm: VPERMT2B indices gathering an int3 half superblock (8 chunks of
// 12 bytes, from two 64-byte loads: bytes 0–127 of the superblock for half 0,
// 64–191 for half 1) into qwords, one per chunk: the 8 low-two-bit bytes
// (+0: half 0, +128: half 1), and the high-bit word h in the low dword
// (+64, +192).
DATA i3perm<>+0(SB)/8, $0x0706050403020100
DATA i3perm<>+8(SB)/8, $0x131211100f0e0d0c
DATA i3perm<>+16(SB)/8, $0x1f1e1d1c1b1a1918
DATA i3perm<>+24(SB)/8, $0x2b2a292827262524
DATA i3perm<>+32(SB)/8, $0x3736353433323130
DATA i3perm<>+40(SB)/8, $0x434241403f3e3d3c
DATA i3perm<>+48(SB)/8, $0x4f4e4d4c4b4a4948
DATA i3perm<>+56(SB)/8, $0x5b5a595857565554
DATA i3perm<>+64(SB)/8, $0x0b0a09080b0a0908
DATA i3perm<>+72(SB)/8, $0x1716151417161514
DATA i3perm<>+80(SB)/8, $0x2322212023222120
DATA i3perm<>+88(SB)/8, $0x2f2e2d2c2f2e2d2c
DATA i3perm<>+96(SB)/8, $0x3b3a39383b3a3938
DATA i3perm<>+104(SB)/8, $0x4746454447464544
DATA i3perm<>+112(SB)/8, $0x5352515053525150
DATA i3perm<>+120(SB)/8, $0x5f5e5d5c5f5e5d5c
DATA i3perm<>+128(SB)/8, $0x2726252423222120
DATA i3perm<>+136(SB)/8, $0x333231302f2e2d2c
DATA i3perm<>+144(SB)/8, $0x3f3e3d3c3b3a3938
DATA i3perm<>+152(SB)/8, $0x4b4a494847464544
DATA i3perm<>+160(SB)/8, $0x5756555453525150
DATA i3perm<>+168(SB)/8, $0x636261605f5e5d5c
DATA i3perm<>+176(SB)/8, $0x6f6e6d6c6b6a6968
DATA i3perm<>+184(SB)/8, $0x7b7a797877767574
DATA i3perm<>+192(SB)/8, $0x2b2a29282b2a2928
DATA i3perm<>+200(SB)/8, $0x3736353437363534
DATA i3perm<>+208(SB)/8, $0x4342414043424140
DATA i3perm<>+216(SB)/8, $0x4f4e4d4c4f4e4d4c
DATA i3perm<>+224(SB)/8, $0x5b5a59585b5a5958
DATA i3perm<>+232(SB)/8, $0x6766656467666564
DATA i3perm<>+240(SB)/8, $0x7372717073727170
DATA i3perm<>+248(SB)/8, $0x7f7e7d7c7f7e7d7c
GLOBL i3perm<>(SB), RODATA|NOPTR, $256

// i3bit: VPSHUFBITQMB bit indices for shift s = 0…3 (64 bytes each): byte
// 8c+i of the register unpacked at shift s holds code 8s+i of chunk c, whose
// high bit is bit 8s+i of h.
DATA i3bit<>+0(SB)/8, $0x0706050403020100
DATA i3bit<>+8(SB)/8, $0x0706050403020100
DATA i3bit<>+16(SB)/8, $0x0706050403020100
DATA i3bit<>+24(SB)/8, $0x0706050403020100
DATA i3bit<>+32(SB)/8, $0x0706050403020100
DATA i3bit<>+40(SB)/8, $0x0706050403020100
DATA i3bit<>+48(SB)/8, $0x0706050403020100
DATA i3bit<>+56(SB)/8, $0x0706050403020100
DATA i3bit<>+64(SB)/8, $0x0f0e0d0c0b0a0908
DATA i3bit<>+72(SB)/8, $0x0f0e0d0c0b0a0908
DATA i3bit<>+80(SB)/8, $0x0f0e0d0c0b0a0908
DATA i3bit<>+88(SB)/8, $0x0f0e0d0c0b0a0908
DATA i3bit<>+96(SB)/8, $0x0f0e0d0c0b0a0908
DATA i3bit<>+104(SB)/8, $0x0f0e0d0c0b0a0908
DATA i3bit<>+112(SB)/8, $0x0f0e0d0c0b0a0908
DATA i3bit<>+120(SB)/8, $0x0f0e0d0c0b0a0908
DATA i3bit<>+128(SB)/8, $0x1716151413121110
DATA i3bit<>+136(SB)/8, $0x1716151413121110
DATA i3bit<>+144(SB)/8, $0x1716151413121110
DATA i3bit<>+152(SB)/8, $0x1716151413121110
DATA i3bit<>+160(SB)/8, $0x1716151413121110
DATA i3bit<>+168(SB)/8, $0x1716151413121110
DATA i3bit<>+176(SB)/8, $0x1716151413121110
DATA i3bit<>+184(SB)/8, $0x1716151413121110
DATA i3bit<>+192(SB)/8, $0x1f1e1d1c1b1a1918
DATA i3bit<>+200(SB)/8, $0x1f1e1d1c1b1a1918
DATA i3bit<>+208(SB)/8, $0x1f1e1d1c1b1a1918
DATA i3bit<>+216(SB)/8, $0x1f1e1d1c1b1a1918
DATA i3bit<>+224(SB)/8, $0x1f1e1d1c1b1a1918
DATA i3bit<>+232(SB)/8, $0x1f1e1d1c1b1a1918
DATA i3bit<>+240(SB)/8, $0x1f1e1d1c1b1a1918
DATA i3bit<>+248(SB)/8, $0x1f1e1d1c1b1a1918
GLOBL i3bit<>(SB), RODATA|NOPTR, $256

// ---------------------------------------------------------------- shared parts

// INTD loads the d of the superblock's 16 lanes (table entry at R8: word
// indices, window offset, load mask; row at SI) as floats into Z6, leaving
// the indices in Y17, the mask in K2 and the window offset in R9.
#define INTD \
	MOVQ        32(R8), R9 \
	KMOVW       40(R8), K2 \
	VMOVDQU64   (R8), Y17 \
	VMOVDQU16.Z (SI)(R9*1), K2, Y6 \
	VPERMW      Y6, Y17, Y6 \
	VCVTPH2PS   Y6, Z6

// INTM is INTD for the offsets m (the row's m array at R12) into Z7.
#define INTM \
	VMOVDQU16.Z (R12)(R9*1), K2, Y7 \
	VPERMW      Y7, Y17, Y7 \
	VCVTPH2PS   Y7, Z7

// INTS folds the lane sums s of the prepared vector at b into acc with the
// lanes' d (Z6): acc += d·(float(s + init)·xs).
#define INTS(s, b, acc) \
	VPADDD      XINIT(b), s, s \
	VCVTDQ2PS   s, s \
	VMULPS      XSCALE(b), s, s \
	VFMADD231PS Z6, s, acc

// VT4(b) multiplies the unpacked codes Z8–Z15 (T4 order: pairs Z8/Z9 …
// Z14/Z15, four chunks each, one per 128-bit lane) by the prepared codes at b
// and sums each chunk's lanes into Z20 (T4 lane order). Clobbers Z20–Z25.
#define VT4(b) \
	VPXORD      Z20, Z20, Z20 \
	VPXORD      Z21, Z21, Z21 \
	VPXORD      Z22, Z22, Z22 \
	VPXORD      Z23, Z23, Z23 \
	VPDPBUSD    0(b), Z8, Z20 \
	VPDPBUSD    128(b), Z10, Z21 \
	VPDPBUSD    256(b), Z12, Z22 \
	VPDPBUSD    384(b), Z14, Z23 \
	VPDPBUSD    64(b), Z9, Z20 \
	VPDPBUSD    192(b), Z11, Z21 \
	VPDPBUSD    320(b), Z13, Z22 \
	VPDPBUSD    448(b), Z15, Z23 \
	VPUNPCKLQDQ Z21, Z20, Z24 \
	VPUNPCKHQDQ Z21, Z20, Z20 \
	VPADDD      Z24, Z20, Z20 \
	VPUNPCKLQDQ Z23, Z22, Z25 \
	VPUNPCKHQDQ Z23, Z22, Z22 \
	VPADDD      Z25, Z22, Z22 \
	VSHUFPS     $0x88, Z22, Z20, Z24 \
	VSHUFPS     $0xdd, Z22, Z20, Z20 \
	VPADDD      Z24, Z20, Z20

// VP2(b) multiplies the unpacked codes Z8–Z15 (P2 order: Z8+4h+s holds shift
// s of half h, one chunk per qword) by the prepared codes at b and sums each
// chunk's lanes into Z20 (P2 lane order). Clobbers Z20, Z21, Z24.
#define VP2(b) \
	VPXORD   Z20, Z20, Z20 \
	VPXORD   Z21, Z21, Z21 \
	VPDPBUSD 0(b), Z8, Z20 \
	VPDPBUSD 256(b), Z12, Z21 \
	VPDPBUSD 64(b), Z9, Z20 \
	VPDPBUSD 320(b), Z13, Z21 \
	VPDPBUSD 128(b), Z10, Z20 \
	VPDPBUSD 384(b), Z14, Z21 \
	VPDPBUSD 192(b), Z11, Z20 \
	VPDPBUSD 448(b), Z15, Z21 \
	VSHUFPS  $0x88, Z21, Z20, Z24 \
	VSHUFPS  $0xdd, Z21, Z20, Z20 \
	VPADDD   Z24, Z20, Z20

// ---------------------------------------------------------------- unpacking

// int8: 32 bytes per chunk. Each pair of loads (4 chunks) is split into the
// chunks' bytes 0–15 and 16–31 (one chunk per 128-bit lane) and biased to
// unsigned. Z18: 0x80 bytes.
#define I8CONST \
	MOVL         $0x80808080, R9 \
	VPBROADCASTD R9, Z18

#define I8U(off, off64, a, b) \
	VMOVDQU64  off(AX), Z24 \
	VSHUFI64X2 $0xdd, off64(AX), Z24, b \
	VSHUFI64X2 $0x88, off64(AX), Z24, a \
	VPXORD     Z18, a, a \
	VPXORD     Z18, b, b

#define I8UNPACK \
	I8U(0, 64, Z8, Z9) \
	I8U(128, 192, Z10, Z11) \
	I8U(256, 320, Z12, Z13) \
	I8U(384, 448, Z14, Z15)

// int4: 16 bytes per chunk, one chunk per 128-bit lane of a load: low
// nibbles are codes 0–15, high nibbles (shifted down by GF2P8AFFINEQB) codes
// 16–31. Z18: 0x0f bytes, Z19: the shift-right-4 matrix.
#define I4CONST \
	MOVL         $0x0f0f0f0f, R9 \
	VPBROADCASTD R9, Z18 \
	MOVQ         $0x1020408000000000, R9 \
	VPBROADCASTQ R9, Z19

#define I4U(off, a, b) \
	VMOVDQU64      off(AX), b \
	VPANDD         Z18, b, a \
	VGF2P8AFFINEQB $0, Z19, b, b

#define I4UNPACK \
	I4U(0, Z8, Z9) \
	I4U(64, Z10, Z11) \
	I4U(128, Z12, Z13) \
	I4U(192, Z14, Z15)

// int2: 8 bytes per chunk, one chunk per qword of a load; (byte >> 2s) & 3
// (GF2P8AFFINEQB with matrix Z26+s) is code 8s+i of byte i.
#define I2CONST \
	MOVQ         $0x0102000000000000, R9 \
	VPBROADCASTQ R9, Z26 \
	MOVQ         $0x0408000000000000, R9 \
	VPBROADCASTQ R9, Z27 \
	MOVQ         $0x1020000000000000, R9 \
	VPBROADCASTQ R9, Z28 \
	MOVQ         $0x4080000000000000, R9 \
	VPBROADCASTQ R9, Z29

#define I2U(off, u0, u1, u2, u3) \
	VMOVDQU64      off(AX), Z24 \
	VGF2P8AFFINEQB $0, Z26, Z24, u0 \
	VGF2P8AFFINEQB $0, Z27, Z24, u1 \
	VGF2P8AFFINEQB $0, Z28, Z24, u2 \
	VGF2P8AFFINEQB $0, Z29, Z24, u3

#define I2UNPACK \
	I2U(0, Z8, Z9, Z10, Z11) \
	I2U(64, Z12, Z13, Z14, Z15)

// int3: 12 bytes per chunk. VPERMT2B gathers each half superblock's low-two-
// bit bytes to one chunk per qword (as int2) and the high-bit words h to the
// low dwords of the same qwords; VPSHUFBITQMB picks each code's high bit
// into a mask, under which VPADDB adds 4. Z18, Z19, Z31, Z4: the gathers
// (i3perm), Z26–Z29: int2's matrices, Z30: 0x04 bytes.
#define I3CONST \
	I2CONST \
	MOVL         $0x04040404, R9 \
	VPBROADCASTD R9, Z30 \
	VMOVDQU64    i3perm<>+0(SB), Z18 \
	VMOVDQU64    i3perm<>+64(SB), Z19 \
	VMOVDQU64    i3perm<>+128(SB), Z31 \
	VMOVDQU64    i3perm<>+192(SB), Z4

#define I3U(off, off64, ip, ih, bit0, bit1, bit2, bit3, u0, u1, u2, u3) \
	VMOVDQU64      off(AX), Z22 \
	VPERMT2B       off64(AX), ip, Z22 \
	VMOVDQU64      off(AX), Z23 \
	VPERMT2B       off64(AX), ih, Z23 \
	VGF2P8AFFINEQB $0, Z26, Z22, u0 \
	VPSHUFBITQMB   bit0, Z23, K3 \
	VGF2P8AFFINEQB $0, Z27, Z22, u1 \
	VPSHUFBITQMB   bit1, Z23, K4 \
	VGF2P8AFFINEQB $0, Z28, Z22, u2 \
	VPSHUFBITQMB   bit2, Z23, K5 \
	VGF2P8AFFINEQB $0, Z29, Z22, u3 \
	VPSHUFBITQMB   bit3, Z23, K6 \
	VPADDB         Z30, u0, K3, u0 \
	VPADDB         Z30, u1, K4, u1 \
	VPADDB         Z30, u2, K5, u2 \
	VPADDB         Z30, u3, K6, u3

// I3UNPACK takes the bit indices from registers (rows kernels: Z2, Z3, Z5,
// Z16), I3UNPACKM from memory (four-vector kernel).
#define I3UNPACK \
	I3U(0, 64, Z18, Z19, Z2, Z3, Z5, Z16, Z8, Z9, Z10, Z11) \
	I3U(64, 128, Z31, Z4, Z2, Z3, Z5, Z16, Z12, Z13, Z14, Z15)

#define I3BITS \
	VMOVDQU64 i3bit<>+0(SB), Z2 \
	VMOVDQU64 i3bit<>+64(SB), Z3 \
	VMOVDQU64 i3bit<>+128(SB), Z5 \
	VMOVDQU64 i3bit<>+192(SB), Z16

#define I3UNPACKM \
	I3U(0, 64, Z18, Z19, i3bit<>+0(SB), i3bit<>+64(SB), i3bit<>+128(SB), i3bit<>+192(SB), Z8, Z9, Z10, Z11) \
	I3U(64, 128, Z31, Z4, i3bit<>+0(SB), i3bit<>+64(SB), i3bit<>+128(SB), i3bit<>+192(SB), Z12, Z13, Z14, Z15)

// ---------------------------------------------------------------- activations

// PREPS writes a superblock's init, xs and xs·xsum (from xs at R8, xsum at
// R9) in the lane order Z4 to DX. X5: the shift 2^(b−1) = 1<<X5, Z6: zero.
#define PREPS \
	VMOVDQU32 (R9), Z1 \
	VPERMD    Z1, Z4, Z1 \
	VMOVUPS   (R8), Z2 \
	VPERMPS   Z2, Z4, Z2 \
	VPSLLD    X5, Z1, Z3 \
	VPSUBD    Z3, Z6, Z3 \
	VMOVDQU32 Z3, XINIT(DX) \
	VMOVUPS   Z2, XSCALE(DX) \
	VCVTDQ2PS Z1, Z1 \
	VMULPS    Z1, Z2, Z1 \
	VMOVUPS   Z1, XSUMS(DX)

// PREPT4 lays out 4 chunks (128 codes at qo(SI)) for VT4: their bytes 0–15
// at xo(DX), bytes 16–31 at xo+64(DX), a chunk per 128-bit lane.
#define PREPT4(qo, qo64, xo, xo64) \
	VMOVDQU64  qo(SI), Z0 \
	VSHUFI64X2 $0x88, qo64(SI), Z0, Z1 \
	VSHUFI64X2 $0xdd, qo64(SI), Z0, Z2 \
	VMOVDQU64  Z1, xo(DX) \
	VMOVDQU64  Z2, xo64(DX)

// PFSB128 … PFSB512 prefetch a superblock of 128 … 512 code bytes at AX,
// PFDIST bytes ahead.
#define PFSB128 \
	PREFETCHT0 PFDIST+0(AX) \
	PREFETCHT0 PFDIST+64(AX)

#define PFSB192 \
	PFSB128 \
	PREFETCHT0 PFDIST+128(AX)

#define PFSB256 \
	PFSB192 \
	PREFETCHT0 PFDIST+192(AX)

#define PFSB512 \
	PFSB256 \
	PREFETCHT0 PFDIST+256(AX) \
	PREFETCHT0 PFDIST+320(AX) \
	PREFETCHT0 PFDIST+384(AX) \
	PREFETCHT0 PFDIST+448(AX)

// I3SETUP is int3's constants and its bit masks in registers, for the
// rows kernel; the four-vector kernel, short of registers, reads the masks
// from memory (I3UNPACKM).
#define I3SETUP \
	I3CONST \
	I3BITS

// INTROWS is the body of a format's rows kernel,
//
//	func xRowsAVX512(rows *byte, rb, nrows, hdr, moff int, prep, tab *byte, nsb int, out *float32)
//
// nrows rows rb bytes apart (codes at hdr, offsets m at moff, moff 0 for
// symmetric rows), nsb superblocks each, times one prepared vector, one row
// after the other: out[i] = row i · x. The rows are streamed in order and
// prefetched PFDIST bytes ahead, headers included. SETUP loads the
// format's constants, PF prefetches a superblock, UNPACK unpacks one, V
// multiplies it with a vector in the format's lane order, and a
// superblock's codes take step bytes.
#define INTROWS(SETUP, PF, UNPACK, V, step) \
	MOVQ  rows+0(FP), SI \
	MOVQ  rb+8(FP), BX \
	MOVQ  nrows+16(FP), R14 \
	MOVQ  moff+32(FP), R13 \
	MOVQ  out+64(FP), DX \
	SETUP \
	TESTQ R14, R14 \
	JZ    done \
row: \
	MOVQ hdr+24(FP), AX \
	LEAQ PFDIST(SI), R9 \
	MOVQ AX, CX \
pfh: \
	PREFETCHT0 (R9) \
	ADDQ       $64, R9 \
	SUBQ       $64, CX \
	JG         pfh \
	ADDQ       SI, AX \
	LEAQ       (SI)(R13*1), R12 \
	MOVQ       prep+40(FP), DI \
	MOVQ       tab+48(FP), R8 \
	MOVQ       nsb+56(FP), CX \
	VPXORD     Z0, Z0, Z0 \
sblk: \
	PF \
	INTD \
	UNPACK \
	V(DI) \
	INTS(Z20, DI, Z0) \
	TESTQ R13, R13 \
	JZ    next \
	INTM \
	VFMADD231PS XSUMS(DI), Z7, Z0 \
next: \
	ADDQ $step, AX \
	ADDQ $PREPSB, DI \
	ADDQ $64, R8 \
	DECQ CX \
	JNZ  sblk \
	HSUMZ0 \
	MOVSS X0, (DX) \
	ADDQ  $4, DX \
	ADDQ  BX, SI \
	DECQ  R14 \
	JNZ   row \
done: \
	VZEROUPPER \
	RET

// INTX4 is the body of a format's four-vector kernel,
//
//	func x4AVX512(row *byte, hdr, moff int, prep *byte, vstride int, tab *byte, nsb int, out *[4]float32)
//
// one row times four prepared vectors vstride bytes apart, the row
// unpacked once for all four: out[v] = row · x_v. The parameters are
// INTROWS's.
#define INTX4(SETUP, UNPACK, V, step) \
	MOVQ   row+0(FP), SI \
	MOVQ   hdr+8(FP), AX \
	ADDQ   SI, AX \
	MOVQ   moff+16(FP), R13 \
	LEAQ   (SI)(R13*1), R12 \
	MOVQ   prep+24(FP), DI \
	MOVQ   vstride+32(FP), BX \
	LEAQ   (DI)(BX*1), R15 \
	LEAQ   (R15)(BX*1), R10 \
	LEAQ   (R10)(BX*1), R11 \
	MOVQ   tab+40(FP), R8 \
	MOVQ   nsb+48(FP), CX \
	MOVQ   out+56(FP), DX \
	SETUP \
	VPXORD Z0, Z0, Z0 \
	VPXORD Z1, Z1, Z1 \
	VPXORD Z2, Z2, Z2 \
	VPXORD Z3, Z3, Z3 \
sblk: \
	INTD \
	UNPACK \
	V(DI) \
	INTS(Z20, DI, Z0) \
	V(R15) \
	INTS(Z20, R15, Z1) \
	V(R10) \
	INTS(Z20, R10, Z2) \
	V(R11) \
	INTS(Z20, R11, Z3) \
	TESTQ R13, R13 \
	JZ    next \
	INTM \
	VFMADD231PS XSUMS(DI), Z7, Z0 \
	VFMADD231PS XSUMS(R15), Z7, Z1 \
	VFMADD231PS XSUMS(R10), Z7, Z2 \
	VFMADD231PS XSUMS(R11), Z7, Z3 \
next: \
	ADDQ $step, AX \
	ADDQ $PREPSB, DI \
	ADDQ $PREPSB, R15 \
	ADDQ $PREPSB, R10 \
	ADDQ $PREPSB, R11 \
	ADDQ $64, R8 \
	DECQ CX \
	JNZ  sblk \
	HSUM4 \
	VMOVUPS X0, (DX) \
	VZEROUPPER \
	RET

// func prepIntT4AVX512(dst *byte, q *int8, xs *float32, xsum *int32, nsb, shift int)
TEXT ·prepIntT4AVX512(SB), NOSPLIT, $0-48
	MOVQ      dst+0(FP), DX
	MOVQ      q+8(FP), SI
	MOVQ      xs+16(FP), R8
	MOVQ      xsum+24(FP), R9
	MOVQ      nsb+32(FP), CX
	MOVQ      shift+40(FP), AX
	VMOVQ     AX, X5
	VMOVDQU64 intPermT4<>(SB), Z4
	VPXORD    Z6, Z6, Z6
	TESTQ     CX, CX
	JZ        pt4_done

pt4_loop:
	PREPT4(0, 64, 0, 64)
	PREPT4(128, 192, 128, 192)
	PREPT4(256, 320, 256, 320)
	PREPT4(384, 448, 384, 448)
	PREPS
	ADDQ $512, SI
	ADDQ $64, R8
	ADDQ $64, R9
	ADDQ $PREPSB, DX
	DECQ CX
	JNZ  pt4_loop

pt4_done:
	VZEROUPPER
	RET

// PREPP2 lays out 8 chunks (256 codes at qo(SI)) for VP2: 4 registers at
// xo(DX), register s holding codes 8s … 8s+7 of chunk c in qword c.
#define PREPP2(qo, xo) \
	VMOVDQU64   qo+0(SI), Z0 \
	VMOVDQU64   qo+64(SI), Z1 \
	VMOVDQU64   qo+128(SI), Z2 \
	VMOVDQU64   qo+192(SI), Z3 \
	VSHUFI64X2  $0x88, Z1, Z0, Z7 \
	VSHUFI64X2  $0xdd, Z1, Z0, Z8 \
	VSHUFI64X2  $0x88, Z3, Z2, Z9 \
	VSHUFI64X2  $0xdd, Z3, Z2, Z10 \
	VSHUFI64X2  $0x88, Z9, Z7, Z0 \
	VSHUFI64X2  $0xdd, Z9, Z7, Z1 \
	VPUNPCKLQDQ Z1, Z0, Z2 \
	VPUNPCKHQDQ Z1, Z0, Z3 \
	VMOVDQU64   Z2, xo+0(DX) \
	VMOVDQU64   Z3, xo+64(DX) \
	VSHUFI64X2  $0x88, Z10, Z8, Z0 \
	VSHUFI64X2  $0xdd, Z10, Z8, Z1 \
	VPUNPCKLQDQ Z1, Z0, Z2 \
	VPUNPCKHQDQ Z1, Z0, Z3 \
	VMOVDQU64   Z2, xo+128(DX) \
	VMOVDQU64   Z3, xo+192(DX)

// func prepIntP2AVX512(dst *byte, q *int8, xs *float32, xsum *int32, nsb, shift int)
TEXT ·prepIntP2AVX512(SB), NOSPLIT, $0-48
	MOVQ      dst+0(FP), DX
	MOVQ      q+8(FP), SI
	MOVQ      xs+16(FP), R8
	MOVQ      xsum+24(FP), R9
	MOVQ      nsb+32(FP), CX
	MOVQ      shift+40(FP), AX
	VMOVQ     AX, X5
	VMOVDQU64 intPermP2<>(SB), Z4
	VPXORD    Z6, Z6, Z6
	TESTQ     CX, CX
	JZ        pp2_done

pp2_loop:
	PREPP2(0, 0)
	PREPP2(256, 256)
	PREPS
	ADDQ $512, SI
	ADDQ $64, R8
	ADDQ $64, R9
	ADDQ $PREPSB, DX
	DECQ CX
	JNZ  pp2_loop

pp2_done:
	VZEROUPPER
	RET

// ---------------------------------------------------------------- int8

// func int8RowsAVX512(rows *byte, rb, nrows, hdr, moff int, prep, tab *byte, nsb int, out *float32)
TEXT ·int8RowsAVX512(SB), NOSPLIT, $0-72
	INTROWS(I8CONST, PFSB512, I8UNPACK, VT4, 512)

// func int8x4AVX512(row *byte, hdr, moff int, prep *byte, vstride int, tab *byte, nsb int, out *[4]float32)
TEXT ·int8x4AVX512(SB), NOSPLIT, $0-64
	INTX4(I8CONST, I8UNPACK, VT4, 512)

// ---------------------------------------------------------------- int4

// func int4RowsAVX512(rows *byte, rb, nrows, hdr, moff int, prep, tab *byte, nsb int, out *float32)
TEXT ·int4RowsAVX512(SB), NOSPLIT, $0-72
	INTROWS(I4CONST, PFSB256, I4UNPACK, VT4, 256)

// func int4x4AVX512(row *byte, hdr, moff int, prep *byte, vstride int, tab *byte, nsb int, out *[4]float32)
TEXT ·int4x4AVX512(SB), NOSPLIT, $0-64
	INTX4(I4CONST, I4UNPACK, VT4, 256)

// ---------------------------------------------------------------- int3

// func int3RowsAVX512(rows *byte, rb, nrows, hdr, moff int, prep, tab *byte, nsb int, out *float32)
TEXT ·int3RowsAVX512(SB), NOSPLIT, $0-72
	INTROWS(I3SETUP, PFSB192, I3UNPACK, VP2, 192)

// func int3x4AVX512(row *byte, hdr, moff int, prep *byte, vstride int, tab *byte, nsb int, out *[4]float32)
TEXT ·int3x4AVX512(SB), NOSPLIT, $0-64
	INTX4(I3CONST, I3UNPACKM, VP2, 192)

// ---------------------------------------------------------------- int2

// func int2RowsAVX512(rows *byte, rb, nrows, hdr, moff int, prep, tab *byte, nsb int, out *float32)
TEXT ·int2RowsAVX512(SB), NOSPLIT, $0-72
	INTROWS(I2CONST, PFSB128, I2UNPACK, VP2, 128)

// func int2x4AVX512(row *byte, hdr, moff int, prep *byte, vstride int, tab *byte, nsb int, out *[4]float32)
TEXT ·int2x4AVX512(SB), NOSPLIT, $0-64
	INTX4(I2CONST, I2UNPACK, VP2, 128)
// ---------------------------------------------------------------- AVX2
//
// One row, one vector, chunk by chunk in the stored order: the codes are
// unpacked to 32 bytes in weight order (int8: |q| and x·sign(q), as
// the Q8_0 kernels; int4: nibbles; int2, int3: each chunk's 8 low-bit bytes
// broadcast, shifted by 0/2/4/6 and masked, plus for int3 the high bits:
// h broadcast, bytes selected by VPSHUFB, tested against 1<<i) and multiplied
// with the activations by VPMADDUBSW (no saturation: |sum of a pair| ≤
// 2·128·127) and VPMADDWD; the 8 lanes are summed and 2^(b−1)·xsum
// subtracted, leaving the exact S_k. The float part follows int_dot.go's
// order: gs += xs_k·S_k (fused) over the group's chunks, then
// acc += d_g·gs, and for asymmetric rows gx += xs_k·xsum_k, acc += m_g·gx.

DATA intShiftQ<>+0(SB)/8, $0
DATA intShiftQ<>+8(SB)/8, $2
DATA intShiftQ<>+16(SB)/8, $4
DATA intShiftQ<>+24(SB)/8, $6
GLOBL intShiftQ<>(SB), RODATA|NOPTR, $32

// int3HiShuf: byte i of a chunk's 32 codes takes byte i/8 of h (broadcast to
// each 128-bit lane).
DATA int3HiShuf<>+0(SB)/8, $0x0000000000000000
DATA int3HiShuf<>+8(SB)/8, $0x0101010101010101
DATA int3HiShuf<>+16(SB)/8, $0x0202020202020202
DATA int3HiShuf<>+24(SB)/8, $0x0303030303030303
GLOBL int3HiShuf<>(SB), RODATA|NOPTR, $32

// func dotInt8AVX2(row *byte, hdr, moff int, q *int8, xs *float32, xsum *int32, nch, cpg int) float32
TEXT ·dotInt8AVX2(SB), NOSPLIT, $0-68
	MOVQ   row+0(FP), SI
	MOVQ   hdr+8(FP), AX
	ADDQ   SI, AX
	MOVQ   moff+16(FP), R12
	LEAQ   (SI)(R12*1), R13
	MOVQ   q+24(FP), DI
	MOVQ   xs+32(FP), R8
	MOVQ   xsum+40(FP), R9
	MOVQ   nch+48(FP), CX
	MOVQ   cpg+56(FP), R11
	MOVL         $0x00010001, DX
	VMOVD        DX, X15
	VPBROADCASTD X15, Y15
	VXORPS X0, X0, X0
	XORQ   BX, BX

i8y_group:
	TESTQ        CX, CX
	JZ           i8y_done
	MOVQ         R11, R10
	CMPQ         CX, R10
	CMOVQLT      CX, R10
	SUBQ         R10, CX
	VXORPS       X2, X2, X2
	VXORPS       X3, X3, X3

i8y_chunk:
	VMOVDQU    (AX), Y8
	VPABSB     Y8, Y4
	VMOVDQU    (DI), Y9
	VPSIGNB    Y8, Y9, Y9
	VPMADDUBSW Y9, Y4, Y4
	VPMADDWD     Y15, Y4, Y4
	VEXTRACTI128 $1, Y4, X5
	VPADDD       X5, X4, X4
	VPSHUFD      $0x4e, X4, X5
	VPADDD       X5, X4, X4
	VPSHUFD      $0xb1, X4, X5
	VPADDD       X5, X4, X4
	VCVTDQ2PS    X4, X4
	VFMADD231SS  (R8), X4, X2
	TESTQ        R12, R12
	JZ           i8y_next
	VCVTSI2SSL   (R9), X7, X7
	VFMADD231SS  (R8), X7, X3

i8y_next:
	ADDQ $32, AX
	ADDQ $32, DI
	ADDQ $4, R8
	ADDQ $4, R9
	DECQ R10
	JNZ  i8y_chunk
	VPBROADCASTW (SI)(BX*1), X6
	VCVTPH2PS    X6, X6
	VFMADD231SS  X2, X6, X0
	TESTQ        R12, R12
	JZ           i8y_nextg
	VPBROADCASTW (R13)(BX*1), X7
	VCVTPH2PS    X7, X7
	VFMADD231SS  X3, X7, X0

i8y_nextg:
	ADDQ $2, BX
	JMP  i8y_group

i8y_done:
	VZEROUPPER
	MOVSS  X0, ret+64(FP)
	RET

// func dotInt4AVX2(row *byte, hdr, moff int, q *int8, xs *float32, xsum *int32, nch, cpg int) float32
TEXT ·dotInt4AVX2(SB), NOSPLIT, $0-68
	MOVQ   row+0(FP), SI
	MOVQ   hdr+8(FP), AX
	ADDQ   SI, AX
	MOVQ   moff+16(FP), R12
	LEAQ   (SI)(R12*1), R13
	MOVQ   q+24(FP), DI
	MOVQ   xs+32(FP), R8
	MOVQ   xsum+40(FP), R9
	MOVQ   nch+48(FP), CX
	MOVQ   cpg+56(FP), R11
	MOVL         $0x00010001, DX
	VMOVD        DX, X15
	VPBROADCASTD X15, Y15
	MOVL         $0x0f0f0f0f, DX
	VMOVD        DX, X14
	VPBROADCASTD X14, Y14
	VXORPS X0, X0, X0
	XORQ   BX, BX

i4y_group:
	TESTQ        CX, CX
	JZ           i4y_done
	MOVQ         R11, R10
	CMPQ         CX, R10
	CMOVQLT      CX, R10
	SUBQ         R10, CX
	VXORPS       X2, X2, X2
	VXORPS       X3, X3, X3

i4y_chunk:
	VMOVDQU     (AX), X4
	VPSRLW      $4, X4, X5
	VINSERTI128 $1, X5, Y4, Y4
	VPAND       Y14, Y4, Y4
	VPMADDUBSW  (DI), Y4, Y4
	VPMADDWD     Y15, Y4, Y4
	VEXTRACTI128 $1, Y4, X5
	VPADDD       X5, X4, X4
	VPSHUFD      $0x4e, X4, X5
	VPADDD       X5, X4, X4
	VPSHUFD      $0xb1, X4, X5
	VPADDD       X5, X4, X4
	MOVL         (R9), DX
	SHLL         $3, DX
	VMOVD        DX, X5
	VPSUBD       X5, X4, X4
	VCVTDQ2PS    X4, X4
	VFMADD231SS  (R8), X4, X2
	TESTQ        R12, R12
	JZ           i4y_next
	VCVTSI2SSL   (R9), X7, X7
	VFMADD231SS  (R8), X7, X3

i4y_next:
	ADDQ $16, AX
	ADDQ $32, DI
	ADDQ $4, R8
	ADDQ $4, R9
	DECQ R10
	JNZ  i4y_chunk
	VPBROADCASTW (SI)(BX*1), X6
	VCVTPH2PS    X6, X6
	VFMADD231SS  X2, X6, X0
	TESTQ        R12, R12
	JZ           i4y_nextg
	VPBROADCASTW (R13)(BX*1), X7
	VCVTPH2PS    X7, X7
	VFMADD231SS  X3, X7, X0

i4y_nextg:
	ADDQ $2, BX
	JMP  i4y_group

i4y_done:
	VZEROUPPER
	MOVSS  X0, ret+64(FP)
	RET

// func dotInt3AVX2(row *byte, hdr, moff int, q *int8, xs *float32, xsum *int32, nch, cpg int) float32
TEXT ·dotInt3AVX2(SB), NOSPLIT, $0-68
	MOVQ   row+0(FP), SI
	MOVQ   hdr+8(FP), AX
	ADDQ   SI, AX
	MOVQ   moff+16(FP), R12
	LEAQ   (SI)(R12*1), R13
	MOVQ   q+24(FP), DI
	MOVQ   xs+32(FP), R8
	MOVQ   xsum+40(FP), R9
	MOVQ   nch+48(FP), CX
	MOVQ   cpg+56(FP), R11
	MOVL         $0x00010001, DX
	VMOVD        DX, X15
	VPBROADCASTD X15, Y15
	MOVL         $0x03030303, DX
	VMOVD        DX, X14
	VPBROADCASTD X14, Y14
	VMOVDQU      intShiftQ<>(SB), Y13
	VMOVDQU      int3HiShuf<>(SB), Y12
	MOVQ         $0x8040201008040201, DX
	VMOVQ        DX, X11
	VPBROADCASTQ X11, Y11
	MOVL         $0x04040404, DX
	VMOVD        DX, X10
	VPBROADCASTD X10, Y10
	VXORPS X0, X0, X0
	XORQ   BX, BX

i3y_group:
	TESTQ        CX, CX
	JZ           i3y_done
	MOVQ         R11, R10
	CMPQ         CX, R10
	CMOVQLT      CX, R10
	SUBQ         R10, CX
	VXORPS       X2, X2, X2
	VXORPS       X3, X3, X3

i3y_chunk:
	VPBROADCASTQ (AX), Y4
	VPSRLVQ      Y13, Y4, Y4
	VPAND        Y14, Y4, Y4
	VPBROADCASTD 8(AX), Y5
	VPSHUFB      Y12, Y5, Y5
	VPAND        Y11, Y5, Y5
	VPCMPEQB     Y11, Y5, Y5
	VPAND        Y10, Y5, Y5
	VPOR         Y5, Y4, Y4
	VPMADDUBSW   (DI), Y4, Y4
	VPMADDWD     Y15, Y4, Y4
	VEXTRACTI128 $1, Y4, X5
	VPADDD       X5, X4, X4
	VPSHUFD      $0x4e, X4, X5
	VPADDD       X5, X4, X4
	VPSHUFD      $0xb1, X4, X5
	VPADDD       X5, X4, X4
	MOVL         (R9), DX
	SHLL         $2, DX
	VMOVD        DX, X5
	VPSUBD       X5, X4, X4
	VCVTDQ2PS    X4, X4
	VFMADD231SS  (R8), X4, X2
	TESTQ        R12, R12
	JZ           i3y_next
	VCVTSI2SSL   (R9), X7, X7
	VFMADD231SS  (R8), X7, X3

i3y_next:
	ADDQ $12, AX
	ADDQ $32, DI
	ADDQ $4, R8
	ADDQ $4, R9
	DECQ R10
	JNZ  i3y_chunk
	VPBROADCASTW (SI)(BX*1), X6
	VCVTPH2PS    X6, X6
	VFMADD231SS  X2, X6, X0
	TESTQ        R12, R12
	JZ           i3y_nextg
	VPBROADCASTW (R13)(BX*1), X7
	VCVTPH2PS    X7, X7
	VFMADD231SS  X3, X7, X0

i3y_nextg:
	ADDQ $2, BX
	JMP  i3y_group

i3y_done:
	VZEROUPPER
	MOVSS  X0, ret+64(FP)
	RET

// func dotInt2AVX2(row *byte, hdr, moff int, q *int8, xs *float32, xsum *int32, nch, cpg int) float32
TEXT ·dotInt2AVX2(SB), NOSPLIT, $0-68
	MOVQ   row+0(FP), SI
	MOVQ   hdr+8(FP), AX
	ADDQ   SI, AX
	MOVQ   moff+16(FP), R12
	LEAQ   (SI)(R12*1), R13
	MOVQ   q+24(FP), DI
	MOVQ   xs+32(FP), R8
	MOVQ   xsum+40(FP), R9
	MOVQ   nch+48(FP), CX
	MOVQ   cpg+56(FP), R11
	MOVL         $0x00010001, DX
	VMOVD        DX, X15
	VPBROADCASTD X15, Y15
	MOVL         $0x03030303, DX
	VMOVD        DX, X14
	VPBROADCASTD X14, Y14
	VMOVDQU      intShiftQ<>(SB), Y13
	VXORPS X0, X0, X0
	XORQ   BX, BX

i2y_group:
	TESTQ        CX, CX
	JZ           i2y_done
	MOVQ         R11, R10
	CMPQ         CX, R10
	CMOVQLT      CX, R10
	SUBQ         R10, CX
	VXORPS       X2, X2, X2
	VXORPS       X3, X3, X3

i2y_chunk:
	VPBROADCASTQ (AX), Y4
	VPSRLVQ      Y13, Y4, Y4
	VPAND        Y14, Y4, Y4
	VPMADDUBSW   (DI), Y4, Y4
	VPMADDWD     Y15, Y4, Y4
	VEXTRACTI128 $1, Y4, X5
	VPADDD       X5, X4, X4
	VPSHUFD      $0x4e, X4, X5
	VPADDD       X5, X4, X4
	VPSHUFD      $0xb1, X4, X5
	VPADDD       X5, X4, X4
	MOVL         (R9), DX
	SHLL         $1, DX
	VMOVD        DX, X5
	VPSUBD       X5, X4, X4
	VCVTDQ2PS    X4, X4
	VFMADD231SS  (R8), X4, X2
	TESTQ        R12, R12
	JZ           i2y_next
	VCVTSI2SSL   (R9), X7, X7
	VFMADD231SS  (R8), X7, X3

i2y_next:
	ADDQ $8, AX
	ADDQ $32, DI
	ADDQ $4, R8
	ADDQ $4, R9
	DECQ R10
	JNZ  i2y_chunk
	VPBROADCASTW (SI)(BX*1), X6
	VCVTPH2PS    X6, X6
	VFMADD231SS  X2, X6, X0
	TESTQ        R12, R12
	JZ           i2y_nextg
	VPBROADCASTW (R13)(BX*1), X7
	VCVTPH2PS    X7, X7
	VFMADD231SS  X3, X7, X0

i2y_nextg:
	ADDQ $2, BX
	JMP  i2y_group

i2y_done:
	VZEROUPPER
	MOVSS  X0, ret+64(FP)
	RET
