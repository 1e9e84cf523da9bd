package quant

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

var (
	intBits   = []int{2, 3, 4, 8}
	intGroups = []int{32, 64, 128, 256}
	intCols   = []int{32, 64, 172, 256, 300}
)

// gaussian fills n values with N(0, 1).
func gaussian(r *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	return x
}

// heavyTailed fills n values from Student's t with 3 degrees of freedom
// (finite variance, frequent outliers, like real weight rows).
func heavyTailed(r *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		var chi2 float64
		for range 3 {
			g := r.NormFloat64()
			chi2 += g * g
		}
		x[i] = float32(r.NormFloat64() / math.Sqrt(chi2/3))
	}
	return x
}

// intStored reads group g's stored d and m from a row.
func intStored(f Format, row []byte, cols, g int) (d, m float32) {
	ng := (cols + f.Group - 1) / f.Group
	d = F16ToF32(binary.LittleEndian.Uint16(row[2*g:]))
	if f.Asym {
		m = F16ToF32(binary.LittleEndian.Uint16(row[2*(ng+g):]))
	}
	return d, m
}

func intFormats(yield func(Format) bool) {
	for _, bits := range intBits {
		for _, asym := range []bool{false, true} {
			for _, g := range intGroups {
				if !yield(Format{Kind: Int, Bits: bits, Group: g, Asym: asym}) {
					return
				}
			}
		}
	}
}

func TestIntRowBytes(t *testing.T) {
	for _, c := range []struct {
		f    string
		cols int
		want int
		bpw  float64
	}{
		{"int4g32", 256, 8*2 + 8*16, 4.5},
		{"int4g64a", 256, 4*4 + 8*16, 4.5},
		{"int8g32", 256, 8*2 + 8*32, 8.5},
		{"int8g128a", 256, 2*4 + 8*32, 8.25},
		{"int3g128", 256, 2*2 + 8*12, 3.125},
		{"int2g64", 256, 4*2 + 8*8, 2.25},
		{"int2g256a", 256, 4 + 8*8, 2.125},
		{"int4g64", 172, 3*2 + 6*16, 8 * 102.0 / 172}, // ragged group of 44, padded chunk
		{"int3g32a", 300, 10*4 + 10*12, 8 * 160.0 / 300},
	} {
		f, err := ParseFormat(c.f)
		if err != nil {
			t.Fatal(err)
		}
		if got := f.RowBytes(c.cols); got != c.want {
			t.Errorf("%s RowBytes(%d) = %d, want %d", f, c.cols, got, c.want)
		}
		if got := f.BitsPerWeight(c.cols); math.Abs(got-c.bpw) > 1e-9 {
			t.Errorf("%s BitsPerWeight(%d) = %v, want %v", f, c.cols, got, c.bpw)
		}
	}
}

// TestIntLayout builds rows by hand from the layout documented in int.go and
// checks that dequantization and the dot kernels read them that way.
func TestIntLayout(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for f := range intFormats {
		for _, cols := range intCols {
			ng := (cols + f.Group - 1) / f.Group
			nc := (cols + 31) / 32
			hdr := 2 * ng
			if f.Asym {
				hdr *= 2
			}
			row := make([]byte, f.RowBytes(cols))
			want := make([]float32, cols)
			ds, ms := make([]float32, ng), make([]float32, ng)
			for g := range ng {
				ds[g] = F16ToF32(F32ToF16(float32(r.NormFloat64())))
				binary.LittleEndian.PutUint16(row[2*g:], F32ToF16(ds[g]))
				if f.Asym {
					ms[g] = F16ToF32(F32ToF16(float32(r.NormFloat64())))
					binary.LittleEndian.PutUint16(row[2*(ng+g):], F32ToF16(ms[g]))
				}
			}
			cb := intChunkBytes(f.Bits)
			for i := range cols {
				u := r.IntN(1 << f.Bits) // stored code
				q := u - 1<<(f.Bits-1)   // signed code
				c := row[hdr+i/32*cb:][:cb]
				j := i % 32
				switch f.Bits {
				case 8:
					q = int(int8(u))
					c[j] = byte(u)
				case 4:
					c[j%16] |= byte(u) << (4 * (j / 16))
				case 3:
					c[j%8] |= byte(u&3) << (2 * (j / 8))
					c[8+j/8] |= byte(u>>2) << (j % 8)
				case 2:
					c[j%8] |= byte(u) << (2 * (j / 8))
				}
				g := i / f.Group
				want[i] = ds[g]*float32(q) + ms[g]
			}
			m, err := NewMatrix(1, cols, f, row)
			if err != nil {
				t.Fatal(err)
			}
			got := m.Dequantize()
			for i := range cols {
				if got[i] != want[i] {
					t.Fatalf("%s cols %d: weight %d = %v, want %v", f, cols, i, got[i], want[i])
				}
			}
			if nc*32 > cols { // padding stays out of the product
				x := gaussian(r, cols)
				checkIntProduct(t, m, got, x, fmt.Sprintf("%s cols %d hand-made", f, cols))
			}
		}
	}
}

