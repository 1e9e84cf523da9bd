package quant

import "encoding/binary"

// A packed Q6_K group is eight rows of Q6_K super-blocks interleaved, per
// super-block in the order the one-vector kernel reads them: for each half
// n and step k < 8, dword k and dword 8+k of the half's ql and dword k of
// its qh, each the eight rows' in row order (96 bytes a step); then the
// four dwords of scales the same way and the eight rows' d. The group
// takes the bytes the eight rows take.
const (
	q6KGroupBytes = 8 * q6KBytes
	q6KDwords     = (q6KBytes - 2) / 4 // ql, qh and scales
)

// q6KDwordAt is where a packed super-block holds the eight rows' dword m of
// their blocks.
func q6KDwordAt(m int) int {
	switch {
	case m < 32: // ql: half m/16, step m%8, first or second of the step
		return 768*(m/16) + 96*(m%8) + 32*(m%16/8)
	case m < 48: // qh: half (m-32)/8, step (m-32)%8
		return 768*((m-32)/8) + 96*((m-32)%8) + 64
	}
	return 1536 + 32*(m-48) // scales
}

// packQ6KGroup writes the eight rows at rows (rb bytes each, back to back)
// into group as a packed group.
func packQ6KGroup(group, rows []byte, rb int) {
	for s := range rb / q6KBytes {
		g := group[s*q6KGroupBytes : (s+1)*q6KGroupBytes]
		for i := range 8 {
			blk := rows[i*rb+s*q6KBytes:][:q6KBytes]
			for m := range q6KDwords {
				binary.LittleEndian.PutUint32(g[q6KDwordAt(m)+4*i:], binary.LittleEndian.Uint32(blk[4*m:]))
			}
			copy(g[32*q6KDwords+2*i:][:2], blk[4*q6KDwords:])
		}
	}
}

// unpackQ6KRow writes row i of the packed group into row.
func unpackQ6KRow(row, group []byte, i int) {
	for s := range len(row) / q6KBytes {
		g := group[s*q6KGroupBytes : (s+1)*q6KGroupBytes]
		blk := row[s*q6KBytes : (s+1)*q6KBytes]
		for m := range q6KDwords {
			binary.LittleEndian.PutUint32(blk[4*m:], binary.LittleEndian.Uint32(g[q6KDwordAt(m)+4*i:]))
		}
		copy(blk[4*q6KDwords:], g[32*q6KDwords+2*i:][:2])
	}
}
