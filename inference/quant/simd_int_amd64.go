package quant

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
)

// AVX-512 kernels of the Int formats (simd_int_amd64.s explains the method).
// The assembly works whole superblocks of 16 chunks (512 weights); the Go
// side lays out the activations, looks up the scale table of the row shape
// and keeps the kernels' reads inside the matrix's memory.

// prepIntT4AVX512 and prepIntP2AVX512 lay out nsb superblocks of one
// activation vector (intPrepBytes each) for the T4 (int8, int4) and P2
// (int3, int2) kernels; 1<<shift is the formats' code offset 2^(b−1).
//
//go:noescape
func prepIntT4AVX512(dst *byte, q *int8, xs *float32, xsum *int32, nsb, shift int)

//go:noescape
func prepIntP2AVX512(dst *byte, q *int8, xs *float32, xsum *int32, nsb, shift int)

// int*RowsAVX512 multiply nrows rows, rb bytes apart, of nsb superblocks by
// one prepared vector into out[:nrows]. A row's codes start hdr bytes in,
// its offsets m moff bytes in (moff 0: symmetric).
//
//go:noescape
func int8RowsAVX512(rows *byte, rb, nrows, hdr, moff int, prep, tab *byte, nsb int, out *float32)

//go:noescape
func int4RowsAVX512(rows *byte, rb, nrows, hdr, moff int, prep, tab *byte, nsb int, out *float32)

//go:noescape
func int3RowsAVX512(rows *byte, rb, nrows, hdr, moff int, prep, tab *byte, nsb int, out *float32)

//go:noescape
func int2RowsAVX512(rows *byte, rb, nrows, hdr, moff int, prep, tab *byte, nsb int, out *float32)

// int*x4AVX512 multiply one row by four prepared vectors, vstride bytes
// apart, into out.
//
//go:noescape
func int8x4AVX512(row *byte, hdr, moff int, prep *byte, vstride int, tab *byte, nsb int, out *[4]float32)

//go:noescape
func int4x4AVX512(row *byte, hdr, moff int, prep *byte, vstride int, tab *byte, nsb int, out *[4]float32)

//go:noescape
func int3x4AVX512(row *byte, hdr, moff int, prep *byte, vstride int, tab *byte, nsb int, out *[4]float32)

//go:noescape
func int2x4AVX512(row *byte, hdr, moff int, prep *byte, vstride int, tab *byte, nsb int, out *[4]float32)

const (
	intSBChunks  = 16  // chunks per superblock
	intPrepBytes = 704 // prepared activation bytes per superblock
)

// Lane orders of the kernels' superblock sums: lane l holds chunk perm[l].
var (
	intPermT4 = [16]uint8{0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15}
	intPermP2 = [16]uint8{0, 1, 8, 9, 2, 3, 10, 11, 4, 5, 12, 13, 6, 7, 14, 15}
)

// intAVX512 is one bit width's kernels.
type intAVX512 struct {
	cb    int  // code bytes per chunk
	shift int  // log2 of the code offset
	p2    bool // P2 lane order (int3, int2), else T4
	prep  func(dst *byte, q *int8, xs *float32, xsum *int32, nsb, shift int)
	rows  func(rows *byte, rb, nrows, hdr, moff int, prep, tab *byte, nsb int, out *float32)
	x4    func(row *byte, hdr, moff int, prep *byte, vstride int, tab *byte, nsb int, out *[4]float32)
}

var (
	int8AVX512 = &intAVX512{cb: 32, shift: 7, prep: prepIntT4AVX512, rows: int8RowsAVX512, x4: int8x4AVX512}
	int4AVX512 = &intAVX512{cb: 16, shift: 3, prep: prepIntT4AVX512, rows: int4RowsAVX512, x4: int4x4AVX512}
	int3AVX512 = &intAVX512{cb: 12, shift: 2, p2: true, prep: prepIntP2AVX512, rows: int3RowsAVX512, x4: int3x4AVX512}
	int2AVX512 = &intAVX512{cb: 8, shift: 1, p2: true, prep: prepIntP2AVX512, rows: int2RowsAVX512, x4: int2x4AVX512}
)

// addIntAVX512 installs the Int kernels in the AVX-512 kernel set; int3
// needs BITALG as well.
func addIntAVX512(k *kernelSet, bitalg bool) {
	k.int8Dot, k.int4Dot, k.int2Dot = int8AVX512.dot, int4AVX512.dot, int2AVX512.dot
	var byBits [9]*intAVX512
	byBits[8], byBits[4], byBits[2] = int8AVX512, int4AVX512, int2AVX512
	if bitalg {
		k.int3Dot = int3AVX512.dot
		byBits[3] = int3AVX512
	}
	k.intTile = func(c *intCodec, dst []float32, ld int, tile []byte, r0, n int, x *Batch) bool {
		ik := byBits[c.bits]
		if ik == nil {
			return false
		}
		ik.mulTile(c, dst, ld, tile, r0, n, x)
		return true
	}
}

