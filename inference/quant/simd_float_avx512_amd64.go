package quant

// f16P8X6AVX512 multiplies a packed F16 group (see packF16Group) by six
// vectors over n&^7 elements: dst[v·ld + i] = row i · b[v], with the bits
// of the AVX2 kernels (simd_float_avx512_amd64.s).
//
//go:noescape
func f16P8X6AVX512(group *uint16, b *[6]*float32, n int, dst *float32, ld int)

// f16PackedAVX512 is the F16 tile kernel for whole packed groups: six
// vectors at a time straight from the groups, the rest as f16PackedFrom
// takes them.
func f16PackedAVX512(dst []float32, ld int, groups []byte, r0, n int, x *Batch) {
	rb := len(groups) / n
	t := 0
	var b [6]*float32
	for ; t+6 <= x.N; t += 6 {
		for v := range b {
			b[v] = &x.Vector(t + v)[0]
		}
		_ = dst[(t+5)*ld+r0+n-1]
		for g := 0; g < n; g += 8 {
			f16P8X6AVX512(&uint16s(groups[g*rb:])[0], &b, x.Cols, &dst[t*ld+r0+g], ld)
		}
	}
	f16PackedFrom(dst, ld, groups, r0, n, x, t)
}
