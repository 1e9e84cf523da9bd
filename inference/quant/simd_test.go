package quant

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"unsafe"
)

// The SIMD kernels must agree with the generic Go kernels on the same
// machine. Integer parts (block dot products of codes) are exact in both, so
// the only differences come from summing float32 terms in another order.
// The tolerance is therefore the classic bound for any summation order of n
// terms, γ = (n+16)·2⁻²⁴ relative to Σ|term|, checked for both kernels
// against a float64 reference built from the same stored values.

// simdLevels runs fn once per SIMD level of this CPU (none where there is no
// SIMD) with that level's kernels active, restoring the kernels after.
func simdLevels(t *testing.T, fn func(t *testing.T)) {
	t.Helper()
	levels := SIMDLevels()
	if len(levels) == 0 {
		t.Skip("no SIMD kernels on this platform")
	}
	prev := SIMD()
	defer selectSIMD(prev)
	for _, l := range levels {
		if !selectSIMD(l) {
			t.Fatalf("selectSIMD(%q) failed", l)
		}
		t.Run(l, fn)
	}
}

var simdLengths = []int{0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 127, 128, 129, 255, 256, 257, 1000, 4096, 4099}

func simdTol(n int, mass float64) float64 { return float64(n+16) * 0x1p-24 * mass }

func simdCheckClose(t *testing.T, what string, got, want float32, ref, mass float64, n int) {
	t.Helper()
	tol := simdTol(n, mass)
	if d := math.Abs(float64(got) - ref); !(d <= tol) {
		t.Errorf("%s: SIMD %v, float64 reference %v: off by %.3g > %.3g", what, got, ref, d, tol)
	}
	if d := math.Abs(float64(want) - ref); !(d <= tol) {
		t.Errorf("%s: generic %v, float64 reference %v: off by %.3g > %.3g", what, want, ref, d, tol)
	}
}

func simdVec(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

func TestSIMDDotFloat(t *testing.T) {
	simdLevels(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(1, 2))
		for _, n := range simdLengths {
			a, b := simdVec(r, n), simdVec(r, n+5) // b may be longer than a
			h, bh := make([]uint16, n), make([]uint16, n)
			for i, v := range a {
				h[i], bh[i] = F32ToF16(v), F32ToBF16(v)
			}
			var ref, mass, refH, massH, refB, massB float64
			for i := range a {
				ref += float64(a[i]) * float64(b[i])
				mass += math.Abs(float64(a[i]) * float64(b[i]))
				fh, fb := float64(F16ToF32(h[i])), float64(BF16ToF32(bh[i]))
				refH += fh * float64(b[i])
				massH += math.Abs(fh * float64(b[i]))
				refB += fb * float64(b[i])
				massB += math.Abs(fb * float64(b[i]))
			}
			simdCheckClose(t, fmt.Sprintf("f32 n=%d", n), dotF32(a, b), dotF32Generic(a, b), ref, mass, n)
			simdCheckClose(t, fmt.Sprintf("f16 n=%d", n), dotF16(h, b), dotF16Generic(h, b), refH, massH, n)
			simdCheckClose(t, fmt.Sprintf("bf16 n=%d", n), dotBF16(bh, b), dotBF16Generic(bh, b), refB, massB, n)
		}
	})
}

// simdQ8Batch quantizes one random vector of cols values.
func simdQ8Batch(r *rand.Rand, cols int) *Batch {
	x := simdVec(r, cols)
	if cols > 0 {
		x[r.IntN(cols)] = 40 // a large value so some blocks use the full range
	}
	b := NewBatch(x, 1, cols)
	b.quantize()
	return b
}

