package quant

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/ipfs-accelerate/accel/inference/membw"
)

// Decode speed: matrix-vector products of a 4096×4096 matrix (GGML's Q4_0
// and Q8_0, float formats, and Int formats: int8g64a, int4g64a, int3g64,
// int2g128), as GB/s of
// weight bytes streamed (b.SetBytes) and as a percentage of the machine's
// memory read bandwidth (membw.ReadBandwidth at the same thread count,
// measured in the same run, reported as membw-GB/s). The benchmarks cycle
// through enough copies of the matrix to fill 256 MiB, so the weights come
// from memory, not the last-level cache, as when a model's layers take turns.
//
//	go test -run '^$' -bench 'MatVec' -benchtime=200ms ./inference/quant/
//
// BenchmarkMatVec times Matrix.MatVec as the model calls it, on the threads
// of SetThreads: every product splits its rows over goroutines started for
// it, so on machines where waking an idle core takes hundreds of
// microseconds (as in some virtual machines), about as long as a whole
// product, the second thread adds little. BenchmarkMatVecStreams shows what
// the kernels sustain without that cost.
const (
	benchRows, benchCols = 4096, 4096
	benchWorkingSet      = 256 << 20
)

// benchIntFormats are the Int formats benchmarked beside GGML's.
var benchIntFormats = []Format{
	mustParseFormat("int8g64a"), mustParseFormat("int4g64a"), mustParseFormat("int3g64"), mustParseFormat("int2g128"),
}

var benchFormats = append([]Format{FormatQ4_0, FormatQ8_0, FormatQ4K, FormatQ5K, FormatQ6K, FormatF16, FormatBF16, FormatF32}, benchIntFormats...)

func mustParseFormat(s string) Format {
	f, err := ParseFormat(s)
	if err != nil {
		panic(err)
	}
	return f
}

