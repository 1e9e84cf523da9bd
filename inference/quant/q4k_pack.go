package quant

import "encoding/binary"

// A packed Q4_K group is eight rows of Q4_K super-blocks interleaved
// dword by dword: per super-block, dword m of each of the eight rows'
// blocks in row order, 32 bytes per m (the first four dwords are the d,
// dmin and scales, the rest the codes). The group takes the bytes the
// eight rows take.
const q4KGroupBytes = 8 * q4KBytes

// packQ4KGroup writes the eight rows at rows (rb bytes each, back to back)
// into group as a packed group.
func packQ4KGroup(group, rows []byte, rb int) {
	for s := range rb / q4KBytes {
		g := group[s*q4KGroupBytes : (s+1)*q4KGroupBytes]
		for i := range 8 {
			blk := rows[i*rb+s*q4KBytes:][:q4KBytes]
			for m := range q4KBytes / 4 {
				binary.LittleEndian.PutUint32(g[32*m+4*i:], binary.LittleEndian.Uint32(blk[4*m:]))
			}
		}
	}
}

// unpackQ4KRow writes row i of the packed group into row.
func unpackQ4KRow(row, group []byte, i int) {
	for s := range len(row) / q4KBytes {
		g := group[s*q4KGroupBytes : (s+1)*q4KGroupBytes]
		blk := row[s*q4KBytes : (s+1)*q4KBytes]
		for m := range q4KBytes / 4 {
			binary.LittleEndian.PutUint32(blk[4*m:], binary.LittleEndian.Uint32(g[32*m+4*i:]))
		}
	}
}
