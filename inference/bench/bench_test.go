package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/ipfs-accelerate/accel/inference/gguf"
	"github.com/ipfs-accelerate/accel/inference/llama"
	"github.com/ipfs-accelerate/accel/inference/quant"
	"github.com/ipfs-accelerate/accel/inference/synth"
)

// syntheticModel writes (once, into the OS temp dir) and opens the default
// ≈307M synthetic model stored as typ, converted with prec when not nil.
func syntheticModel(b *testing.B, typ gguf.Type, prec llama.Precision) *llama.Model {
	b.Helper()
	s := synth.DefaultShape
	path := filepath.Join(os.TempDir(), fmt.Sprintf("accel-synth-%d-%d-%d-%d-%s.gguf", s.Dim, s.HiddenDim, s.Layers, s.Seed, typ))
	if _, err := os.Stat(path); err != nil {
		if err := synth.WriteFile(path, s, typ); err != nil {
			b.Fatal(err)
		}
	}
	m, err := llama.Open(path, llama.Options{Precision: prec})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close() })
	return m
}

// BenchmarkModel measures decode and prefill of the synthetic model per
// format at 1 and 2 threads, with the memory read bandwidth of the same run
// beside the weight bytes decode streams. Run with -benchtime 1x.
func BenchmarkModel(b *testing.B) {
	preset := func(name string) llama.Precision {
		p, err := quant.Preset(name)
		if err != nil {
			b.Fatal(err)
		}
		return p
	}
	cases := []struct {
		name string
		typ  gguf.Type
		prec llama.Precision
	}{
		{"F32", gguf.F32, nil}, {"F16", gguf.F16, nil}, {"Q8_0", gguf.Q8_0, nil}, {"Q4_0", gguf.Q4_0, nil},
		{"q8", gguf.F32, preset("q8")}, {"q4", gguf.F32, preset("q4")}, {"q3", gguf.F32, preset("q3")}, {"q2", gguf.F32, preset("q2")},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			m := syntheticModel(b, c.typ, c.prec)
			for _, threads := range []int{1, 2} {
				b.Run(fmt.Sprintf("threads=%d", threads), func(b *testing.B) {
					var r Result
					for range b.N {
						var err error
						if r, err = Measure(m, threads, Options{}); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(r.DecodeTokensPerS, "decode-tok/s")
					b.ReportMetric(r.PrefillTokensPerS, "prefill-tok/s")
					b.ReportMetric(r.WeightsBytesPerS/1e9, "weights-GB/s")
					b.ReportMetric(r.MemoryReadBytesPerS/1e9, "memread-GB/s")
					b.ReportMetric(100*r.BandwidthFraction, "%-of-memread")
				})
			}
		})
	}
}

func TestMeasureSmallModel(t *testing.T) {
	m, err := llama.Open("../../../shared/models/stories260K.bin", llama.Options{Tokenizer: "../../../shared/models/tok512.bin"})
	if err != nil {
		t.Skipf("test model not present: %v", err)
	}
	r, err := Measure(m, 1, Options{DecodeTokens: 4, PrefillTokens: 16})
	if err != nil {
		t.Fatal(err)
	}
	if r.DecodeTokensPerS <= 0 || r.PrefillTokensPerS <= 0 || r.MemoryReadBytesPerS <= 0 || r.WeightBytes != 4*(64*512+5*(2*64+64*64*2+2*32*64+3*64*172)+64) {
		t.Fatalf("implausible result %+v", r)
	}
	// The classifier is the embedding table (tied): held once.
	if r.HeldBytes != r.WeightBytes || r.KVBytes <= 0 {
		t.Fatalf("held %d bytes, KV caches %d: want the %d weight bytes and a cache", r.HeldBytes, r.KVBytes, r.WeightBytes)
	}
	if runtime.GOOS == "linux" && (r.ResidentBytes <= int64(r.HeldBytes) || r.ModelResidentBytes != r.ResidentBytes) {
		t.Fatalf("resident %d bytes (%d for the model, nothing subtracted): want more than the %d weight bytes", r.ResidentBytes, r.ModelResidentBytes, r.HeldBytes)
	}
}

// TestMedianOf: speeds, bandwidths and the bandwidth fraction are medians
// over the rounds; the rest is the last round's.
func TestMedianOf(t *testing.T) {
	rs := []Result{
		{Threads: 2, DecodeTokensPerS: 30, PrefillTokensPerS: 100, WeightsBytesPerS: 3, MemoryReadBytesPerS: 9, BandwidthFraction: 0.3, HeldBytes: 1},
		{Threads: 2, DecodeTokensPerS: 10, PrefillTokensPerS: 300, WeightsBytesPerS: 1, MemoryReadBytesPerS: 7, BandwidthFraction: 0.1, HeldBytes: 2},
		{Threads: 2, DecodeTokensPerS: 20, PrefillTokensPerS: 200, WeightsBytesPerS: 2, MemoryReadBytesPerS: 8, BandwidthFraction: 0.2, HeldBytes: 3},
	}
	want := Result{Threads: 2, DecodeTokensPerS: 20, PrefillTokensPerS: 200, WeightsBytesPerS: 2, MemoryReadBytesPerS: 8, BandwidthFraction: 0.2, HeldBytes: 3}
	if got := MedianOf(rs); got != want {
		t.Errorf("MedianOf = %+v, want %+v", got, want)
	}
}
