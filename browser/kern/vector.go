//go:build js && wasm

package kern

import (
	"errors"
	"runtime"

	"github.com/ipfs-accelerate/accel/inference/quant"
)

// The kernels' matrix kinds of quant's vector functions (kernels.wat).
const (
	kindRowSum  = 6 // quant.AddRows
	kindSwiGLU  = 7
	kindSoftmax = 8
)

var errRows = errors.New("kern: vectors the kernels do not take")

// DotRows implements quant.VectorDevice: r's rows as an F32 matrix whose
// rows are r.Stride values apart, times the n vectors of x.
func (d *Device) DotRows(dst []float32, ld int, x []float32, n int, r quant.Rows) error {
	if n <= 0 || r.Count <= 0 || r.Width <= 0 || ld != r.Count || len(dst) < n*ld || len(x) < n*r.Width || !whole(r) {
		return errRows
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.mats = append(d.mats[:0], matDesc{
		kind: uint32(quant.F32), rows: uint32(r.Count), rowBytes: uint32(4 * r.Stride),
		w: addr(&r.Data[0]), y: addr(&dst[0]),
	})
	rc := d.run(x, n, r.Width)
	runtime.KeepAlive(dst)
	runtime.KeepAlive(r.Data)
	return jobError(rc)
}

// AddRows implements quant.VectorDevice for rows a multiple of 4 wide.
func (d *Device) AddRows(dst, a []float32, lda, n int, r quant.Rows) error {
	if n <= 0 || r.Count <= 0 || r.Width <= 0 || r.Width%4 != 0 || lda < r.Count || len(a) < (n-1)*lda+r.Count || len(dst) < n*r.Width || !whole(r) {
		return errRows
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.mats = append(d.mats[:0], matDesc{
		kind: kindRowSum, group: uint32(r.Count), rows: uint32(r.Width), rowBytes: uint32(4 * r.Stride),
		w: addr(&r.Data[0]), y: addr(&dst[0]),
	})
	rc := d.run(a, n, lda)
	runtime.KeepAlive(dst)
	runtime.KeepAlive(r.Data)
	return jobError(rc)
}

// whole reports whether r.Data holds every row of r.
func whole(r quant.Rows) bool {
	return r.Stride >= r.Width && len(r.Data) >= (r.Count-1)*r.Stride+r.Width
}

// SwiGLU implements quant.VectorDevice.
func (d *Device) SwiGLU(gate, up []float32) error {
	if len(gate) == 0 || len(up) < len(gate) {
		return errRows
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.mats = append(d.mats[:0], matDesc{kind: kindSwiGLU, rows: uint32(len(gate)), w: addr(&up[0]), y: addr(&gate[0])})
	rc := d.run(gate, 0, 0)
	runtime.KeepAlive(up)
	return jobError(rc)
}

// Softmax implements quant.VectorDevice.
func (d *Device) Softmax(x []float32, n, width int) error {
	if n <= 0 || width <= 0 || len(x) < n*width {
		return errRows
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.mats = append(d.mats[:0], matDesc{kind: kindSoftmax, rows: uint32(n), group: uint32(width), y: addr(&x[0])})
	return jobError(d.run(x, 0, 0))
}

var _ quant.VectorDevice = (*Device)(nil)
