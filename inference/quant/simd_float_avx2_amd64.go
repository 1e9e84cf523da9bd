package quant

// f32x3AVX2 and f16x3AVX2 multiply one row by three vectors over n&^7
// elements: out[v] has the bits dotF32AVX2 (dotF16AVX2) gives for b[v].
//
//go:noescape
func f32x3AVX2(a *float32, b *[3]*float32, n int, out *[3]float32)

//go:noescape
func f16x3AVX2(a *uint16, b *[3]*float32, n int, out *[3]float32)

// f32R2AVX2 and f16R2AVX2 multiply two rows, rb bytes apart, by one
// vector over n&^7 elements: out[i] has the bits dotF32AVX2 (dotF16AVX2)
// gives for row i.
//
//go:noescape
func f32R2AVX2(a *float32, rb int, b *float32, n int, out *[2]float32)

//go:noescape
func f16R2AVX2(a *uint16, rb int, b *float32, n int, out *[2]float32)

// floatTileAVX2 is Matrix.MatMul's kernel for F32 or F16 rows: vectors
// three at a time through x3, each row read once for the three, the rest
// one at a time, rows two at a time through r2 (the vector read once for
// the two, an odd last row through one); the elements past the last 8 go
// through tail, as for one vector, so every path gives the same bits.
func floatTileAVX2[E float32 | uint16](view func([]byte) []E, x3 func(a *E, b *[3]*float32, n int, out *[3]float32), r2 func(a *E, rb int, b *float32, n int, out *[2]float32), one func(a []E, b []float32) float32, tail func(a []E, b []float32) float32) func(dst []float32, ld int, tile []byte, r0, n int, x *Batch) {
	return func(dst []float32, ld int, tile []byte, r0, n int, x *Batch) {
		rb := len(tile) / n
		cols := x.Cols
		m := cols &^ 7
		t := 0
		if m > 0 {
			var (
				b   [3]*float32
				out [3]float32
			)
			for ; t+3 <= x.N; t += 3 {
				for v := range 3 {
					b[v] = &x.Vector(t + v)[0]
				}
				for i := range n {
					row := view(tile[i*rb : (i+1)*rb])[:cols]
					x3(&row[0], &b, m, &out)
					for v, s := range out {
						if m < cols {
							s += tail(row[m:], x.Vector(t + v)[m:])
						}
						dst[(t+v)*ld+r0+i] = s
					}
				}
			}
		}
		for ; t < x.N; t++ {
			xt := x.Vector(t)
			i := 0
			if m > 0 {
				var out [2]float32
				for ; i+2 <= n; i += 2 {
					r2(&view(tile[i*rb:])[0], rb, &xt[0], m, &out)
					for j, s := range out {
						if m < cols {
							s += tail(view(tile[(i+j)*rb : (i+j+1)*rb])[m:cols], xt[m:])
						}
						dst[t*ld+r0+i+j] = s
					}
				}
			}
			for ; i < n; i++ {
				dst[t*ld+r0+i] = one(view(tile[i*rb : (i+1)*rb])[:cols], xt)
			}
		}
	}
}
