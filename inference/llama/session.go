package llama

import "fmt"

// SessionOptions configure a session's KV cache and where its layers run.
type SessionOptions struct {
	// Context is the most positions the session holds (0: the model's
	// context length). It may exceed what the model was trained on, as
	// llama.cpp's -c allows. The cache grows as positions arrive.
	Context  int
	F16Cache bool // store keys and values in float16
	Window   int  // sliding-window attention over the last Window positions (0: whole context)
	// Offload runs the blocks the model lacked when the session was
	// created (see NewPartial): RunLayers calls it for each maximal run
	// [from, to) of them, with the hidden states of positions pos… to
	// transform in place, as RunLayers itself does. Whatever runs them
	// (a peer over the offload protocol, another session) keeps their KV
	// cache, which the session's own cache then leaves out. When it fails,
	// so does RunLayers; running the same positions again (after failing
	// over) replaces what the local layers stored. Nil: a session that
	// meets an absent block fails.
	Offload func(from, to, pos int, h []float32) error
}

// Session is one sequence being processed: its KV cache and scratch space.
// A session is not safe for concurrent use.
type Session struct {
	model   *Model
	kv      *KVCache
	local   []bool // blocks this session runs itself, fixed when it starts
	offload func(from, to, pos int, h []float32) error
	// Pos is the number of positions Forward has processed.
	Pos int

	rows          rows
	final, logits []float32 // normed last hidden state, classifier output
	context       int
}

// Context is the most positions the session holds (unbounded with a sliding
// window).
func (s *Session) Context() int { return s.context }

// NewSession starts an empty sequence. It runs the blocks the model has
// now itself and the others through opts.Offload.
func (m *Model) NewSession(opts SessionOptions) *Session {
	context := m.SeqLen
	if opts.Context > 0 {
		context = opts.Context
	}
	capacity, window := context, false
	if opts.Window > 0 && opts.Window < context {
		capacity, window = opts.Window, true
	}
	local := make([]bool, m.Layers)
	for l := range local {
		local[l] = m.HasBlock(l)
	}
	return &Session{
		model:   m,
		context: context,
		local:   local,
		offload: opts.Offload,
		kv:      newKVCache(local, capacity, m.KVDim(), window, opts.F16Cache),
		final:   make([]float32, m.Dim),
		logits:  make([]float32, m.Vocab),
	}
}

// KVCache exposes the session's cache (for its size).
func (s *Session) KVCache() *KVCache { return s.kv }

// Forward runs tokens through the whole model at positions Pos… and returns
// the logits after the last one (valid until the next call).
func (s *Session) Forward(tokens []int) ([]float32, error) {
	h, err := s.Embed(tokens)
	if err != nil {
		return nil, err
	}
	if err := s.RunLayers(0, s.model.Layers, s.Pos, h); err != nil {
		return nil, err
	}
	s.Pos += len(tokens)
	return s.Logits(h[(len(tokens)-1)*s.model.Dim:]), nil
}

// Embed returns the token embeddings of tokens, len(tokens)×Dim values.
func (s *Session) Embed(tokens []int) ([]float32, error) {
	if len(tokens) == 0 {
		return nil, fmt.Errorf("llama: no tokens")
	}
	dim := s.model.Dim
	h := make([]float32, len(tokens)*dim)
	for t, id := range tokens {
		if id < 0 || id >= s.model.Embed.Rows {
			return nil, fmt.Errorf("llama: token id %d is outside the vocabulary [0, %d)", id, s.model.Embed.Rows)
		}
		s.model.Embed.DequantizeRow(h[t*dim:(t+1)*dim], id)
	}
	return h, nil
}

// RunLayers runs blocks [from, to) on hidden states h (n×Dim values, for the
// n positions pos…pos+n−1), in place. The session's KV cache keeps those
// layers' keys and values, so the next call continues at pos+n. Running
// [0,k) then [k,Layers) gives the same result as [0,Layers) in one call:
// this is the unit of work a peer serves for another. Blocks the session
// does not hold go to its Offload hook.
func (s *Session) RunLayers(from, to, pos int, h []float32) error {
	c := s.model.Config
	if from < 0 || to > c.Layers || from >= to {
		return fmt.Errorf("llama: layer range [%d, %d) is outside [0, %d)", from, to, c.Layers)
	}
	if len(h) == 0 || len(h)%c.Dim != 0 {
		return fmt.Errorf("llama: hidden state of %d values is not a whole number of %d-wide rows", len(h), c.Dim)
	}
	n := len(h) / c.Dim
	if pos < 0 || (!s.kv.Window && pos+n > s.context) {
		return fmt.Errorf("llama: positions [%d, %d) exceed the context length %d", pos, pos+n, s.context)
	}
	if s.offload == nil {
		var absent []int
		for l := from; l < to; l++ {
			if !s.local[l] {
				absent = append(absent, l)
			}
		}
		if len(absent) > 0 {
			return fmt.Errorf("llama: layers %v are not loaded and the session has no Offload hook", absent)
		}
	}
	s.kv.reserve(pos + n)
	r := &s.rows
	r.reset(s.model, h)
	for t := range n {
		r.place(t, s, pos+t)
	}
	for l := from; l < to; {
		end := l + 1
		for end < to && s.local[end] == s.local[l] {
			end++
		}
		if !s.local[l] {
			if err := s.offload(l, end, pos, h); err != nil {
				return fmt.Errorf("llama: offloaded layers [%d, %d): %w", l, end, err)
			}
			l = end
			continue
		}
		for ; l < end; l++ {
			r.layer(s.model, l)
		}
	}
	return nil
}

// Logits applies the final norm and the classifier to one hidden state and
// returns Vocab logits (valid until the next call).
func (s *Session) Logits(h []float32) []float32 {
	m := s.model
	rmsnorm(s.final, h[:m.Dim], m.Norm, m.NormEps)
	m.classifier().MatVec(s.logits, s.final)
	return s.logits
}
