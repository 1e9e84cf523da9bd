package quant

import "encoding/binary"

// Dot kernels of the Int format, one per bit width. The kernel set in use
// (simd.go: use, SetSIMD, ACCEL_SIMD) sets these variables: the generic Go
// kernels below, or a platform's SIMD ones, which compute the same exact
// integer sums S_k and differ from these only in the order of the float32
// operations after them (the tests bound the difference by the summation
// error bound). Every kernel has the signature
//
//	func(row []byte, group int, asym bool, q []int8, xs []float32, xsum []int32) float32
//
// and returns the dot product of one stored Int row (layout in int.go) with
// one activation vector quantized to 8 bits in blocks of 32 (Batch.q8Vector):
//
//	row    the row's RowBytes(cols) bytes: float16 d[groups], then float16
//	       m[groups] if asym, then the code chunks, CB = 32/16/12/8 bytes each
//	group  G, weights per scale: a multiple of 32 in [32, 256]
//	asym   whether the row stores m
//	q      activation codes, len 32·n, zero past cols
//	xs     activation block scales, len n = ⌈cols/32⌉ = number of chunks
//	xsum   Σ of each block's 32 activation codes, len n
//
// With n chunks, groups = ⌈n·32/G⌉ and chunk k belongs to group ⌊32k/G⌋. The
// result is
//
//	Σ_g Σ_{k∈g} xs[k]·(d_g·S_k + m_g·xsum[k]),  S_k = Σ_{i<32} q_{32k+i}·q[32k+i]
//
// with m_g = 0 for symmetric rows, and q_i the signed weight codes. For 2, 3
// and 4 bits the chunks store u = q + 2^(b−1), so S_k = Σ u·x − 2^(b−1)·xsum[k].
// S_k is an exact int32 (|S_k| < 2^20); everything after it is float32.
var (
	dotInt2 = dotInt2Generic
	dotInt3 = dotInt3Generic
	dotInt4 = dotInt4Generic
	dotInt8 = dotInt8Generic
)

// intRowParts splits a row into its scale bytes, offset bytes (nil when
// symmetric) and code chunks.
func intRowParts(row []byte, group int, asym bool, chunks int) (d, m, codes []byte) {
	groups := (chunks*32 + group - 1) / group
	d = row[:2*groups]
	if asym {
		m = row[2*groups : 4*groups]
		return d, m, row[4*groups:]
	}
	return d, nil, row[2*groups:]
}

// intGroupSum folds one group's chunk sums into the total: chunk sums s[k]
// (already offset to signed codes) weigh xs, and asymmetric rows add m·Σx.
func intGroupSum(d, m []byte, g int, s []int32, xs []float32, xsum []int32) float32 {
	var gs, gx float32
	for k := range s {
		gs += xs[k] * float32(s[k])
	}
	out := F16ToF32(binary.LittleEndian.Uint16(d[2*g:])) * gs
	if m != nil {
		for k := range s {
			gx += xs[k] * float32(xsum[k])
		}
		out += F16ToF32(binary.LittleEndian.Uint16(m[2*g:])) * gx
	}
	return out
}

func dotInt8Generic(row []byte, group int, asym bool, q []int8, xs []float32, xsum []int32) float32 {
	n := len(xs)
	d, m, codes := intRowParts(row, group, asym, n)
	cpg := group / 32
	var s [8]int32
	var total float32
	for g, k0 := 0, 0; k0 < n; g, k0 = g+1, k0+cpg {
		k1 := min(k0+cpg, n)
		for k := k0; k < k1; k++ {
			c := codes[k*32 : k*32+32]
			x := q[k*32 : k*32+32]
			var a int32
			for i := range 32 {
				a += int32(int8(c[i])) * int32(x[i])
			}
			s[k-k0] = a
		}
		total += intGroupSum(d, m, g, s[:k1-k0], xs[k0:k1], xsum[k0:k1])
	}
	return total
}

func dotInt4Generic(row []byte, group int, asym bool, q []int8, xs []float32, xsum []int32) float32 {
	n := len(xs)
	d, m, codes := intRowParts(row, group, asym, n)
	cpg := group / 32
	var s [8]int32
	var total float32
	for g, k0 := 0, 0; k0 < n; g, k0 = g+1, k0+cpg {
		k1 := min(k0+cpg, n)
		for k := k0; k < k1; k++ {
			c := codes[k*16 : k*16+16]
			x := q[k*32 : k*32+32]
			var a int32
			for j := range 16 {
				a += int32(c[j]&15)*int32(x[j]) + int32(c[j]>>4)*int32(x[j+16])
			}
			s[k-k0] = a - 8*xsum[k]
		}
		total += intGroupSum(d, m, g, s[:k1-k0], xs[k0:k1], xsum[k0:k1])
	}
	return total
}

func dotInt3Generic(row []byte, group int, asym bool, q []int8, xs []float32, xsum []int32) float32 {
	n := len(xs)
	d, m, codes := intRowParts(row, group, asym, n)
	cpg := group / 32
	var s [8]int32
	var total float32
	for g, k0 := 0, 0; k0 < n; g, k0 = g+1, k0+cpg {
		k1 := min(k0+cpg, n)
		for k := k0; k < k1; k++ {
			c := codes[k*12 : k*12+12]
			x := q[k*32 : k*32+32]
			h := binary.LittleEndian.Uint32(c[8:])
			var a int32
			for sh := range 4 {
				for j := range 8 {
					i := 8*sh + j
					u := int32(c[j]>>(2*sh)&3) | int32(h>>i&1)<<2
					a += u * int32(x[i])
				}
			}
			s[k-k0] = a - 4*xsum[k]
		}
		total += intGroupSum(d, m, g, s[:k1-k0], xs[k0:k1], xsum[k0:k1])
	}
	return total
}

func dotInt2Generic(row []byte, group int, asym bool, q []int8, xs []float32, xsum []int32) float32 {
	n := len(xs)
	d, m, codes := intRowParts(row, group, asym, n)
	cpg := group / 32
	var s [8]int32
	var total float32
	for g, k0 := 0, 0; k0 < n; g, k0 = g+1, k0+cpg {
		k1 := min(k0+cpg, n)
		for k := k0; k < k1; k++ {
			c := codes[k*8 : k*8+8]
			x := q[k*32 : k*32+32]
			var a int32
			for j := range 8 {
				b := c[j]
				a += int32(b&3)*int32(x[j]) + int32(b>>2&3)*int32(x[j+8]) +
					int32(b>>4&3)*int32(x[j+16]) + int32(b>>6)*int32(x[j+24])
			}
			s[k-k0] = a - 2*xsum[k]
		}
		total += intGroupSum(d, m, g, s[:k1-k0], xs[k0:k1], xsum[k0:k1])
	}
	return total
}
