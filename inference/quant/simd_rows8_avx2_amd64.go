package quant

import (
	"math"
	"runtime"
	"unsafe"
)

// q8_0Interleave8AVX2 and q4_0Interleave8AVX2 lay out eight Q8_0 or Q4_0
// rows rb bytes apart (rb may be 0) for the four-vector kernels,
// rows8Bytes a block.
//
//go:noescape
func q8_0Interleave8AVX2(dst *byte, rows *byte, rb int, blocks int)

//go:noescape
func q4_0Interleave8AVX2(dst *byte, rows *byte, rb int, blocks int)

// q8_0I8X4AVX2 and q4_0I8X4AVX2 multiply eight laid-out rows by four
// vectors whose codes start at codes[v], with their scales (and sums) laid
// out by Batch.scaleQuads: out[8v+i] = row i · x_v.
//
//go:noescape
func q8_0I8X4AVX2(il *byte, codes *[4]uintptr, quads *uint32, blocks int, out *[32]float32)

//go:noescape
func q4_0I8X4AVX2(il *byte, codes *[4]uintptr, quads *uint32, blocks int, out *[32]float32)

// q8_0R8X4AVX2 and q4_0R8X4AVX2 multiply eight Q8_0 or Q4_0 rows rb bytes
// apart (rb may be 0) by four vectors as the laid-out kernels do, without
// a lay-out.
//
//go:noescape
func q8_0R8X4AVX2(rows *byte, rb int, codes *[4]uintptr, quads *uint32, blocks int, out *[32]float32)

//go:noescape
func q4_0R8X4AVX2(rows *byte, rb int, codes *[4]uintptr, quads *uint32, blocks int, out *[32]float32)

// q8_0R8AVX2 and q4_0R8AVX2 multiply eight Q8_0 or Q4_0 rows rb bytes
// apart (rb may be 0) by one vector: out[i] = row i · x.
//
//go:noescape
func q8_0R8AVX2(rows *byte, rb int, q *int8, scale *float32, blocks int, out *[8]float32)

//go:noescape
func q4_0R8AVX2(rows *byte, rb int, q *int8, scale *float32, sum *int32, blocks int, out *[8]float32)

// q4_0P8AVX2 and q4_0P8X4AVX2 multiply a packed Q4_0 group (see
// q4_0GroupBlockBytes) by one vector or four, as q4_0R8AVX2 and
// q4_0R8X4AVX2 multiply eight stored rows: the same arguments but rb, the
// same bits.
//
//go:noescape
func q4_0P8AVX2(group *byte, q *int8, scale *float32, sum *int32, blocks int, out *[8]float32)

//go:noescape
func q4_0P8X4AVX2(group *byte, codes *[4]uintptr, quads *uint32, blocks int, out *[32]float32)

// rows8Bytes is the size of a block of eight rows laid out by
// q8_0Interleave8AVX2 or q4_0Interleave8AVX2: their d as float32, then
// eight chunks of 32 codes.
const rows8Bytes = 8*4 + 8*32

// rows8Kernels are one block format's AVX2 eight-row kernels.
type rows8Kernels struct {
	blockBytes int
	// ilBytes is the size of a block of eight rows laid out by interleave;
	// a nil interleave means x4Rows takes every batch of four or more.
	ilBytes    int
	interleave func(dst *byte, rows *byte, rb int, blocks int)
	x4         func(il *byte, codes *[4]uintptr, quads *uint32, blocks int, out *[32]float32)
	// x4Rows multiplies rows rb bytes apart by four vectors as x4 does,
	// for batches under eight (one pass over the rows); nil means those
	// are laid out too.
	x4Rows func(rows *byte, rb int, codes *[4]uintptr, quads *uint32, blocks int, out *[32]float32)
	// one multiplies eight rows rb bytes apart by vector t of x.
	one func(rows *byte, rb int, x *Batch, t, blocks int, out *[8]float32)
	// acts returns what x4 reads of the batch: the codes (a block's worth
	// codesPerBlock, vector after vector) and the quads (quadWords per
	// group of four vectors and block).
	acts          func(x *Batch) (codes []int8, quads []uint32)
	codesPerBlock int
	quadWords     int
}

