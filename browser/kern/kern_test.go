//go:build js && wasm

package kern

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"testing"

	"github.com/ipfs-accelerate/accel/inference/quant"
)

// devices opens every kernel level the runtime has.
func devices(t testing.TB) []*Device {
	var ds []*Device
	for _, level := range Levels() {
		d, err := Open(level)
		if err != nil {
			t.Fatal(err)
		}
		ds = append(ds, d)
	}
	if len(ds) == 0 {
		t.Fatal("no kernel level in this runtime: run the tests with -exec go_js_wasm_exec")
	}
	return ds
}

// Node offers SIMD128, and relaxed SIMD where go_js_wasm_exec enabled it.
func TestLevels(t *testing.T) {
	want := []string{"simd128"}
	if os.Getenv("ACCEL_KERN_RELAXED") == "1" {
		want = append(want, "relaxed")
	}
	levels := Levels()
	for _, l := range want {
		if !slices.Contains(levels, l) {
			t.Errorf("levels %v: want %s among them", levels, l)
		}
	}
}

// Every kernel at every level gives the Go kernels' bits: ragged shapes
// (stories260K's 172-wide rows, columns not a multiple of 32 or 8, rows
// not a multiple of 4, Int's last group short), one vector (decode) and
// several (prefill).
func TestKernelsMatchGo(t *testing.T) {
	var formats []quant.Format
	formats = append(formats, quant.FormatF32, quant.FormatF16, quant.FormatBF16, quant.FormatQ8_0, quant.FormatQ4_0)
	for _, bits := range []int{4, 8} {
		for _, group := range []int{32, 64, 96, 256} {
			for _, asym := range []bool{false, true} {
				formats = append(formats, quant.Format{Kind: quant.Int, Bits: bits, Group: group, Asym: asym})
			}
		}
	}
	ds := devices(t)
	rng := rand.New(rand.NewPCG(3, 4))
	for _, f := range formats {
		cols := []int{172, 200, 2048}
		switch f.Kind {
		case quant.F32, quant.F16, quant.BF16:
			cols = append(cols, 1, 7)
		case quant.Q8_0, quant.Q4_0:
			cols = []int{32, 96, 2048}
		}
		t.Run(f.String(), func(t *testing.T) {
			for _, c := range cols {
				for _, rows := range []int{1, 3, 67} {
					for _, n := range []int{1, 3, 70} {
						for _, d := range ds {
							if err := d.check(f, rows, c, n, rng); err != nil {
								t.Error(err)
							}
						}
					}
				}
			}
		})
	}
}

// Stored rows need not come from Quantize: random codes (int8's −128
// included) under random scales give the Go kernels' bits.
func TestRandomRows(t *testing.T) {
	const rows, cols, n = 37, 200, 3
	formats := []quant.Format{quant.FormatQ8_0, quant.FormatQ4_0,
		{Kind: quant.Int, Bits: 4, Group: 64, Asym: true}, {Kind: quant.Int, Bits: 8, Group: 96}, {Kind: quant.Int, Bits: 8, Group: 32, Asym: true}}
	rng := rand.New(rand.NewPCG(9, 10))
	for _, d := range devices(t) {
		for _, f := range formats {
			c := cols
			if f.Kind == quant.Q8_0 || f.Kind == quant.Q4_0 {
				c = 192
			}
			rb := f.RowBytes(c)
			data := make([]byte, rows*rb)
			for i := range data {
				data[i] = byte(rng.Uint32())
			}
			// the float16 scales (and offsets): Q8_0's and Q4_0's at the
			// start of each block, Int's before the codes
			var scales []int
			if f.Kind == quant.Int {
				for b := 0; b < rb-(c+31)/32*f.Bits*4; b += 2 {
					scales = append(scales, b)
				}
			} else {
				for b := 0; b < rb; b += rb / (c / 32) {
					scales = append(scales, b)
				}
			}
			for r := range rows {
				for _, b := range scales {
					h := quant.F32ToF16(float32(rng.NormFloat64() * math.Exp(2*rng.NormFloat64())))
					data[r*rb+b], data[r*rb+b+1] = byte(h), byte(h>>8)
				}
			}
			m, err := quant.NewMatrix(rows, c, f, data)
			if err != nil {
				t.Fatal(err)
			}
			x := randomValues(n, c, rng)
			want, got := make([]float32, n*rows), make([]float32, n*rows)
			m.MatMul(want, quant.NewBatch(x, n, c))
			if err := d.MatMul([][]float32{got}, []*quant.Matrix{m}, quant.NewBatch(x, n, c)); err != nil {
				t.Fatal(err)
			}
			for i := range want {
				if !sameBits(got[i], want[i]) {
					t.Errorf("%s %s: product %d is %v, not %v", d.level, f, i, got[i], want[i])
					break
				}
			}
		}
	}
}