// intShape is what the kernels need to know about rows of nch chunks.
type intShape struct {
	nsb, hdr, moff int
	reach          int    // bytes from a row's start that the kernels read
	tab            []byte // intTable
}

func (k *intAVX512) shape(group int, asym bool, nch int) intShape {
	groups := (nch*32 + group - 1) / group
	s := intShape{nsb: (nch + intSBChunks - 1) / intSBChunks, hdr: 2 * groups}
	if asym {
		s.moff, s.hdr = s.hdr, 2*s.hdr
	}
	s.reach = s.hdr + s.nsb*intSBChunks*k.cb
	s.tab = intTable(k.p2, group/32, nch)
	return s
}

type intTableKey struct {
	p2       bool
	cpg, nch int
}

type intTableEntry struct {
	key intTableKey
	tab []byte
}

var (
	intTables sync.Map // intTableKey → []byte
	// intTableHot caches recent tables by a hash of the key, so the lookup
	// on every tile costs a few loads (sync.Map's costs ~50 ns).
	intTableHot [64]atomic.Pointer[intTableEntry]
)

// intTable returns the scale gathers of rows of nch chunks in groups of cpg
// chunks, for the T4 or P2 lane order: per superblock 64 bytes, the 16
// lanes' group indices relative to the superblock's first group g0 (words
// 0–15), the byte offset 2·g0 of the window of 16 scales (bytes 32–39) and
// the mask of the window's scales that exist (bytes 40–41). Lanes past the
// last chunk get indices too; their activations and scales are zero.
func intTable(p2 bool, cpg, nch int) []byte {
	key := intTableKey{p2, cpg, nch}
	h := uint(nch)*0x9e3779b1 + uint(cpg)*2
	if p2 {
		h++
	}
	hot := &intTableHot[h%uint(len(intTableHot))]
	if e := hot.Load(); e != nil && e.key == key {
		return e.tab
	}
	if t, ok := intTables.Load(key); ok {
		hot.Store(&intTableEntry{key, t.([]byte)})
		return t.([]byte)
	}
	perm := &intPermT4
	if p2 {
		perm = &intPermP2
	}
	nsb := (nch + intSBChunks - 1) / intSBChunks
	groups := (nch + cpg - 1) / cpg
	tab := make([]byte, 64*nsb)
	for j := range nsb {
		e := tab[64*j : 64*(j+1)]
		k0 := intSBChunks * j
		g0 := k0 / cpg
		for l, c := range perm {
			binary.LittleEndian.PutUint16(e[2*l:], uint16((k0+int(c))/cpg-g0))
		}
		binary.LittleEndian.PutUint64(e[32:], uint64(2*g0))
		binary.LittleEndian.PutUint16(e[40:], uint16(1<<min(16, groups-g0)-1))
	}
	t, _ := intTables.LoadOrStore(key, tab)
	hot.Store(&intTableEntry{key, t.([]byte)})
	return t.([]byte)
}

// prepare lays out one vector's nsb superblocks into dst; the last,
// partial superblock goes through zero-padded copies.
func (k *intAVX512) prepare(dst []byte, q []int8, xs []float32, xsum []int32, nsb int) {
	nch := len(xs)
	full := nch / intSBChunks
	_ = dst[nsb*intPrepBytes-1]
	if full > 0 {
		_, _ = q[full*intSBChunks*32-1], xsum[full*intSBChunks-1]
		k.prep(&dst[0], &q[0], &xs[0], &xsum[0], full, k.shift)
	}
	if full < nsb {
		var tq [intSBChunks * 32]int8
		var txs [intSBChunks]float32
		var tsum [intSBChunks]int32
		copy(tq[:], q[full*intSBChunks*32:])
		copy(txs[:], xs[full*intSBChunks:])
		copy(tsum[:], xsum[full*intSBChunks:])
		k.prep(&dst[full*intPrepBytes], &tq[0], &txs[0], &tsum[0], 1, k.shift)
	}
}

// dot is the one-row kernel (int_dot.go's signature): the rows kernel on one
// row, so it gives the same bits as the matrix products.
func (k *intAVX512) dot(row []byte, group int, asym bool, q []int8, xs []float32, xsum []int32) float32 {
	if len(xs) == 0 {
		return 0
	}
	s := k.shape(group, asym, len(xs))
	np := s.nsb * intPrepBytes
	buf, pooled := prepBuffer(np + s.reach)
	k.prepare(buf, q, xs, xsum, s.nsb)
	src := row
	if cap(row) < s.reach {
		src = buf[np:]
		clear(src[copy(src, row):])
	}
	var out float32
	k.rows(&src[0], 0, 1, s.hdr, s.moff, &buf[0], &s.tab[0], s.nsb, &out)
	prepPool.Put(pooled)
	return out
}