// checkIntProduct checks m·x against the float64 dot product of the given
// dequantized weights with x's 8-bit quantization and returns the product.
func checkIntProduct(t *testing.T, m *Matrix, w, x []float32, name string) []float32 {
	t.Helper()
	n := len(x) / m.Cols
	b := NewBatch(x, n, m.Cols)
	dst := make([]float32, n*m.Rows)
	m.MatMul(dst, b)
	for v := range n {
		q, xs, _ := b.q8Vector(v)
		for r := range m.Rows {
			var ref, mag float64
			for i := range m.Cols {
				p := float64(w[r*m.Cols+i]) * float64(q[i]) * float64(xs[i/32])
				ref += p
				mag += math.Abs(p)
			}
			if d := math.Abs(float64(dst[v*m.Rows+r]) - ref); d > 1e-4*mag+1e-30 {
				t.Fatalf("%s: vector %d row %d = %v, want %v (Σ|w·x| %v)", name, v, r, dst[v*m.Rows+r], ref, mag)
			}
		}
	}
	vec := make([]float32, m.Rows)
	m.MatVec(vec, x[:m.Cols])
	for r := range vec {
		if vec[r] != dst[r] {
			t.Fatalf("%s: MatVec row %d = %v, MatMul gave %v", name, r, vec[r], dst[r])
		}
	}
	return dst
}

// intErrBound is the largest error of the nearest level to w among
// {d·q + m : q in the code range}: d/2 inside the levels' span, and the
// distance to the nearest end outside it.
func intErrBound(f Format, d, m, w float32) float64 {
	o := float64(int(1) << (f.Bits - 1))
	a, b := float64(d)*-o+float64(m), float64(d)*(o-1)+float64(m)
	lo, hi := math.Min(a, b), math.Max(a, b)
	out := math.Max(0, math.Max(lo-float64(w), float64(w)-hi))
	return math.Max(math.Abs(float64(d))/2, out)*(1+1e-4) + 1e-6*math.Abs(float64(w))
}

