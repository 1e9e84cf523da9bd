package quant

import (
	"golang.org/x/sys/cpu"
)

// Assembly kernels (simd_amd64.s). Lengths are in elements for the float
// kernels and in groups of blocks for the quantized ones; the Go wrappers
// below check bounds and finish tails the assembly does not take.

//go:noescape
func dotF32AVX512(a, b *float32, n int) float32

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

// dotF32AVX2, dotF16AVX2 and dotBF16AVX2 read n&^7 elements.
//
//go:noescape
func dotF32AVX2(a, b *float32, n int) float32

//go:noescape
func dotF16AVX2(a *uint16, b *float32, n int) float32

//go:noescape
func dotBF16AVX2(a *uint16, b *float32, n int) float32

// dotQ8_0AVX2 and dotQ4_0AVX2 read pairs×2 blocks.
//
//go:noescape
func dotQ8_0AVX2(row *byte, q *int8, scale *float32, pairs int) float32

//go:noescape
func dotQ4_0AVX2(row *byte, q *int8, scale *float32, sum *int32, pairs int) float32

func init() {
	x := &cpu.X86
	var sets []*kernelSet
	hasAVX2 := x.HasAVX2 && x.HasFMA && x.HasF16C
	if hasAVX2 && x.HasAVX512F && x.HasAVX512BW && x.HasAVX512VL && x.HasAVX512VNNI && x.HasAVX512VBMI {
		sets = append(sets, avx512Kernels)
	}
	if hasAVX2 {
		sets = append(sets, avx2Kernels)
	}
	registerSIMD(sets...)
}

var avx512Kernels = &kernelSet{
	name: "avx512",
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
}

var avx2Kernels = &kernelSet{
	name: "avx2",
	f32: func(a, b []float32) float32 {
		b = b[:len(a)]
		m := len(a) &^ 7
		var s float32
		if m > 0 {
			s = dotF32AVX2(&a[0], &b[0], m)
		}
		if m < len(a) {
			s += dotF32Generic(a[m:], b[m:])
		}
		return s
	},
	f16: func(a []uint16, b []float32) float32 {
		b = b[:len(a)]
		m := len(a) &^ 7
		var s float32
		if m > 0 {
			s = dotF16AVX2(&a[0], &b[0], m)
		}
		if m < len(a) {
			s += dotF16Generic(a[m:], b[m:])
		}
		return s
	},
	bf16: func(a []uint16, b []float32) float32 {
		b = b[:len(a)]
		m := len(a) &^ 7
		var s float32
		if m > 0 {
			s = dotBF16AVX2(&a[0], &b[0], m)
		}
		if m < len(a) {
			s += dotBF16Generic(a[m:], b[m:])
		}
		return s
	},
	q8_0: func(row []byte, q []int8, scale []float32) float32 {
		nb := len(row) / q8_0BlockBytes
		p := nb / 2 * 2
		var s float32
		if p > 0 {
			_, _ = q[p*32-1], scale[p-1]
			s = dotQ8_0AVX2(&row[0], &q[0], &scale[0], p/2)
		}
		if p < nb {
			s += dotQ8_0Generic(row[p*q8_0BlockBytes:nb*q8_0BlockBytes], q[p*32:], scale[p:])
		}
		return s
	},
	q4_0: func(row []byte, q []int8, scale []float32, sum []int32) float32 {
		nb := len(row) / q4_0BlockBytes
		p := nb / 2 * 2
		var s float32
		if p > 0 {
			_, _, _ = q[p*32-1], scale[p-1], sum[p-1]
			s = dotQ4_0AVX2(&row[0], &q[0], &scale[0], &sum[0], p/2)
		}
		if p < nb {
			s += dotQ4_0Generic(row[p*q4_0BlockBytes:nb*q4_0BlockBytes], q[p*32:], scale[p:], sum[p:])
		}
		return s
	},
}
