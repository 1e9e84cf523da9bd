package quant

// A packed F16 group is eight F16 rows interleaved eight columns at a
// time: for each chunk of eight columns, the eight rows' 16 bytes in row
// order. The group takes the bytes the eight rows take; the rows' length
// must be a multiple of eight.
const f16ChunkBytes = 16

// packF16Group writes the eight rows at rows (rb bytes each, back to back)
// into group as a packed group.
func packF16Group(group, rows []byte, rb int) {
	for c := range rb / f16ChunkBytes {
		for i := range 8 {
			copy(group[(8*c+i)*f16ChunkBytes:][:f16ChunkBytes], rows[i*rb+c*f16ChunkBytes:])
		}
	}
}

// unpackF16Row writes row i of the packed group into row.
func unpackF16Row(row, group []byte, i int) {
	for c := range len(row) / f16ChunkBytes {
		copy(row[c*f16ChunkBytes:][:f16ChunkBytes], group[(8*c+i)*f16ChunkBytes:])
	}
}