func TestIntQuantize(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	const rows = 4
	for f := range intFormats {
		for _, cols := range intCols {
			w := gaussian(r, rows*cols)
			if cols == 300 {
				copy(w[cols:], heavyTailed(r, cols)) // row 1
				w[2*cols+7] = 40                     // row 2: one outlier
				clear(w[3*cols : 4*cols])            // row 3: zero
			}
			for _, rtn := range []bool{true, false} {
				name := fmt.Sprintf("%s cols %d rtn %v", f, cols, rtn)
				m, err := QuantizeWith(w, rows, cols, f, Options{RTN: rtn})
				if err != nil {
					t.Fatal(err)
				}
				deq := m.Dequantize()
				for rr := range rows {
					row := m.Row(rr)
					for i := range cols {
						d, mm := intStored(f, row, cols, i/f.Group)
						v, e := w[rr*cols+i], math.Abs(float64(deq[rr*cols+i]-w[rr*cols+i]))
						bound := intErrBound(f, d, mm, v)
						if rtn && (f.Asym || f.Bits == 8) {
							// RTN spans the group: never clamped, error ≤ d/2.
							bound = math.Abs(float64(d))/2*(1+1e-3) + 1e-6*math.Abs(float64(v))
						} else if rtn {
							// The end code 2^(b−1)−1 is one short of the extreme's
							// mirror image: error ≤ d.
							bound = math.Min(bound, math.Abs(float64(d))*(1+1e-3))
						}
						if e > bound {
							t.Fatalf("%s: row %d weight %d: %v stored as %v (d %v m %v), error %v > %v", name, rr, i, v, deq[rr*cols+i], d, mm, e, bound)
						}
					}
					checkIntPadding(t, f, row, cols, name)
				}
				x := gaussian(r, 3*cols)
				got := checkIntProduct(t, m, deq, x, name)
				// Against the f32 product: the triangle inequality bounds the
				// error by Σ|ŵ−w|·|x̂| + Σ|w|·|x̂−x| (+ rounding).
				b := NewBatch(x, 3, cols)
				b.quantize()
				for v := range 3 {
					q, xs, _ := b.q8Vector(v)
					for rr := range rows {
						var ref, bound float64
						for i := range cols {
							wi, wq := float64(w[rr*cols+i]), float64(deq[rr*cols+i])
							xi, xq := float64(x[v*cols+i]), float64(q[i])*float64(xs[i/32])
							ref += wi * xi
							bound += math.Abs(wq-wi)*math.Abs(xq) + math.Abs(wi)*math.Abs(xq-xi) + 1e-4*math.Abs(wq*xq)
						}
						if d := math.Abs(float64(got[v*rows+rr]) - ref); d > bound+1e-30 {
							t.Fatalf("%s: product %d,%d = %v, f32 %v, off by %v > %v", name, v, rr, got[v*rows+rr], ref, d, bound)
						}
					}
				}
			}
		}
	}
}

// checkIntPadding checks that code slots past cols are stored as zero bits.
func checkIntPadding(t *testing.T, f Format, row []byte, cols int, name string) {
	t.Helper()
	if cols%32 == 0 {
		return
	}
	cb := intChunkBytes(f.Bits)
	last := row[len(row)-cb:]
	for i := cols % 32; i < 32; i++ {
		var u byte
		switch f.Bits {
		case 8:
			u = last[i]
		case 4:
			u = last[i%16] >> (4 * (i / 16)) & 15
		case 3:
			u = last[i%8]>>(2*(i/8))&3 | (last[8+i/8]>>(i%8)&1)<<2
		case 2:
			u = last[i%8] >> (2 * (i / 8)) & 3
		}
		if u != 0 {
			t.Fatalf("%s: padding code %d of the last chunk is %d, want 0", name, i, u)
		}
	}
}

// TestIntProductTolerance states how close Int products come to the f32
// product for Gaussian weights and activations: the relative RMS error over
// all outputs, against a per-width tolerance.
func TestIntProductTolerance(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	tol := map[int]float64{8: 0.015, 4: 0.12, 3: 0.25, 2: 0.5}
	const rows, cols, n = 64, 256, 4
	w, x := gaussian(r, rows*cols), gaussian(r, n*cols)
	for f := range intFormats {
		m, err := Quantize(w, rows, cols, f)
		if err != nil {
			t.Fatal(err)
		}
		got := make([]float32, n*rows)
		m.MatMul(got, NewBatch(x, n, cols))
		var se, ss float64
		for v := range n {
			for rr := range rows {
				ref := float64(dotF32Generic(w[rr*cols:(rr+1)*cols], x[v*cols:(v+1)*cols]))
				e := float64(got[v*rows+rr]) - ref
				se += e * e
				ss += ref * ref
			}
		}
		rel := math.Sqrt(se / ss)
		if rel > tol[f.Bits] {
			t.Errorf("%s: product relative RMS error %.4f > %.3f", f, rel, tol[f.Bits])
		}
		if f.Group == 64 {
			t.Logf("%-10s product relative RMS error %.4f (tolerance %.3f)", f, rel, tol[f.Bits])
		}
	}
}