func TestSIMDDotQuant(t *testing.T) {
	simdLevels(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(3, 4))
		for nb := range 40 {
			for _, nbl := range []int{nb, nb + 97} {
				cols := nbl * 32
				x := simdQ8Batch(r, max(cols, 32))
				q, scale, sum := x.q8Vector(0)
				w := simdVec(r, cols)
				row8 := make([]byte, q8_0Codec{}.rowBytes(cols))
				row4 := make([]byte, q4_0Codec{}.rowBytes(cols))
				q8_0Codec{}.quantizeRow(row8, w)
				q4_0Codec{}.quantizeRow(row4, w)
				// Random codes everywhere, including −128 for Q8_0.
				for b := range nbl {
					for i := range 32 {
						row8[b*q8_0BlockBytes+2+i] = byte(r.IntN(256))
					}
					for i := range 16 {
						row4[b*q4_0BlockBytes+2+i] = byte(r.IntN(256))
					}
				}
				var ref8, mass8, ref4, mass4 float64
				for b := range nbl {
					c8 := float64(F16ToF32(binary.LittleEndian.Uint16(row8[b*q8_0BlockBytes:]))) * float64(scale[b])
					c4 := float64(F16ToF32(binary.LittleEndian.Uint16(row4[b*q4_0BlockBytes:]))) * float64(scale[b])
					var s8, a8, s4, a4 float64
					for i := range 32 {
						xv := float64(q[b*32+i])
						w8 := float64(int8(row8[b*q8_0BlockBytes+2+i]))
						nib := row4[b*q4_0BlockBytes+2+i%16]
						if i >= 16 {
							nib >>= 4
						}
						w4 := float64(int(nib&15) - 8)
						s8 += w8 * xv
						a8 += math.Abs(w8 * xv)
						s4 += w4 * xv
						a4 += math.Abs(w4 * xv)
					}
					ref8 += c8 * s8
					mass8 += math.Abs(c8) * a8
					ref4 += c4 * s4
					mass4 += math.Abs(c4) * a4
				}
				simdCheckClose(t, fmt.Sprintf("q8_0 blocks=%d", nbl), dotQ8_0(row8, q, scale), dotQ8_0Generic(row8, q, scale), ref8, mass8, 8*nbl)
				simdCheckClose(t, fmt.Sprintf("q4_0 blocks=%d", nbl), dotQ4_0(row4, q, scale, sum), dotQ4_0Generic(row4, q, scale, sum), ref4, mass4, 8*nbl)
			}
		}
	})
}

// TestSIMDMatMul checks that batched products (the prefill path, with the
// multi-vector kernels) equal one MatVec per vector, and that both agree with
// the generic kernels.
func TestSIMDMatMul(t *testing.T) {
	formats := []Format{FormatF32, FormatF16, FormatBF16, FormatQ8_0, FormatQ4_0, FormatQ4K, FormatQ5K, FormatQ6K}
	shapes := [][2]int{{37, 160}, {16, 4096}, {5, 32 * 13}, {19, 768}, {11, 203}, {13, 512}}
	simdLevels(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(5, 6))
		for _, f := range formats {
			for _, sh := range shapes {
				if (f.Kind == Q4K || f.Kind == Q5K || f.Kind == Q6K) && sh[1]%256 != 0 {
					continue // K-quant rows are whole super-blocks
				}
				if (f.Kind == Q8_0 || f.Kind == Q4_0) && sh[1]%32 != 0 {
					continue // whole blocks
				}
				rows, cols := sh[0], sh[1]
				m, err := Quantize(simdVec(r, rows*cols), rows, cols, f)
				if err != nil {
					t.Fatal(err)
				}
				for _, n := range []int{1, 2, 3, 4, 5, 6, 7, 64} {
					xs := simdVec(r, n*cols)
					got := make([]float32, n*rows)
					m.MatMul(got, NewBatch(xs, n, cols))
					want := make([]float32, rows)
					for v := range n {
						m.MatVec(want, xs[v*cols:(v+1)*cols])
						for i := range rows {
							if g := got[v*rows+i]; g != want[i] {
								t.Fatalf("%s %d×%d N=%d: MatMul[%d][%d] = %v, MatVec = %v", f, rows, cols, n, v, i, g, want[i])
							}
						}
					}
					// Against the generic kernels on the same quantized batch.
					prev := SIMD()
					SetSIMD(false)
					gen := make([]float32, n*rows)
					m.MatMul(gen, NewBatch(xs, n, cols))
					selectSIMD(prev)
					row := make([]float32, cols)
					for i := range rows {
						m.DequantizeRow(row, i)
						for v := range n {
							var mass float64
							for j, w := range row {
								mass += math.Abs(float64(w) * float64(xs[v*cols+j]))
							}
							// Both sides use the same 8-bit x, so only the
							// summation order differs. The mass here uses the
							// float x (within 1% of the 8-bit x); Q4_0's SIMD
							// lanes carry part of the −8·Σx offset each, so
							// their terms may total more than Σ|w·x|: allow 4×.
							tol := simdTol(cols, mass)
							switch f.Kind {
							case Q8_0:
								tol = simdTol(cols, 1.1*mass)
							case Q4_0:
								tol = simdTol(cols, 4*mass)
							}
							if d := math.Abs(float64(got[v*rows+i] - gen[v*rows+i])); !(d <= tol) {
								t.Fatalf("%s %d×%d N=%d: SIMD [%d][%d] = %v, generic %v (tol %.3g)", f, rows, cols, n, v, i, got[v*rows+i], gen[v*rows+i], tol)
							}
						}
					}
				}
			}
		}
	})
}

