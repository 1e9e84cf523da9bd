package quant

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/ipfs-accelerate/accel/inference/membw"
)

// Decode speed: MatVec of a 4096×4096 matrix, as GB/s of weight bytes
// streamed and as a fraction of the machine's memory read bandwidth
// (membw.ReadBandwidth at the same thread count, measured in the same run).
// The benchmark cycles through enough copies of the matrix to fill 256 MiB so
// the weights come from memory, not the last-level cache, as they do when a
// model's layers take turns.
//
//	go test -run '^$' -bench 'MatVec' -benchtime=200ms ./inference/quant/

const (
	benchRows, benchCols = 4096, 4096
	benchWorkingSet      = 256 << 20
)

var (
	benchBWOnce [3]sync.Once
	benchBW     [3]float64
)

// benchBandwidth is the memory read bandwidth at 1 or 2 threads, measured
// once per test binary run.
func benchBandwidth(threads int) float64 {
	benchBWOnce[threads].Do(func() { benchBW[threads] = membw.ReadBandwidth(threads, benchWorkingSet, 7) })
	return benchBW[threads]
}

// benchMatrices returns copies of one random matrix in format f filling the
// benchmark's working set.
func benchMatrices(b *testing.B, f Format) []*Matrix {
	r := rand.New(rand.NewPCG(7, 8))
	w := make([]float32, benchRows*benchCols)
	for i := range w {
		w[i] = float32(r.NormFloat64())
	}
	m, err := Quantize(w, benchRows, benchCols, f)
	if err != nil {
		b.Fatal(err)
	}
	ms := []*Matrix{m}
	for total := len(m.Data); total < benchWorkingSet; total += len(m.Data) {
		c, err := NewMatrix(m.Rows, m.Cols, f, append([]byte(nil), m.Data...))
		if err != nil {
			b.Fatal(err)
		}
		ms = append(ms, c)
	}
	return ms
}

func BenchmarkMatVec(b *testing.B) {
	defer SetThreads(Threads())
	prev := SIMD()
	defer selectSIMD(prev)
	levels := append(SIMDLevels(), "generic")
	for _, f := range []Format{FormatQ4_0, FormatQ8_0, FormatF16, FormatBF16, FormatF32} {
		b.Run(f.String(), func(b *testing.B) {
			ms := benchMatrices(b, f)
			x := make([]float32, benchCols)
			for i := range x {
				x[i] = float32(i%17) - 8
			}
			dst := make([]float32, benchRows)
			for _, level := range levels {
				for _, threads := range []int{1, 2} {
					b.Run(fmt.Sprintf("%s/threads=%d", level, threads), func(b *testing.B) {
						selectSIMD(level)
						SetThreads(threads)
						bw := benchBandwidth(threads)
						for i := range 2 * len(ms) { // warm up: page in, settle clocks
							ms[i%len(ms)].MatVec(dst, x)
						}
						b.SetBytes(int64(len(ms[0].Data)))
						b.ResetTimer()
						for i := range b.N {
							ms[i%len(ms)].MatVec(dst, x)
						}
						b.StopTimer()
						gbs := float64(len(ms[0].Data)) * float64(b.N) / b.Elapsed().Seconds()
						b.ReportMetric(gbs/1e9, "GB/s")
						b.ReportMetric(bw/1e9, "membw-GB/s")
						b.ReportMetric(100*gbs/bw, "%membw")
					})
				}
			}
		})
	}
}

// Prefill speed: MatMul of a 4096×4096 matrix by 64 vectors (the tiled,
// multi-vector kernels) against 64 separate MatVecs of the same vectors.
//
//	go test -run '^$' -bench 'Prefill' -benchtime=200ms ./inference/quant/
func BenchmarkPrefill(b *testing.B) {
	defer SetThreads(Threads())
	const n = 64
	r := rand.New(rand.NewPCG(9, 10))
	w := make([]float32, benchRows*benchCols)
	for i := range w {
		w[i] = float32(r.NormFloat64())
	}
	xs := make([]float32, n*benchCols)
	for i := range xs {
		xs[i] = float32(r.NormFloat64())
	}
	dst := make([]float32, n*benchRows)
	for _, f := range []Format{FormatQ4_0, FormatQ8_0} {
		m, err := Quantize(w, benchRows, benchCols, f)
		if err != nil {
			b.Fatal(err)
		}
		for _, threads := range []int{1, 2} {
			SetThreads(threads)
			b.Run(fmt.Sprintf("%s/MatMul/threads=%d", f, threads), func(b *testing.B) {
				for range b.N {
					m.MatMul(dst, NewBatch(xs, n, benchCols))
				}
				b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "vectors/s")
				b.ReportMetric(2*float64(n)*benchRows*benchCols*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
			b.Run(fmt.Sprintf("%s/MatVecs/threads=%d", f, threads), func(b *testing.B) {
				for range b.N {
					for v := range n {
						m.MatVec(dst[v*benchRows:(v+1)*benchRows], xs[v*benchCols:(v+1)*benchCols])
					}
				}
				b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "vectors/s")
				b.ReportMetric(2*float64(n)*benchRows*benchCols*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}
