//go:build js && wasm

package kern

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/ipfs-accelerate/accel/inference/quant"
)

// selfTestFormats are the formats the self-test multiplies: every kernel,
// Int groups whole and ragged, symmetric and asymmetric.
var selfTestFormats = []quant.Format{
	quant.FormatF32, quant.FormatF16, quant.FormatBF16, quant.FormatQ8_0, quant.FormatQ4_0,
	{Kind: quant.Int, Bits: 4, Group: 32}, {Kind: quant.Int, Bits: 4, Group: 64, Asym: true},
	{Kind: quant.Int, Bits: 8, Group: 128}, {Kind: quant.Int, Bits: 8, Group: 256, Asym: true},
}

// kernels is what the self-test runs products on: a level on this thread
// (Device) or on threads (Arena).
type kernels interface {
	quant.Device
	// String names the kernels in errors.
	String() string
	// hold returns m as the kernels take it — m, or a copy held in the
	// arena — and a function that frees the copy.
	hold(m *quant.Matrix) (*quant.Matrix, func(), error)
	// Usage is what the kernels have computed so far.
	Usage() Usage
}

// selfTest compares k with quant's Go kernels on small random products of
// every format: rows and columns not multiples of 4 and 32 where the
// format allows, one and several vectors.
func selfTest(k kernels) error {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, f := range selfTestFormats {
		cols := 200
		if f.Kind == quant.Q8_0 || f.Kind == quant.Q4_0 {
			cols = 192
		}
		for _, s := range [][2]int{{5, 1}, {67, 3}} {
			if err := check(f, s[0], cols, s[1], rng, k); err != nil {
				return err
			}
			// The test runs on the runtime's only thread, compiling much
			// of what it runs the first time: between its products, the
			// page's messages (a generation's, a block's) go first.
			time.Sleep(time.Millisecond)
		}
	}
	return nil
}

// check multiplies a random rows×cols matrix in format f with n random
// vectors on quant's Go kernels and on each of ks, and reports the first
// product whose bits differ (NaN matches NaN).
func check(f quant.Format, rows, cols, n int, rng *rand.Rand, ks ...kernels) error {
	m, err := quant.QuantizeWith(randomValues(rows, cols, rng), rows, cols, f, quant.Options{RTN: true})
	if err != nil {
		return err
	}
	x := randomValues(n, cols, rng)
	want := make([]float32, n*rows)
	m.MatMul(want, quant.NewBatch(x, n, cols)) // m is on no device: the Go kernels
	for _, k := range ks {
		got, err := product(k, m, x, n)
		if err != nil {
			return err
		}
		if i := mismatch(got, want); i >= 0 {
			return fmt.Errorf("kern: the %s kernels differ from Go's: %s %d×%d matrix times %d vectors: product %d is %v, not %v",
				k, f, rows, cols, n, i, got[i], want[i])
		}
	}
	return nil
}

// mismatch is the index of the first of got whose bits are not want's
// (NaN matches NaN), or -1.
func mismatch(got, want []float32) int {
	for i := range want {
		if !(math.Float32bits(got[i]) == math.Float32bits(want[i]) || got[i] != got[i] && want[i] != want[i]) {
			return i
		}
	}
	return -1
}

// product is m times the n vectors x on k.
func product(k kernels, m *quant.Matrix, x []float32, n int) ([]float32, error) {
	h, free, err := k.hold(m)
	if err != nil {
		return nil, err
	}
	defer free()
	y := make([]float32, n*m.Rows)
	return y, k.MatMul([][]float32{y}, []*quant.Matrix{h}, quant.NewBatch(x, n, m.Cols))
}

// randomValues returns rows×cols normal values scaled by e^±6 per block
// of 32, the first block zero.
func randomValues(rows, cols int, rng *rand.Rand) []float32 {
	v := make([]float32, rows*cols)
	for b := 0; b < len(v); b += 32 {
		s := math.Exp(12*rng.Float64() - 6)
		if b == 0 {
			s = 0
		}
		for i := b; i < min(b+32, len(v)); i++ {
			v[i] = float32(rng.NormFloat64() * s)
		}
	}
	return v
}

// vectorTest compares d's quant.VectorDevice functions with quant's Go
// code: the scores and weighted values of attention heads over a KV
// cache's rows, with widths of 8 and 64, rows 72 and 256 values apart;
// softmax and SwiGLU of values from 0 to e^±12 (and the exponentials of
// under- and overflow).
func vectorTest(d *Device) error {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, s := range [][4]int{{8, 72, 13, 3}, {64, 256, 37, 8}} {
		if err := checkRows(d, s[0], s[1], s[2], s[3], rng); err != nil {
			return err
		}
	}
	x := append(randomValues(4, 64, rng), 0, float32(math.Copysign(0, -1)), 1e-9, 100, -100, 750, -750, 1e30, -1e30, 720, -720)
	up := randomValues(1, len(x), rng)
	want, got := slices.Clone(x), slices.Clone(x)
	quant.SwiGLUGo(want, up)
	if err := d.SwiGLU(got, up); err != nil {
		return err
	}
	if i := mismatch(got, want); i >= 0 {
		return fmt.Errorf("kern: the %s kernels' SwiGLU differs from Go's: silu(%v)·%v is %v, not %v", d, x[i], up[i], got[i], want[i])
	}
	rows := len(x) / 9
	want, got = slices.Clone(x[:9*rows]), slices.Clone(x[:9*rows])
	quant.SoftmaxGo(want, rows, 9)
	if err := d.Softmax(got, rows, 9); err != nil {
		return err
	}
	if i := mismatch(got, want); i >= 0 {
		return fmt.Errorf("kern: the %s kernels' softmax differs from Go's: value %d of %v is %v, not %v", d, i, x[i/9*9:i/9*9+9], got[i], want[i])
	}
	return nil
}

// checkRows compares d's DotRows and AddRows with quant's Go kernels on
// count random rows of width values, stride apart, and n random vectors;
// AddRows must refuse rows whose width is not a multiple of 4.
func checkRows(d *Device, width, stride, count, n int, rng *rand.Rand) error {
	r := quant.Rows{Data: randomValues(count, stride, rng), Width: width, Stride: stride, Count: count}
	x := randomValues(n, width, rng)
	want, got := make([]float32, n*count), make([]float32, n*count)
	for t := range n {
		for j := range count {
			want[t*count+j] = quant.Dot(x[t*width:(t+1)*width], r.Row(j))
		}
	}
	if err := d.DotRows(got, count, x, n, r); err != nil {
		return err
	}
	if i := mismatch(got, want); i >= 0 {
		return fmt.Errorf("kern: the %s kernels' dot products of rows %d wide differ from Go's: %d of %d is %v, not %v", d, width, i, len(want), got[i], want[i])
	}
	a := randomValues(n, count, rng)
	want = randomValues(n, width, rng)
	got = slices.Clone(want)
	for t := range n {
		for j := range count {
			quant.AddScaled(want[t*width:(t+1)*width], a[t*count+j], r.Row(j))
		}
	}
	err := d.AddRows(got, a, count, n, r)
	if width%4 != 0 {
		if err == nil {
			return fmt.Errorf("kern: the %s kernels took weighted sums of rows %d wide", d, width)
		}
		return nil
	}
	if err != nil {
		return err
	}
	if i := mismatch(got, want); i >= 0 {
		return fmt.Errorf("kern: the %s kernels' weighted sums of rows %d wide differ from Go's: %d of %d is %v, not %v", d, width, i, len(want), got[i], want[i])
	}
	return nil
}