// TestInt8Exact: integer weights and activations whose every group and
// block reaches ±127 (and −128 for asymmetric weights) have unit scales, so
// storage and products are exact.
func TestInt8Exact(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	const rows, n = 5, 3
	for _, asym := range []bool{false, true} {
		for _, g := range intGroups {
			for _, cols := range intCols {
				f := Format{Kind: Int, Bits: 8, Group: g, Asym: asym}
				w := make([]float32, rows*cols)
				for rr := range rows {
					for i := range cols {
						w[rr*cols+i] = float32(r.IntN(255) - 127)
					}
					for g0 := 0; g0 < cols; g0 += g {
						w[rr*cols+g0] = 127
						if asym {
							w[rr*cols+min(g0+g, cols)-1] = -128
						}
					}
				}
				x := make([]float32, n*cols)
				for v := range n {
					for i := range cols {
						x[v*cols+i] = float32(r.IntN(255) - 127)
					}
					for b0 := 0; b0 < cols; b0 += 32 {
						x[v*cols+b0] = -127
					}
				}
				m, err := Quantize(w, rows, cols, f)
				if err != nil {
					t.Fatal(err)
				}
				deq := m.Dequantize()
				for i := range w {
					if deq[i] != w[i] {
						t.Fatalf("%s cols %d: weight %d stored as %v, want %v", f, cols, i, deq[i], w[i])
					}
				}
				got := make([]float32, n*rows)
				m.MatMul(got, NewBatch(x, n, cols))
				for v := range n {
					for rr := range rows {
						var want int64
						for i := range cols {
							want += int64(w[rr*cols+i]) * int64(x[v*cols+i])
						}
						if got[v*rows+rr] != float32(want) {
							t.Fatalf("%s cols %d: product %d,%d = %v, want %d", f, cols, v, rr, got[v*rows+rr], want)
						}
					}
				}
			}
		}
	}
}

func relRMS(a, b []float32) float64 {
	var se, ss float64
	for i := range a {
		e := float64(a[i]) - float64(b[i])
		se += e * e
		ss += float64(b[i]) * float64(b[i])
	}
	return math.Sqrt(se / ss)
}

// TestIntSearch measures the relative RMS weight error of round-to-nearest
// scales against the searched ones: search must be strictly better at 2 and 3
// bits, and never worse (it keeps RTN's scale when that is better).
func TestIntSearch(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	const rows, cols = 32, 512
	data := map[string][]float32{"gaussian": gaussian(r, rows*cols), "student-t3": heavyTailed(r, rows*cols)}
	for _, dist := range []string{"gaussian", "student-t3"} {
		w := data[dist]
		for _, bits := range []int{2, 3, 4, 8} {
			for _, asym := range []bool{false, true} {
				for _, g := range []int{32, 64, 128} {
					f := Format{Kind: Int, Bits: bits, Group: g, Asym: asym}
					var e [2]float64
					for i, rtn := range []bool{true, false} {
						m, err := QuantizeWith(w, rows, cols, f, Options{RTN: rtn})
						if err != nil {
							t.Fatal(err)
						}
						e[i] = relRMS(m.Dequantize(), w)
					}
					t.Logf("%-10s %-10s bpw %.3f  RTN %.4f  search %.4f  (%.1f%% less)", dist, f, f.BitsPerWeight(cols), e[0], e[1], 100*(1-e[1]/e[0]))
					if e[1] > e[0] || (bits <= 3 && e[1] >= e[0]) {
						t.Errorf("%s %s: search error %.4f not below RTN %.4f", dist, f, e[1], e[0])
					}
				}
			}
		}
	}
}

