package quant

import (
	"math"
	"unsafe"
)

// q4KInterleave8AVX2 lays out blocks super-blocks of eight Q4_K rows rb
// bytes apart (rb may be 0) for q4KI8X4AVX2, q4KRows8Bytes a super-block.
//
//go:noescape
func q4KInterleave8AVX2(dst *byte, rows *byte, rb int, blocks int)

// q4KI8X4AVX2 multiplies eight laid-out Q4_K rows by four vectors whose
// codes start at codes[v], with their scales and sub-block sums laid out
// by Batch.kQuads: out[8v+i] = row i · x_v, with the bits dotQ4KAVX2
// gives.
//
//go:noescape
func q4KI8X4AVX2(il *byte, codes *[4]uintptr, quads *uint32, blocks int, out *[32]float32)

// q6KInterleave8AVX2 lays out blocks super-blocks of eight Q6_K rows rb
// bytes apart (rb may be 0) for q6KI8X4AVX2, q6KRows8Bytes a super-block.
//
//go:noescape
func q6KInterleave8AVX2(dst *byte, rows *byte, rb int, blocks int)

// q6KI8X4AVX2 multiplies eight laid-out Q6_K rows by four vectors whose
// codes start at codes[v], with their scales and sums per 16 laid out by
// Batch.k6Quads: out[8v+i] = row i · x_v, with the bits dotQ6KAVX2 gives.
//
//go:noescape
func q6KI8X4AVX2(il *byte, codes *[4]uintptr, quads *uint32, blocks int, out *[32]float32)

// q6KRows8Bytes is the size of a super-block of eight Q6_K rows laid out
// by q6KInterleave8AVX2: their d as float32, the scales as int32 and as
// int16 pairs, then the codes 0–63 in chunks.
const q6KRows8Bytes = 8*4 + 16*32 + 8*32 + 16*128

// k6QuadWords is the size of Batch.k6Quads per group of four vectors and
// super-block.
const k6QuadWords = 4 + 4*8

// q4KRows8Bytes is the size of a super-block of eight Q4_K rows laid out by
// q4KInterleave8AVX2: their d and dmin as float32, the scales as int32, the
// mins as int16 pairs, then the codes 0–15 in chunks.
const q4KRows8Bytes = 8*4*2 + 8*32 + 4*32 + 8*256

// kQuadWords is the size of Batch.kQuads per group of four vectors and
// super-block.
const kQuadWords = 4 + 4*4

var q4KRows8 = &rows8Kernels{
	blockBytes:    q4KBytes,
	ilBytes:       q4KRows8Bytes,
	interleave:    q4KInterleave8AVX2,
	x4:            q4KI8X4AVX2,
	one:           kRows8One(dotQ4KAVX2),
	acts:          func(x *Batch) ([]int8, []uint32) { return x.qk, x.kQuads() },
	codesPerBlock: qkBlock,
	quadWords:     kQuadWords,
}

// q4KPackedInterleave8AVX2 lays a packed Q4_K group out as
// q4KInterleave8AVX2 lays out eight stored rows.
//
//go:noescape
func q4KPackedInterleave8AVX2(dst *byte, group *byte, blocks int)

// q4KP8AVX2 multiplies a packed Q4_K group by one vector (its codes,
// scales and sums per 16): out[i] = row i · x, with the bits dotQ4KAVX2
// gives.
//
//go:noescape
func q4KP8AVX2(group *byte, q *int8, scale *float32, sum *int16, blocks int, out *[8]float32)

// q4KPackedRows8 and q6KPackedRows8 are the Q4_K and Q6_K kernels over
// packed groups.
var (
	q4KPackedRows8 = packedKRows8(q4KRows8, q4KPackedInterleave8AVX2, q4KP8AVX2)
	q6KPackedRows8 = packedKRows8(q6KRows8, q6KPackedInterleave8AVX2, q6KP8AVX2)
)

// packedKRows8 returns the kernels of stored, a K-quant's over stored rows,
// for packed groups: mulTile takes whole groups (n a multiple of eight),
// the rows' stride is not used; a batch lays the groups out with
// interleave, one vector runs one.
func packedKRows8(stored *rows8Kernels, interleave func(dst, group *byte, blocks int), one func(group *byte, q *int8, scale *float32, sum *int16, blocks int, out *[8]float32)) *rows8Kernels {
	k := *stored
	k.interleave = func(dst, group *byte, _, blocks int) { interleave(dst, group, blocks) }
	k.one = func(group *byte, _ int, x *Batch, t, nsb int, out *[8]float32) {
		q, scale, sum := x.qkVector(t)
		_, _, _ = q[nsb*qkBlock-1], scale[nsb-1], sum[nsb*16-1]
		one(group, &q[0], &scale[0], &sum[0], nsb, out)
	}
	return &k
}

