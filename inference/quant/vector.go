package quant

import (
	"math"
	"sync/atomic"
)

// Rows are Count rows of Width float32 values, row j at Data[j·Stride:]: the
// keys or the values of a run of cached positions, say.
type Rows struct {
	Data                 []float32
	Width, Stride, Count int
}

// Row is row j.
func (r Rows) Row(j int) []float32 { return r.Data[j*r.Stride : j*r.Stride+r.Width] }

// A VectorDevice computes the vector functions of this file (DotRows,
// AddRows, SwiGLU, Softmax) away from the Go code: the browser's SIMD
// kernels, say. Its results are Go's bit for bit, as compiled for its
// platform; on an error Go computes them instead.
type VectorDevice interface {
	DotRows(dst []float32, ld int, x []float32, n int, r Rows) error
	AddRows(dst, a []float32, lda, n int, r Rows) error
	SwiGLU(gate, up []float32) error
	Softmax(x []float32, n, width int) error
}

var vectorDevice atomic.Pointer[VectorDevice]

// SetVectorDevice has d compute the vector functions from now on (nil: Go).
func SetVectorDevice(d VectorDevice) {
	if d == nil {
		vectorDevice.Store(nil)
		return
	}
	vectorDevice.Store(&d)
}

// device is the vector device set (nil: none).
func device() VectorDevice {
	if d := vectorDevice.Load(); d != nil {
		return *d
	}
	return nil
}

// DotRows writes dst[t·ld + j] = Dot(x_t, r.Row(j)) for the n vectors
// x_t = x[t·r.Width : (t+1)·r.Width] and every row j.
func DotRows(dst []float32, ld int, x []float32, n int, r Rows) {
	if d := device(); d != nil && d.DotRows(dst, ld, x, n, r) == nil {
		return
	}
	if k := active.dotRows; k != nil {
		k(dst, ld, x, n, r)
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
	if d := device(); d != nil && d.AddRows(dst, a, lda, n, r) == nil {
		return
	}
	if k := active.addRows; k != nil {
		k(dst, a, lda, n, r)
		return
	}
	for t := range n {
		dt := dst[t*r.Width : (t+1)*r.Width]
		for j := range r.Count {
			AddScaled(dt, a[t*lda+j], r.Row(j))
		}
	}
}

// SwiGLU writes silu(gate[i])·up[i] into gate[i], silu(x) = x·σ(x).
func SwiGLU(gate, up []float32) {
	if d := device(); d != nil && d.SwiGLU(gate, up) == nil {
		return
	}
	if k := active.swiglu; k != nil {
		k(gate, up)
		return
	}
	SwiGLUGo(gate, up)
}

// SwiGLUGo is SwiGLU in Go, whatever the device: what devices match.
func SwiGLUGo(gate, up []float32) {
	up = up[:len(gate)]
	for i, g := range gate {
		gate[i] = g / (1 + float32(math.Exp(float64(-g)))) * up[i]
	}
}

// Softmax normalises each of the n rows of width values in x, in place.
func Softmax(x []float32, n, width int) {
	if d := device(); d != nil && d.Softmax(x, n, width) == nil {
		return
	}
	if k := active.softmax; k != nil {
		k(x, n, width)
		return
	}
	SoftmaxGo(x, n, width)
}

// SoftmaxGo is Softmax in Go, whatever the device: what devices match.
func SoftmaxGo(x []float32, n, width int) {
	softmaxWith(x, n, width, func(row []float32) {
		for i, v := range row {
			row[i] = float32(math.Exp(float64(v)))
		}
	})
}

// softmaxWith is Softmax with exp setting each value of a row to its
// exponential.
func softmaxWith(x []float32, n, width int, exp func(row []float32)) {
	for t := range n {
		row := x[t*width : (t+1)*width]
		m := row[0]
		for _, v := range row[1:] {
			m = max(m, v)
		}
		for i := range row {
			row[i] -= m
		}
		exp(row)
		var sum float32
		for _, v := range row {
			sum += v
		}
		for i := range row {
			row[i] /= sum
		}
	}
}
