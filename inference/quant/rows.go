package quant

import "sync/atomic"

// Rows are Count rows of Width float32 values, row j at Data[j·Stride:]: the
// keys or the values of a run of cached positions, say.
type Rows struct {
	Data                 []float32
	Width, Stride, Count int
}

// Row is row j.
func (r Rows) Row(j int) []float32 { return r.Data[j*r.Stride : j*r.Stride+r.Width] }

// A RowDevice computes DotRows and AddRows away from the CPU kernels:
// the browser's SIMD kernels, say. Its results are the Go kernels' bit for
// bit; on an error the Go kernels compute them instead.
type RowDevice interface {
	DotRows(dst []float32, ld int, x []float32, n int, r Rows) error
	AddRows(dst, a []float32, lda, n int, r Rows) error
}

var rowDevice atomic.Pointer[RowDevice]

// SetRowDevice has d compute DotRows and AddRows from now on (nil: the CPU
// kernels).
func SetRowDevice(d RowDevice) {
	if d == nil {
		rowDevice.Store(nil)
		return
	}
	rowDevice.Store(&d)
}

// DotRows writes dst[t·ld + j] = Dot(x_t, r.Row(j)) for the n vectors
// x_t = x[t·r.Width : (t+1)·r.Width] and every row j.
func DotRows(dst []float32, ld int, x []float32, n int, r Rows) {
	if d := rowDevice.Load(); d != nil && (*d).DotRows(dst, ld, x, n, r) == nil {
		return
	}
	for t := range n {
		xt := x[t*r.Width : (t+1)*r.Width]
		for j := range r.Count {
			dst[t*ld+j] = Dot(xt, r.Row(j))
		}
	}
}

// AddRows adds a[t·lda + j]·r.Row(j) to dst_t = dst[t·r.Width :
// (t+1)·r.Width] for t < n and every row j, in order of j (AddScaled of
// each row in turn).
func AddRows(dst, a []float32, lda, n int, r Rows) {
	if d := rowDevice.Load(); d != nil && (*d).AddRows(dst, a, lda, n, r) == nil {
		return
	}
	for t := range n {
		dt := dst[t*r.Width : (t+1)*r.Width]
		for j := range r.Count {
			AddScaled(dt, a[t*lda+j], r.Row(j))
		}
	}
}
