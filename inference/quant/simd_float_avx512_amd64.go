package quant

// f16P8X6AVX512 … f16P8X2AVX512 multiply a packed F16 group (see
// packF16Group) by the first six … two vectors of b over n&^7 elements:
// dst[v·ld + i] = row i · b[v], with the bits of the AVX2 kernels
// (simd_float_avx512_amd64.s).
//
//go:noescape
func f16P8X6AVX512(group *uint16, b *[6]*float32, n int, dst *float32, ld int)

//go:noescape
func f16P8X5AVX512(group *uint16, b *[6]*float32, n int, dst *float32, ld int)

//go:noescape
func f16P8X4AVX512(group *uint16, b *[6]*float32, n int, dst *float32, ld int)

//go:noescape
func f16P8X3AVX512(group *uint16, b *[6]*float32, n int, dst *float32, ld int)

//go:noescape
func f16P8X2AVX512(group *uint16, b *[6]*float32, n int, dst *float32, ld int)

// f16P8XAVX512 holds the kernels by how many vectors they take.
var f16P8XAVX512 = [...]func(group *uint16, b *[6]*float32, n int, dst *float32, ld int){
	2: f16P8X2AVX512,
	3: f16P8X3AVX512,
	4: f16P8X4AVX512,
	5: f16P8X5AVX512,
	6: f16P8X6AVX512,
}

// f16PackedAVX512 is the F16 tile kernel for whole packed groups: six
// vectors at a time straight from the groups (seven left: four, then
// three), then the two to five left at once; one vector alone as
// f16PackedFrom takes it.
func f16PackedAVX512(dst []float32, ld int, groups []byte, r0, n int, x *Batch) {
	rb := len(groups) / n
	t := 0
	var b [6]*float32
	for t+2 <= x.N {
		k := min(x.N-t, 6)
		if x.N-t == 7 {
			k = 4 // then three, rather than six and one alone
		}
		for v := range k {
			b[v] = &x.Vector(t + v)[0]
		}
		_ = dst[(t+k-1)*ld+r0+n-1]
		for g := 0; g < n; g += 8 {
			f16P8XAVX512[k](&uint16s(groups[g*rb:])[0], &b, x.Cols, &dst[t*ld+r0+g], ld)
		}
		t += k
	}
	f16PackedFrom(dst, ld, groups, r0, n, x, t)
}

// dotQuadsAVX512 is dotQuadsAVX2 with AVX-512's 32 registers: a vector's
// columns read once for four rows, the same bits.
//
//go:noescape
func dotQuadsAVX512(dst *float32, ld int, x *float32, xs, heads int, rows *float32, stride, quads, n int)
