// Package sample picks the next token from logits: greedy, or random with
// temperature, top-k and top-p, after repetition, presence and frequency
// penalties. Sampling is deterministic for a given seed.
package sample

import (
	"math"
	"math/rand/v2"
	"slices"
)

// Options configure a Sampler. The zero value is greedy decoding.
type Options struct {
	Temperature float32 // 0 picks the most likely token
	TopK        int     // keep the K most likely tokens (0: all)
	TopP        float32 // keep the smallest set whose probability reaches P (0 or 1: all)

	RepetitionPenalty float32 // divide positive (multiply negative) logits of recent tokens (0 or 1: off)
	PresencePenalty   float32 // subtract from logits of tokens seen recently
	FrequencyPenalty  float32 // subtract per occurrence in the recent tokens
	PenaltyWindow     int     // how many recent tokens the penalties look at (0: 64)

	Seed uint64
}

// Sampler draws tokens; it is not safe for concurrent use.
type Sampler struct {
	opts  Options
	rng   *rand.Rand
	probs []candidate
	count map[int]int
}

type candidate struct {
	id int
	p  float32
}

// New returns a sampler seeded with opts.Seed.
func New(opts Options) *Sampler {
	if opts.PenaltyWindow <= 0 {
		opts.PenaltyWindow = 64
	}
	return &Sampler{opts: opts, rng: rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15)), count: map[int]int{}}
}

// Sample returns the next token id given the logits (modified in place by
// the penalties) and the tokens so far.
func (s *Sampler) Sample(logits []float32, history []int) int {
	s.penalize(logits, history)
	if s.opts.Temperature <= 0 {
		return Argmax(logits)
	}
	c := s.probs[:0]
	for id, l := range logits {
		c = append(c, candidate{id, l})
	}
	slices.SortStableFunc(c, func(a, b candidate) int {
		switch {
		case a.p > b.p:
			return -1
		case a.p < b.p:
			return 1
		}
		return 0
	})
	if k := s.opts.TopK; k > 0 && k < len(c) {
		c = c[:k]
	}
	// Softmax with temperature over the sorted candidates.
	top := c[0].p
	var sum float64
	for i := range c {
		c[i].p = float32(math.Exp(float64((c[i].p - top) / s.opts.Temperature)))
		sum += float64(c[i].p)
	}
	if p := s.opts.TopP; p > 0 && p < 1 {
		var cum float64
		for i := range c {
			cum += float64(c[i].p) / sum
			if cum >= float64(p) {
				c = c[:i+1]
				sum = 0
				for _, x := range c {
					sum += float64(x.p)
				}
				break
			}
		}
	}
	s.probs = c
	r := s.rng.Float64() * sum
	for _, x := range c {
		r -= float64(x.p)
		if r < 0 {
			return x.id
		}
	}
	return c[len(c)-1].id
}

// penalize applies the repetition, presence and frequency penalties for the
// tokens in the penalty window.
func (s *Sampler) penalize(logits []float32, history []int) {
	o := s.opts
	if (o.RepetitionPenalty == 0 || o.RepetitionPenalty == 1) && o.PresencePenalty == 0 && o.FrequencyPenalty == 0 {
		return
	}
	clear(s.count)
	for _, id := range history[max(0, len(history)-o.PenaltyWindow):] {
		if id >= 0 && id < len(logits) {
			s.count[id]++
		}
	}
	for id, n := range s.count {
		l := logits[id]
		if o.RepetitionPenalty > 0 && o.RepetitionPenalty != 1 {
			if l > 0 {
				l /= o.RepetitionPenalty
			} else {
				l *= o.RepetitionPenalty
			}
		}
		logits[id] = l - o.PresencePenalty - float32(n)*o.FrequencyPenalty
	}
}

// Argmax returns the index of the largest value (the first, on ties).
func Argmax(x []float32) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}
