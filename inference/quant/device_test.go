package quant

import (
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
)

// scaledDevice computes products as the CPU does, times 2, so a test sees
// which side computed them; it fails when fail is set.
type scaledDevice struct {
	calls int
	fail  bool
}

func (d *scaledDevice) MatMul(dsts [][]float32, ms []*Matrix, x *Batch) error {
	d.calls++
	if d.fail {
		return errors.New("device lost")
	}
	for i, m := range ms {
		m.mulRows(dsts[i], 0, m.Rows, rowTile, x)
		for j := range dsts[i][:x.N*m.Rows] {
			dsts[i][j] *= 2
		}
	}
	return nil
}

// Products of matrices all placed on one device run there; a device that
// fails, matrices on different devices and unplaced ones run on the CPU.
func TestDevicePlacement(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const rows, cols = 48, 64
	newMatrix := func() *Matrix {
		w := make([]float32, rows*cols)
		for j := range w {
			w[j] = float32(rng.NormFloat64())
		}
		m, err := Quantize(w, rows, cols, FormatF32)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	a, b := newMatrix(), newMatrix()
	x := make([]float32, cols)
	for j := range x {
		x[j] = float32(rng.NormFloat64())
	}
	want := [][]float32{make([]float32, rows), make([]float32, rows)}
	MatMulAll(want, []*Matrix{a, b}, NewBatch(x, 1, cols))

	product := func() [][]float32 {
		got := [][]float32{make([]float32, rows), make([]float32, rows)}
		MatMulAll(got, []*Matrix{a, b}, NewBatch(x, 1, cols))
		return got
	}
	scaled := func(v []float32) []float32 {
		out := slices.Clone(v)
		for i := range out {
			out[i] *= 2
		}
		return out
	}
	d, other := &scaledDevice{}, &scaledDevice{}
	a.Place(d)
	b.Place(d)
	if got := product(); d.calls != 1 || !slices.Equal(got[0], scaled(want[0])) || !slices.Equal(got[1], scaled(want[1])) {
		t.Fatalf("both on the device: %d calls, products not the device's", d.calls)
	}
	d.fail = true
	if got := product(); d.calls != 2 || !slices.Equal(got[0], want[0]) || !slices.Equal(got[1], want[1]) {
		t.Fatalf("a failing device: %d calls, products not the CPU's", d.calls)
	}
	d.fail = false
	b.Place(other)
	if got := product(); d.calls != 2 || other.calls != 0 || !slices.Equal(got[1], want[1]) {
		t.Fatalf("on different devices: calls %d and %d, want the CPU", d.calls, other.calls)
	}
	a.Place(nil)
	b.Place(nil)
	if got := product(); !slices.Equal(got[0], want[0]) || a.Device() != nil {
		t.Fatal("unplaced matrices did not run on the CPU")
	}
}

// Batch.Q8 hands a device the 8-bit vectors the integer kernels read:
// ⌈Cols/32⌉ blocks per vector, codes zero past Cols, each block's scale
// and sum of codes.
func TestBatchQ8(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	const n, cols, blocks = 3, 70, 3
	x := make([]float32, n*cols)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	q, scale, sum := NewBatch(x, n, cols).Q8()
	if len(q) != n*blocks*32 || len(scale) != n*blocks || len(sum) != n*blocks {
		t.Fatalf("%d codes, %d scales, %d sums", len(q), len(scale), len(sum))
	}
	for v := range n {
		for b := range blocks {
			k := v*blocks + b
			var s int32
			for i := range 32 {
				c, code := b*32+i, q[k*32+i]
				s += int32(code)
				if c >= cols {
					if code != 0 {
						t.Fatalf("vector %d: code %d past the columns is %d", v, c, code)
					}
					continue
				}
				if d := x[v*cols+c] - float32(code)*scale[k]; abs32(d) > scale[k]/2*1.001 {
					t.Fatalf("vector %d, column %d: %v quantized to %d×%v", v, c, x[v*cols+c], code, scale[k])
				}
			}
			if s != sum[k] {
				t.Fatalf("vector %d, block %d: sum %d, codes add up to %d", v, b, sum[k], s)
			}
		}
	}
}

// holdingDevice holds matrices' rows (NewHeldMatrix) and computes their
// products as the CPU does; it fails when fail is set.
type holdingDevice struct {
	rows map[*Matrix][]byte
	fail bool
}

func (d *holdingDevice) MatMul(dsts [][]float32, ms []*Matrix, x *Batch) error {
	if d.fail {
		return errors.New("device lost")
	}
	for i, m := range ms {
		cpu, err := NewMatrix(m.Rows, m.Cols, m.Format, d.rows[m])
		if err != nil {
			return err
		}
		cpu.MatMul(dsts[i], x)
	}
	return nil
}

func (d *holdingDevice) ReadRow(m *Matrix, i int, dst []byte) {
	copy(dst, d.rows[m][i*m.RowBytes():])
}

// A held matrix has no Data: its device computes its products, its rows
// are read through the device, it cannot be placed elsewhere, and a
// product that fails on the device panics.
func TestHeldMatrix(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	const rows, cols = 9, 64
	w := make([]float32, rows*cols)
	for j := range w {
		w[j] = float32(rng.NormFloat64())
	}
	cpu, err := Quantize(w, rows, cols, FormatQ8_0)
	if err != nil {
		t.Fatal(err)
	}
	d := &holdingDevice{rows: map[*Matrix][]byte{}}
	m, err := NewHeldMatrix(rows, cols, FormatQ8_0, d)
	if err != nil {
		t.Fatal(err)
	}
	d.rows[m] = cpu.Data
	if m.Data != nil || m.Device() != d || m.Size() != len(cpu.Data) {
		t.Fatalf("held matrix: data %v, device %v, size %d", m.Data, m.Device(), m.Size())
	}
	x := make([]float32, cols)
	for j := range x {
		x[j] = float32(rng.NormFloat64())
	}
	want, got := make([]float32, rows), make([]float32, rows)
	cpu.MatVec(want, x)
	m.MatVec(got, x)
	if !slices.Equal(got, want) || !slices.Equal(m.Dequantize(), cpu.Dequantize()) {
		t.Fatal("the held matrix's products or rows differ from the CPU copy's")
	}
	panics := func(what string, f func()) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Errorf("%s did not panic", what)
			}
		}()
		f()
	}
	panics("placing a held matrix", func() { m.Place(nil) })
	d.fail = true
	panics("a failed product of a held matrix", func() { m.MatVec(got, x) })
}
