package llama

import (
	"errors"
	"fmt"

	"github.com/ipfs-accelerate/accel/inference/tokenizer"
)

// NewPartial builds a model like New from the tensors src has, with its
// head and transformer blocks allowed to be absent. The head (the token
// embedding, the output norm and the classifier) is loaded when src has
// its tensors and left absent when it has none of them, for AddHead to
// fill later; each block is loaded when src has its tensors (all of them)
// and left absent otherwise, for AddBlock to fill later. A session runs
// the blocks that were absent when it was created through its
// SessionOptions.Offload hook, and the whole model, when the head was,
// through its SessionOptions.Remote hook.
func NewPartial(c Config, tok *tokenizer.Tokenizer, src TensorSource, opts Options) (*Model, error) {
	return newModel(c, tok, src, opts, true)
}

// HasHead reports whether the token embedding, the output norm and the
// classifier are loaded.
func (m *Model) HasHead() bool { return m.head.Load() }

// AddHead loads the absent head (the token embedding, the output norm and
// the classifier) from src, which must have all of its tensors, in the
// shapes the hyperparameters give, converting them as opts say. The
// classifier is the embedding when src has none and the hyperparameters
// tie them (Config.TiedOutput). It is safe to call while other goroutines
// run sessions: the sessions created afterwards run the head locally,
// those already running keep running the whole model through their
// Remote hook.
func (m *Model) AddHead(src TensorSource, opts Options) error {
	w, _, err := m.loadHead(src, opts, true)
	if err != nil {
		return err
	}
	if w.Output == nil && !m.TiedOutput {
		return errors.New(`llama: checkpoint has no tensor "output.weight", and the hyperparameters do not tie the classifier to the embedding`)
	}
	m.adding.Lock()
	defer m.adding.Unlock()
	if m.head.Load() {
		return errors.New("llama: the embedding and classifier are already loaded")
	}
	m.Embed, m.Norm, m.Output = w.Embed, w.Norm, w.Output
	m.head.Store(true) // publishes them to the sessions that see it
	return nil
}

// HasBlock reports whether block l is loaded.
func (m *Model) HasBlock(l int) bool {
	return l >= 0 && l < len(m.local) && m.local[l].Load()
}

// AddBlock loads absent block l from src (which must have all its tensors,
// in the shapes the hyperparameters give), converting it as opts say. It is
// safe to call while other goroutines run sessions: the sessions created
// afterwards run block l locally, those already running keep offloading it.
func (m *Model) AddBlock(l int, src TensorSource, opts Options) error {
	if l < 0 || l >= m.Layers {
		return fmt.Errorf("llama: block %d is outside [0, %d)", l, m.Layers)
	}
	b, _, err := m.loadBlock(l, src, opts, true)
	if err != nil {
		return err
	}
	m.adding.Lock()
	defer m.adding.Unlock()
	if m.local[l].Load() {
		return fmt.Errorf("llama: block %d is already loaded", l)
	}
	m.Blocks[l] = b
	m.local[l].Store(true) // publishes Blocks[l] to the sessions that see it
	return nil
}

// eachWeight is eachField over the weights outside the blocks, once they
// are loaded, and those of the loaded blocks.
func (m *Model) eachWeight(fn func(t TensorSpec, field any) error) error {
	if m.HasHead() {
		if err := m.eachField(m.Config, fn); err != nil {
			return err
		}
	}
	for i := range m.Blocks {
		if !m.HasBlock(i) {
			continue
		}
		if err := m.Blocks[i].eachField(m.Config, i, fn); err != nil {
			return err
		}
	}
	return nil
}

// RemoveBlock unloads block l, releasing its weights: sessions created
// afterwards offload it. The caller must ensure no session that runs block
// l locally is still in use.
func (m *Model) RemoveBlock(l int) error {
	if l < 0 || l >= m.Layers {
		return fmt.Errorf("llama: block %d is outside [0, %d)", l, m.Layers)
	}
	m.adding.Lock()
	defer m.adding.Unlock()
	if !m.local[l].Load() {
		return fmt.Errorf("llama: block %d is not loaded", l)
	}
	m.local[l].Store(false)
	m.Blocks[l] = Block{}
	return nil
}