// q8Acts returns the Q8_0 and Q4_0 kernels' view of x.
func q8Acts(x *Batch) ([]int8, []uint32) {
	q, _, _ := x.Q8()
	return q, x.scaleQuads()
}

var q8_0Rows8 = &rows8Kernels{
	blockBytes:    q8_0BlockBytes,
	ilBytes:       rows8Bytes,
	interleave:    q8_0Interleave8AVX2,
	x4:            q8_0I8X4AVX2,
	x4Rows:        q8_0R8X4AVX2,
	acts:          q8Acts,
	codesPerBlock: q8Block,
	quadWords:     8,
	one: func(rows *byte, rb int, x *Batch, t, blocks int, out *[8]float32) {
		q, scale, _ := x.q8Vector(t)
		_, _ = q[blocks*q8Block-1], scale[blocks-1]
		q8_0R8AVX2(rows, rb, &q[0], &scale[0], blocks, out)
	},
}

var q4_0Rows8 = &rows8Kernels{
	blockBytes:    q4_0BlockBytes,
	ilBytes:       rows8Bytes,
	interleave:    q4_0Interleave8AVX2,
	x4:            q4_0I8X4AVX2,
	x4Rows:        q4_0R8X4AVX2,
	acts:          q8Acts,
	codesPerBlock: q8Block,
	quadWords:     8,
	one: func(rows *byte, rb int, x *Batch, t, blocks int, out *[8]float32) {
		q, scale, sum := x.q8Vector(t)
		_, _, _ = q[blocks*q8Block-1], scale[blocks-1], sum[blocks-1]
		q4_0R8AVX2(rows, rb, &q[0], &scale[0], &sum[0], blocks, out)
	},
}

// q4_0PackedRows8 are the Q4_0 kernels over packed groups: mulTile takes
// whole groups (n a multiple of eight), the rows' stride is not used. A
// group needs no lay-out: every batch runs four vectors at a time over the
// packed rows (from cache after the first four).
var q4_0PackedRows8 = packedQ4_0Kernels(q4_0P8AVX2, q4_0P8X4AVX2)

// packedQ4_0Kernels returns the packed-group kernels around a level's
// one-vector and four-vector kernels.
func packedQ4_0Kernels(
	one func(group *byte, q *int8, scale *float32, sum *int32, blocks int, out *[8]float32),
	x4 func(group *byte, codes *[4]uintptr, quads *uint32, blocks int, out *[32]float32),
) *rows8Kernels {
	return &rows8Kernels{
		blockBytes: q4_0BlockBytes,
		x4Rows: func(group *byte, _ int, codes *[4]uintptr, quads *uint32, blocks int, out *[32]float32) {
			x4(group, codes, quads, blocks, out)
		},
		acts:          q8Acts,
		codesPerBlock: q8Block,
		quadWords:     8,
		one: func(group *byte, _ int, x *Batch, t, blocks int, out *[8]float32) {
			q, scale, sum := x.q8Vector(t)
			_, _, _ = q[blocks*q8Block-1], scale[blocks-1], sum[blocks-1]
			one(group, &q[0], &scale[0], &sum[0], blocks, out)
		},
	}
}

// dotQ8_0AVX2 and dotQ4_0AVX2 are one row's product through the eight-row
// kernel (rb = 0: the row in every lane), so that it has the bits every
// AVX2 path gives.
func dotQ8_0AVX2(row []byte, q []int8, scale []float32) float32 {
	nb := len(row) / q8_0BlockBytes
	if nb == 0 {
		return 0
	}
	_, _ = q[nb*q8Block-1], scale[nb-1]
	var out [8]float32
	q8_0R8AVX2(&row[0], 0, &q[0], &scale[0], nb, &out)
	return out[0]
}

