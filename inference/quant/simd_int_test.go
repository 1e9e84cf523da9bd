package quant

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
)

// The Int kernels in use (SIMD where the CPU has them) against the generic
// Go kernels. Both compute every chunk's integer sum S_k exactly; what is
// left is float32 arithmetic on the terms
//
//	d_g·xs_k·S_k  and  m_g·xs_k·xsum_k
//
// in another order (the SIMD kernels multiply each chunk's term by d, the
// generic ones each group's sum). Each side must be within the summation
// bound γ·Σ|term| of the float64 value of the same terms, γ = (n+16)·2⁻²⁴
// with n = 2·chunks + 32 (every term passes through at most a product, a
// fused multiply-add and the lane and group sums).

var (
	intTestBits   = []int{2, 3, 4, 8}
	intTestGroups = []int{32, 64, 96, 128, 160, 256}
	intTestCols   = []int{32, 64, 172, 256, 300, 520, 4096}
)

// intTestFormats runs fn on every bit width, group size and symmetry.
func intTestFormats(fn func(f Format)) {
	for _, bits := range intTestBits {
		for _, g := range intTestGroups {
			for _, asym := range []bool{false, true} {
				fn(Format{Kind: Int, Bits: bits, Group: g, Asym: asym})
			}
		}
	}
}

// intRandomRow fills a row of cols weights with random codes (every code
// value, past cols too: kernels must ignore those) and random float16 scales
// and offsets of varied magnitude.
func intRandomRow(r *rand.Rand, f Format, cols int) []byte {
	row := make([]byte, f.RowBytes(cols))
	for i := range row {
		row[i] = byte(r.Uint32())
	}
	ng := (cols + f.Group - 1) / f.Group
	for i := range ng * (1 + b2i(f.Asym)) {
		v := float32(r.NormFloat64() * math.Exp2(float64(r.IntN(9)-4)))
		binary.LittleEndian.PutUint16(row[2*i:], F32ToF16(v))
	}
	return row
}

// intTerms returns the float64 value and mass Σ|term| of a row's product
// with a quantized vector, from the stored codes and scales.
func intTerms(f Format, row []byte, cols int, q []int8, xs []float32, xsum []int32) (ref, mass float64) {
	nch := len(xs)
	ng := (cols + f.Group - 1) / f.Group
	codes := row[2*ng*(1+b2i(f.Asym)):]
	cb := intChunkBytes(f.Bits)
	var u [32]int8
	for k := range nch {
		g := k * 32 / f.Group
		d := float64(F16ToF32(binary.LittleEndian.Uint16(row[2*g:])))
		unpackChunk(&u, codes[k*cb:(k+1)*cb], f.Bits)
		var s int64
		for i := range 32 {
			s += int64(u[i]) * int64(q[32*k+i])
		}
		t := d * float64(xs[k]) * float64(s)
		ref += t
		mass += math.Abs(t)
		if f.Asym {
			m := float64(F16ToF32(binary.LittleEndian.Uint16(row[2*(ng+g):])))
			t := m * float64(xs[k]) * float64(xsum[k])
			ref += t
			mass += math.Abs(t)
		}
	}
	return ref, mass
}

func intTol(nch int, mass float64) float64 { return simdTol(2*nch+32, mass) }

func intGenericDot(bits int) func([]byte, int, bool, []int8, []float32, []int32) float32 {
	switch bits {
	case 2:
		return dotInt2Generic
	case 3:
		return dotInt3Generic
	case 4:
		return dotInt4Generic
	}
	return dotInt8Generic
}

func TestSIMDIntDot(t *testing.T) {
	simdLevels(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(21, 22))
		intTestFormats(func(f Format) {
			for _, cols := range intTestCols {
				row := intRandomRow(r, f, cols)
				x := simdVec(r, cols)
				x[r.IntN(cols)] = 50 // an outlier block
				b := NewBatch(x, 1, cols)
				b.quantize()
				q, xs, xsum := b.q8Vector(0)
				c := intCodecFor(f, false)
				got := c.dot(row, b, 0)
				want := intGenericDot(f.Bits)(row, f.Group, f.Asym, q, xs, xsum)
				ref, mass := intTerms(f, row, cols, q, xs, xsum)
				tol := intTol(len(xs), mass)
				name := fmt.Sprintf("%s cols=%d", f, cols)
				if d := math.Abs(float64(got) - ref); !(d <= tol) {
					t.Errorf("%s: kernel %v, float64 %v: off by %.3g > %.3g", name, got, ref, d, tol)
				}
				if d := math.Abs(float64(want) - ref); !(d <= tol) {
					t.Errorf("%s: generic %v, float64 %v: off by %.3g > %.3g", name, want, ref, d, tol)
				}
				// The row at the very end of its memory: the kernels must
				// not read past it (the copy has cap = len).
				end := append([]byte(nil), row...)
				if got2 := c.dot(end[:len(end):len(end)], b, 0); math.Float32bits(got2) != math.Float32bits(got) {
					t.Errorf("%s: %v at the end of memory, %v inside", name, got2, got)
				}
			}
		})
	})
}

