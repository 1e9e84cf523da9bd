// Package eval measures how far a quantized model's next-token distributions
// are from the float32 model's, on text the float32 model wrote itself.
package eval

import (
	"fmt"
	"math"

	"github.com/ipfs-accelerate/accel/inference/llama"
	"github.com/ipfs-accelerate/accel/inference/sample"
)

// Reference is text sampled from the float32 model, with that model's
// next-token log-probabilities at every position.
type Reference struct {
	Sequences [][]int       // each starts with BOS
	LogProbs  [][][]float32 // [sequence][position] → log-probabilities over the vocabulary
}

// Positions is the number of predicted positions.
func (r *Reference) Positions() int {
	n := 0
	for _, s := range r.LogProbs {
		n += len(s)
	}
	return n
}

// NewReference samples sequences of seqLen tokens (temperature 1, seeded)
// from m until at least positions next-token predictions are covered, then
// scores them with m.
func NewReference(m *llama.Model, positions, seqLen int, seed uint64) (*Reference, error) {
	seqLen = min(seqLen, m.SeqLen)
	ref := &Reference{}
	sampler := sample.New(sample.Options{Temperature: 1, Seed: seed})
	for covered := 0; covered < positions; {
		seq := []int{m.Tokenizer.BOS()}
		sess := m.NewSession(llama.SessionOptions{})
		for len(seq) < seqLen+1 {
			logits, err := sess.Forward(seq[len(seq)-1:])
			if err != nil {
				return nil, err
			}
			seq = append(seq, sampler.Sample(logits, seq))
		}
		lp, err := logProbs(m, seq)
		if err != nil {
			return nil, err
		}
		ref.Sequences = append(ref.Sequences, seq)
		ref.LogProbs = append(ref.LogProbs, lp)
		covered += len(lp)
	}
	return ref, nil
}

// logProbs runs seq through m in one batch and returns the log-softmax of
// the logits after each token but the last.
func logProbs(m *llama.Model, seq []int) ([][]float32, error) {
	sess := m.NewSession(llama.SessionOptions{})
	input := seq[:len(seq)-1]
	h, err := sess.Embed(input)
	if err != nil {
		return nil, err
	}
	if err := sess.RunLayers(0, m.Layers, 0, h); err != nil {
		return nil, err
	}
	out := make([][]float32, len(input))
	for t := range input {
		out[t] = logSoftmax(sess.Logits(h[t*m.Dim : (t+1)*m.Dim]))
	}
	return out, nil
}

func logSoftmax(logits []float32) []float32 {
	top := logits[0]
	for _, v := range logits {
		top = max(top, v)
	}
	var sum float64
	for _, v := range logits {
		sum += math.Exp(float64(v - top))
	}
	lse := float64(top) + math.Log(sum)
	out := make([]float32, len(logits))
	for i, v := range logits {
		out[i] = float32(float64(v) - lse)
	}
	return out
}

// Score compares a model with the reference.
type Score struct {
	Positions  int
	KL         float64 // mean KL(P_f32 ‖ P_model) in nats
	Top1       float64 // fraction of positions where both models' most likely token agree
	Perplexity float64 // of the sampled text under the model
}

// Compare scores m on the reference text.
func Compare(ref *Reference, m *llama.Model) (Score, error) {
	var s Score
	var kl, nll float64
	agree := 0
	for i, seq := range ref.Sequences {
		lp, err := logProbs(m, seq)
		if err != nil {
			return s, err
		}
		for t, q := range lp {
			p := ref.LogProbs[i][t]
			if len(p) != len(q) {
				return s, fmt.Errorf("eval: vocabulary sizes differ (%d vs %d)", len(p), len(q))
			}
			for v := range p {
				kl += math.Exp(float64(p[v])) * float64(p[v]-q[v])
			}
			if sample.Argmax(p) == sample.Argmax(q) {
				agree++
			}
			nll -= float64(q[seq[t+1]])
			s.Positions++
		}
	}
	n := float64(s.Positions)
	s.KL, s.Top1, s.Perplexity = kl/n, float64(agree)/n, math.Exp(nll/n)
	return s, nil
}
