package quant

import (
	"math"
	"math/rand/v2"
	"syscall"
	"testing"
)

// guardedCopy returns a copy of data that ends exactly where an inaccessible
// page begins (len = cap), so a kernel reading past it faults.
func guardedCopy(t *testing.T, data []byte) []byte {
	t.Helper()
	page := syscall.Getpagesize()
	n := (len(data)+page-1)/page*page + page
	mem, err := syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Skipf("mmap: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Munmap(mem) })
	if err := syscall.Mprotect(mem[n-page:], syscall.PROT_NONE); err != nil {
		t.Skipf("mprotect: %v", err)
	}
	end := n - page
	out := mem[end-len(data) : end : end]
	copy(out, data)
	return out
}

// TestSIMDGuardPage runs the quantized kernels on matrices that end at an
// inaccessible page: the last superblock of the last rows must not be read
// past the matrix (it would crash), and the results must equal those of the
// same matrix in ordinary memory.
func TestSIMDGuardPage(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	simdLevels(t, func(t *testing.T) {
		formats := []Format{FormatQ4_0, FormatQ8_0, FormatF16, FormatBF16, FormatF32}
		for _, bits := range intTestBits {
			formats = append(formats, Format{Kind: Int, Bits: bits, Group: 64}, Format{Kind: Int, Bits: bits, Group: 96, Asym: true})
		}
		for _, f := range formats {
			for _, cols := range []int{32, 160, 172, 300, 520, 4096 + 32} {
				if _, err := NewMatrix(1, cols, f, make([]byte, f.RowBytes(cols))); err != nil {
					continue // Q4_0, Q8_0: whole blocks only
				}
				for _, rows := range []int{1, 3, 17} {
					m, err := Quantize(simdVec(r, rows*cols), rows, cols, f)
					if err != nil {
						t.Fatal(err)
					}
					g, err := NewMatrix(rows, cols, f, guardedCopy(t, m.Data))
					if err != nil {
						t.Fatal(err)
					}
					for _, n := range []int{1, 5} {
						xs := simdVec(r, n*cols)
						want, got := make([]float32, n*rows), make([]float32, n*rows)
						m.MatMul(want, NewBatch(xs, n, cols))
						g.MatMul(got, NewBatch(xs, n, cols))
						for i := range got {
							if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
								t.Fatalf("%s %d×%d N=%d: [%d] = %v at a guard page, %v", f, rows, cols, n, i, got[i], want[i])
							}
						}
						b := NewBatch(xs[:cols], 1, cols)
						b.quantize()
						last := g.Row(rows - 1)
						if d, w := g.codec.dot(last, b, 0), want[rows-1]; math.Float32bits(d) != math.Float32bits(w) {
							t.Fatalf("%s %d×%d: dot of the last row %v, MatMul %v", f, rows, cols, d, w)
						}
					}
				}
			}
		}
	})
}
