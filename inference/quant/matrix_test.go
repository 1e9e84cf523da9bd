package quant

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestMatMulAllMatchesMatMul stacks matrices of several formats and sizes
// and checks that one joint product equals each product on its own, for a
// matrix-vector and a matrix-matrix batch, at 1 and 2 threads.
func TestMatMulAllMatchesMatMul(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const cols = 256
	var ms []*Matrix
	for i, f := range []Format{FormatQ4_0, FormatF16, {Kind: Int, Bits: 3, Group: 64}, FormatQ8_0, FormatF32} {
		rows := []int{37, 256, 5, 130, 64}[i]
		w := make([]float32, rows*cols)
		for j := range w {
			w[j] = float32(rng.NormFloat64())
		}
		m, err := Quantize(w, rows, cols, f)
		if err != nil {
			t.Fatal(err)
		}
		ms = append(ms, m)
	}
	defer SetThreads(Threads())
	for _, threads := range []int{1, 2} {
		SetThreads(threads)
		for _, n := range []int{1, 5} {
			x := make([]float32, n*cols)
			for j := range x {
				x[j] = float32(rng.NormFloat64())
			}
			joint := make([][]float32, len(ms))
			for i, m := range ms {
				joint[i] = make([]float32, n*m.Rows)
			}
			MatMulAll(joint, ms, NewBatch(x, n, cols))
			for i, m := range ms {
				alone := make([]float32, n*m.Rows)
				m.MatMul(alone, NewBatch(x, n, cols))
				if !slices.Equal(alone, joint[i]) {
					t.Fatalf("threads %d, n %d: matrix %d (%s) differs in the joint product", threads, n, i, m.Format)
				}
			}
		}
	}
}

// TestAddScaled checks the kernels' axpy against the Go loop over lengths
// with tails, to within one rounding (the SIMD kernel fuses multiply-add).
func TestAddScaled(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{0, 1, 15, 16, 17, 64, 100} {
		x := make([]float32, n)
		base := make([]float32, n)
		for i := range x {
			x[i], base[i] = float32(rng.NormFloat64()), float32(rng.NormFloat64())
		}
		got := slices.Clone(base)
		AddScaled(got, 0.37, x)
		want := slices.Clone(base)
		for i := range want {
			want[i] += 0.37 * x[i]
		}
		for i := range want {
			if d := got[i] - want[i]; d > 1e-6 || d < -1e-6 {
				t.Fatalf("n %d: element %d is %g, want %g (kernels %s)", n, i, got[i], want[i], SIMD())
			}
		}
	}
}
