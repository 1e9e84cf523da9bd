package llama

import (
	"slices"
	"testing"

	"github.com/ipfs-accelerate/accel/inference/quant"
)

// TestStepMatchesForward decodes four sequences of different lengths in
// shared steps and checks every step's logits against each sequence run
// alone, bit for bit, in float32 and float16.
func TestStepMatchesForward(t *testing.T) {
	for _, f := range []quant.Format{quant.FormatF32, quant.FormatF16} {
		m := stories(t, fixedFormat(f))
		prompts := [][]int{prompt, prompt[:3], prompt[5:], prompt[:1]}
		alone := make([]*Session, len(prompts))
		shared := make([]*Session, len(prompts))
		for i, p := range prompts {
			alone[i], shared[i] = m.NewSession(SessionOptions{}), m.NewSession(SessionOptions{})
			for _, s := range []*Session{alone[i], shared[i]} {
				if _, err := s.Forward(p); err != nil {
					t.Fatal(err)
				}
			}
		}
		var st Step
		for step := range 6 {
			tokens := make([]int, len(prompts))
			for i := range tokens {
				tokens[i] = prompt[(i+step)%len(prompt)]
			}
			got, err := st.Forward(shared, tokens)
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range alone {
				want, err := s.Forward(tokens[i : i+1])
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got[i], want) {
					t.Fatalf("%v: step %d, sequence %d: batched logits differ from its own by %g", f, step, i, maxDiff(got[i], want))
				}
				if shared[i].Pos != s.Pos {
					t.Fatalf("position %d, want %d", shared[i].Pos, s.Pos)
				}
			}
		}
	}
}

// TestInterleaved: the order a prompt's attention is shared out in takes
// every position once, first with last.
func TestInterleaved(t *testing.T) {
	if got := []int{interleaved(0, 5), interleaved(1, 5), interleaved(2, 5), interleaved(3, 5), interleaved(4, 5)}; !slices.Equal(got, []int{0, 4, 1, 3, 2}) {
		t.Errorf("order of 5: %v, want [0 4 1 3 2]", got)
	}
	for n := 1; n <= 33; n++ {
		seen := make([]bool, n)
		for j := range n {
			i := interleaved(j, n)
			if i < 0 || i >= n || seen[i] {
				t.Fatalf("n=%d: j=%d gives row %d, out of range or seen before", n, j, i)
			}
			seen[i] = true
		}
	}
}
