package quant

import (
	"sync"
	"unsafe"

	"golang.org/x/sys/cpu"
)

// Assembly kernels (simd_amd64.s). Lengths are in elements; the Go wrappers
// below check bounds and finish tails the assembly does not take.

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
	if hasAVX2 {
		addIntAVX2(avx2Kernels)
		addKQuantAVX2(avx2Kernels)
	}
	if hasAVX2 && x.HasAVX512F && x.HasAVX512BW && x.HasAVX512VL && x.HasAVX512VNNI && x.HasAVX512VBMI && x.HasAVX512GFNI {
		sets = append(sets, avx512Set(x.HasAVX512BITALG))
	}
	if hasAVX2 {
		sets = append(sets, avx2Kernels)
	}
	registerSIMD(sets...)
}

// avx512Set returns the AVX-512 kernel set: the AVX2 set's kernels (on
// these CPUs they match or beat 512-bit versions of the F32, Q8_0, Q4_0
// and K-quant products) with others in place of some: the Int formats'
// 512-bit kernels, and, with the AVX2 ones' bits, VNNI eight-row integer
// products, the packed F16 groups' 512-bit tile and attention's scores
// with 32 registers.
func avx512Set(bitalg bool) *kernelSet {
	k := *avx2Kernels
	k.name = "avx512"
	addIntAVX512(&k, bitalg)
	addRows8VNNI(&k)
	k.f16Packed = f16PackedAVX512
	k.dotRows = dotRowsWith(dotQuadsAVX512)
	return &k
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

var avx2Kernels = &kernelSet{
	name:     "avx2",
	softmax:  softmaxAVX2,
	swiglu:   swiGLUAVX2,
	dotRows:  dotRowsWith(dotQuadsAVX2),
	addRows:  addRowsWithAVX2,
	q8quant:  quantizeQ8RowAVX2,
	q8kquant: quantizeQ8KRowAVX2,
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

	f32Tile:    floatTileAVX2(float32s, f32T4x3AVX2, f32R4AVX2, f32RowAVX2, dotF32Generic),
	f16Tile:    f16TileAVX2,
	q8_0Tile:   q8_0Rows8.mulTile,
	q4_0Tile:   q4_0Rows8.mulTile,
	q4_0Packed: q4_0PackedRows8.mulTile,
	f16Packed:  f16PackedAVX2,
	quadBatch:  prepareScaleQuads,
	q4_0:       dotQ4_0AVX2,
}

// dotF32AVX2Row is the AVX2 dot product of two vectors: the kernel over
// n&^7 elements, the rest in Go.
func dotF32AVX2Row(a, b []float32) float32 { return floatRow(a, b, dotF32AVX2, dotF32Generic) }