// mulTile is Matrix.MatMul's kernel for a tile of n Int rows: vectors four at
// a time through the one-row-four-vectors kernel, the rest (all of them for
// a matrix-vector product) one at a time through the rows kernel. Rows whose
// last superblock's reads would pass the end of the tile's memory (cap) are
// copied to zero-padded scratch first.
func (k *intAVX512) mulTile(c *intCodec, dst []float32, ld int, tile []byte, r0, n int, x *Batch) {
	rb := len(tile) / n
	s := k.shape(c.group, c.asym, x.blocks())
	stride := s.nsb * intPrepBytes
	safe := n
	if (n-1)*rb+s.reach > cap(tile) {
		safe = 0
		if cap(tile) >= s.reach {
			safe = min(n, (cap(tile)-s.reach)/rb+1)
		}
	}
	nv := 1
	if x.N >= 4 {
		nv = 4
	}
	np := nv * stride
	padBytes := 0
	if safe < n {
		padBytes = (n-safe-1)*rb + s.reach
	}
	buf, pooled := prepBuffer(np + padBytes)
	prep, pad := buf[:np], buf[np:]
	if safe < n {
		clear(pad[copy(pad, tile[safe*rb:n*rb]):])
	}
	row := func(i int) *byte {
		if i < safe {
			return &tile[i*rb]
		}
		return &pad[(i-safe)*rb]
	}
	t := 0
	var out [4]float32
	for ; t+4 <= x.N; t += 4 {
		for v := range 4 {
			q, xs, xsum := x.q8Vector(t + v)
			k.prepare(prep[v*stride:], q, xs, xsum, s.nsb)
		}
		for i := range n {
			k.x4(row(i), s.hdr, s.moff, &prep[0], stride, &s.tab[0], s.nsb, &out)
			for v, o := range out {
				dst[(t+v)*ld+r0+i] = o
			}
		}
	}
	for ; t < x.N; t++ {
		q, xs, xsum := x.q8Vector(t)
		k.prepare(prep, q, xs, xsum, s.nsb)
		out := dst[t*ld+r0 : t*ld+r0+n]
		if safe > 0 {
			k.rows(&tile[0], rb, safe, s.hdr, s.moff, &prep[0], &s.tab[0], s.nsb, &out[0])
		}
		if safe < n {
			k.rows(&pad[0], rb, n-safe, s.hdr, s.moff, &prep[0], &s.tab[0], s.nsb, &out[safe])
		}
	}
	prepPool.Put(pooled)
}

// dotInt*AVX2 are the AVX2 one-row kernels: nch chunks, groups of cpg
// chunks, codes hdr bytes into the row, offsets m at moff (0: symmetric).
//
//go:noescape
func dotInt8AVX2(row *byte, hdr, moff int, q *int8, xs *float32, xsum *int32, nch, cpg int) float32

//go:noescape
func dotInt4AVX2(row *byte, hdr, moff int, q *int8, xs *float32, xsum *int32, nch, cpg int) float32

//go:noescape
func dotInt3AVX2(row *byte, hdr, moff int, q *int8, xs *float32, xsum *int32, nch, cpg int) float32

//go:noescape
func dotInt2AVX2(row *byte, hdr, moff int, q *int8, xs *float32, xsum *int32, nch, cpg int) float32

// addIntAVX2 installs the AVX2 Int kernels (one row at a time; MatMul
// calls them per row and vector).
func addIntAVX2(k *kernelSet) {
	wrap := func(cb int, f func(row *byte, hdr, moff int, q *int8, xs *float32, xsum *int32, nch, cpg int) float32) func([]byte, int, bool, []int8, []float32, []int32) float32 {
		return func(row []byte, group int, asym bool, q []int8, xs []float32, xsum []int32) float32 {
			nch := len(xs)
			if nch == 0 {
				return 0
			}
			groups := (nch*32 + group - 1) / group
			hdr, moff := 2*groups, 0
			if asym {
				moff, hdr = hdr, 4*groups
			}
			_, _, _ = row[hdr+nch*cb-1], q[nch*32-1], xsum[nch-1]
			return f(&row[0], hdr, moff, &q[0], &xs[0], &xsum[0], nch, group/32)
		}
	}
	k.int8Dot = wrap(32, dotInt8AVX2)
	k.int4Dot = wrap(16, dotInt4AVX2)
	k.int3Dot = wrap(12, dotInt3AVX2)
	k.int2Dot = wrap(8, dotInt2AVX2)
}