func TestSetSIMD(t *testing.T) {
	prev := SIMD()
	defer selectSIMD(prev)
	SetSIMD(false)
	if SIMD() != "generic" {
		t.Fatalf("SetSIMD(false): SIMD() = %q, want generic", SIMD())
	}
	was := SetSIMD(true)
	if was {
		t.Errorf("SetSIMD(true) after SetSIMD(false) reported SIMD was on")
	}
	if levels := SIMDLevels(); len(levels) > 0 && SIMD() != levels[0] {
		t.Errorf("SetSIMD(true): SIMD() = %q, want %q", SIMD(), levels[0])
	}
	t.Logf("SIMD levels %v, active %s", SIMDLevels(), SIMD())
}

// TestSIMDRowAlignment runs matrix-vector products over rows that start at
// every alignment the kernels distinguish (64-byte aligned, 8-byte aligned,
// not 8-byte aligned) with and without blocks past the last group of 4, and
// checks them bit for bit against the one-row SIMD kernel and within the
// reassociation bound against the generic one.
func TestSIMDRowAlignment(t *testing.T) {
	simdLevels(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(11, 12))
		for _, f := range []Format{FormatQ8_0, FormatQ4_0} {
			for _, cols := range []int{32 * 4 * 9, 32 * (4*20 + 3), 32 * 4 * 32, 32 * 7} {
				const rows = 19
				src, err := Quantize(simdVec(r, rows*cols), rows, cols, f)
				if err != nil {
					t.Fatal(err)
				}
				x := simdVec(r, cols)
				bt := NewBatch(x, 1, cols)
				bt.quantize()
				q, scale, sum := bt.q8Vector(0)
				for _, off := range []int{0, 8, 16, 32, 56, 2, 6} {
					buf := make([]byte, len(src.Data)+128)
					base := int(-uintptr(unsafe.Pointer(&buf[0])) & 63)
					data := buf[base+off : base+off+len(src.Data)]
					copy(data, src.Data)
					m, err := NewMatrix(rows, cols, f, data)
					if err != nil {
						t.Fatal(err)
					}
					got := make([]float32, rows)
					m.MatVec(got, x)
					for i := range rows {
						row := m.Row(i)
						var one, gen float32
						if f.Kind == Q8_0 {
							one, gen = dotQ8_0(row, q, scale), dotQ8_0Generic(row, q, scale)
						} else {
							one, gen = dotQ4_0(row, q, scale, sum), dotQ4_0Generic(row, q, scale, sum)
						}
						if got[i] != one {
							t.Fatalf("%s cols=%d offset %d row %d: MatVec %v, one-row kernel %v", f, cols, off, i, got[i], one)
						}
						deq := make([]float32, cols)
						m.DequantizeRow(deq, i)
						var mass float64
						for j, w := range deq {
							mass += math.Abs(float64(w) * float64(x[j]))
						}
						if d := math.Abs(float64(got[i] - gen)); !(d <= simdTol(cols, 4*mass)) {
							t.Fatalf("%s cols=%d offset %d row %d: MatVec %v, generic %v", f, cols, off, i, got[i], gen)
						}
					}
				}
			}
		}
	})
}

