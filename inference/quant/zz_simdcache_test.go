package quant

import (
	"math/rand/v2"
	"testing"
)

func BenchmarkZZInCache(b *testing.B) {
	defer SetThreads(Threads())
	SetThreads(1)
	r := rand.New(rand.NewPCG(7, 8))
	const rows, cols = 64, 4096
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
			b.Run(f.String()+"/"+l, func(b *testing.B) {
				selectSIMD(l)
				defer SetSIMD(true)
				b.SetBytes(int64(len(m.Data)))
				bt := NewBatch(x, 1, cols)
				bt.quantize()
				rb := m.RowBytes()
				b.ResetTimer()
				for range b.N {
					for i := range rows {
						dst[i] = m.codec.dot(m.Data[i*rb:(i+1)*rb], bt, 0)
					}
				}
			})
		}
	}
}
