package quant

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

var kFormats = []Format{FormatQ4K, FormatQ5K, FormatQ6K}

// kRandomRow is a row of cols weights in format f with random codes and
// scales: every bit pattern of the code bytes, d and dmin of either sign
// magnitude class, so the kernels meet the full ranges.
func kRandomRow(r *rand.Rand, f Format, cols int) []byte {
	c := codecFor(f)
	row := make([]byte, c.rowBytes(cols))
	c.quantizeRow(row, simdVec(r, cols)) // valid scales
	bb := c.rowBytes(qkBlock)
	for b := range cols / qkBlock {
		blk := row[b*bb : (b+1)*bb]
		switch f.Kind {
		case Q4K, Q5K:
			for i := 4; i < bb; i++ { // scales, mins, high bits, codes
				blk[i] = byte(r.IntN(256))
			}
			putF16(blk, 0, float32(r.NormFloat64())*1e-2)
			putF16(blk, 2, float32(r.NormFloat64())*1e-2)
		case Q6K:
			for i := range 208 { // codes, high bits, int8 scales (−128 included)
				blk[i] = byte(r.IntN(256))
			}
			putF16(blk, 208, float32(r.NormFloat64())*1e-3)
		}
	}
	return row
}

// kRef is the float64 dot product of a stored row with activation vector t
// of x as the kernels see it (dequantized weights and 8-bit activations),
// and its mass: Σ over weights of the magnitudes of the terms they are made
// of, times |x|.
func kRef(f Format, row []byte, x *Batch, t int) (ref, mass float64) {
	w := make([]float32, x.Cols)
	codecFor(f).dequantizeRow(w, row)
	q, scale, _ := x.qkVector(t)
	bb := codecFor(f).rowBytes(qkBlock)
	for i := range w {
		xv := float64(q[i]) * float64(scale[i/qkBlock])
		ref += float64(w[i]) * xv
		blk := row[i/qkBlock*bb:]
		part := math.Abs(float64(w[i]))
		if f.Kind != Q6K {
			part += 64 * (math.Abs(float64(f16At(blk, 0))) + math.Abs(float64(f16At(blk, 2))))
		}
		mass += part * math.Abs(xv)
	}
	return ref, mass
}

func kBatch(r *rand.Rand, n, cols int) *Batch {
	x := simdVec(r, n*cols)
	for t := range n {
		x[t*cols+r.IntN(cols)] = 40 // a block that uses the full range
		if cols > qkBlock {
			clear(x[t*cols : t*cols+qkBlock]) // and one of zeros
		}
	}
	b := NewBatch(x, n, cols)
	b.quantizeK()
	return b
}

type kDot func(row []byte, q []int8, scale []float32, sum []int16) float32

// TestKQuantDot checks the generic kernels, then every SIMD level's, against
// the float64 product of the same stored weights and 8-bit activations.
func TestKQuantDot(t *testing.T) {
	check := func(t *testing.T, dots map[Kind]kDot) {
		r := rand.New(rand.NewPCG(5, 6))
		for _, f := range kFormats {
			for _, nsb := range []int{1, 2, 3, 8, 22} {
				cols := nsb * qkBlock
				x := kBatch(r, 2, cols)
				for range 4 {
					row := kRandomRow(r, f, cols)
					for v := range 2 {
						q, scale, sum := x.qkVector(v)
						got := dots[f.Kind](row, q, scale, sum)
						ref, mass := kRef(f, row, x, v)
						if d := math.Abs(float64(got) - ref); !(d <= 1e-5*mass) {
							t.Errorf("%s cols=%d: %v, float64 reference %v: off by %.3g (mass %.3g)", f, cols, got, ref, d, mass)
						}
					}
				}
			}
		}
	}
	t.Run("generic", func(t *testing.T) {
		check(t, map[Kind]kDot{Q4K: dotQ4KGeneric, Q5K: dotQ5KGeneric, Q6K: dotQ6KGeneric})
	})
	simdLevels(t, func(t *testing.T) {
		check(t, map[Kind]kDot{Q4K: dotQ4K, Q5K: dotQ5K, Q6K: dotQ6K})
	})
}

// TestKQuantMatMulMatchesF32 multiplies K-quant matrices and the same
// weights dequantized to f32: the products differ only by the activations'
// 8-bit rounding, on every kernel level and thread count.
func TestKQuantMatMulMatchesF32(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	rows, cols := 37, 3*qkBlock
	w := simdVec(r, rows*cols)
	for _, f := range kFormats {
		m, err := Quantize(w, rows, cols, f)
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Data) != rows*cols/qkBlock*codecFor(f).rowBytes(qkBlock) {
			t.Fatalf("%s: %d bytes", f, len(m.Data))
		}
		deq, _ := NewMatrix(rows, cols, FormatF32, Float32Bytes(m.Dequantize()))
		for _, n := range []int{1, 3, 9} {
			xs := simdVec(r, n*cols)
			want := make([]float32, n*rows)
			deq.MatMul(want, NewBatch(xs, n, cols))
			// The activations' rounding, about uniform within ±scale/2:
			// six standard deviations of its effect on each product.
			xq := NewBatch(xs, n, cols)
			xq.quantizeK()
			wd := m.Dequantize()
			tol := make([]float64, n*rows)
			for v := range n {
				_, scale, _ := xq.qkVector(v)
				for o := range rows {
					var s2 float64
					for i, wi := range wd[o*cols : (o+1)*cols] {
						s2 += float64(wi) * float64(wi) * float64(scale[i/qkBlock]) * float64(scale[i/qkBlock]) / 12
					}
					tol[v*rows+o] = 6*math.Sqrt(s2) + 1e-4*math.Abs(float64(want[v*rows+o]))
				}
			}
			run := func(t *testing.T) {
				for _, threads := range []int{1, 2} {
					prev := Threads()
					SetThreads(threads)
					got := make([]float32, n*rows)
					m.MatMul(got, NewBatch(xs, n, cols))
					SetThreads(prev)
					for i := range got {
						if d := math.Abs(float64(got[i] - want[i])); d > tol[i] {
							t.Errorf("%s n=%d threads=%d [%d]: %v, f32 %v (tolerance %.3g)", f, n, threads, i, got[i], want[i], tol[i])
						}
					}
				}
			}
			t.Run(fmt.Sprintf("%s/n=%d/generic", f, n), func(t *testing.T) {
				prev := SIMD()
				defer selectSIMD(prev)
				selectSIMD(genericKernels.name)
				run(t)
			})
			simdLevels(t, run)
		}
	}
}

