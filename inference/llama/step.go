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
	var all []int
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
		all = append(all, tokens[i]...)
	}
	h, err := sessions[0].Embed(all)
	if err != nil {
		return nil, err
	}
	n, dim := len(sessions), m.Dim
	r := &st.rows
	if len(all) > keptRows {
		defer func() { st.rows = rows{} }() // a prompt's scratch goes with the pass
	}
	r.reset(m, h)
	row := 0
	last := make([]int, n) // each session's last row
	for i, s := range sessions {
		s.kv.reserve(s.Pos + len(tokens[i]))
		for j := range tokens[i] {
			r.place(row, s, s.Pos+j)
			row++
		}
		last[i] = row - 1
	}
	for l := range m.Layers {
		r.layer(m, l)
	}
	if len(st.final) < n*dim {
		st.final = make([]float32, n*dim)
		st.logits = make([]float32, n*m.Vocab)
	}
	for i, t := range last {
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
