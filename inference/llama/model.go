package llama

import (
	"sync"
	"sync/atomic"

	"github.com/ipfs-accelerate/accel/inference/quant"
	"github.com/ipfs-accelerate/accel/inference/tokenizer"
)

// Model is a loaded Llama: hyperparameters, weights and vocabulary.
// A Model may serve many sessions at once. It is read-only after loading,
// except that AddBlock and AddHead may fill what a partial model lacks (see
// NewPartial) while sessions run.
type Model struct {
	Config
	Weights
	Tokenizer *tokenizer.Tokenizer

	head   atomic.Bool   // the embedding, output norm and classifier are loaded; set once, after them
	local  []atomic.Bool // block l is loaded; set once, after Blocks[l]
	adding sync.Mutex    // serializes AddBlock, RemoveBlock and AddHead
	closer func() error  // releases mapped files
}

// classifier is the output projection (the embedding when tied), once the
// head is loaded.
func (m *Model) classifier() *quant.Matrix {
	if m.Output != nil {
		return m.Output
	}
	return m.Embed
}

// Close releases the checkpoint file behind the weights. The model must not
// be used afterwards.
func (m *Model) Close() error {
	if m.closer == nil {
		return nil
	}
	return m.closer()
}

// WeightBytes is what one decode step streams locally: every local layer
// and, once loaded, the norms and the classifier. The embedding table
// counts only as the classifier when tied, since a lookup reads a single
// row.
func (m *Model) WeightBytes() int {
	n := 0
	var embed, output *quant.Matrix
	if m.HasHead() {
		embed, output = m.Embed, m.Output
		n += m.classifier().Size()
	}
	m.eachWeight(func(_ TensorSpec, field any) error {
		switch f := field.(type) {
		case *[]float32:
			n += 4 * len(*f)
		case **quant.Matrix:
			if *f != nil && *f != embed && *f != output {
				n += (*f).Size()
			}
		}
		return nil
	})
	return n
}

// HeldBytes is the memory the local weights take as held: every tensor,
// the embedding table and the classifier included (once when tied).
func (m *Model) HeldBytes() int {
	n := 0
	seen := map[*quant.Matrix]bool{}
	m.eachWeight(func(_ TensorSpec, field any) error {
		switch f := field.(type) {
		case *[]float32:
			n += 4 * len(*f)
		case **quant.Matrix:
			if *f != nil && !seen[*f] {
				seen[*f] = true
				n += (*f).Size()
			}
		}
		return nil
	})
	return n
}

// Matrices lists every weight matrix (of the local blocks) with its tensor
// name, in checkpoint order.
func (m *Model) Matrices() []NamedMatrix {
	var out []NamedMatrix
	m.eachWeight(func(t TensorSpec, field any) error {
		if w, ok := field.(**quant.Matrix); ok && *w != nil {
			out = append(out, NamedMatrix{t.Name, *w})
		}
		return nil
	})
	return out
}

// NamedMatrix is a weight matrix and its GGUF tensor name.
type NamedMatrix struct {
	Name   string
	Matrix *quant.Matrix
}

// Size is the stored size of every weight of the local blocks and the
// rest (norms included, a tied embedding once) and the number of weights.
func (m *Model) Size() (bytes, params int) {
	m.eachWeight(func(_ TensorSpec, field any) error {
		switch f := field.(type) {
		case *[]float32:
			bytes, params = bytes+4*len(*f), params+len(*f)
		case **quant.Matrix:
			if *f != nil {
				bytes, params = bytes+(*f).Size(), params+(*f).Rows*(*f).Cols
			}
		}
		return nil
	})
	return bytes, params
}
