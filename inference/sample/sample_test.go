package sample

import (
	"math"
	"testing"
)

func TestGreedyPicksMax(t *testing.T) {
	s := New(Options{})
	if got := s.Sample([]float32{0.1, 3, -2, 2.9}, nil); got != 1 {
		t.Fatalf("greedy picked %d, want 1", got)
	}
}

func TestSeedIsDeterministic(t *testing.T) {
	logits := func() []float32 { return []float32{1, 1.1, 0.9, 1.05, 0.5, 0.7} }
	draw := func(seed uint64) []int {
		s := New(Options{Temperature: 1, Seed: seed})
		var out []int
		for range 50 {
			out = append(out, s.Sample(logits(), out))
		}
		return out
	}
	a, b, c := draw(7), draw(7), draw(8)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("same seed diverged at %d", i)
		}
	}
	same := true
	for i := range a {
		same = same && a[i] == c[i]
	}
	if same {
		t.Fatal("different seeds gave identical 50-token draws")
	}
}

func TestTopKRestricts(t *testing.T) {
	s := New(Options{Temperature: 5, TopK: 2, Seed: 1})
	for range 200 {
		if id := s.Sample([]float32{0, 5, 4.9, 4.8, 0}, nil); id != 1 && id != 2 {
			t.Fatalf("top-k 2 sampled token %d", id)
		}
	}
}

func TestTopPRestricts(t *testing.T) {
	// Probabilities ≈ 0.64, 0.24, 0.09, 0.03: top-p 0.8 keeps the first two.
	s := New(Options{Temperature: 1, TopP: 0.8, Seed: 3})
	seen := map[int]int{}
	for range 500 {
		seen[s.Sample([]float32{3, 2, 1, 0}, nil)]++
	}
	if seen[2] != 0 || seen[3] != 0 || seen[0] == 0 || seen[1] == 0 {
		t.Fatalf("top-p 0.8 drew %v", seen)
	}
}

func TestTemperatureMatchesSoftmax(t *testing.T) {
	s := New(Options{Temperature: 2, Seed: 11})
	logits := []float32{1, 0}
	n, hits := 20000, 0
	for range n {
		if s.Sample(append([]float32(nil), logits...), nil) == 0 {
			hits++
		}
	}
	want := 1 / (1 + math.Exp(-0.5)) // softmax of (1,0)/2
	if got := float64(hits) / float64(n); math.Abs(got-want) > 0.015 {
		t.Fatalf("P(token 0) = %.3f, want %.3f", got, want)
	}
}

func TestPenalties(t *testing.T) {
	s := New(Options{RepetitionPenalty: 2, PresencePenalty: 0.5, FrequencyPenalty: 0.25})
	logits := []float32{4, -1, 3.9}
	got := s.Sample(logits, []int{0, 0, 1})
	// token 0: 4/2 − 0.5 − 2×0.25 = 1; token 1: −1×2 − 0.5 − 0.25 = −2.75; token 2 untouched.
	if got != 2 || logits[0] != 1 || logits[1] != -2.75 || logits[2] != 3.9 {
		t.Fatalf("penalized logits %v, picked %d", logits, got)
	}
}

func TestPenaltyWindow(t *testing.T) {
	s := New(Options{PresencePenalty: 10, PenaltyWindow: 2})
	logits := []float32{5, 4, 0}
	if got := s.Sample(logits, []int{0, 2, 2}); got != 0 {
		t.Fatalf("token outside the window was penalized: %v", logits)
	}
}
