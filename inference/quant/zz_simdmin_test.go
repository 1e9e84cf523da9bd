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
	x := make([]float32, 4*cols)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	dst := make([]float32, 4*rows)
	for _, f := range []Format{FormatQ4_0, FormatQ8_0} {
		m, _ := Quantize(w, rows, cols, f)
		selectSIMD("avx512")
		bt := NewBatch(x[:cols], 1, cols)
		bt.quantize()
		b4 := NewBatch(x, 4, cols)
		b4.quantize()
		rb := m.RowBytes()
		tm := m.codec.(tileMultiplier)
		blocks := rows * cols / 32
		for _, mode := range []string{"dot", "tile1", "tile4"} {
			best := time.Hour
			for range 1000 {
				t0 := time.Now()
				switch mode {
				case "dot":
					for i := range rows {
						dst[i] = m.codec.dot(m.Data[i*rb:(i+1)*rb], bt, 0)
					}
				case "tile1":
					for r0 := 0; r0 < rows; r0 += 16 {
						tm.mulTile(dst, rows, m.Data[r0*rb:(r0+16)*rb], r0, 16, bt)
					}
				case "tile4":
					for r0 := 0; r0 < rows; r0 += 16 {
						tm.mulTile(dst, rows, m.Data[r0*rb:(r0+16)*rb], r0, 16, b4)
					}
				}
				best = min(best, time.Since(t0))
			}
			nv := 1
			if mode == "tile4" {
				nv = 4
			}
			t.Logf("%5d %-5s %-6s %8v  %6.1f GB/s  %.3f ns/block/vec", cols, f, mode, best, float64(len(m.Data))/best.Seconds()/1e9, float64(best.Nanoseconds())/float64(blocks*nv))
		}
	}
	SetSIMD(true)
}