// q6KPackedInterleave8AVX2 lays a packed Q6_K group out as
// q6KInterleave8AVX2 lays out eight stored rows.
//
//go:noescape
func q6KPackedInterleave8AVX2(dst *byte, group *byte, blocks int)

// q6KP8AVX2 multiplies a packed Q6_K group by one vector (its codes,
// scales and sums per 16): out[i] = row i · x, with the bits dotQ6KAVX2
// gives.
//
//go:noescape
func q6KP8AVX2(group *byte, q *int8, scale *float32, sum *int16, blocks int, out *[8]float32)

var q6KRows8 = &rows8Kernels{
	blockBytes:    q6KBytes,
	ilBytes:       q6KRows8Bytes,
	interleave:    q6KInterleave8AVX2,
	x4:            q6KI8X4AVX2,
	one:           kRows8One(dotQ6KAVX2),
	acts:          func(x *Batch) ([]int8, []uint32) { return x.qk, x.k6Quads() },
	codesPerBlock: qkBlock,
	quadWords:     k6QuadWords,
}

// kRows8One returns the eight-row kernels' one-vector step for a K-quant
// dot kernel: eight rows rb bytes apart a row at a time (rb = 0: the row
// once, in every lane).
func kRows8One(dot func(row *byte, q *int8, scale *float32, sum *int16, nsb int) float32) func(rows *byte, rb int, x *Batch, t, nsb int, out *[8]float32) {
	return func(rows *byte, rb int, x *Batch, t, nsb int, out *[8]float32) {
		q, scale, sum := x.qkVector(t)
		_, _, _ = q[nsb*qkBlock-1], scale[nsb-1], sum[nsb*16-1]
		for i := range out {
			if i > 0 && rb == 0 {
				out[i] = out[0]
				continue
			}
			out[i] = dot((*byte)(unsafe.Add(unsafe.Pointer(rows), i*rb)), &q[0], &scale[0], &sum[0], nsb)
		}
	}
}

// prepareKQuads and prepareK6Quads build x's kQuads (k6Quads) before the
// threads share out the rows.
func prepareKQuads(x *Batch) {
	if x.N >= 4 {
		x.kQuads()
	}
}

func prepareK6Quads(x *Batch) {
	if x.N >= 4 {
		x.k6Quads()
	}
}

// kQuads returns what q4KI8X4AVX2 reads of each whole group of four
// vectors: per group and super-block, the four vectors' scales (float32
// bits), then each vector's sums of its sub-blocks 2k and 2k+1 as two int16
// (k = 0..3). Built once, on first use; the K-quant codes must be current.
func (b *Batch) kQuads() []uint32 {
	return b.quadsOfK(&b.kQuadsReady, &b.kquads, 4, func(bs []int16, k int) (lo, hi int16) {
		return bs[4*k] + bs[4*k+1], bs[4*k+2] + bs[4*k+3]
	})
}

// k6Quads returns what q6KI8X4AVX2 reads of each whole group of four
// vectors: per group and super-block, the four vectors' scales (float32
// bits), then each vector's sums per 16 in pairs (as two int16). Built
// once, on first use; the K-quant codes must be current.
func (b *Batch) k6Quads() []uint32 {
	return b.quadsOfK(&b.k6QuadsReady, &b.k6quads, 8, func(bs []int16, k int) (lo, hi int16) {
		return bs[2*k], bs[2*k+1]
	})
}

// quadsOfK builds (once: *ready) into *buf, per group of four vectors and
// super-block, the four vectors' scales and then each vector's pairs of
// sums, pair k of a super-block's sums per 16 (bs) given by pair.
func (b *Batch) quadsOfK(ready *bool, buf *[]uint32, pairs int, pair func(bs []int16, k int) (lo, hi int16)) []uint32 {
	b.quadsMu.Lock()
	defer b.quadsMu.Unlock()
	if *ready {
		return *buf
	}
	nsb, words := b.Cols/qkBlock, 4+4*pairs
	q := grow(*buf, b.N/4*nsb*words)
	for g := range b.N / 4 {
		for s := range nsb {
			d := q[(g*nsb+s)*words:][:words]
			for v := range 4 {
				_, scale, sum := b.qkVector(4*g + v)
				d[v] = math.Float32bits(scale[s])
				for k := range pairs {
					lo, hi := pair(sum[16*s:16*s+16], k)
					d[4+pairs*v+k] = uint32(uint16(lo)) | uint32(uint16(hi))<<16
				}
			}
		}
	}
	*buf, *ready = q, true
	return q
}
