package llama

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/ipfs-accelerate/accel/inference/quant"
)

const models = "../../../shared/models"

// stories loads the trained test model from the llama2.c files.
func stories(t testing.TB, prec Precision) *Model {
	t.Helper()
	bin := filepath.Join(models, "stories260K.bin")
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("test model not present: %v", err)
	}
	m, err := Open(bin, Options{Tokenizer: filepath.Join(models, "tok512.bin"), Precision: prec})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// prompt is a fixed token sequence in the vocabulary of stories260K.
var prompt = []int{1, 403, 407, 261, 378, 63, 275, 301, 280, 413, 264, 290, 60, 329}

// maxDiff returns the largest absolute difference.
func maxDiff(a, b []float32) float64 {
	d := 0.0
	for i := range a {
		d = max(d, math.Abs(float64(a[i]-b[i])))
	}
	return d
}

// stepLogits feeds tokens one at a time and returns a copy of each step's logits.
func stepLogits(t *testing.T, s *Session, tokens []int) [][]float32 {
	t.Helper()
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

func TestBatchedPrefillMatchesSteps(t *testing.T) {
	m := stories(t, nil)
	steps := stepLogits(t, m.NewSession(SessionOptions{}), prompt)
	batched, err := m.NewSession(SessionOptions{}).Forward(prompt)
	if err != nil {
		t.Fatal(err)
	}
	if d := maxDiff(batched, steps[len(steps)-1]); d > 1e-4 {
		t.Fatalf("batched prefill logits differ from token-by-token by %g", d)
	}
}

// TestPromptLastRowOnly: Forward carries only a prompt's last row through
// the last block; its logits, and the next steps' (which read the cache the
// prompt left), are those of a pass that carries every row.
func TestPromptLastRowOnly(t *testing.T) {
	m := stories(t, nil)
	next := []int{prompt[3], prompt[7]}
	fast := m.NewSession(SessionOptions{})
	got, err := fast.Forward(prompt)
	if err != nil {
		t.Fatal(err)
	}
	got = slices.Clone(got)
	full := m.NewSession(SessionOptions{})
	h, err := full.Embed(prompt)
	if err != nil {
		t.Fatal(err)
	}
	if err := full.RunLayers(0, m.Layers, 0, h); err != nil {
		t.Fatal(err)
	}
	want := full.Logits(h[(len(prompt)-1)*m.Dim:])
	if !slices.Equal(got, want) {
		t.Fatalf("prompt logits differ from a pass over every row by %g", maxDiff(got, want))
	}
	full.Pos = len(prompt)
	for i, g := range stepLogits(t, fast, next) {
		w := stepLogits(t, full, next[i:i+1])[0]
		if !slices.Equal(g, w) {
			t.Fatalf("step %d after the prompt: logits differ from a pass over every row by %g", i, maxDiff(g, w))
		}
	}
}

// TestShardsMatchWholeModel runs layers [0,k) and [k,N) in separate calls
// (as two peers would) and compares the logits with one full pass, over a
// prefill and several decode steps.
func TestShardsMatchWholeModel(t *testing.T) {
	m := stories(t, nil)
	for k := 1; k < m.Layers; k++ {
		whole := m.NewSession(SessionOptions{})
		front, back := m.NewSession(SessionOptions{}), m.NewSession(SessionOptions{})
		pos := 0
		for _, chunk := range [][]int{prompt[:9], prompt[9:10], prompt[10:11], prompt[11:]} {
			want, err := whole.Forward(chunk)
			if err != nil {
				t.Fatal(err)
			}
			h, err := front.Embed(chunk)
			if err != nil {
				t.Fatal(err)
			}
			if err := front.RunLayers(0, k, pos, h); err != nil {
				t.Fatal(err)
			}
			if err := back.RunLayers(k, m.Layers, pos, h); err != nil {
				t.Fatal(err)
			}
			got := back.Logits(h[(len(chunk)-1)*m.Dim:])
			if d := maxDiff(got, want); d != 0 {
				t.Fatalf("split at layer %d, positions %d…: logits differ by %g", k, pos, d)
			}
			pos += len(chunk)
		}
	}
}

func TestRunLayersRejectsBadRanges(t *testing.T) {
	m := stories(t, nil)
	s := m.NewSession(SessionOptions{})
	h := make([]float32, m.Dim)
	for _, c := range []struct{ from, to, pos int }{{-1, 2, 0}, {2, 2, 0}, {0, m.Layers + 1, 0}, {0, 1, m.SeqLen}, {0, 1, -1}} {
		if err := s.RunLayers(c.from, c.to, c.pos, h); err == nil {
			t.Errorf("RunLayers(%d, %d, pos %d) gave no error", c.from, c.to, c.pos)
		}
	}
	if err := s.RunLayers(0, 1, 0, h[:m.Dim-1]); err == nil {
		t.Error("a ragged hidden state gave no error")
	}
	if _, err := s.Forward([]int{m.Vocab}); err == nil {
		t.Error("an out-of-vocabulary token gave no error")
	}
}

func TestGGUFMatchesLlama2C(t *testing.T) {
	bin := stories(t, nil)
	g, err := Open(filepath.Join(models, "stories260K-f32.gguf"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	// llama.cpp's converter records a context of 128 and writes the tied
	// classifier out as its own tensor; all else must agree.
	gc := g.Config
	gc.SeqLen, gc.TiedOutput = bin.SeqLen, bin.TiedOutput
	if gc != bin.Config {
		t.Fatalf("GGUF config %+v, llama2.c config %+v", g.Config, bin.Config)
	}
	a := stepLogits(t, bin.NewSession(SessionOptions{}), prompt)
	b := stepLogits(t, g.NewSession(SessionOptions{}), prompt)
	for i := range a {
		if d := maxDiff(a[i], b[i]); d > 1e-5 {
			t.Fatalf("position %d: GGUF and llama2.c logits differ by %g", i, d)
		}
	}
}

func TestF16CacheIsClose(t *testing.T) {
	m := stories(t, nil)
	s32, s16 := m.NewSession(SessionOptions{}), m.NewSession(SessionOptions{F16Cache: true})
	a, b := stepLogits(t, s32, prompt), stepLogits(t, s16, prompt)
	for i := range a {
		if d := maxDiff(a[i], b[i]); d > 0.02 || (i > 0 && d == 0) {
			t.Fatalf("position %d: f16 cache logits differ by %g (want small but nonzero)", i, d)
		}
	}
	if got, want := s16.KVCache().Bytes(), s32.KVCache().Bytes()/2; got != want || got == 0 {
		t.Fatalf("f16 cache is %d bytes, want %d", got, want)
	}
	// The cache grows with the positions, not with the context length.
	if got, most := s32.KVCache().Bytes(), 2*4*m.Layers*m.KVDim()*2*len(prompt); got > most {
		t.Fatalf("cache holds %d bytes after %d positions, want at most %d", got, len(prompt), most)
	}
}

func TestSlidingWindow(t *testing.T) {
	m := stories(t, nil)
	const w = 6
	full := stepLogits(t, m.NewSession(SessionOptions{}), prompt)
	win := stepLogits(t, m.NewSession(SessionOptions{Window: w}), prompt)
	for i := range full {
		d := maxDiff(full[i], win[i])
		if i < w && d != 0 {
			t.Fatalf("position %d is inside the window but logits differ by %g", i, d)
		}
		if i >= w && d == 0 {
			t.Fatalf("position %d is past the window but logits are identical", i)
		}
	}
	if got := m.NewSession(SessionOptions{Window: w}).KVCache().Capacity; got != w {
		t.Fatalf("window cache holds %d positions, want %d", got, w)
	}
	// A window session runs past the context length.
	s := m.NewSession(SessionOptions{Window: w})
	for range m.SeqLen + 3 {
		if _, err := s.Forward([]int{prompt[1]}); err != nil {
			t.Fatalf("at position %d: %v", s.Pos, err)
		}
	}
}

func TestPrecisionConversion(t *testing.T) {
	m := stories(t, fixedFormat(quant.FormatF16))
	for _, nm := range m.Matrices() {
		if nm.Matrix.Format != quant.FormatF16 {
			t.Fatalf("%s is %s, want f16", nm.Name, nm.Matrix.Format)
		}
	}
	ref := stepLogits(t, stories(t, nil).NewSession(SessionOptions{}), prompt)
	got := stepLogits(t, m.NewSession(SessionOptions{}), prompt)
	for i := range ref {
		if d := maxDiff(ref[i], got[i]); d > 0.02 {
			t.Fatalf("position %d: f16 weights move logits by %g", i, d)
		}
	}
}

type fixedFormat quant.Format

func (f fixedFormat) FormatFor(string, []int) quant.Format { return quant.Format(f) }

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.bin")
	os.WriteFile(bad, []byte("not a model at all, just text"), 0o644)
	for name, opts := range map[string]Options{
		bad:                                      {Tokenizer: filepath.Join(models, "tok512.bin")},
		filepath.Join(dir, "missing.gguf"):       {},
		filepath.Join(models, "stories260K.bin"): {}, // no tokenizer
	} {
		if _, err := Open(name, opts); err == nil {
			t.Errorf("Open(%s) gave no error", name)
		} else {
			t.Logf("Open(%s): %v", filepath.Base(name), err)
		}
	}
}

// A prompt longer than keptRows lets its scratch go after the pass, and the
// decode steps after it give the logits token-by-token steps give.
func TestLongPromptThenSteps(t *testing.T) {
	m := stories(t, nil)
	tokens := make([]int, 3*keptRows)
	for i := range tokens {
		tokens[i] = 1 + (i*37)%(m.Vocab-1)
	}
	want := stepLogits(t, m.NewSession(SessionOptions{}), tokens)
	s := m.NewSession(SessionOptions{})
	if _, err := s.Forward(tokens[:2*keptRows]); err != nil {
		t.Fatal(err)
	}
	if s.rows.xn != nil {
		t.Fatalf("a %d-token pass left %d values of scratch", 2*keptRows, len(s.rows.xn))
	}
	got := stepLogits(t, s, tokens[2*keptRows:])
	for i, g := range got {
		if d := maxDiff(g, want[2*keptRows+i]); d > 1e-4 {
			t.Fatalf("step %d after the prompt: logits differ from token-by-token by %g", i, d)
		}
	}
	if n := len(s.rows.xn); n == 0 || n > keptRows*max(m.Dim, m.QDim()) {
		t.Fatalf("decode steps hold %d values of scratch", n)
	}
}