// TestKQuantize checks the quantizers' error against the weights and the
// formats' row checks.
func TestKQuantize(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	cols := 4 * qkBlock
	w := simdVec(r, 8*cols)
	clear(w[:qkBlock]) // a super-block of zeros
	for _, c := range []struct {
		f      Format
		maxRel float64 // RMS error over RMS weight
	}{{FormatQ4K, 0.12}, {FormatQ5K, 0.06}, {FormatQ6K, 0.03}} {
		m, err := Quantize(w, 8, cols, c.f)
		if err != nil {
			t.Fatal(err)
		}
		got := m.Dequantize()
		var se, ss float64
		for i := range w {
			se += float64(got[i]-w[i]) * float64(got[i]-w[i])
			ss += float64(w[i]) * float64(w[i])
		}
		if rel := math.Sqrt(se / ss); rel > c.maxRel {
			t.Errorf("%s: RMS error %.4f of the weights' RMS, want ≤ %.2f", c.f, rel, c.maxRel)
		}
		for i := range qkBlock {
			if got[i] != 0 {
				t.Fatalf("%s: zero weight %d dequantized to %v", c.f, i, got[i])
			}
		}
		if _, err := Quantize(w[:8*100], 8, 100, c.f); err == nil {
			t.Errorf("%s: rows of 100 weights accepted", c.f)
		}
		if p, err := ParseFormat(c.f.String()); err != nil || p != c.f {
			t.Errorf("ParseFormat(%q) = %v, %v", c.f, p, err)
		}
	}
}

// TestQuantizeQ8K checks the K-quants' activation blocks against
// quantize_row_q8_K_ref's definition.
func TestQuantizeQ8K(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	x := kBatch(r, 1, 2*qkBlock)
	q, scale, sum := x.qkVector(0)
	if scale[0] != 0 {
		t.Fatalf("block of zeros has scale %v", scale[0])
	}
	for i, v := range x.F32 {
		b := i / qkBlock
		if d := math.Abs(float64(v) - float64(q[i])*float64(scale[b])); d > 0.5001*math.Abs(float64(scale[b])) {
			t.Fatalf("x[%d] = %v quantized to %d×%v", i, v, q[i], scale[b])
		}
	}
	for j := range 2 * qkBlock / 16 {
		var s int
		for _, c := range q[16*j : 16*j+16] {
			s += int(c)
		}
		if int(sum[j]) != s {
			t.Fatalf("sum %d = %d, want %d", j, sum[j], s)
		}
	}
}

// TestMixPlan checks llama.cpp's Q4_K_M choices on a 32-layer model with a
// tied embedding, and the fallback for rows K-quants cannot hold.
func TestMixPlan(t *testing.T) {
	p, err := MixPlan("Q4_K_M", 32, true)
	if err != nil {
		t.Fatal(err)
	}
	var more []int
	for i := range 32 {
		f := p.FormatFor(fmt.Sprintf("blk.%d.attn_v.weight", i), []int{1024, 4096})
		if g := p.FormatFor(fmt.Sprintf("blk.%d.ffn_down.weight", i), []int{4096, 11008}); g != f {
			t.Errorf("layer %d: attn_v %s, ffn_down %s", i, f, g)
		}
		if f == FormatQ6K {
			more = append(more, i)
		}
		if q := p.FormatFor(fmt.Sprintf("blk.%d.attn_q.weight", i), []int{4096, 4096}); q != FormatQ4K {
			t.Errorf("layer %d: attn_q %s", i, q)
		}
	}
	// use_more_bits(i, 32): i < 4, i ≥ 28, (i−4) % 3 == 2.
	want := []int{0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31}
	if fmt.Sprint(more) != fmt.Sprint(want) {
		t.Errorf("Q6_K layers %v, want %v", more, want)
	}
	for _, c := range []struct {
		name  string
		shape []int
		want  Format
	}{
		{"output.weight", []int{32000, 4096}, FormatQ6K},
		{"token_embd.weight", []int{32000, 4096}, FormatQ6K},
		{"token_embd.weight", []int{512, 64}, FormatQ8_0},
		{"blk.4.attn_q.weight", []int{64, 64}, Format{Kind: Int, Bits: 4, Group: 32, Asym: true}},
		{"blk.4.ffn_down.weight", []int{64, 172}, FormatF16},
	} {
		if f := p.FormatFor(c.name, c.shape); f != c.want {
			t.Errorf("%s %v: %s, want %s", c.name, c.shape, f, c.want)
		}
	}
	if r, err := ParsePlan(p.String()); err != nil || fmt.Sprint(r) != fmt.Sprint(p) {
		t.Errorf("compact form does not read back: %v", err)
	}
	if _, err := MixPlan("q3_k_m", 8, false); err == nil || IsMix("q4_k") || !IsMix("q5_K_M") {
		t.Error("only q4_k_m and q5_k_m are mixes")
	}
}
