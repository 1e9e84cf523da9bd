package eval

import (
	"path/filepath"
	"testing"

	"github.com/ipfs-accelerate/accel/inference/llama"
	"github.com/ipfs-accelerate/accel/inference/quant"
)

const models = "../../../shared/models"

func open(t *testing.T, prec llama.Precision) *llama.Model {
	t.Helper()
	m, err := llama.Open(filepath.Join(models, "stories260K.bin"), llama.Options{Tokenizer: filepath.Join(models, "tok512.bin"), Precision: prec})
	if err != nil {
		t.Skipf("test model not available: %v", err)
	}
	return m
}

func TestCompare(t *testing.T) {
	ref := open(t, nil)
	sample, err := NewReference(ref, 100, 40, 1)
	if err != nil {
		t.Fatal(err)
	}
	if n := sample.Positions(); n < 100 || n != 40*len(sample.Sequences) {
		t.Fatalf("%d positions in %d sequences", n, len(sample.Sequences))
	}
	self, err := Compare(sample, ref)
	if err != nil {
		t.Fatal(err)
	}
	if self.KL != 0 || self.Top1 != 1 || self.Perplexity < 1 {
		t.Fatalf("the reference against itself: %+v", self)
	}
	q2, err := quant.Preset("q2")
	if err != nil {
		t.Fatal(err)
	}
	q8, err := quant.Preset("q8")
	if err != nil {
		t.Fatal(err)
	}
	s2, err := Compare(sample, open(t, q2))
	if err != nil {
		t.Fatal(err)
	}
	s8, err := Compare(sample, open(t, q8))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("q8 %+v, q2 %+v", s8, s2)
	if !(0 < s8.KL && s8.KL < s2.KL && s8.Top1 > s2.Top1 && s8.Perplexity < s2.Perplexity) {
		t.Fatalf("8-bit should be closer to f32 than 2-bit: q8 %+v, q2 %+v", s8, s2)
	}
}

func TestSameSeedSameText(t *testing.T) {
	m := open(t, nil)
	a, err := NewReference(m, 20, 20, 5)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewReference(m, 20, 20, 5)
	if err != nil {
		t.Fatal(err)
	}
	for i, tok := range a.Sequences[0] {
		if b.Sequences[0][i] != tok {
			t.Fatalf("seeded references differ at %d", i)
		}
	}
}
