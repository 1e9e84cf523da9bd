package synth

import (
	"bytes"
	"math"
	"path/filepath"
	"testing"

	"github.com/ipfs-accelerate/accel/inference/gguf"
	"github.com/ipfs-accelerate/accel/inference/llama"
	"github.com/ipfs-accelerate/accel/inference/quant"
	"github.com/ipfs-accelerate/accel/inference/sample"
)

var small = Shape{Dim: 256, HiddenDim: 512, Layers: 2, Heads: 8, KVHeads: 2, Vocab: 512, SeqLen: 64, Seed: 7}

func TestDefaultShapeIs307M(t *testing.T) {
	if p := DefaultShape.Params(); p < 306e6 || p > 308e6 {
		t.Fatalf("default shape has %d parameters, want ≈307M", p)
	}
}

// write stores the small model as typ and opens it with the engine,
// converting its matrices with prec (nil: as stored).
func write(t *testing.T, typ gguf.Type, prec llama.Precision) *llama.Model {
	t.Helper()
	path := filepath.Join(t.TempDir(), typ.String()+".gguf")
	if err := WriteFile(path, small, typ); err != nil {
		t.Fatal(err)
	}
	m, err := llama.Open(path, llama.Options{Precision: prec})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// relErr is ‖a−b‖/‖a‖.
func relErr(a, b []float32) float64 {
	var num, den float64
	for i := range a {
		d := float64(a[i] - b[i])
		num += d * d
		den += float64(a[i]) * float64(a[i])
	}
	return math.Sqrt(num / den)
}

// TestQuantizedGGUFMatchesF32 loads the Q8_0 and Q4_0 files this package
// wrote and compares their logits over a sequence with two references:
//
//   - the F32 file: the whole quantization error. Random Gaussian weights
//     with no trained structure amplify it through the layers (Q4_0's 8.6%
//     weight error becomes ≈38% of the logits), so the bounds are loose:
//     relative RMS logit error ≤ 5% (Q8_0) and ≤ 50% (Q4_0).
//   - the same file dequantized to F32 on load: only the kernels' own error
//     (8-bit activations, float reassociation) remains, ≤ 4% for both.
func TestQuantizedGGUFMatchesF32(t *testing.T) {
	ref := write(t, gguf.F32, nil)
	tokens := []int{1, 300, 301, 302, 400, 17, 99, 260, 511, 3, 42, 42, 42, 280, 290, 300}
	logits := func(m *llama.Model) [][]float32 {
		s := m.NewSession(llama.SessionOptions{})
		var out [][]float32
		for _, tok := range tokens {
			l, err := s.Forward([]int{tok})
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, append([]float32(nil), l...))
		}
		return out
	}
	want := logits(ref)
	compare := func(what string, want, got [][]float32, maxErr float64) {
		worst, agree := 0.0, 0
		for i := range want {
			worst = max(worst, relErr(want[i], got[i]))
			if sample.Argmax(want[i]) == sample.Argmax(got[i]) {
				agree++
			}
		}
		t.Logf("%s: worst relative logit error %.4f, top-1 agreement %d/%d", what, worst, agree, len(want))
		if worst > maxErr {
			t.Errorf("%s: relative logit error %.4f exceeds %.2f", what, worst, maxErr)
		}
	}
	for _, c := range []struct {
		typ    gguf.Type
		format quant.Format
		maxErr float64
	}{{gguf.Q8_0, quant.FormatQ8_0, 0.05}, {gguf.Q4_0, quant.FormatQ4_0, 0.5}} {
		m := write(t, c.typ, nil)
		for _, nm := range m.Matrices() {
			if nm.Matrix.Format != c.format {
				t.Fatalf("%s: %s loaded as %s, want it run natively as %s", c.typ, nm.Name, nm.Matrix.Format, c.format)
			}
		}
		got := logits(m)
		compare(c.typ.String()+" vs f32 weights", want, got, c.maxErr)
		compare(c.typ.String()+" vs its own weights in f32", logits(write(t, c.typ, toF32{})), got, 0.04)
	}
}

// toF32 dequantizes every matrix on load.
type toF32 struct{}

func (toF32) FormatFor(string, []int) quant.Format { return quant.FormatF32 }

func TestSameSeedSameWeights(t *testing.T) {
	var a, b, c bytes.Buffer
	other := small
	other.Seed++
	for _, x := range []struct {
		buf *bytes.Buffer
		s   Shape
	}{{&a, small}, {&b, small}, {&c, other}} {
		if err := WriteGGUF(x.buf, x.s, gguf.Q4_0); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) || bytes.Equal(a.Bytes(), c.Bytes()) {
		t.Fatal("GGUF bytes must depend on the seed and only on it")
	}
}

func TestInvalidShapes(t *testing.T) {
	bad := []Shape{{}, {Dim: 100, HiddenDim: 512, Layers: 1, Heads: 4, KVHeads: 4, Vocab: 512, SeqLen: 8}, {Dim: 256, HiddenDim: 512, Layers: 1, Heads: 8, KVHeads: 3, Vocab: 512, SeqLen: 8}}
	for _, s := range bad {
		if err := WriteGGUF(&bytes.Buffer{}, s, gguf.F32); err == nil {
			t.Errorf("shape %+v accepted", s)
		}
	}
	if err := WriteGGUF(&bytes.Buffer{}, small, gguf.Q6_K); err == nil {
		t.Error("type Q6_K accepted")
	}
}
