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

// write stores the small model as typ (a GGML type, or a mix such as
// Q4_K_M) and opens it with the engine, converting its matrices with prec
// (nil: as stored).
func write(t *testing.T, typ string, prec llama.Precision) *llama.Model {
	t.Helper()
	path := filepath.Join(t.TempDir(), typ+".gguf")
	var err error
	if quant.IsMix(typ) {
		err = WriteFileMix(path, small, typ)
	} else {
		var gt gguf.Type
		if gt, err = gguf.ParseType(typ); err == nil {
			err = WriteFile(path, small, gt)
		}
	}
	if err != nil {
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

// TestQuantizedGGUFMatchesF32 loads the Q8_0, Q4_0, Q6_K, Q5_K_M and
// Q4_K_M files this package wrote, checks that every matrix runs in the
// format stored (for the mixes, the one quant.MixPlan gives it), and
// compares their logits over a sequence with two references:
//
//   - the F32 file: the whole quantization error. Random Gaussian weights
//     with no trained structure amplify it through the layers (Q4_0's 8.6%
//     weight error becomes ≈38% of the logits), so the bounds are loose:
//     relative RMS logit error ≤ 5% (Q8_0), 15% (Q6_K), 30% (Q5_K_M) and
//     50% (Q4_0, Q4_K_M).
//   - the same file dequantized to F32 on load: only the kernels' own error
//     (8-bit activations, float reassociation) remains, ≤ 4% for all.
func TestQuantizedGGUFMatchesF32(t *testing.T) {
	ref := write(t, "F32", nil)
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
		typ    string
		maxErr float64
	}{{"Q8_0", 0.05}, {"Q4_0", 0.5}, {"Q6_K", 0.15}, {"Q5_K_M", 0.3}, {"Q4_K_M", 0.5}} {
		plan := quant.Plan{}
		if quant.IsMix(c.typ) {
			p, err := quant.MixPlan(c.typ, small.Layers, false)
			if err != nil {
				t.Fatal(err)
			}
			plan = p
		} else {
			f, err := quant.ParseFormat(c.typ)
			if err != nil {
				t.Fatal(err)
			}
			plan.Default = f
		}
		m := write(t, c.typ, nil)
		for _, nm := range m.Matrices() {
			if f := plan.FormatFor(nm.Name, []int{nm.Matrix.Rows, nm.Matrix.Cols}); nm.Matrix.Format != f {
				t.Fatalf("%s: %s loaded as %s, want it run natively as %s", c.typ, nm.Name, nm.Matrix.Format, f)
			}
		}
		got := logits(m)
		compare(c.typ+" vs f32 weights", want, got, c.maxErr)
		compare(c.typ+" vs its own weights in f32", logits(write(t, c.typ, toF32{})), got, 0.04)
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
		if err := WriteGGUFMix(x.buf, x.s, "q4_k_m"); err != nil {
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
	if err := WriteGGUF(&bytes.Buffer{}, small, gguf.Q2_K); err == nil {
		t.Error("type Q2_K accepted")
	}
	if err := WriteGGUFMix(&bytes.Buffer{}, Shape{Dim: 128, HiddenDim: 256, Layers: 1, Heads: 4, KVHeads: 4, Vocab: 512, SeqLen: 8}, "q4_k_m"); err == nil {
		t.Error("Q4_K_M of rows of 128 accepted")
	}
}
