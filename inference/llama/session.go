package llama

import (
	"errors"
	"fmt"
)

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
	// Remote runs the whole model (the embedding, every block, the final
	// norm and the classifier) for a session created while the model
	// lacked its head (see NewPartial): Forward calls it with the tokens
	// of positions pos…pos+len(tokens)−1, and it writes the logits after
	// the last one (Vocab values) into logits. Whatever runs them (a peer
	// over the offload protocol, another session) keeps their KV cache;
	// the session holds none. When it fails, so does Forward, and Pos
	// stays where it was. Nil: such a session fails.
	Remote func(pos int, tokens []int, logits []float32) error
	// Accelerator, when set, runs the local blocks it takes (see
	// Accelerator) and, when a run of them ends the model, the final norm
	// and the classifier. The session's own cache leaves those blocks out.
	// A session with a sliding window runs every local block itself: an
	// accelerator attends over the whole context.
	Accelerator Accelerator
	// Layers, when not zero, are the layers [Layers[0], Layers[1]) the
	// session runs: its KV cache holds those alone, and a Forward or a
	// RunLayers outside them fails (a server running a peer's layer range
	// holds no more than that range).
	Layers [2]int
}

// Accelerator runs maximal runs of a session's local blocks on a device
// that holds their weights (a GPU), keeping their KV cache itself (in its
// own precision: F16Cache is the session's), and the final norm and
// classifier after the last block. It serves one session at a time: a
// session made with it takes its cache over, overwriting the positions it
// runs.
type Accelerator interface {
	// Takes reports whether it runs block l. A session asks once per
	// local block, as it starts.
	Takes(l int) bool
	// Run runs blocks [from, to), all taken, on the hidden states h of
	// positions pos…pos+n−1 (n×Dim values), keeping their keys and
	// values, as RunLayers does. With logits nil it transforms h in place;
	// otherwise (to is the model's last block) it writes the logits of
	// position pos+n−1 (Vocab values) into logits instead, and h is left
	// undefined.
	Run(from, to, pos int, h, logits []float32) error
}

// placement is where a session runs a block.
type placement uint8

const (
	onCPU         placement = iota // the session's own code and cache
	onPeer                         // the Offload hook (the block was absent)
	onAccelerator                  // the Accelerator
)

