package quant

// addRowsAVX2 adds a[j]·row j to dst for each of count rows stride bytes
// apart, in order of j, over the first width (a multiple of 8) elements,
// as axpyAVX2 would row by row, bit for bit.
//
//go:noescape
func addRowsAVX2(dst, a, rows *float32, stride, count, width int)

// addRowsRegs is AddRows with each dst row kept in registers while the
// rows go by (addRowsAVX2); the elements past the last 8 go through Go,
// row by row, as AddScaled does them.
func addRowsRegs(dst, a []float32, lda, n int, r Rows) {
	if r.Count == 0 {
		return
	}
	m := r.Width &^ 7
	_ = r.Data[(r.Count-1)*r.Stride+r.Width-1]
	for t := range n {
		dt := dst[t*r.Width : (t+1)*r.Width]
		at := a[t*lda : t*lda+r.Count]
		if m > 0 {
			addRowsAVX2(&dt[0], &at[0], &r.Data[0], 4*r.Stride, r.Count, m)
		}
		for j := range r.Count {
			addScaledGeneric(dt[m:], at[j], r.Row(j)[m:])
		}
	}
}
