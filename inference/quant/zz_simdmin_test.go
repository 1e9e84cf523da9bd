package quant

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestZZMinTime(t *testing.T) {
	for _, cols := range []int{512, 4096, 16384} {
		zzMin(t, 64*4096/cols, cols)
	}
}

func zzMin(t *testing.T, rows, cols int) {
	r := rand.New(rand.NewPCG(7, 8))
	w := make([]float32, rows*cols)
	for i := range w {
		w[i] = float32(r.NormFloat64())
	}
	x := make([]float32, cols)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	dst := make([]float32, rows)
	for _, f := range []Format{FormatQ4_0, FormatQ8_0, FormatF16, FormatF32} {
		m, _ := Quantize(w, rows, cols, f)
		for _, l := range SIMDLevels() {
			selectSIMD(l)
			bt := NewBatch(x, 1, cols)
			bt.quantize()
			rb := m.RowBytes()
			best := time.Hour
			for range 2000 {
				t0 := time.Now()
				for i := range rows {
					dst[i] = m.codec.dot(m.Data[i*rb:(i+1)*rb], bt, 0)
				}
				best = min(best, time.Since(t0))
			}
			blocks := rows * cols / 32
			t.Logf("%5d %-5s %-7s %8v  %6.1f GB/s  %.2f ns/block", cols, f, l, best, float64(len(m.Data))/best.Seconds()/1e9, float64(best.Nanoseconds())/float64(blocks))
		}
	}
	SetSIMD(true)
}
