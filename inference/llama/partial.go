package llama

import (
	"fmt"

	"github.com/ipfs-accelerate/accel/inference/tokenizer"
)

// NewPartial builds a model like New from the tensors src has, with
// transformer blocks allowed to be absent: the token embedding, the output
// norm and the classifier must be there; each block is loaded when src has
// its tensors (all of them) and left absent otherwise, for AddBlock to fill
// later. A session runs the blocks that were absent when it was created
// through its SessionOptions.Offload hook.
func NewPartial(c Config, tok *tokenizer.Tokenizer, src TensorSource, opts Options) (*Model, error) {
	return newModel(c, tok, src, opts, false)
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

// eachWeight is eachField over the weights outside the blocks and those of
// the loaded blocks.
func (m *Model) eachWeight(fn func(t TensorSpec, field any) error) error {
	if err := m.eachField(m.Config, fn); err != nil {
		return err
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
