package quant

import (
	"sync"
	"unsafe"

	"golang.org/x/sys/cpu"
)

// Assembly kernels (simd_amd64.s). Lengths are in elements for the float
// kernels and in groups of blocks for the quantized ones; the Go wrappers
// below check bounds and finish tails the assembly does not take.

//go:noescape
func dotF32AVX512(a, b *float32, n int) float32

// axpyAVX512 adds a·x to dst for the first n&^15 elements.
//
//go:noescape
func axpyAVX512(dst, x *float32, a float32, n int)

//go:noescape
func dotF16AVX512(a *uint16, b *float32, n int) float32

//go:noescape
func dotBF16AVX512(a *uint16, b *float32, n int) float32

// dotQ8_0AVX512 reads groups×4 blocks.
//
//go:noescape
func dotQ8_0AVX512(row *byte, q *int8, scale *float32, groups int) float32

// dotQ4_0AVX512 reads groups×4 blocks.
//
//go:noescape
func dotQ4_0AVX512(row *byte, q *int8, scale *float32, sum *int32, groups int) float32

// q8_0RowsAVX512 and q4_0RowsAVX512 multiply nrows rows, rb bytes apart, of
// groups×4 blocks by one prepared vector into out[:nrows]. With q non-nil
// they first prepare the vector from q, scale (and sum for Q4_0) into prep,
// computing row 0 on the way.
//
//go:noescape
func q8_0RowsAVX512(rows *byte, rb int, nrows int, prep *byte, groups int, out *float32, q *int8, scale *float32, sum *int32)

//go:noescape
func q4_0RowsAVX512(rows *byte, rb int, nrows int, prep *byte, groups int, out *float32, q *int8, scale *float32, sum *int32)

// prepQ8_0AVX512 and prepQ4_0AVX512 lay out groups×4 blocks of one
// activation vector for the four-vector kernels (q8Prep and q4Prep bytes per
// group).
//
//go:noescape
func prepQ8_0AVX512(dst *byte, q *int8, scale *float32, groups int)

//go:noescape
func prepQ4_0AVX512(dst *byte, q *int8, scale *float32, sum *int32, groups int)

// q8_0x4AVX512 and q4_0x4AVX512 multiply one row of groups×4 blocks by four
// prepared vectors, vstride bytes apart, into out[:4].
//
//go:noescape
func q8_0x4AVX512(row *byte, prep *byte, vstride int, groups int, out *[4]float32)

//go:noescape
func q4_0x4AVX512(row *byte, prep *byte, vstride int, groups int, out *[4]float32)

// quantizeQ8AVX512 quantizes n floats into ⌈n/32⌉ blocks.
//
//go:noescape
func quantizeQ8AVX512(x *float32, n int, q *int8, scale *float32, sum *int32)

const (
	q8Prep = 384 // prepared bytes per group of 4 blocks, Q8_0
	q4Prep = 256 // the same for Q4_0
)

// axpyAVX2 adds a·x to dst for the first n&^7 elements.
//
//go:noescape
func axpyAVX2(dst, x *float32, a float32, n int)

// dotF32AVX2 and dotBF16AVX2 read n&^7 elements.
//
//go:noescape
func dotF32AVX2(a, b *float32, n int) float32

//go:noescape
func dotBF16AVX2(a *uint16, b *float32, n int) float32

func init() {
	x := &cpu.X86
	var sets []*kernelSet
	hasAVX2 := x.HasAVX2 && x.HasFMA && x.HasF16C
	if hasAVX2 && x.HasAVX512F && x.HasAVX512BW && x.HasAVX512VL && x.HasAVX512VNNI && x.HasAVX512VBMI && x.HasAVX512GFNI {
		addIntAVX512(avx512Kernels, x.HasAVX512BITALG)
		addKQuantAVX2(avx512Kernels)
		sets = append(sets, avx512Kernels)
	}
	if hasAVX2 {
		addIntAVX2(avx2Kernels)
		addKQuantAVX2(avx2Kernels)
		sets = append(sets, avx2Kernels)
	}
	registerSIMD(sets...)
}

