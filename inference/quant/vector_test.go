package quant

import (
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
)

// vectorDeviceFunc answers every product with err, writing 7s where it
// computes them.
type vectorDeviceFunc struct{ err error }

func (d vectorDeviceFunc) DotRows(dst []float32, _ int, _ []float32, _ int, _ Rows) error {
	return d.fill(dst)
}

func (d vectorDeviceFunc) AddRows(dst, _ []float32, _, _ int, _ Rows) error { return d.fill(dst) }

func (d vectorDeviceFunc) SwiGLU(gate, _ []float32) error { return d.fill(gate) }

func (d vectorDeviceFunc) Softmax(x []float32, _, _ int) error { return d.fill(x) }

func (d vectorDeviceFunc) fill(dst []float32) error {
	if d.err == nil {
		for i := range dst {
			dst[i] = 7
		}
	}
	return d.err
}

// DotRows and AddRows are Dot and AddScaled row by row, with rows apart
// and a leading dimension; a VectorDevice computes them while set, and the
// Go kernels where it fails.
func TestRows(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	values := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		return v
	}
	r := Rows{Data: values(5 * 9), Width: 6, Stride: 9, Count: 5}
	x := values(3 * 6)
	dots := make([]float32, 3*8)
	DotRows(dots, 8, x, 3, r)
	sums := values(3 * 6)
	want := slices.Clone(sums)
	a := values(3 * 8)
	AddRows(sums, a, 8, 3, r)
	for tv := range 3 {
		for j := range 5 {
			if d := Dot(x[tv*6:(tv+1)*6], r.Data[j*9:j*9+6]); dots[tv*8+j] != d {
				t.Errorf("dot %d·%d is %v, not %v", tv, j, dots[tv*8+j], d)
			}
			AddScaled(want[tv*6:(tv+1)*6], a[tv*8+j], r.Row(j))
		}
	}
	if !slices.Equal(sums, want) {
		t.Errorf("sums %v, want %v", sums, want)
	}

	defer SetVectorDevice(nil)
	SetVectorDevice(vectorDeviceFunc{})
	got := make([]float32, 3*8)
	DotRows(got, 8, x, 3, r)
	if got[0] != 7 {
		t.Errorf("with a device set, DotRows gave %v", got)
	}
	SetVectorDevice(vectorDeviceFunc{errors.New("refused")})
	clear(got)
	DotRows(got, 8, x, 3, r)
	if !slices.Equal(got, dots) {
		t.Errorf("with a device that fails, DotRows gave %v, want %v", got, dots)
	}
}
