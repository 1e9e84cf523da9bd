package llama

import (
	"fmt"

	"github.com/ipfs-accelerate/accel/inference/quant"
)

// Step runs one decode step of several sequences as one pass: their
// vectors go through each matrix product together, so the weights are read
// once for all of them, while each attends over its own KV cache. Each
// sequence's logits are the ones its own Forward would give, bit for bit:
// the kernels compute every vector of a batch on its own.
type Step struct {
	rows   rows
	final  []float32 // normed hidden states, n × Dim
	logits []float32 // classifier output, n × Vocab
	batch  quant.Batch
}

// Forward runs token tokens[i] through sessions[i] at its position Pos, for
// every i, and advances each Pos by one. The sessions share a model and run
// all its layers themselves (see Session.Local). Each session's logits are
// returned in its own buffer, valid until its next call.
func (st *Step) Forward(sessions []*Session, tokens []int) ([][]float32, error) {
	if len(sessions) == 0 || len(sessions) != len(tokens) {
		return nil, fmt.Errorf("llama: a step of %d sessions and %d tokens", len(sessions), len(tokens))
	}
	m := sessions[0].model
	for _, s := range sessions {
		if s.model != m || !s.Local() {
			return nil, fmt.Errorf("llama: a step's sessions must share a model and hold all its layers")
		}
		if !s.kv.Window && s.Pos >= s.context {
			return nil, fmt.Errorf("llama: position %d exceeds the context length %d", s.Pos, s.context)
		}
	}
	h, err := sessions[0].Embed(tokens)
	if err != nil {
		return nil, err
	}
	n, dim := len(sessions), m.Dim
	r := &st.rows
	r.reset(m, h)
	for t, s := range sessions {
		s.kv.reserve(s.Pos + 1)
		r.place(t, s, s.Pos)
	}
	for l := range m.Layers {
		r.layer(m, l)
	}
	if len(st.final) < n*dim {
		st.final = make([]float32, n*dim)
		st.logits = make([]float32, n*m.Vocab)
	}
	for t := range n {
		rmsnorm(st.final[t*dim:(t+1)*dim], h[t*dim:(t+1)*dim], m.Norm, m.NormEps)
	}
	st.batch.Reset(st.final[:n*dim], n, dim)
	m.classifier().MatMul(st.logits, &st.batch)
	out := make([][]float32, n)
	for t, s := range sessions {
		s.Pos++
		copy(s.logits, st.logits[t*m.Vocab:(t+1)*m.Vocab])
		out[t] = s.logits
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