func dotQ4_0AVX2(row []byte, q []int8, scale []float32, sum []int32) float32 {
	nb := len(row) / q4_0BlockBytes
	if nb == 0 {
		return 0
	}
	_, _, _ = q[nb*q8Block-1], scale[nb-1], sum[nb-1]
	var out [8]float32
	q4_0R8AVX2(&row[0], 0, &q[0], &scale[0], &sum[0], nb, &out)
	return out[0]
}

// mulTile is Matrix.MatMul's kernel for a tile of rows on AVX2: the rows
// eight at a time, laid out once and multiplied by the vectors four at a
// time (by the rows as stored, for a batch under eight), the vectors left
// over (every vector of a batch under four) by the rows as stored. A last group of fewer than eight rows
// overlaps the one before it; a tile of fewer than eight rows goes one row
// at a time. Every path computes each product the same way.
func (k *rows8Kernels) mulTile(dst []float32, ld int, tile []byte, r0, n int, x *Batch) {
	rb := len(tile) / n
	nb := rb / k.blockBytes // at least 1: rows are whole blocks
	var out [8]float32
	if n < 8 {
		for t := range x.N {
			for i := range n {
				k.one(&tile[i*rb], 0, x, t, nb, &out)
				dst[t*ld+r0+i] = out[0]
			}
		}
		return
	}
	groups := (n + 7) / 8
	t := 0
	if x.N >= 4 {
		direct := k.interleave == nil || x.N < 8 && k.x4Rows != nil
		size := nb * k.ilBytes
		var (
			il     []byte
			pooled *[]byte
		)
		if !direct {
			il, pooled = prepBuffer(groups * size)
			for g := range groups {
				k.interleave(&il[g*size], &tile[min(8*g, n-8)*rb], rb, nb)
			}
		}
		q, quads := k.acts(x)
		stride, qw := nb*k.codesPerBlock, nb*k.quadWords
		var (
			codes [4]uintptr
			out4  [32]float32
		)
		for ; t+4 <= x.N; t += 4 {
			for v := range 4 {
				codes[v] = uintptr(unsafe.Pointer(&q[(t+v)*stride]))
			}
			for g := range groups {
				i0 := min(8*g, n-8)
				if direct {
					k.x4Rows(&tile[i0*rb], rb, &codes, &quads[t/4*qw], nb, &out4)
				} else {
					k.x4(&il[g*size], &codes, &quads[t/4*qw], nb, &out4)
				}
				for v := range 4 {
					copy(dst[(t+v)*ld+r0+i0:][:8], out4[8*v:8*v+8])
				}
			}
		}
		runtime.KeepAlive(x) // codes points into its buffers
		if pooled != nil {
			prepPool.Put(pooled)
		}
	}
	for ; t < x.N; t++ {
		for g := range groups {
			i0 := min(8*g, n-8)
			k.one(&tile[i0*rb], rb, x, t, nb, &out)
			copy(dst[t*ld+r0+i0:][:8], out[:])
		}
	}
}

// prepareScaleQuads builds x's scaleQuads before the threads share out the
// rows.
func prepareScaleQuads(x *Batch) {
	if x.N >= 4 {
		x.scaleQuads()
	}
}

// scaleQuads returns what the four-vector kernels read of each whole group
// of four vectors: per group and block, the four vectors' 8-bit scales
// (float32 bits), then 8·Σ of their codes (int32, Q4_0's offset). Built
// once, on first use.
func (b *Batch) scaleQuads() []uint32 {
	b.quadsMu.Lock()
	defer b.quadsMu.Unlock()
	if b.quadsReady {
		return b.quads
	}
	_, scale, sum := b.Q8()
	nb := b.blocks()
	b.quads = grow(b.quads, b.N/4*nb*8)
	for g := range b.N / 4 {
		for blk := range nb {
			d := b.quads[(g*nb+blk)*8:][:8]
			for v := range 4 {
				t := 4*g + v
				d[v] = math.Float32bits(scale[t*nb+blk])
				d[4+v] = uint32(8 * sum[t*nb+blk])
			}
		}
	}
	b.quadsReady = true
	return b.quads
}