// The float16 and bfloat16 conversions are exact for every value,
// infinities, NaNs and subnormals included: a 65536×1 matrix of all of
// them times 1.
func TestAllHalves(t *testing.T) {
	data := make([]byte, 2*65536)
	for h := range 65536 {
		data[2*h], data[2*h+1] = byte(h), byte(h>>8)
	}
	for _, f := range []quant.Format{quant.FormatF16, quant.FormatBF16} {
		m, err := quant.NewMatrix(65536, 1, f, data)
		if err != nil {
			t.Fatal(err)
		}
		want := make([]float32, 65536)
		m.MatVec(want, []float32{1})
		for _, d := range devices(t) {
			got := make([]float32, 65536)
			if err := d.MatMul([][]float32{got}, []*quant.Matrix{m}, quant.NewBatch([]float32{1}, 1, 1)); err != nil {
				t.Fatal(err)
			}
			for h := range got {
				if !sameBits(got[h], want[h]) {
					t.Errorf("%s %s: %#04x is %v, not %v", d.level, f, h, got[h], want[h])
				}
			}
		}
	}
}

// Matrices placed on a device run there through quant.MatMulAll, several
// formats in one job; formats without a kernel stay on the Go kernels.
func TestPlacedMatMulAll(t *testing.T) {
	const cols, n = 192, 5
	rng := rand.New(rand.NewPCG(5, 6))
	formats := []quant.Format{quant.FormatQ4_0, quant.FormatF32, {Kind: quant.Int, Bits: 8, Group: 64, Asym: true}, quant.FormatBF16, {Kind: quant.Int, Bits: 4, Group: 96}}
	x := randomValues(n, cols, rng)
	for _, d := range devices(t) {
		var ms []*quant.Matrix
		var want, got [][]float32
		for i, f := range formats {
			rows := 9 + 10*i
			m, err := quant.Quantize(randomValues(rows, cols, rng), rows, cols, f)
			if err != nil {
				t.Fatal(err)
			}
			ms = append(ms, m)
			want = append(want, make([]float32, n*rows))
			got = append(got, make([]float32, n*rows))
		}
		quant.MatMulAll(want, ms, quant.NewBatch(x, n, cols))
		for _, m := range ms {
			if !d.Place(m) {
				t.Fatalf("%s refused a %s matrix", d.level, m.Format)
			}
		}
		quant.MatMulAll(got, ms, quant.NewBatch(x, n, cols))
		for i := range want {
			for j := range want[i] {
				if !sameBits(got[i][j], want[i][j]) {
					t.Fatalf("%s: matrix %d (%s) product %d is %v, not %v", d.level, i, formats[i], j, got[i][j], want[i][j])
				}
			}
		}
		for _, f := range []quant.Format{{Kind: quant.Int, Bits: 3, Group: 32}, {Kind: quant.Int, Bits: 2, Group: 64, Asym: true}} {
			m, err := quant.Quantize(randomValues(4, cols, rng), 4, cols, f)
			if err != nil {
				t.Fatal(err)
			}
			if d.Place(m) || m.Device() != nil {
				t.Errorf("%s placed a %s matrix", d.level, f)
			}
		}
	}
}

// Decode-sized products of Q4_0 and Q8_0 matrices: quant's Go kernels
// (as compiled for js/wasm) and each kernel level.
func BenchmarkMatVec(b *testing.B) {
	rng := rand.New(rand.NewPCG(7, 8))
	ds := devices(b)
	for _, f := range []quant.Format{quant.FormatQ4_0, quant.FormatQ8_0} {
		for _, rows := range []int{2048, 5632} {
			const cols = 2048
			m, err := quant.Quantize(randomValues(rows, cols, rng), rows, cols, f)
			if err != nil {
				b.Fatal(err)
			}
			x, y := randomValues(1, cols, rng), make([]float32, rows)
			name := fmt.Sprintf("%s/%dx%d", f, rows, cols)
			b.Run(name+"/go", func(b *testing.B) {
				for b.Loop() {
					m.MatVec(y, x)
				}
			})
			for _, d := range ds {
				b.Run(name+"/"+d.level, func(b *testing.B) {
					for b.Loop() {
						if err := d.MatMul([][]float32{y}, []*quant.Matrix{m}, quant.NewBatch(x, 1, cols)); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		}
	}
}
