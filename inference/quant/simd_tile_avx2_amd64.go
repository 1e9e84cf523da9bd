package quant

// q4_0R8AVX2 multiplies eight Q4_0 rows, rb bytes apart (rb may be 0), of
// blocks blocks by one vector: out[i] = row i · x.
//
//go:noescape
func q4_0R8AVX2(rows *byte, rb int, q *int8, scale *float32, sum *int32, blocks int, out *[8]float32)

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
// each vector in turn times the tile's rows eight at a time. A last group
// of fewer than eight rows overlaps the one before it (a tile of fewer than
// eight rows goes one row at a time).
func q4_0TileAVX2(dst []float32, ld int, tile []byte, r0, n int, x *Batch) {
	rb := len(tile) / n
	nb := rb / q4_0BlockBytes
	if nb == 0 {
		mulTileGeneric(q4_0Codec{}, dst, ld, tile, r0, n, x)
		return
	}
	stride := nb * q8Block
	q, scale, sum := x.Q8()
	var out [8]float32
	for t := range x.N {
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