// TestIntRaggedGroup: the short last group of a row of 172 (stories260K's
// hidden size) is fitted on its own, so its error is no worse than that of
// the full groups.
func TestIntRaggedGroup(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	const rows, cols = 256, 172
	w := gaussian(r, rows*cols)
	for _, s := range []string{"int2g128", "int3g64", "int4g64a", "int4g32", "int8g64a"} {
		f := mustFormat(t, s)
		m, err := Quantize(w, rows, cols, f)
		if err != nil {
			t.Fatal(err)
		}
		deq := m.Dequantize()
		last := cols / f.Group * f.Group
		var full, ragged [2]float64 // squared error, squared weight
		for i := range w {
			e, v := float64(deq[i]-w[i]), float64(w[i])
			acc := &full
			if i%cols >= last {
				acc = &ragged
			}
			acc[0] += e * e
			acc[1] += v * v
		}
		fe, re := math.Sqrt(full[0]/full[1]), math.Sqrt(ragged[0]/ragged[1])
		t.Logf("%-9s full groups %.4f, ragged group of %d: %.4f", f, fe, cols-last, re)
		if re > fe*1.02 {
			t.Errorf("%s: ragged group error %.4f above the full groups' %.4f", f, re, fe)
		}
	}
}

// TestIntDotKernels compares the dot kernels in use (SIMD where a platform
// has them) with the generic ones, on random rows of every layout.
func TestIntDotKernels(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	kernels := map[int][2]func([]byte, int, bool, []int8, []float32, []int32) float32{
		2: {dotInt2, dotInt2Generic}, 3: {dotInt3, dotInt3Generic},
		4: {dotInt4, dotInt4Generic}, 8: {dotInt8, dotInt8Generic},
	}
	for f := range intFormats {
		for _, cols := range []int{32, 172, 256, 300, 1000, 4096} {
			row := make([]byte, f.RowBytes(cols))
			for i := range row {
				row[i] = byte(r.Uint32())
			}
			ng := (cols + f.Group - 1) / f.Group
			for i := range ng * (1 + b2i(f.Asym)) { // sane float16 scales
				binary.LittleEndian.PutUint16(row[2*i:], F32ToF16(float32(r.NormFloat64())))
			}
			x := gaussian(r, cols)
			x[0] = 1e3 // a block with an outlier
			b := NewBatch(x, 1, cols)
			b.quantize()
			q, xs, xsum := b.q8Vector(0)
			k := kernels[f.Bits]
			got, want := k[0](row, f.Group, f.Asym, q, xs, xsum), k[1](row, f.Group, f.Asym, q, xs, xsum)
			var mag float64
			deq := make([]float32, cols)
			intCodecFor(f, false).dequantizeRow(deq, row)
			for i := range cols {
				mag += math.Abs(float64(deq[i]) * float64(q[i]) * float64(xs[i/32]))
			}
			if math.Abs(float64(got-want)) > 1e-5*mag {
				t.Errorf("%s cols %d: kernel %v, generic %v", f, cols, got, want)
			}
		}
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func BenchmarkIntDot(b *testing.B) {
	const cols = 4096
	r := rand.New(rand.NewPCG(13, 14))
	w, x := gaussian(r, cols), gaussian(r, cols)
	for _, f := range []Format{
		{Kind: Int, Bits: 8, Group: 128}, {Kind: Int, Bits: 4, Group: 64},
		{Kind: Int, Bits: 3, Group: 128}, {Kind: Int, Bits: 2, Group: 64, Asym: true},
	} {
		m, _ := Quantize(w, 1, cols, f)
		bt := NewBatch(x, 1, cols)
		bt.quantize()
		c := m.codec
		b.Run(f.String(), func(b *testing.B) {
			b.SetBytes(int64(m.RowBytes()))
			for b.Loop() {
				c.dot(m.Data, bt, 0)
			}
		})
	}
}
