// Macros shared by the amd64 kernels (included by the .s files).

// PFDIST is how far ahead (bytes) the matrix-vector kernels prefetch the rows
// they stream. The hardware prefetchers alone leave the stream stalled
// whenever the kernel pauses (between tiles, while laying out activations);
// prefetching 8 KiB ahead keeps the next tile's lines in flight.
#define PFDIST 8192

// FOLDZ adds the halves of zmm z down to its xmm x (y its ymm; ty, tx
// scratch).
#define FOLDZ(z, y, x, ty, tx) \
	VEXTRACTF64X4 $1, z, ty \
	VADDPS        ty, y, y \
	VEXTRACTF128  $1, y, tx \
	VADDPS        tx, x, x

// HSUMZ0 leaves the sum of the 16 floats of Z0 in X0 (clobbers Y1, X1). The
// final tree, (x0+x1)+(x2+x3), is the one HSUM4 uses, so one-row and
// multi-row kernels agree bit for bit.
#define HSUMZ0 \
	FOLDZ(Z0, Y0, X0, Y1, X1) \
	VHADDPS X0, X0, X0 \
	VHADDPS X0, X0, X0

// HSUM4 leaves the sums of Z0, Z1, Z2 and Z3 in X0's four floats (clobbers
// Z0-Z5).
#define HSUM4 \
	FOLDZ(Z0, Y0, X0, Y4, X4) \
	FOLDZ(Z1, Y1, X1, Y4, X4) \
	FOLDZ(Z2, Y2, X2, Y4, X4) \
	FOLDZ(Z3, Y3, X3, Y4, X4) \
	VHADDPS X1, X0, X0 \
	VHADDPS X3, X2, X2 \
	VHADDPS X2, X0, X0

// HSUMR leaves the sum of y's 8 floats in x, its low register (t a scratch
// xmm): the tree every AVX2 kernel ends with, so that one-vector and
// multi-vector kernels agree bit for bit.
#define HSUMR(y, x, t) \
	VEXTRACTF128 $1, y, t \
	VADDPS       t, x, x \
	VMOVHLPS     x, x, t \
	VADDPS       t, x, x \
	VMOVSHDUP    x, t    \
	VADDSS       t, x, x

// HSUMY0 leaves the sum of the 8 floats of Y0 in X0 (clobbers X1).
#define HSUMY0 HSUMR(Y0, X0, X1)

// HSUMR4 stores at dst the sums of the eight lanes of a, b, c and d, in that
// order, each summed in the pairs HSUMR sums (lane i plus lane i+4, then
// those 0 and 2 plus 1 and 3, then the two), the four at once (clobbers
// t0-t3; x2 and x3 are t2's and t3's low halves).
#define HSUMR4(a, b, c, d, t0, t1, t2, t3, x2, x3, dst) \
	VPERM2F128   $0x20, b, a, t0  \
	VPERM2F128   $0x31, b, a, t1  \
	VADDPS       t1, t0, t0       \
	VPERM2F128   $0x20, d, c, t1  \
	VPERM2F128   $0x31, d, c, t2  \
	VADDPS       t2, t1, t1       \
	VSHUFPS      $0x44, t1, t0, t2 \
	VSHUFPS      $0xee, t1, t0, t3 \
	VADDPS       t3, t2, t2       \
	VSHUFPS      $0x88, t2, t2, t3 \
	VSHUFPS      $0xdd, t2, t2, t2 \
	VADDPS       t2, t3, t3       \
	VEXTRACTF128 $1, t3, x2       \
	VUNPCKLPS    x2, x3, x3       \
	VMOVUPS      x3, dst

// ZERO8, ZERO12 and ZERO16 clear Y0-Y7, Y0-Y11 and Y0-Y15.
#define ZERO8 \
	VPXOR Y0, Y0, Y0 \
	VPXOR Y1, Y1, Y1 \
	VPXOR Y2, Y2, Y2 \
	VPXOR Y3, Y3, Y3 \
	VPXOR Y4, Y4, Y4 \
	VPXOR Y5, Y5, Y5 \
	VPXOR Y6, Y6, Y6 \
	VPXOR Y7, Y7, Y7
#define ZERO12 \
	ZERO8 \
	VPXOR Y8, Y8, Y8 \
	VPXOR Y9, Y9, Y9 \
	VPXOR Y10, Y10, Y10 \
	VPXOR Y11, Y11, Y11
#define ZERO16 \
	ZERO12 \
	VPXOR Y12, Y12, Y12 \
	VPXOR Y13, Y13, Y13 \
	VPXOR Y14, Y14, Y14 \
	VPXOR Y15, Y15, Y15
