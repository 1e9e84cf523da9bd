package llama_test

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/ipfs-accelerate/accel/inference/gguf"
	"github.com/ipfs-accelerate/accel/inference/llama"
	"github.com/ipfs-accelerate/accel/inference/quant"
	"github.com/ipfs-accelerate/accel/inference/synth"
)

// synthetic writes a random model of shape s stored as typ, and opens it
// converted to the preset prec unless that is "".
func synthetic(t testing.TB, s synth.Shape, typ gguf.Type, prec string) *llama.Model {
	t.Helper()
	path := filepath.Join(t.TempDir(), "synth.gguf")
	if err := synth.WriteFile(path, s, typ); err != nil {
		t.Fatal(err)
	}
	var opts llama.Options
	if prec != "" {
		p, err := quant.Preset(prec)
		if err != nil {
			t.Fatal(err)
		}
		opts.Precision = p
	}
	m, err := llama.Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// sessions starts n sequences of different lengths.
func sessions(t testing.TB, m *llama.Model, n int) []*llama.Session {
	t.Helper()
	out := make([]*llama.Session, n)
	for i := range out {
		out[i] = m.NewSession(llama.SessionOptions{})
		prompt := make([]int, 1+i%3)
		for j := range prompt {
			prompt[j] = 300 + 7*i + j
		}
		if _, err := out[i].Forward(prompt); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// TestStepMatchesForwardQuantized checks that five sequences in shared
// steps (one group of four vectors and one left over, as the kernels take
// them) get the logits each gets alone, bit for bit, in quantized formats.
func TestStepMatchesForwardQuantized(t *testing.T) {
	for _, c := range []struct {
		typ  gguf.Type
		prec string
	}{{gguf.Q8_0, ""}, {gguf.Q4_0, ""}, {gguf.F32, "q4"}, {gguf.F32, "q3"}} {
		t.Run(fmt.Sprintf("%v%s", c.typ, c.prec), func(t *testing.T) {
			tiny := synth.Shape{Dim: 256, HiddenDim: 512, Layers: 2, Heads: 4, KVHeads: 2, Vocab: 1024, SeqLen: 64, Seed: 1}
			m := synthetic(t, tiny, c.typ, c.prec)
			shared, alone := sessions(t, m, 5), sessions(t, m, 5)
			var st llama.Step
			for step := range 3 {
				tokens := [][]int{{400 + step}, {500}, {600 + step}, {700}, {800}}
				got, err := st.Forward(shared, tokens)
				if err != nil {
					t.Fatal(err)
				}
				for i, s := range alone {
					want, err := s.Forward(tokens[i])
					if err != nil {
						t.Fatal(err)
					}
					if !slices.Equal(got[i], want) {
						t.Fatalf("step %d, sequence %d: batched logits differ from its own", step, i)
					}
				}
			}
		})
	}
}

// BenchmarkStep measures aggregate decode tokens/s of 1, 4 and 8
// sequences sharing steps, on a small Q8_0 model.
func BenchmarkStep(b *testing.B) {
	small := synth.Shape{Dim: 512, HiddenDim: 1376, Layers: 4, Heads: 8, KVHeads: 4, Vocab: 4096, SeqLen: 512, Seed: 1}
	m := synthetic(b, small, gguf.Q8_0, "")
	for _, n := range []int{1, 4, 8} {
		b.Run(fmt.Sprintf("seqs=%d", n), func(b *testing.B) {
			const steps = 32
			lists := make([][]int, n)
			for i := range lists {
				lists[i] = []int{300 + i}
			}
			var st llama.Step
			var elapsed time.Duration
			for range b.N {
				seqs := sessions(b, m, n)
				start := time.Now()
				for range steps {
					if _, err := st.Forward(seqs, lists); err != nil {
						b.Fatal(err)
					}
				}
				elapsed += time.Since(start)
			}
			b.ReportMetric(float64(n*steps*b.N)/elapsed.Seconds(), "tokens/s")
		})
	}
}
