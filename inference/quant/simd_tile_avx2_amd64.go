package quant

import (
	"encoding/binary"
	"math"
)

// q4_0R8AVX2 multiplies eight Q4_0 rows, rb bytes apart (rb may be 0), of
// blocks blocks by one vector: out[i] = row i · x.
//
//go:noescape
func q4_0R8AVX2(rows *byte, rb int, q *int8, scale *float32, sum *int32, blocks int, out *[8]float32)

// q4_0R8X4AVX2 multiplies eight Q4_0 rows, rb bytes apart (rb may be 0),
// by four vectors laid out by Batch.q4Quads: out[8v+i] = row i · x_v, with
// the bits q4_0R8AVX2 gives.
//
//go:noescape
func q4_0R8X4AVX2(rows *byte, rb int, prep *byte, blocks int, out *[32]float32)

// quadBytes is the size of one block of four vectors in Batch.q4Quads.
const quadBytes = 4 * 128

// prepareQ4Quads builds x's q4Quads where the tile kernel will read them
// (see quadGroups), before the threads share out the rows.
func prepareQ4Quads(x *Batch) {
	if quadGroups(x.N) > 0 {
		x.q4Quads()
	}
}

// quadGroups is how many groups of four vectors q4_0TileAVX2 runs through
// q4_0R8X4AVX2 for a batch of n: every whole group, and a last one of two
// or three vectors, filled up with copies of the last (one pass over the
// rows costs less than two or three of the one-vector kernel's, which is
// bound by memory); a single vector left over goes through q4_0R8AVX2.
func quadGroups(n int) int { return (n + 2) / 4 }

// q4Quads returns the batch's vectors laid out for q4_0R8X4AVX2, in
// quadGroups(N) groups of four (the last vector repeated to fill the last
// group): per group and block, for each vector, its codes 0–15 twice,
// codes 16–31 twice, 8·Σcodes eight times (int32) and its scale eight
// times (float32). Built once, on first use (MatMulAll builds it before
// its parallel pass; the lock covers other callers).
func (b *Batch) q4Quads() []byte {
	nb := b.blocks()
	groups := quadGroups(b.N)
	return layOut(b, &b.quadsReady, &b.quads, groups*nb*quadBytes, func(quads []byte) {
		q, scale, sum := b.Q8()
		parallelFor(groups, 1, func(lo, hi int) {
			for g := lo; g < hi; g++ {
				for blk := range nb {
					dst := quads[(g*nb+blk)*quadBytes:]
					for v := range 4 {
						t := min(4*g+v, b.N-1)
						x := q[(t*nb+blk)*q8Block:]
						d := dst[v*128 : (v+1)*128]
						for i := range 16 {
							d[i], d[16+i] = byte(x[i]), byte(x[i])
							d[32+i], d[48+i] = byte(x[16+i]), byte(x[16+i])
						}
						corr, s := uint32(8*sum[t*nb+blk]), math.Float32bits(scale[t*nb+blk])
						for i := range 8 {
							binary.LittleEndian.PutUint32(d[64+4*i:], corr)
							binary.LittleEndian.PutUint32(d[96+4*i:], s)
						}
					}
				}
			}
		})
	})
}

// dotQ4_0AVX2 is one row's product through the eight-row kernel (rb = 0:
// the row in every lane), so that it has the bits a matrix product gives.
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

// q4_0TileAVX2 is Matrix.MatMul's kernel for a tile of Q4_0 rows on AVX2:
// the tile's rows eight at a time times the vectors four at a time (see
// quadGroups), a vector left over alone. A last group of fewer than eight rows
// overlaps the one before it (a tile of fewer than eight rows goes one row
// at a time). Every path computes each product the same way.
func q4_0TileAVX2(dst []float32, ld int, tile []byte, r0, n int, x *Batch) {
	rb := len(tile) / n
	nb := rb / q4_0BlockBytes
	if nb == 0 {
		mulTileGeneric(q4_0Codec{}, dst, ld, tile, r0, n, x)
		return
	}
	stride := nb * q8Block
	q, scale, sum := x.Q8()
	t := 0
	if groups := quadGroups(x.N); groups > 0 {
		quads := x.q4Quads()
		var out [32]float32
		step, stride := 8, rb
		if n < 8 {
			step, stride = 1, 0
		}
		for ; t < 4*groups; t += 4 {
			prep := quads[t/4*nb*quadBytes:]
			for i := 0; i < n; i += step {
				i0 := min(i, n-step)
				q4_0R8X4AVX2(&tile[i0*rb], stride, &prep[0], nb, &out)
				for v := range min(4, x.N-t) {
					copy(dst[(t+v)*ld+r0+i0:(t+v)*ld+r0+i0+step], out[8*v:8*v+step])
				}
			}
		}
		t = min(t, x.N)
	}
	var out [8]float32
	for ; t < x.N; t++ {
		qt, st, mt := q[t*stride:(t+1)*stride], scale[t*nb:(t+1)*nb], sum[t*nb:(t+1)*nb]
		row := dst[t*ld+r0 : t*ld+r0+n]
		if n < 8 {
			for i := range row {
				q4_0R8AVX2(&tile[i*rb], 0, &qt[0], &st[0], &mt[0], nb, &out)
				row[i] = out[0]
			}
			continue
		}
		for i := 0; i < n; i += 8 {
			i0 := min(i, n-8)
			q4_0R8AVX2(&tile[i0*rb], rb, &qt[0], &st[0], &mt[0], nb, &out)
			copy(row[i0:i0+8], out[:])
		}
	}
}
