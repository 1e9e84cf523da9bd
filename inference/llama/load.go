package llama

import (
	"bytes"
	"fmt"
	"os"
	"sync/atomic"

	"github.com/ipfs-accelerate/accel/inference/gguf"
	"github.com/ipfs-accelerate/accel/inference/llama2c"
	"github.com/ipfs-accelerate/accel/inference/mmap"
	"github.com/ipfs-accelerate/accel/inference/quant"
	"github.com/ipfs-accelerate/accel/inference/tokenizer"
)

// Options control loading.
type Options struct {
	// Tokenizer is the llama2.c tokenizer file; GGUF files carry their own.
	Tokenizer string
	// Precision converts weight matrices on load; nil keeps the file's.
	Precision Precision
	// Quantize sets how converted matrices are quantized.
	Quantize quant.Options
}

// Open loads a GGUF file or a llama2.c checkpoint, telling them apart by
// the GGUF magic. GGUF tensors are memory-mapped and used in place where
// their format runs natively (F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K,
// Q6_K), but for the matrices quant.Pack packs for the kernels; other GGML
// types are dequantized to float32.
func Open(path string, opts Options) (*Model, error) {
	head := make([]byte, 4)
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("llama: %w", err)
	}
	_, err = f.Read(head)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("llama: reading %s: %w", path, err)
	}
	if bytes.Equal(head, []byte("GGUF")) {
		g, err := gguf.Open(path)
		if err != nil {
			return nil, err
		}
		m, err := FromGGUF(g, opts)
		if err != nil {
			g.Close()
			return nil, fmt.Errorf("%w (in %s)", err, path)
		}
		m.closer = g.Close
		// The tensors converted or packed on load are not read again:
		// their pages leave the resident set (the file keeps them).
		var keep [][]byte
		for _, nm := range m.Matrices() {
			keep = append(keep, nm.Matrix.Data)
		}
		if err := mmap.EvictExcept(g.Mapped(), keep); err != nil {
			m.Close()
			return nil, fmt.Errorf("llama: %s: %w", path, err)
		}
		return m, nil
	}
	ck, err := llama2c.Open(path)
	if err != nil {
		return nil, err
	}
	m, err := fromLlama2CFile(ck, path, opts)
	if err != nil {
		ck.Close()
		return nil, err
	}
	m.closer = ck.Close
	return m, nil
}

// fromLlama2CFile is FromLlama2C for the checkpoint at path and the
// tokenizer file opts name.
func fromLlama2CFile(ck *llama2c.Checkpoint, path string, opts Options) (*Model, error) {
	if opts.Tokenizer == "" {
		return nil, fmt.Errorf("llama: %s is a llama2.c checkpoint, which has no vocabulary: pass its tokenizer file (e.g. --tokenizer tok512.bin)", path)
	}
	tok, err := tokenizer.LoadLlama2C(opts.Tokenizer, ck.Config.Vocab)
	if err != nil {
		return nil, err
	}
	return FromLlama2C(ck, tok, opts)
}

// FromLlama2C builds a model from a parsed llama2.c checkpoint, converting
// its matrices as opts say.
func FromLlama2C(ck *llama2c.Checkpoint, tok *tokenizer.Tokenizer, opts Options) (*Model, error) {
	byName := map[string]llama2c.Tensor{}
	for _, t := range ck.Tensors {
		byName[t.Name] = t
	}
	src := func(name string) (Tensor, bool, error) {
		t, ok := byName[name]
		return Tensor{Name: t.Name, Shape: t.Shape, Format: quant.FormatF32, Data: t.Data}, ok, nil
	}
	return New(ConfigFromLlama2C(ck.Config), tok, src, opts)
}

// ConfigFromLlama2C is the configuration of a llama2.c checkpoint header,
// with run.c's fixed RoPE base and RMSNorm epsilon.
func ConfigFromLlama2C(h llama2c.Config) Config {
	return Config{
		Dim: h.Dim, HiddenDim: h.HiddenDim, Layers: h.Layers, Heads: h.Heads, KVHeads: h.KVHeads,
		Vocab: h.Vocab, SeqLen: h.SeqLen, HeadDim: h.Dim / h.Heads, RopeDim: h.Dim / h.Heads,
		RopeTheta: 10000, NormEps: 1e-5, TiedOutput: h.Shared,
	}
}

// New builds a model with hyperparameters c and vocabulary tok from the
// tensors src yields (by GGUF name), converting them as opts say. Every
// tensor's shape is checked against c.
func New(c Config, tok *tokenizer.Tokenizer, src TensorSource, opts Options) (*Model, error) {
	return newModel(c, tok, src, opts, false)
}

// newModel is New, or NewPartial when the head and the blocks may be
// absent.
func newModel(c Config, tok *tokenizer.Tokenizer, src TensorSource, opts Options, partial bool) (*Model, error) {
	m := &Model{Config: c, Tokenizer: tok}
	if err := m.validate(); err != nil {
		return nil, err
	}
	w, ok, err := m.loadHead(src, opts, !partial)
	if err != nil {
		return nil, err
	}
	if ok {
		m.Embed, m.Norm, m.Output = w.Embed, w.Norm, w.Output
		if m.Output == nil {
			m.TiedOutput = true
		}
		m.head.Store(true)
	}
	if tok != nil && tok.VocabSize() > c.Vocab {
		return nil, fmt.Errorf("llama: the vocabulary has %d tokens, the embedding only %d rows", tok.VocabSize(), c.Vocab)
	}
	m.Blocks, m.local = make([]Block, c.Layers), make([]atomic.Bool, c.Layers)
	for i := range c.Layers {
		b, ok, err := m.loadBlock(i, src, opts, !partial)
		if err != nil {
			return nil, err
		}
		if ok {
			m.Blocks[i] = b
			m.local[i].Store(true)
		}
	}
	return m, nil
}

// loadHead reads the token embedding, the output norm and the classifier
// (when src has it) from src, checking their shapes. ok is false when src
// has none of them, an error only where required; a head without the
// embedding or the output norm is always one.
func (m *Model) loadHead(src TensorSource, opts Options, required bool) (w Weights, ok bool, err error) {
	ok, err = load(func(fn func(TensorSpec, any) error) error { return w.eachField(m.Config, fn) }, src, opts, required)
	if !ok {
		return Weights{}, false, err
	}
	return w, true, nil
}

// loadBlock reads block i from src, checking its shapes. ok is false when
// src has none of its tensors, an error only where required; a block with
// only some of its tensors is always one.
func (m *Model) loadBlock(i int, src TensorSource, opts Options, required bool) (b Block, ok bool, err error) {
	ok, err = load(func(fn func(TensorSpec, any) error) error { return b.eachField(m.Config, i, fn) }, src, opts, required)
	if !ok {
		return Block{}, false, err
	}
	return b, true, nil
}

// load sets the fields each visits from the tensors src has, checking
// their shapes. ok is false when src has none of them, an error only where
// required; lacking only some of those that are not optional is always
// one.
func load(each func(fn func(TensorSpec, any) error) error, src TensorSource, opts Options, required bool) (ok bool, err error) {
	found, missing := 0, ""
	err = each(func(spec TensorSpec, field any) error {
		t, has, err := src(spec.Name)
		switch {
		case err != nil:
			return err
		case has:
			found++
			return setField(field, spec, t, opts)
		case !spec.Optional && missing == "":
			missing = spec.Name
		}
		return nil
	})
	switch {
	case err != nil:
		return false, err
	case missing == "":
		return true, nil
	case found == 0 && !required:
		return false, nil
	}
	return false, fmt.Errorf("llama: checkpoint has no tensor %q", missing)
}