// TestSIMDQuantizeQ8 checks the SIMD activation quantizer against
// quantizeQ8Block bit for bit, including partial last blocks, zero blocks,
// subnormals and exact halves.
func TestSIMDQuantizeQ8(t *testing.T) {
	simdLevels(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(13, 14))
		for _, n := range []int{1, 5, 16, 17, 31, 32, 33, 48, 63, 64, 100, 4096, 4099} {
			x := simdVec(r, n)
			for i := range x {
				switch r.IntN(8) {
				case 0:
					x[i] = 0
				case 1:
					x[i] = float32(r.IntN(255)-127) / 2 // exact halves after scaling, often
				case 2:
					x[i] *= 1e-40 // subnormal
				}
			}
			if n >= 64 {
				clear(x[32:64]) // an all-zero block
			}
			nb := (n + 31) / 32
			q, s, m := make([]int8, nb*32), make([]float32, nb), make([]int32, nb)
			wq, ws, wm := make([]int8, nb*32), make([]float32, nb), make([]int32, nb)
			for i := range q {
				q[i] = 99 // must be overwritten, padding included
			}
			quantizeQ8Row(q, s, m, x)
			quantizeQ8RowGeneric(wq, ws, wm, x)
			for b := range nb {
				if math.Float32bits(s[b]) != math.Float32bits(ws[b]) || m[b] != wm[b] {
					t.Fatalf("n=%d block %d: scale %v sum %d, want %v %d", n, b, s[b], m[b], ws[b], wm[b])
				}
			}
			for i := range q {
				if q[i] != wq[i] {
					t.Fatalf("n=%d code %d: %d, want %d", n, i, q[i], wq[i])
				}
			}
		}
	})
}

// TestSIMDQuantizeQ8K checks the SIMD quantizer of the K-quants'
// activations against quantizeQ8KRowGeneric bit for bit: zero blocks,
// subnormals, exact halves, and the largest magnitude twice with opposite
// signs (the first one sets the sign of the scale).
func TestSIMDQuantizeQ8K(t *testing.T) {
	simdLevels(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(15, 16))
		for _, nb := range []int{1, 2, 5, 16} {
			x := simdVec(r, nb*qkBlock)
			for i := range x {
				switch r.IntN(8) {
				case 0:
					x[i] = 0
				case 1:
					x[i] = float32(r.IntN(255)-127) / 2
				case 2:
					x[i] *= 1e-40
				}
			}
			if nb >= 2 {
				clear(x[qkBlock : 2*qkBlock]) // an all-zero block
			}
			for b := 2; b < nb; b++ {
				blk := x[b*qkBlock : (b+1)*qkBlock]
				i, j := r.IntN(qkBlock), r.IntN(qkBlock-1)
				if j >= i {
					j++
				}
				blk[i], blk[j] = 100, -100 // the largest, a tie, in either order
			}
			q, s, m := make([]int8, nb*qkBlock), make([]float32, nb), make([]int16, nb*16)
			wq, ws, wm := make([]int8, nb*qkBlock), make([]float32, nb), make([]int16, nb*16)
			for i := range q {
				q[i], m[i/16] = 99, 99 // must be overwritten
			}
			quantizeQ8KRow(q, s, m, x)
			quantizeQ8KRowGeneric(wq, ws, wm, x)
			for b := range nb {
				if math.Float32bits(s[b]) != math.Float32bits(ws[b]) {
					t.Fatalf("%d blocks: block %d scale %v, want %v", nb, b, s[b], ws[b])
				}
			}
			for i := range m {
				if m[i] != wm[i] {
					t.Fatalf("%d blocks: sum %d = %d, want %d", nb, i, m[i], wm[i])
				}
			}
			for i := range q {
				if q[i] != wq[i] {
					t.Fatalf("%d blocks: code %d = %d, want %d", nb, i, q[i], wq[i])
				}
			}
		}
	})
}