var avx512Kernels = &kernelSet{
	name:    "avx512",
	softmax: softmaxAVX2,
	swiglu:  swiGLUAVX2,
	axpy: func(dst []float32, a float32, x []float32) {
		x = x[:len(dst)]
		m := len(dst) &^ 15
		if m > 0 {
			axpyAVX512(&dst[0], &x[0], a, m)
		}
		addScaledGeneric(dst[m:], a, x[m:])
	},
	f32: func(a, b []float32) float32 {
		if len(a) == 0 {
			return 0
		}
		b = b[:len(a)]
		return dotF32AVX512(&a[0], &b[0], len(a))
	},
	f16: func(a []uint16, b []float32) float32 {
		if len(a) == 0 {
			return 0
		}
		b = b[:len(a)]
		return dotF16AVX512(&a[0], &b[0], len(a))
	},
	bf16: func(a []uint16, b []float32) float32 {
		if len(a) == 0 {
			return 0
		}
		b = b[:len(a)]
		return dotBF16AVX512(&a[0], &b[0], len(a))
	},
	q8_0: func(row []byte, q []int8, scale []float32) float32 {
		nb := len(row) / q8_0BlockBytes
		g := nb / 4 * 4
		var s float32
		if g > 0 {
			_, _ = q[g*32-1], scale[g-1]
			s = dotQ8_0AVX512(&row[0], &q[0], &scale[0], g/4)
		}
		if g < nb {
			s += dotQ8_0Generic(row[g*q8_0BlockBytes:nb*q8_0BlockBytes], q[g*32:], scale[g:])
		}
		return s
	},
	q4_0: func(row []byte, q []int8, scale []float32, sum []int32) float32 {
		nb := len(row) / q4_0BlockBytes
		g := nb / 4 * 4
		var s float32
		if g > 0 {
			_, _, _ = q[g*32-1], scale[g-1], sum[g-1]
			s = dotQ4_0AVX512(&row[0], &q[0], &scale[0], &sum[0], g/4)
		}
		if g < nb {
			s += dotQ4_0Generic(row[g*q4_0BlockBytes:nb*q4_0BlockBytes], q[g*32:], scale[g:], sum[g:])
		}
		return s
	},
	q8_0Tile: q8_0TileAVX512,
	q4_0Tile: q4_0TileAVX512,

	q8quant: func(q []int8, scale []float32, sum []int32, x []float32) {
		nb := (len(x) + q8Block - 1) / q8Block
		if nb == 0 {
			return
		}
		_, _, _ = q[nb*q8Block-1], scale[nb-1], sum[nb-1]
		quantizeQ8AVX512(&x[0], len(x), &q[0], &scale[0], &sum[0])
	},
}

// prepPool holds scratch for prepared activation vectors.
var prepPool sync.Pool

// prepBuffer returns n bytes starting on a 64-byte boundary and the slice to
// give back to prepPool.
func prepBuffer(n int) (buf []byte, pooled *[]byte) {
	pooled, _ = prepPool.Get().(*[]byte)
	if pooled == nil || cap(*pooled) < n+64 {
		b := make([]byte, n+64)
		pooled = &b
	}
	b := (*pooled)[:n+64]
	off := int(-uintptr(unsafe.Pointer(&b[0])) & 63)
	return b[off : off+n], pooled
}

// tileKernels are one block format's AVX-512 kernels for Matrix.MatMul.
type tileKernels struct {
	codec      codec
	blockBytes int
	prepBytes  int // prepared bytes per group of 4 blocks
	prep       func(dst []byte, x *Batch, t, groups int)
	rows       func(rows *byte, rb int, nrows int, prep *byte, groups int, out *float32, q *int8, scale *float32, sum *int32)
	x4         func(row *byte, prep *byte, vstride int, groups int, out *[4]float32)
	tail       func(row []byte, x *Batch, t, block int) float32 // generic, from block on
}

var q8_0Tiles = &tileKernels{
	codec:      q8_0Codec{},
	blockBytes: q8_0BlockBytes,
	prepBytes:  q8Prep,
	prep: func(dst []byte, x *Batch, t, groups int) {
		q, s, _ := x.q8Vector(t)
		_, _, _ = dst[groups*q8Prep-1], q[groups*128-1], s[groups*4-1]
		prepQ8_0AVX512(&dst[0], &q[0], &s[0], groups)
	},
	rows: q8_0RowsAVX512,
	x4:   q8_0x4AVX512,
	tail: func(row []byte, x *Batch, t, block int) float32 {
		q, s, _ := x.q8Vector(t)
		return dotQ8_0Generic(row[block*q8_0BlockBytes:], q[block*32:], s[block:])
	},
}

