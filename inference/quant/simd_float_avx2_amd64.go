package quant

// f32x3AVX2 and f16x3AVX2 multiply one row by three vectors over n&^7
// elements: out[v] has the bits dotF32AVX2 (dotF16AVX2) gives for b[v].
//
//go:noescape
func f32x3AVX2(a *float32, b *[3]*float32, n int, out *[3]float32)

//go:noescape
func f16x3AVX2(a *uint16, b *[3]*float32, n int, out *[3]float32)

// floatTileAVX2 is Matrix.MatMul's kernel for F32 or F16 rows (elem bytes
// each): vectors three at a time through x3, each row read once for the
// three, the rest one at a time through one; the elements past the last 8
// go through tail, as for one vector, so every path gives the same bits.
func floatTileAVX2[E float32 | uint16](view func([]byte) []E, x3 func(a *E, b *[3]*float32, n int, out *[3]float32), one func(a []E, b []float32) float32, tail func(a []E, b []float32) float32) func(dst []float32, ld int, tile []byte, r0, n int, x *Batch) {
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
			for i := range n {
				dst[t*ld+r0+i] = one(view(tile[i*rb : (i+1)*rb])[:cols], xt)
			}
		}
	}
}