// benchMatrices returns copies of one random matrix in format f filling the
// benchmark's working set.
func benchMatrices(b *testing.B, f Format) []*Matrix {
	r := rand.New(rand.NewPCG(7, 8))
	w := make([]float32, benchRows*benchCols)
	for i := range w {
		w[i] = float32(r.NormFloat64())
	}
	m, err := QuantizeWith(w, benchRows, benchCols, f, Options{RTN: true}) // speed does not depend on the values
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

func benchVector() []float32 {
	x := make([]float32, benchCols)
	for i := range x {
		x[i] = float32(i%17) - 8
	}
	return x
}

var (
	benchBWMu sync.Mutex
	benchBW   = map[string]float64{}
)

// benchBandwidth measures the memory read bandwidth once per sub-benchmark
// (the first, one-iteration call), next to the kernel it is compared with.
func benchBandwidth(b *testing.B, threads int) float64 {
	benchBWMu.Lock()
	defer benchBWMu.Unlock()
	bw, ok := benchBW[b.Name()]
	if !ok {
		bw = membw.ReadBandwidth(threads, benchWorkingSet, 5)
		benchBW[b.Name()] = bw
	}
	return bw
}

// reportBandwidth reports GB/s of weights, the memory bandwidth and their
// ratio.
func reportBandwidth(b *testing.B, bytesPerOp int, bw float64) {
	gbs := float64(bytesPerOp) * float64(b.N) / b.Elapsed().Seconds()
	b.ReportMetric(gbs/1e9, "GB/s")
	b.ReportMetric(bw/1e9, "membw-GB/s")
	b.ReportMetric(100*gbs/bw, "%membw")
}

func BenchmarkMatVec(b *testing.B) {
	defer SetThreads(Threads())
	defer selectSIMD(SIMD())
	levels := append(SIMDLevels(), "generic")
	x := benchVector()
	dst := make([]float32, benchRows)
	for _, f := range benchFormats {
		b.Run(f.String(), func(b *testing.B) {
			ms := benchMatrices(b, f)
			for _, level := range levels {
				for _, threads := range []int{1, 2} {
					b.Run(fmt.Sprintf("%s/threads=%d", level, threads), func(b *testing.B) {
						selectSIMD(level)
						SetThreads(threads)
						bw := benchBandwidth(b, threads)
						for i := range len(ms) { // page in, settle
							ms[i].MatVec(dst, x)
						}
						b.SetBytes(int64(len(ms[0].Data)))
						b.ResetTimer()
						for i := range b.N {
							ms[i%len(ms)].MatVec(dst, x)
						}
						b.StopTimer()
						reportBandwidth(b, len(ms[0].Data), bw)
					})
				}
			}
		})
	}
}

// matVecTiles is Matrix.MatVec on the calling goroutine alone, with the
// activations quantized by quantizeQ8Row (what Batch.quantize does once it
// uses the SIMD quantizer).
func matVecTiles(m *Matrix, dst, x []float32) {
	bt := NewBatch(x, 1, len(x))
	switch m.codec.activations() {
	case actQ8:
		nb := bt.blocks()
		bt.q8 = grow(bt.q8, nb*q8Block)
		bt.q8Scale = grow(bt.q8Scale, nb)
		bt.q8Sum = grow(bt.q8Sum, nb)
		quantizeQ8Row(bt.q8, bt.q8Scale, bt.q8Sum, x)
		bt.quantized = true
	case actQ8K:
		bt.qk = grow(bt.qk, len(x))
		bt.qkScale = grow(bt.qkScale, len(x)/qkBlock)
		bt.qkSum = grow(bt.qkSum, len(x)/16)
		quantizeQ8KRow(bt.qk, bt.qkScale, bt.qkSum, x)
		bt.quantizedK = true
	}
	rb := m.RowBytes()
	for r0 := 0; r0 < m.Rows; r0 += rowTile {
		r1 := min(r0+rowTile, m.Rows)
		if mt, ok := m.codec.(tileMultiplier); ok {
			mt.mulTile(dst, m.Rows, m.Data[r0*rb:r1*rb], r0, r1-r0, bt)
			continue
		}
		for r := r0; r < r1; r++ {
			dst[r] = m.codec.dot(m.Data[r*rb:(r+1)*rb], bt, 0)
		}
	}
}

// BenchmarkMatVecStreams runs b.N matrix-vector products on 1 or 2
// goroutines started once, each taking every other matrix: the weight
// bandwidth the kernels sustain per thread count, free of the per-product
// cost of waking idle cores that MatVec's threads pay.
func BenchmarkMatVecStreams(b *testing.B) {
	defer selectSIMD(SIMD())
	for _, f := range benchFormats {
		b.Run(f.String(), func(b *testing.B) {
			ms := benchMatrices(b, f)
			for _, level := range SIMDLevels() {
				for _, threads := range []int{1, 2} {
					b.Run(fmt.Sprintf("%s/threads=%d", level, threads), func(b *testing.B) {
						selectSIMD(level)
						bw := benchBandwidth(b, threads)
						x := benchVector()
						dst := make([][]float32, threads)
						for i := range dst {
							dst[i] = make([]float32, benchRows)
						}
						for i := range ms {
							matVecTiles(ms[i], dst[0], x)
						}
						b.SetBytes(int64(len(ms[0].Data)))
						b.ResetTimer()
						var wg sync.WaitGroup
						for w := range threads {
							wg.Go(func() {
								for i := w; i < b.N; i += threads {
									matVecTiles(ms[i%len(ms)], dst[w], x)
								}
							})
						}
						wg.Wait()
						b.StopTimer()
						reportBandwidth(b, len(ms[0].Data), bw)
					})
				}
			}
		})
	}
}

// Prefill speed: MatMul of a 4096×4096 matrix (Q4_0, Q8_0, the K-quants, F16 and the Int
// formats above) by 64 vectors (the tiled, multi-vector kernels) against 64
// separate MatVecs of the same vectors.
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
	for _, f := range append([]Format{FormatQ4_0, FormatQ8_0, FormatQ4K, FormatQ5K, FormatQ6K, FormatF16}, benchIntFormats...) {
		m, err := QuantizeWith(w, benchRows, benchCols, f, Options{RTN: true})
		if err != nil {
			b.Fatal(err)
		}
		for _, threads := range []int{1, 2} {
			report := func(b *testing.B) {
				s := b.Elapsed().Seconds()
				b.ReportMetric(float64(n*b.N)/s, "vectors/s")
				b.ReportMetric(2*float64(n)*benchRows*benchCols*float64(b.N)/s/1e9, "GMAC*2/s")
			}
			b.Run(fmt.Sprintf("%s/MatMul/threads=%d", f, threads), func(b *testing.B) {
				SetThreads(threads)
				for range b.N {
					m.MatMul(dst, NewBatch(xs, n, benchCols))
				}
				report(b)
			})
			if p := Pack(m); p != m { // as a model loads it, where the kernels take it packed
				b.Run(fmt.Sprintf("%s/MatMulPacked/threads=%d", f, threads), func(b *testing.B) {
					SetThreads(threads)
					for range b.N {
						p.MatMul(dst, NewBatch(xs, n, benchCols))
					}
					report(b)
				})
			}
			b.Run(fmt.Sprintf("%s/MatVecs/threads=%d", f, threads), func(b *testing.B) {
				SetThreads(threads)
				for range b.N {
					for v := range n {
						m.MatVec(dst[v*benchRows:(v+1)*benchRows], xs[v*benchCols:(v+1)*benchCols])
					}
				}
				report(b)
			})
		}
	}
}
