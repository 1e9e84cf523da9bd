//go:build js && wasm

package kern

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/ipfs-accelerate/accel/inference/quant"
)

// selfTestFormats are the formats the self-test multiplies: every kernel,
// Int groups whole and ragged, symmetric and asymmetric.
var selfTestFormats = []quant.Format{
	quant.FormatF32, quant.FormatF16, quant.FormatBF16, quant.FormatQ8_0, quant.FormatQ4_0,
	{Kind: quant.Int, Bits: 4, Group: 32}, {Kind: quant.Int, Bits: 4, Group: 64, Asym: true},
	{Kind: quant.Int, Bits: 8, Group: 128}, {Kind: quant.Int, Bits: 8, Group: 256, Asym: true},
}

// selfTest compares d with quant's Go kernels on small random products of
// every format: rows and columns not multiples of 4 and 32 where the
// format allows, one and several vectors.
func (d *Device) selfTest() error {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, f := range selfTestFormats {
		cols := 200
		if f.Kind == quant.Q8_0 || f.Kind == quant.Q4_0 {
			cols = 192
		}
		for _, s := range [][2]int{{5, 1}, {67, 3}} {
			if err := d.check(f, s[0], cols, s[1], rng); err != nil {
				return err
			}
		}
	}
	return nil
}

// check multiplies a random rows×cols matrix in format f with n random
// vectors on d and on quant's Go kernels, and reports the first product
// whose bits differ (NaN matches NaN).
func (d *Device) check(f quant.Format, rows, cols, n int, rng *rand.Rand) error {
	m, err := quant.QuantizeWith(randomValues(rows, cols, rng), rows, cols, f, quant.Options{RTN: true})
	if err != nil {
		return err
	}
	x := randomValues(n, cols, rng)
	want := make([]float32, n*rows)
	m.MatMul(want, quant.NewBatch(x, n, cols)) // m is on no device: the Go kernels
	got := make([]float32, n*rows)
	if err := d.MatMul([][]float32{got}, []*quant.Matrix{m}, quant.NewBatch(x, n, cols)); err != nil {
		return err
	}
	for i := range want {
		if !sameBits(got[i], want[i]) {
			return fmt.Errorf("kern: the %s kernels differ from Go's: %s %d×%d matrix times %d vectors: product %d is %v, not %v",
				d.level, f, rows, cols, n, i, got[i], want[i])
		}
	}
	return nil
}

// sameBits reports whether a and b are the same float32, or both NaN.
func sameBits(a, b float32) bool {
	return math.Float32bits(a) == math.Float32bits(b) || a != a && b != b
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
