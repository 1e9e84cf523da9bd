package llama

import (
	"fmt"

	"github.com/ipfs-accelerate/accel/inference/quant"
)

// Step runs one pass of several sequences: the next token of those
// decoding and the prompts of those starting, their vectors through each
// matrix product together, so the weights are read once for all of them,
// while each attends over its own KV cache. Each sequence's logits are the
// ones its own Forward would give, bit for bit: the kernels compute every
// vector of a batch on its own.
type Step struct {
	rows   rows
	final  []float32 // normed hidden states, n × Dim
	logits []float32 // classifier output, n × Vocab
	batch  quant.Batch
}

// Forward runs tokens[i] (one token, or a prompt's) through sessions[i]
// from its position Pos, for every i, and advances each Pos by its tokens.
// The sessions share a model and run all its layers themselves (see
// Session.Local). Each session's logits, of its last token, are returned
// in its own buffer, valid until its next call.
func (st *Step) Forward(sessions []*Session, tokens [][]int) ([][]float32, error) {
	if len(sessions) == 0 || len(sessions) != len(tokens) {
		return nil, fmt.Errorf("llama: a step of %d sessions and %d token lists", len(sessions), len(tokens))
	}
	m := sessions[0].model
	for i, s := range sessions {
		if s.model != m || !s.Local() {
			return nil, fmt.Errorf("llama: a step's sessions must share a model and hold all its layers")
		}
		if len(tokens[i]) == 0 {
			return nil, fmt.Errorf("llama: a step's session %d has no tokens", i)
		}
		if err := s.checkPositions(s.Pos, len(tokens[i])); err != nil {
			return nil, err
		}
	}
	// The rows: every session's tokens but its last, then the last tokens,
	// one a session, which alone go through the model's last block.
	n, dim := len(sessions), m.Dim
	var all []int
	for _, list := range tokens {
		all = append(all, list[:len(list)-1]...)
	}
	first := len(all)
	for _, list := range tokens {
		all = append(all, list[len(list)-1])
	}
	h, err := sessions[0].Embed(all)
	if err != nil {
		return nil, err
	}
	r := &st.rows
	if len(all) > keptRows {
		defer func() { st.rows = rows{} }() // a prompt's scratch goes with the pass
	}
	r.reset(m, h)
	row := 0
	for i, s := range sessions {
		last := len(tokens[i]) - 1
		s.kv.reserve(s.Pos + last + 1)
		for j := range last {
			r.place(row, s, s.Pos+j)
			row++
		}
		r.place(first+i, s, s.Pos+last)
	}
	for l := range m.Layers {
		from := 0
		if l == m.Layers-1 {
			from = first
		}
		r.layer(m, l, from)
	}
	if len(st.final) < n*dim {
		st.final = make([]float32, n*dim)
		st.logits = make([]float32, n*m.Vocab)
	}
	for i := range n {
		t := first + i
		rmsnorm(st.final[i*dim:(i+1)*dim], h[t*dim:(t+1)*dim], m.Norm, m.NormEps)
	}
	st.batch.Reset(st.final[:n*dim], n, dim)
	m.classifier().MatMul(st.logits, &st.batch)
	out := make([][]float32, n)
	for i, s := range sessions {
		s.Pos += len(tokens[i])
		copy(s.logits, st.logits[i*m.Vocab:(i+1)*m.Vocab])
		out[i] = s.logits
	}
	return out, nil
}

// Local reports whether the session runs every layer itself, none on a
// peer or an Accelerator.
func (s *Session) Local() bool {
	for _, p := range s.places {
		if p != onCPU {
			return false
		}
	}
	return true
}
