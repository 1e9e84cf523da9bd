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
			got, err := st.Forward(shared, singles(tokens))
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

// TestStepTakesPrompts runs prompts of different lengths in the steps of
// sequences decoding, as a server admits new requests, and checks every
// sequence's logits and position against the same sequence run alone, bit
// for bit: the first step holds three prompts and a decode token, the next
// a prompt longer than the rows a step keeps and three decode tokens.
func TestStepTakesPrompts(t *testing.T) {
	m := stories(t, fixedFormat(quant.FormatF32))
	alone, shared := make([]*Session, 4), make([]*Session, 4)
	for i := range alone {
		alone[i], shared[i] = m.NewSession(SessionOptions{}), m.NewSession(SessionOptions{})
	}
	for _, s := range []*Session{alone[0], shared[0]} {
		if _, err := s.Forward(prompt[:4]); err != nil {
			t.Fatal(err)
		}
	}
	long := slices.Repeat(prompt, 3)
	var st Step
	for step, tokens := range [][][]int{
		{{prompt[4]}, prompt, prompt[2:5]},
		{{prompt[5]}, {prompt[1]}, {prompt[2]}, long},
	} {
		// The last sequence starts in the second step.
		sessions, lists := shared, tokens
		if step == 0 {
			sessions = shared[:3]
		}
		got, err := st.Forward(sessions, lists)
		if err != nil {
			t.Fatal(err)
		}
		for i := range sessions {
			want, err := alone[i].Forward(lists[i])
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got[i], want) {
				t.Fatalf("step %d, sequence %d (%d tokens): logits differ from its own by %g", step, i, len(lists[i]), maxDiff(got[i], want))
			}
			if shared[i].Pos != alone[i].Pos {
				t.Fatalf("step %d, sequence %d: position %d, want %d", step, i, shared[i].Pos, alone[i].Pos)
			}
		}
	}
	if _, err := st.Forward(shared[:1], [][]int{{}}); err == nil {
		t.Error("a step took a session with no tokens")
	}
}

// singles is one list per token.
func singles(tokens []int) [][]int {
	out := make([][]int, len(tokens))
	for i, tok := range tokens {
		out[i] = []int{tok}
	}
	return out
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
