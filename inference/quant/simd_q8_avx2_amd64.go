package quant

// q8_0Interleave8AVX2 lays out eight Q8_0 rows for q8_0I8X4AVX2
// (q8Interleaved bytes a block).
//
//go:noescape
func q8_0Interleave8AVX2(dst *byte, rows *byte, rb int, blocks int)

// q8_0I8X4AVX2 multiplies eight laid-out rows by four vectors whose codes
// start at codes[v] and whose scales are laid out by Batch.q8ScaleQuads:
// out[8v+i] = row i · x_v.
//
//go:noescape
func q8_0I8X4AVX2(il *byte, codes *[4]uintptr, scales *float32, blocks int, out *[32]float32)

// q8_0R8AVX2 multiplies eight Q8_0 rows rb bytes apart (rb may be 0) by
// one vector: out[i] = row i · x.
//
//go:noescape
func q8_0R8AVX2(rows *byte, rb int, q *int8, scale *float32, blocks int, out *[8]float32)

// q8Interleaved is the size of a block of eight rows laid out by
// q8_0Interleave8AVX2: their d as float32, then their codes.
const q8Interleaved = 8*4 + 8*32