var q4_0Tiles = &tileKernels{
	codec:      q4_0Codec{},
	blockBytes: q4_0BlockBytes,
	prepBytes:  q4Prep,
	prep: func(dst []byte, x *Batch, t, groups int) {
		q, s, m := x.q8Vector(t)
		_, _, _, _ = dst[groups*q4Prep-1], q[groups*128-1], s[groups*4-1], m[groups*4-1]
		prepQ4_0AVX512(&dst[0], &q[0], &s[0], &m[0], groups)
	},
	rows: q4_0RowsAVX512,
	x4:   q4_0x4AVX512,
	tail: func(row []byte, x *Batch, t, block int) float32 {
		q, s, m := x.q8Vector(t)
		return dotQ4_0Generic(row[block*q4_0BlockBytes:], q[block*32:], s[block:], m[block:])
	},
}

func q8_0TileAVX512(dst []float32, ld int, tile []byte, r0, n int, x *Batch) {
	q8_0Tiles.mulTile(dst, ld, tile, r0, n, x)
}

func q4_0TileAVX512(dst []float32, ld int, tile []byte, r0, n int, x *Batch) {
	q4_0Tiles.mulTile(dst, ld, tile, r0, n, x)
}

// mulTile is Matrix.MatMul's kernel for a tile of n rows: the activation
// vectors are laid out for the kernels (prep), then taken four at a time by
// the one-row-four-vectors kernel, which unpacks each row once for all four,
// and the vectors left over (all of them for a matrix-vector product) one at
// a time by the rows kernel, which streams the tile's rows in order. Blocks
// past the last whole group of 4 go through the generic kernel. Every path
// gives the same bits as the one-row kernel (dotQ8_0/dotQ4_0) would.
func (k *tileKernels) mulTile(dst []float32, ld int, tile []byte, r0, n int, x *Batch) {
	rb := len(tile) / n
	g := rb / k.blockBytes / 4
	if g == 0 {
		mulTileGeneric(k.codec, dst, ld, tile, r0, n, x)
		return
	}
	hasTail := g*4*k.blockBytes < rb
	stride := g * k.prepBytes
	nbuf := stride
	if x.N >= 4 {
		nbuf = 4 * stride
	}
	buf, pooled := prepBuffer(nbuf)
	t := 0
	var out [4]float32
	for ; t+4 <= x.N; t += 4 {
		for v := range 4 {
			k.prep(buf[v*stride:], x, t+v, g)
		}
		for i := range n {
			row := tile[i*rb : (i+1)*rb]
			k.x4(&row[0], &buf[0], stride, g, &out)
			for v, s := range out {
				if hasTail {
					s += k.tail(row, x, t+v, g*4)
				}
				dst[(t+v)*ld+r0+i] = s
			}
		}
	}
	for ; t < x.N; t++ {
		q, s, m := x.q8Vector(t)
		_, _, _, _ = buf[stride-1], q[g*128-1], s[g*4-1], m[g*4-1]
		out := dst[t*ld+r0 : t*ld+r0+n]
		k.rows(&tile[0], rb, n, &buf[0], g, &out[0], &q[0], &s[0], &m[0])
		if hasTail {
			for i := range out {
				out[i] += k.tail(tile[i*rb:(i+1)*rb], x, t, g*4)
			}
		}
	}
	prepPool.Put(pooled)
}

var avx2Kernels = &kernelSet{
	name:    "avx2",
	softmax: softmaxAVX2,
	swiglu:  swiGLUAVX2,
	dotRows: dotRowsWithAVX2,
	addRows: addRowsWithAVX2,
	q8quant: quantizeQ8RowAVX2,
	axpy: func(dst []float32, a float32, x []float32) {
		x = x[:len(dst)]
		m := len(dst) &^ 7
		if m > 0 {
			axpyAVX2(&dst[0], &x[0], a, m)
		}
		addScaledGeneric(dst[m:], a, x[m:])
	},
	f32:    dotF32AVX2Row,
	f32Row: f32RowAVX2,

	f16: f16RowAVX2,

	bf16: func(a []uint16, b []float32) float32 { return floatRow(a, b, dotBF16AVX2, dotBF16Generic) },
	q8_0: dotQ8_0AVX2,

	f32Tile:   floatTileAVX2(float32s, f32T4x3AVX2, f32R4AVX2, f32RowAVX2, dotF32Generic),
	f16Tile:   floatTileAVX2(uint16s, f16T4x3AVX2, f16R4AVX2, f16RowAVX2, dotF16Generic),
	q8_0Tile:  q8_0Rows8.mulTile,
	q4_0Tile:  q4_0Rows8.mulTile,
	quadBatch: prepareScaleQuads,
	q4_0:      dotQ4_0AVX2,
}

// dotF32AVX2Row is the AVX2 dot product of two vectors: the kernel over
// n&^7 elements, the rest in Go.
func dotF32AVX2Row(a, b []float32) float32 { return floatRow(a, b, dotF32AVX2, dotF32Generic) }