// Session is one sequence being processed: its KV cache and scratch space.
// A session is not safe for concurrent use.
type Session struct {
	model   *Model
	kv      *KVCache
	places  []placement // where each block runs, fixed when the session starts
	offload func(from, to, pos int, h []float32) error
	accel   Accelerator
	whole   bool   // the model lacked its head when the session started: remote runs everything
	runs    [2]int // the layers it may run
	remote  func(pos int, tokens []int, logits []float32) error
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
// now itself, or on opts.Accelerator where that takes them, and the others
// through opts.Offload; while the model lacks its head, it runs the whole
// model through opts.Remote instead.
func (m *Model) NewSession(opts SessionOptions) *Session {
	context := m.SeqLen
	if opts.Context > 0 {
		context = opts.Context
	}
	capacity, window := context, false
	if opts.Window > 0 && opts.Window < context {
		capacity, window = opts.Window, true
	}
	accel := opts.Accelerator
	if window {
		accel = nil
	}
	whole := !m.HasHead()
	runs := [2]int{0, m.Layers}
	if opts.Layers != ([2]int{}) {
		runs = [2]int{max(opts.Layers[0], 0), min(opts.Layers[1], m.Layers)}
	}
	places, held := make([]placement, m.Layers), make([]bool, m.Layers)
	for l := range places {
		switch {
		case whole || !m.HasBlock(l):
			places[l] = onPeer
		case accel != nil && accel.Takes(l):
			places[l] = onAccelerator
		default:
			held[l] = l >= runs[0] && l < runs[1]
		}
	}
	return &Session{
		model:   m,
		context: context,
		places:  places,
		offload: opts.Offload,
		accel:   accel,
		whole:   whole,
		remote:  opts.Remote,
		runs:    runs,
		kv:      newKVCache(held, capacity, m.KVDim(), window, opts.F16Cache),
		final:   make([]float32, m.Dim),
		logits:  make([]float32, m.Vocab),
	}
}

// KVCache exposes the session's cache (for its size).
func (s *Session) KVCache() *KVCache { return s.kv }

// Forward runs tokens through the whole model at positions Pos… and returns
// the logits after the last one (valid until the next call).
func (s *Session) Forward(tokens []int) ([]float32, error) {
	if s.whole {
		return s.forwardRemote(tokens)
	}
	h, err := s.Embed(tokens)
	if err != nil {
		return nil, err
	}
	done, err := s.runLayers(0, s.model.Layers, s.Pos, h, s.logits)
	if err != nil {
		return nil, err
	}
	s.Pos += len(tokens)
	if done {
		return s.logits, nil
	}
	return s.Logits(h[(len(tokens)-1)*s.model.Dim:]), nil
}

// errWhole is what a session that runs the whole model remotely answers
// to a call for part of it.
var errWhole = errors.New("llama: the session runs the whole model remotely: its model had no embedding and classifier when it started")

// forwardRemote is Forward through the Remote hook.
func (s *Session) forwardRemote(tokens []int) ([]float32, error) {
	if s.remote == nil {
		return nil, errors.New("llama: the model has no embedding and classifier yet and the session has no Remote hook")
	}
	if err := s.checkTokens(tokens); err != nil {
		return nil, err
	}
	if err := s.checkPositions(s.Pos, len(tokens)); err != nil {
		return nil, err
	}
	if err := s.remote(s.Pos, tokens, s.logits); err != nil {
		return nil, fmt.Errorf("llama: remote model: %w", err)
	}
	s.Pos += len(tokens)
	return s.logits, nil
}

// Embed returns the token embeddings of tokens, len(tokens)×Dim values.
func (s *Session) Embed(tokens []int) ([]float32, error) {
	if s.whole {
		return nil, errWhole
	}
	if err := s.checkTokens(tokens); err != nil {
		return nil, err
	}
	dim := s.model.Dim
	h := make([]float32, len(tokens)*dim)
	for t, id := range tokens {
		s.model.Embed.DequantizeRow(h[t*dim:(t+1)*dim], id)
	}
	return h, nil
}

// checkTokens checks that there are tokens, all in the vocabulary.
func (s *Session) checkTokens(tokens []int) error {
	if len(tokens) == 0 {
		return errors.New("llama: no tokens")
	}
	for _, id := range tokens {
		if id < 0 || id >= s.model.Vocab {
			return fmt.Errorf("llama: token id %d is outside the vocabulary [0, %d)", id, s.model.Vocab)
		}
	}
	return nil
}

// checkPositions checks that the n positions pos… fit the context.
func (s *Session) checkPositions(pos, n int) error {
	if pos < 0 || (!s.kv.Window && pos+n > s.context) {
		return fmt.Errorf("llama: positions [%d, %d) exceed the context length %d", pos, pos+n, s.context)
	}
	return nil
}

// RunLayers runs blocks [from, to) on hidden states h (n×Dim values, for the
// n positions pos…pos+n−1), in place. The session's KV cache keeps those
// layers' keys and values, so the next call continues at pos+n. Running
// [0,k) then [k,Layers) gives the same result as [0,Layers) in one call:
// this is the unit of work a peer serves for another. Blocks the session
// does not hold go to its Offload hook, those its Accelerator takes to it.
// A session that runs the whole model remotely runs no blocks itself.
func (s *Session) RunLayers(from, to, pos int, h []float32) error {
	_, err := s.runLayers(from, to, pos, h, nil)
	return err
}

// keptRows is the most rows of scratch a session keeps between passes.
const keptRows = 16

// runLayers is RunLayers. When logits is not nil, only the last
// position's output is wanted: if the last run of blocks goes to the
// Accelerator and ends the model, the accelerator writes that position's
// logits into logits instead of the hidden states into h, and runLayers
// reports true; if the model's last block runs here, it carries the last
// row alone and the other rows of h keep their states from before it.
func (s *Session) runLayers(from, to, pos int, h, logits []float32) (bool, error) {
	if s.whole {
		return false, errWhole
	}
	c := s.model.Config
	if from < s.runs[0] || to > s.runs[1] || from >= to {
		return false, fmt.Errorf("llama: layer range [%d, %d) is outside the session's [%d, %d)", from, to, s.runs[0], s.runs[1])
	}
	if len(h) == 0 || len(h)%c.Dim != 0 {
		return false, fmt.Errorf("llama: hidden state of %d values is not a whole number of %d-wide rows", len(h), c.Dim)
	}
	n := len(h) / c.Dim
	if err := s.checkPositions(pos, n); err != nil {
		return false, err
	}
	if s.offload == nil {
		var absent []int
		for l := from; l < to; l++ {
			if s.places[l] == onPeer {
				absent = append(absent, l)
			}
		}
		if len(absent) > 0 {
			return false, fmt.Errorf("llama: layers %v are not loaded and the session has no Offload hook", absent)
		}
	}
	s.kv.reserve(pos + n)
	r := &s.rows
	if n > keptRows {
		// A prompt's scratch (n rows as wide as the widest layer) goes
		// with the pass: decode steps take one row, and a server holds
		// many sessions.
		defer func() { s.rows = rows{} }()
	}
	r.reset(s.model, h)
	for t := range n {
		r.place(t, s, pos+t)
	}
	for l := from; l < to; {
		end := l + 1
		for end < to && s.places[end] == s.places[l] {
			end++
		}
		switch s.places[l] {
		case onPeer:
			if err := s.offload(l, end, pos, h); err != nil {
				return false, fmt.Errorf("llama: offloaded layers [%d, %d): %w", l, end, err)
			}
		case onAccelerator:
			out := logits
			if end != c.Layers {
				out = nil
			}
			if err := s.accel.Run(l, end, pos, h, out); err != nil {
				return false, fmt.Errorf("llama: accelerated layers [%d, %d): %w", l, end, err)
			}
			if out != nil {
				return true, nil
			}
		default:
			for i := l; i < end; i++ {
				first := 0
				if logits != nil && i == c.Layers-1 {
					first = n - 1
				}
				r.layer(s.model, i, first)
			}
		}
		l = end
	}
	return false, nil
}

// Logits applies the final norm and the classifier to one hidden state and
// returns Vocab logits (valid until the next call). A session that runs
// the whole model remotely (see SessionOptions.Remote) has neither: there
// it panics.
func (s *Session) Logits(h []float32) []float32 {
	if s.whole {
		panic(errWhole)
	}
	m := s.model
	rmsnorm(s.final, h[:m.Dim], m.Norm, m.NormEps)
	m.classifier().MatVec(s.logits, s.final)
	return s.logits
}
