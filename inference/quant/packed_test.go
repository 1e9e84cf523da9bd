package quant

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestPack checks packed Q4_0, Q4_K, Q6_K and F16 matrices against the same
// matrices as stored, on every kernel level: the products bit for bit (one vector to
// past a laid-out batch, on two threads, with matrices whose row counts
// cut groups where MatMulAll shares the rows out), the rows unpacked, and
// the generic kernels on a matrix packed for SIMD ones.
func TestPack(t *testing.T) {
	defer SetThreads(Threads())
	defer selectSIMD(SIMD())
	SetThreads(2)
	r := rand.New(rand.NewPCG(3, 4))
	random := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(r.NormFloat64())
		}
		return v
	}
	for _, tc := range []struct {
		f      Format
		shapes [][2]int
	}{
		{FormatQ4_0, [][2]int{{8, 32}, {13, 64}, {16, 512}, {37, 256}, {64, 1024}}},
		{FormatQ4K, [][2]int{{8, 256}, {13, 512}, {16, 1024}, {37, 256}, {64, 512}}},
		{FormatQ6K, [][2]int{{8, 256}, {13, 512}, {16, 1024}, {37, 256}, {64, 512}}},
		{FormatF16, [][2]int{{8, 16}, {13, 24}, {16, 512}, {37, 40}, {64, 1024}, {24, 1064}}},
	} {
		for _, level := range append(SIMDLevels(), "generic") {
			selectSIMD(level)
			for _, shape := range tc.shapes {
				testPack(t, tc.f, level, shape[0], shape[1], random)
			}
		}
	}
}

// testPack checks Pack of a rows×cols matrix in format f on one level.
func testPack(t *testing.T, f Format, level string, rows, cols int, random func(int) []float32) {
	t.Helper()
	m, err := QuantizeWith(random(rows*cols), rows, cols, f, Options{RTN: true})
	if err != nil {
		t.Fatal(err)
	}
	odd, err := QuantizeWith(random(13*cols), 13, cols, f, Options{RTN: true})
	if err != nil {
		t.Fatal(err)
	}
	p := Pack(m)
	if packs := level != "generic"; (p != m) != packs || packs && p.packed != rows&^7 {
		t.Fatalf("%s %s: Pack of %d rows packed %d (a new matrix: %v)", f, level, rows, p.packed, p != m)
	}
	if level != "generic" && slices.Equal(p.Data[:8*m.RowBytes()], m.Data[:8*m.RowBytes()]) {
		t.Fatalf("%s %s: the packed rows are the rows as stored", f, level)
	}
	for i := range rows {
		if !slices.Equal(p.Row(i), m.Row(i)) {
			t.Fatalf("%s %s %dx%d: row %d unpacked differs", f, level, rows, cols, i)
		}
	}
	for _, n := range []int{1, 2, 3, 4, 5, 7, 8, 9, 13} {
		name := fmt.Sprintf("%s %s %dx%d by %d", f, level, rows, cols, n)
		x := random(n * cols)
		want, got := mulAll(m, odd, x, n), mulAll(p, odd, x, n)
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%s: value %d is %g, as stored %g", name, i, got[i], want[i])
			}
		}
		if level == "generic" {
			continue
		}
		// A matrix packed for these kernels, with the generic ones.
		selectSIMD("generic")
		want, got = mulAll(m, odd, x, n), mulAll(p, odd, x, n)
		selectSIMD(level)
		if !slices.Equal(got, want) {
			t.Fatalf("%s: the generic kernels on the packed matrix differ", name)
		}
	}
}

// mulAll is MatMulAll of odd and m stacked, m's products first in the
// result.
func mulAll(m, odd *Matrix, x []float32, n int) []float32 {
	dst, rest := make([]float32, n*m.Rows), make([]float32, n*odd.Rows)
	MatMulAll([][]float32{rest, dst}, []*Matrix{odd, m}, NewBatch(x, n, m.Cols))
	return append(dst, rest...)
}