// TestSIMDSoftmaxSwiGLU checks each level's Softmax and SwiGLU against the
// Go ones on rows with tails, values far apart and values past where e^x
// over- or underflows.
func TestSIMDSoftmaxSwiGLU(t *testing.T) {
	simdLevels(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(41, 42))
		for _, width := range simdLengths[1:] {
			for _, spread := range []float32{1, 30, 200} {
				x := make([]float32, 3*width)
				for i := range x {
					x[i] = (2*r.Float32() - 1) * spread
				}
				got, want := slices.Clone(x), slices.Clone(x)
				Softmax(got, 3, width)
				SoftmaxGo(want, 3, width)
				for i := range got {
					if d := math.Abs(float64(got[i] - want[i])); d > 4e-6*float64(want[i])+1e-30 {
						t.Fatalf("softmax width %d spread %v: [%d] = %g, Go %g", width, spread, i, got[i], want[i])
					}
				}
				up := make([]float32, len(x))
				for i := range up {
					up[i] = 2*r.Float32() - 1
				}
				got, want = slices.Clone(x), slices.Clone(x)
				SwiGLU(got, up)
				SwiGLUGo(want, up)
				for i := range got {
					if d := math.Abs(float64(got[i] - want[i])); d > 4e-6*math.Abs(float64(want[i]))+1e-30 {
						t.Fatalf("swiglu n %d spread %v: [%d] = %g, Go %g (gate %g)", len(x), spread, i, got[i], want[i], x[i])
					}
				}
			}
		}
		// An element's result does not depend on its place in the row.
		gate, up := slices.Repeat([]float32{-1.7}, 11), slices.Repeat([]float32{0.3}, 11)
		SwiGLU(gate, up)
		for i, v := range gate {
			if v != gate[0] {
				t.Fatalf("swiglu of equal elements: [%d] = %g, [0] = %g", i, v, gate[0])
			}
		}
	})
}

// TestSIMDAddRows checks each level's DotRows and AddRows against Dot and
// AddScaled row by row, bit for bit, on widths with and without tails,
// rows apart and vectors in and out of groups of four.
func TestSIMDAddRows(t *testing.T) {
	simdLevels(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(43, 44))
		for _, width := range []int{1, 8, 24, 32, 40, 64, 67, 128, 130} {
			for _, shape := range [][2]int{{1, 3}, {5, 9}, {33, 3}, {33, 8}} {
				count, n := shape[0], shape[1]
				rows := Rows{Data: simdVec(r, count*(width+3)), Width: width, Stride: width + 3, Count: count}
				const lda = 40
				a := simdVec(r, n*lda)
				got := simdVec(r, n*width)
				want := slices.Clone(got)
				AddRows(got, a, lda, n, rows)
				for tv := range n {
					for j := range count {
						AddScaled(want[tv*width:(tv+1)*width], a[tv*lda+j], rows.Row(j))
					}
				}
				if !slices.Equal(got, want) {
					t.Fatalf("width %d, %d rows: AddRows differs from AddScaled row by row by %g", width, count, maxAbsDiff(got, want))
				}
				x := simdVec(r, n*width)
				dots := make([]float32, n*lda)
				DotRows(dots, lda, x, n, rows)
				for tv := range n {
					for j := range count {
						if d := Dot(x[tv*width:(tv+1)*width], rows.Row(j)); dots[tv*lda+j] != d {
							t.Fatalf("width %d, %d rows: DotRows[%d][%d] = %v, Dot %v", width, count, tv, j, dots[tv*lda+j], d)
						}
					}
				}
			}
		}
	})
}

func maxAbsDiff(a, b []float32) float64 {
	var d float64
	for i := range a {
		d = max(d, math.Abs(float64(a[i]-b[i])))
	}
	return d
}
