package quant

// addRowsAVX2 adds a[j]·row j to dst for each of count rows stride bytes
// apart, in order of j, over the first width (a multiple of 8) elements,
// as axpyAVX2 would row by row, bit for bit.
//
//go:noescape
func addRowsAVX2(dst, a, rows *float32, stride, count, width int)

// dotQuadsAVX2 is dotHeadsAVX2 for 4·quads rows, four at a time, their
// sums across the lanes taken together (the same bits).
//
//go:noescape
func dotQuadsAVX2(dst *float32, ld int, x *float32, xs, heads int, rows *float32, stride, quads, n int)

// dotHeadsAVX2 sets dst[t·ld + j] = x_t · row j over n&^7 elements for
// heads vectors x_t xs bytes apart and count rows stride bytes apart, each
// with the bits dotF32AVX2 gives; each row is read once for all the
// vectors.
//
//go:noescape
func dotHeadsAVX2(dst *float32, ld int, x *float32, xs, heads int, rows *float32, stride, count, n int)

// rowsCols checks that r's rows lie in r.Data and returns the columns the
// row kernels take, Width&^7.
func rowsCols(r Rows) int {
	_ = r.Data[(r.Count-1)*r.Stride+r.Width-1]
	return r.Width &^ 7
}

// dotRowsWith returns DotRows through quads (dotQuadsAVX2 or
// dotQuadsAVX512; dotHeadsAVX2 for the rows past the last four), one call
// for all the vectors, the elements past the last 8 added in Go as
// dotF32AVX2Row adds them: bit for bit Dot row by row.
func dotRowsWith(quads func(dst *float32, ld int, x *float32, xs, heads int, rows *float32, stride, quads, n int)) func(dst []float32, ld int, x []float32, n int, r Rows) {
	return func(dst []float32, ld int, x []float32, n int, r Rows) {
		if r.Count == 0 || n == 0 {
			return
		}
		m := rowsCols(r)
		_, _ = dst[(n-1)*ld+r.Count-1], x[n*r.Width-1]
		if m > 0 {
			q := r.Count / 4
			quads(&dst[0], ld, &x[0], 4*r.Width, n, &r.Data[0], 4*r.Stride, q, m)
			if j := 4 * q; j < r.Count {
				dotHeadsAVX2(&dst[j], ld, &x[0], 4*r.Width, n, &r.Data[j*r.Stride], 4*r.Stride, r.Count-j, m)
			}
		}
		for t := range n {
			xt := x[t*r.Width : (t+1)*r.Width]
			out := dst[t*ld : t*ld+r.Count]
			if m == 0 {
				clear(out)
			}
			if m < r.Width {
				for j := range out {
					out[j] += dotF32Generic(xt[m:], r.Row(j)[m:])
				}
			}
		}
	}
}

// addHeads4AVX2 is addRowsAVX2 for four heads at once: dst_h = dst + h·ds
// bytes takes a_h = a + h·lda bytes times the rows, over the first width
// (a multiple of 16) elements, with the bits of addRowsAVX2 head by head;
// each row is read once for the four.
//
//go:noescape
func addHeads4AVX2(dst *float32, ds int, a *float32, lda int, rows *float32, stride, count, width int)

// addRowsWithAVX2 is AddRows with the heads' rows of dst kept in registers
// while the rows go by: four heads at a time over the first Width&^15
// elements (addHeads4AVX2), the rest head by head (addRowsAVX2) and the
// elements past the last 8 through Go, row by row, as AddScaled does them.
func addRowsWithAVX2(dst, a []float32, lda, n int, r Rows) {
	if r.Count == 0 || n == 0 {
		return
	}
	m := rowsCols(r)
	_, _ = dst[n*r.Width-1], a[(n-1)*lda+r.Count-1]
	w16, grouped := m&^15, 0 // the heads addHeads4AVX2 took, over w16 columns
	if w16 > 0 {
		for ; grouped+4 <= n; grouped += 4 {
			addHeads4AVX2(&dst[grouped*r.Width], 4*r.Width, &a[grouped*lda], 4*lda, &r.Data[0], 4*r.Stride, r.Count, w16)
		}
	}
	for t := range n {
		dt := dst[t*r.Width : (t+1)*r.Width]
		at := a[t*lda : t*lda+r.Count]
		from := 0
		if t < grouped {
			from = w16
		}
		if from < m {
			addRowsAVX2(&dt[from], &at[0], &r.Data[from], 4*r.Stride, r.Count, m-from)
		}
		if m < r.Width {
			for j := range r.Count {
				addScaledGeneric(dt[m:], at[j], r.Row(j)[m:])
			}
		}
	}
}

// quantizeQ8AVX2 quantizes blocks whole blocks of 32 floats at x into q,
// scale and sum, bit for bit as quantizeQ8Block does.
//
//go:noescape
func quantizeQ8AVX2(x *float32, blocks int, q *int8, scale *float32, sum *int32)

// quantizeQ8KAVX2 quantizes blocks blocks of 256 floats at x into q, scale
// and sum, bit for bit as quantizeQ8KRowGeneric does.
//
//go:noescape
func quantizeQ8KAVX2(x *float32, blocks int, q *int8, scale *float32, sum *int16)

// quantizeQ8KRowAVX2 is quantizeQ8KRowGeneric through quantizeQ8KAVX2.
func quantizeQ8KRowAVX2(q []int8, scale []float32, sum []int16, x []float32) {
	nb := len(x) / qkBlock
	if nb == 0 {
		return
	}
	_, _, _ = q[nb*qkBlock-1], scale[nb-1], sum[nb*16-1]
	quantizeQ8KAVX2(&x[0], nb, &q[0], &scale[0], &sum[0])
}

// quantizeQ8RowAVX2 is quantizeQ8RowGeneric with its whole blocks through
// quantizeQ8AVX2.
func quantizeQ8RowAVX2(q []int8, scale []float32, sum []int32, x []float32) {
	whole := len(x) / q8Block
	if whole > 0 {
		_, _, _ = q[whole*q8Block-1], scale[whole-1], sum[whole-1]
		quantizeQ8AVX2(&x[0], whole, &q[0], &scale[0], &sum[0])
	}
	if whole*q8Block < len(x) {
		quantizeQ8RowGeneric(q[whole*q8Block:], scale[whole:], sum[whole:], x[whole*q8Block:])
	}
}