// TestSIMDIntMatMul checks, for every Int layout and ragged shapes, that
// MatMul of N vectors (the four-vector kernel for each whole four, the rows
// kernel for the rest) equals one MatVec per vector and the one-row dot
// kernel bit for bit, and agrees with the generic kernels within the
// reassociation bound.
func TestSIMDIntMatMul(t *testing.T) {
	simdLevels(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(23, 24))
		intTestFormats(func(f Format) {
			c := intCodecFor(f, false)
			for _, cols := range intTestCols {
				rows := 21 // a whole tile and a partial one
				if cols >= 1000 {
					rows = 5
				}
				data := make([]byte, 0, rows*f.RowBytes(cols))
				for range rows {
					data = append(data, intRandomRow(r, f, cols)...)
				}
				m, err := NewMatrix(rows, cols, f, data)
				if err != nil {
					t.Fatal(err)
				}
				for _, n := range []int{1, 3, 7} {
					xs := simdVec(r, n*cols)
					bt := NewBatch(xs, n, cols)
					got := make([]float32, n*rows)
					m.MatMul(got, bt)
					want := make([]float32, rows)
					for v := range n {
						m.MatVec(want, xs[v*cols:(v+1)*cols])
						for i := range rows {
							if g := got[v*rows+i]; math.Float32bits(g) != math.Float32bits(want[i]) {
								t.Fatalf("%s cols=%d N=%d: MatMul[%d][%d] = %v, MatVec %v", f, cols, n, v, i, g, want[i])
							}
							if d := c.dot(m.Row(i), bt, v); math.Float32bits(d) != math.Float32bits(want[i]) {
								t.Fatalf("%s cols=%d N=%d: MatMul[%d][%d] = %v, dot %v", f, cols, n, v, i, want[i], d)
							}
						}
					}
					checkAgainstGeneric(t, m, bt, got, fmt.Sprintf("%s cols=%d N=%d", f, cols, n))
				}
			}
		})
	})
}

// TestSIMDIntLargeRows runs long rows (many superblocks, a partial last
// one) through MatVec and a prefill-sized MatMul against the generic
// kernels.
func TestSIMDIntLargeRows(t *testing.T) {
	simdLevels(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(25, 26))
		for _, f := range []Format{
			{Kind: Int, Bits: 8, Group: 64, Asym: true}, {Kind: Int, Bits: 4, Group: 64, Asym: true},
			{Kind: Int, Bits: 3, Group: 64}, {Kind: Int, Bits: 2, Group: 128},
			{Kind: Int, Bits: 4, Group: 224}, {Kind: Int, Bits: 3, Group: 192, Asym: true},
		} {
			const rows, cols, n = 18, 11008, 9
			w := simdVec(r, rows*cols)
			m, err := Quantize(w, rows, cols, f)
			if err != nil {
				t.Fatal(err)
			}
			xs := simdVec(r, n*cols)
			bt := NewBatch(xs, n, cols)
			got := make([]float32, n*rows)
			m.MatMul(got, bt)
			checkAgainstGeneric(t, m, bt, got, f.String())
		}
	})
}

// TestSIMDIntSwitch checks that SetSIMD and the kernel levels switch the Int
// dot kernels (and so ACCEL_SIMD, which goes through the same use).
func TestSIMDIntSwitch(t *testing.T) {
	prev := SIMD()
	defer selectSIMD(prev)
	fp := func(f func([]byte, int, bool, []int8, []float32, []int32) float32) uintptr {
		return reflect.ValueOf(f).Pointer()
	}
	type pair struct {
		got, generic func([]byte, int, bool, []int8, []float32, []int32) float32
		set          func(*kernelSet) func([]byte, int, bool, []int8, []float32, []int32) float32
	}
	pairs := func() map[int]pair {
		return map[int]pair{
			2: {dotInt2, dotInt2Generic, func(k *kernelSet) func([]byte, int, bool, []int8, []float32, []int32) float32 { return k.int2Dot }},
			3: {dotInt3, dotInt3Generic, func(k *kernelSet) func([]byte, int, bool, []int8, []float32, []int32) float32 { return k.int3Dot }},
			4: {dotInt4, dotInt4Generic, func(k *kernelSet) func([]byte, int, bool, []int8, []float32, []int32) float32 { return k.int4Dot }},
			8: {dotInt8, dotInt8Generic, func(k *kernelSet) func([]byte, int, bool, []int8, []float32, []int32) float32 { return k.int8Dot }},
		}
	}
	SetSIMD(false)
	for bits, p := range pairs() {
		if fp(p.got) != fp(p.generic) {
			t.Errorf("SetSIMD(false): int%d dot kernel is not the generic one", bits)
		}
	}
	for _, l := range SIMDLevels() {
		selectSIMD(l)
		for bits, p := range pairs() {
			want := p.set(active)
			if want == nil {
				want = p.generic
			}
			if fp(p.got) != fp(want) {
				t.Errorf("%s: int%d dot kernel is not the level's", l, bits)
			}
		}
		t.Logf("%s: tile kernel for Int: %v", l, active.intTile != nil)
	}
}

// checkAgainstGeneric recomputes m·bt with the generic kernels and requires
// both it and got (the SIMD product) to be within the summation bound of
// the float64 product.
func checkAgainstGeneric(t *testing.T, m *Matrix, bt *Batch, got []float32, what string) {
	t.Helper()
	prev := SIMD()
	SetSIMD(false)
	gen := make([]float32, bt.N*m.Rows)
	m.MatMul(gen, bt)
	selectSIMD(prev)
	for v := range bt.N {
		q, xsc, xsum := bt.q8Vector(v)
		for i := range m.Rows {
			ref, mass := intTerms(m.Format, m.Row(i), m.Cols, q, xsc, xsum)
			tol := intTol(len(xsc), mass)
			g, w := got[v*m.Rows+i], gen[v*m.Rows+i]
			if math.Abs(float64(g)-ref) > tol || math.Abs(float64(w)-ref) > tol {
				t.Fatalf("%s [%d][%d]: SIMD %v, generic %v, float64 %v (tol %.3g)", what, v, i, g, w, ref, tol)
			}
		}
	}
}
