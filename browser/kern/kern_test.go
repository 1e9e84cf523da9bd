//go:build js && wasm

package kern

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"syscall/js"
	"testing"

	"github.com/ipfs-accelerate/accel/inference/quant"
)

// threadCounts are the thread counts the tests run arenas on: the
// runtime's thread alone, and with one and two kernel workers.
var threadCounts = []int{1, 2, 3}

var (
	opened   = map[string]kernels{}
	openedMu sync.Mutex
)

// open returns the kernels of level on one thread (threads 0: Device) or
// on an arena of threads threads, opened once per test binary.
func open(t testing.TB, level string, threads int) kernels {
	t.Helper()
	openedMu.Lock()
	defer openedMu.Unlock()
	key := fmt.Sprint(level, threads)
	if k, ok := opened[key]; ok {
		return k
	}
	var k kernels
	var err error
	if threads == 0 {
		k, err = Open(level)
	} else {
		var a *Arena
		if a, err = OpenArena(level, threads); err == nil {
			k, err = a, a.Ready()
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	opened[key] = k
	return k
}

// every returns every kernel level the runtime has, on one thread and on
// arenas of each of threadCounts.
func every(t testing.TB) []kernels {
	t.Helper()
	levels := Levels()
	if len(levels) == 0 {
		t.Fatal("no kernel level in this runtime: run the tests with -exec go_js_wasm_exec")
	}
	var ks []kernels
	for _, level := range levels {
		ks = append(ks, open(t, level, 0))
		for _, n := range threadCounts {
			ks = append(ks, open(t, level, n))
		}
	}
	return ks
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

// Every kernel at every level, on one thread and on 1, 2 and 3 threads,
// gives the Go kernels' bits: ragged shapes (stories260K's 172-wide rows,
// columns not a multiple of 32 or 8, rows not a multiple of 4, Int's last
// group short), one vector (decode) and several (prefill, past the 64
// vectors an arena takes at once).
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
	ks := every(t)
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
						if err := check(f, rows, c, n, rng, ks...); err != nil {
							t.Error(err)
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
	for _, k := range every(t) {
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
			want := make([]float32, n*rows)
			m.MatMul(want, quant.NewBatch(x, n, c))
			got, err := product(k, m, x, n)
			if err != nil {
				t.Fatal(err)
			}
			if i := mismatch(got, want); i >= 0 {
				t.Errorf("%s %s: product %d is %v, not %v", k, f, i, got[i], want[i])
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
		for _, k := range every(t) {
			got, err := product(k, m, []float32{1}, 1)
			if err != nil {
				t.Fatal(err)
			}
			if h := mismatch(got, want); h >= 0 {
				t.Errorf("%s %s: %#04x is %v, not %v", k, f, h, got[h], want[h])
			}
		}
	}
}

// Matrices on the kernels (placed on a Device, held in an arena) run
// there through quant.MatMulAll, several formats in one job; a Device
// leaves formats without a kernel to the Go kernels, and an arena refuses
// to hold them.
func TestMatMulAll(t *testing.T) {
	const cols, n = 192, 5
	rng := rand.New(rand.NewPCG(5, 6))
	formats := []quant.Format{quant.FormatQ4_0, quant.FormatF32, {Kind: quant.Int, Bits: 8, Group: 64, Asym: true}, quant.FormatBF16, {Kind: quant.Int, Bits: 4, Group: 96}}
	x := randomValues(n, cols, rng)
	for _, k := range every(t) {
		var ms, on []*quant.Matrix
		var want, got [][]float32
		for i, f := range formats {
			rows := 9 + 10*i
			m, err := quant.Quantize(randomValues(rows, cols, rng), rows, cols, f)
			if err != nil {
				t.Fatal(err)
			}
			h, free, err := k.hold(m)
			if err != nil {
				t.Fatal(err)
			}
			defer free()
			ms, on = append(ms, m), append(on, h)
			want = append(want, make([]float32, n*rows))
			got = append(got, make([]float32, n*rows))
		}
		before := k.Usage()
		quant.MatMulAll(got, on, quant.NewBatch(x, n, cols))
		if u := k.Usage(); u.Calls != before.Calls+1 || u.Busy <= before.Busy {
			t.Errorf("%s: usage %+v after one job, %+v before: want one more call, and its time", k, u, before)
		}
		for _, m := range ms {
			m.Place(nil)
		}
		quant.MatMulAll(want, ms, quant.NewBatch(x, n, cols))
		for i := range want {
			if j := mismatch(got[i], want[i]); j >= 0 {
				t.Fatalf("%s: matrix %d (%s) product %d is %v, not %v", k, i, formats[i], j, got[i][j], want[i][j])
			}
		}
		for _, f := range []quant.Format{{Kind: quant.Int, Bits: 3, Group: 32}, {Kind: quant.Int, Bits: 2, Group: 64, Asym: true}} {
			m, err := quant.Quantize(randomValues(4, cols, rng), 4, cols, f)
			if err != nil {
				t.Fatal(err)
			}
			switch k := k.(type) {
			case *Device:
				if k.Place(m) || m.Device() != nil {
					t.Errorf("%s placed a %s matrix", k, f)
				}
			case *Arena:
				if _, _, err := k.hold(m); err == nil {
					t.Errorf("%s held a %s matrix", k, f)
				}
			}
		}
	}
}

// Many small jobs back to back on three threads, as a decode runs them:
// workers that wake late claim parts of the job published since, or none,
// and every product is still the Go kernels'.
func TestBackToBack(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	a := open(t, Levels()[0], 3).(*Arena)
	type job struct {
		m    *quant.Matrix
		n    int
		x    []float32
		want []float32
	}
	var jobs []job
	for i, rows := range []int{5, 67, 13, 130} {
		m, err := quant.Quantize(randomValues(rows, 96, rng), rows, 96, quant.FormatQ4_0)
		if err != nil {
			t.Fatal(err)
		}
		h, free, err := a.hold(m)
		if err != nil {
			t.Fatal(err)
		}
		defer free()
		n := 1 + i%2*2
		x := randomValues(n, 96, rng)
		want := make([]float32, n*rows)
		m.MatMul(want, quant.NewBatch(x, n, 96))
		jobs = append(jobs, job{h, n, x, want})
	}
	for i := range 10000 {
		j := jobs[i%len(jobs)]
		got := make([]float32, len(j.want))
		if err := a.MatMul([][]float32{got}, []*quant.Matrix{j.m}, quant.NewBatch(j.x, j.n, 96)); err != nil {
			t.Fatal(err)
		}
		if k := mismatch(got, j.want); k >= 0 {
			t.Fatalf("job %d (%d rows): product %d is %v, not %v", i, j.m.Rows, k, got[k], j.want[k])
		}
	}
}

// A region holds bytes written from Go and from JS, reads them back, and
// its matrices read their rows from it; an arena grows as regions need.
func TestRegions(t *testing.T) {
	a := open(t, Levels()[0], 2).(*Arena)
	before := a.Bytes()
	r, err := a.Alloc(before) // more than is free
	if err != nil {
		t.Fatal(err)
	}
	defer r.Free()
	if a.Bytes() <= before {
		t.Errorf("the arena stayed at %d bytes for a %d-byte region", a.Bytes(), before)
	}
	rng := rand.New(rand.NewPCG(13, 14))
	m, err := quant.Quantize(randomValues(7, 64, rng), 7, 64, quant.FormatQ8_0)
	if err != nil {
		t.Fatal(err)
	}
	const off = 1000
	u8 := js.Global().Get("Uint8Array").New(len(m.Data))
	js.CopyBytesToJS(u8, m.Data)
	if err := r.WriteJS(off, u8, len(m.Data)); err != nil {
		t.Fatal(err)
	}
	h, err := r.Matrix(off, 7, 64, quant.FormatQ8_0)
	if err != nil {
		t.Fatal(err)
	}
	back := make([]byte, len(m.Data))
	if _, err := r.ReadAt(back, off); err != nil || !slices.Equal(back, m.Data) {
		t.Errorf("read back %v (%v), want the bytes written", back, err)
	}
	if mismatch(h.Dequantize(), m.Dequantize()) >= 0 {
		t.Error("the held matrix's rows differ from the matrix's")
	}
	if err := r.Write(r.size-1, []byte{1, 2}); err == nil {
		t.Error("a write past the region's end succeeded")
	}
	if _, err := r.Matrix(r.size-10, 7, 64, quant.FormatQ8_0); err == nil {
		t.Error("a matrix past the region's end was made")
	}
}

// An arena takes regions while its threads start, and computes once
// Ready; where its workers fail to start, it computes on this thread
// alone, with the same products, and says why.
func TestArenaBeforeReady(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	m, err := quant.Quantize(randomValues(37, 96, rng), 37, 96, quant.FormatQ4_0)
	if err != nil {
		t.Fatal(err)
	}
	x := randomValues(3, 96, rng)
	want := make([]float32, 3*37)
	m.MatMul(want, quant.NewBatch(x, 3, 96))
	for _, fail := range []bool{false, true} {
		a, err := OpenArena(Levels()[0], 2)
		if err != nil {
			t.Fatal(err)
		}
		if fail {
			a.pool.Set("state", "failed")
			a.pool.Set("error", "workers refused")
		}
		got, err := product(a, m, x, 3) // a region first, then the product, which waits for Ready
		if err != nil {
			t.Fatalf("failed start %v: %v", fail, err)
		}
		if i := mismatch(got, want); i >= 0 {
			t.Errorf("failed start %v: product %d is %v, not %v", fail, i, got[i], want[i])
		}
		if threads, terr := a.Threads(), a.ThreadsError(); fail != (threads == 1 && terr != nil) || fail == (threads == 2 && terr == nil) {
			t.Errorf("failed start %v: %d threads, error %v", fail, threads, terr)
		}
		a.Close()
	}
}

// Decode-sized products of Q4_0 and Q8_0 matrices: quant's Go kernels (as
// compiled for js/wasm), each kernel level on Go's memory, and the best
// level on arenas of 1 and 2 threads.
func BenchmarkMatVec(b *testing.B) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, f := range []quant.Format{quant.FormatQ4_0, quant.FormatQ8_0} {
		for _, rows := range []int{2048, 5632} {
			const cols = 2048
			m, err := quant.Quantize(randomValues(rows, cols, rng), rows, cols, f)
			if err != nil {
				b.Fatal(err)
			}
			name := fmt.Sprintf("%s/%dx%d", f, rows, cols)
			b.Run(name+"/go", func(b *testing.B) {
				x, y := randomValues(1, cols, rng), make([]float32, rows)
				for b.Loop() {
					m.MatVec(y, x)
				}
			})
			benchKernels(b, name, m, 1)
		}
	}
}

// Prefill-sized products: 64 vectors times a Q4_0 2048×2048 matrix.
func BenchmarkPrefill(b *testing.B) {
	m, err := quant.Quantize(randomValues(2048, 2048, rand.New(rand.NewPCG(9, 9))), 2048, 2048, quant.FormatQ4_0)
	if err != nil {
		b.Fatal(err)
	}
	benchKernels(b, "q4_0/2048x2048/n64", m, 64)
}

// The cost of a call, the product all but free: 4 rows of Q4_0 2048 wide,
// on Go's memory and on arenas (the trampoline's copies and the threads'
// wake-up).
func BenchmarkCall(b *testing.B) {
	m, err := quant.Quantize(randomValues(4, 2048, rand.New(rand.NewPCG(9, 9))), 4, 2048, quant.FormatQ4_0)
	if err != nil {
		b.Fatal(err)
	}
	benchKernels(b, "q4_0/4x2048", m, 1)
}

// benchKernels benchmarks m times n vectors on the kernels of every level
// on Go's memory, and of the best level on arenas of 1 and 2 threads.
func benchKernels(b *testing.B, name string, m *quant.Matrix, n int) {
	ks := []kernels{}
	for _, level := range Levels() {
		ks = append(ks, open(b, level, 0))
	}
	for _, threads := range []int{1, 2} {
		ks = append(ks, open(b, Levels()[0], threads))
	}
	x, y := randomValues(n, m.Cols, rand.New(rand.NewPCG(1, 1))), make([]float32, n*m.Rows)
	for _, k := range ks {
		h, free, err := k.hold(m)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("%s/%s", name, k), func(b *testing.B) {
			for b.Loop() {
				if err := k.MatMul([][]float32{y}, []*quant.Matrix{h}, quant.NewBatch(x, n, m.Cols)); err != nil {
					b.Fatal(err)
				}
			}
		})
		free()
	}
}

// The products of rows (quant.VectorDevice, attention over a KV cache)
// are the Go kernels' bit for bit, for ragged widths, strides and counts;
// the weighted sums take widths that are multiples of 4 and refuse others.
func TestRowsMatchGo(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, level := range Levels() {
		d := open(t, level, 0).(*Device)
		for _, s := range [][4]int{{1, 1, 1, 1}, {6, 10, 5, 2}, {8, 8, 40, 1}, {12, 100, 3, 7}, {64, 512, 193, 8}, {172, 172, 9, 4}} {
			if err := checkRows(d, s[0], s[1], s[2], s[3], rng); err != nil {
				t.Errorf("width %d, stride %d, %d rows, %d vectors: %v", s[0], s[1], s[2], s[3], err)
			}
		}
	}
}

// SwiGLU and softmax are Go's bit for bit: on float32 values of every
// exponent (random bit patterns, infinities and NaNs among them) and on
// rows whose spread reaches the exponential's under- and overflow.
func TestVectorsMatchGo(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	x, up := make([]float32, 1<<18), randomValues(1, 1<<18, rng)
	for i := range x {
		x[i] = math.Float32frombits(rng.Uint32())
	}
	for _, level := range Levels() {
		d := open(t, level, 0).(*Device)
		want, got := slices.Clone(x), slices.Clone(x)
		quant.SwiGLUGo(want, up)
		if err := d.SwiGLU(got, up); err != nil {
			t.Fatal(err)
		}
		if i := mismatch(got, want); i >= 0 {
			t.Errorf("%s: silu(%v)·%v is %v, not %v", d, x[i], up[i], got[i], want[i])
		}
		for _, spread := range []float64{1, 30, 700, 1e4} {
			const rows, width = 50, 37
			s := make([]float32, rows*width)
			for i := range s {
				s[i] = float32(spread * rng.NormFloat64())
			}
			want, got := slices.Clone(s), slices.Clone(s)
			quant.SoftmaxGo(want, rows, width)
			if err := d.Softmax(got, rows, width); err != nil {
				t.Fatal(err)
			}
			if i := mismatch(got, want); i >= 0 {
				t.Errorf("%s: softmax of values ±%g: %d is %v, not %v", d, spread, i, got[i], want[i])
			}
		}
	}
}
