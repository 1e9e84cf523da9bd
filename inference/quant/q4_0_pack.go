package quant

// A packed Q4_0 group is eight rows of Q4_0 blocks interleaved, block by
// block, so that a kernel reads the eight rows as one stream with each
// row's codes in its own 32-bit lane: per block the eight rows' d
// (float16), then four chunks of 32 bytes, chunk k holding bytes 4k..4k+3
// of each row's codes in row order. The group takes the bytes the eight
// rows take.
const q4_0GroupBlockBytes = 8 * q4_0BlockBytes

// packQ4_0Group writes the eight rows at rows (rb bytes each, back to back)
// into dst as a packed group.
func packQ4_0Group(dst, rows []byte, rb int) {
	for b := range rb / q4_0BlockBytes {
		g := dst[b*q4_0GroupBlockBytes : (b+1)*q4_0GroupBlockBytes]
		for i := range 8 {
			blk := rows[i*rb+b*q4_0BlockBytes:][:q4_0BlockBytes]
			copy(g[2*i:2*i+2], blk[:2])
			for k := range 4 {
				copy(g[16+32*k+4*i:][:4], blk[2+4*k:][:4])
			}
		}
	}
}

// unpackQ4_0Row writes row i of the packed group into row (rb bytes).
func unpackQ4_0Row(row, group []byte, i int) {
	for b := range len(row) / q4_0BlockBytes {
		g := group[b*q4_0GroupBlockBytes : (b+1)*q4_0GroupBlockBytes]
		blk := row[b*q4_0BlockBytes : (b+1)*q4_0BlockBytes]
		copy(blk[:2], g[2*i:2*i+2])
		for k := range 4 {
			copy(blk[2+4*k:][:4], g[16+32*k+4*i:][:4])
		}
	}
}
