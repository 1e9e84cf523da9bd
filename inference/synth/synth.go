// Package synth makes Llama-shaped models with random weights, for speed and
// memory measurements on shapes larger than the small trained test model. It
// writes them as GGUF files that llama.cpp and other tools can run too.
package synth

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"github.com/ipfs-accelerate/accel/inference/gguf"
	"github.com/ipfs-accelerate/accel/inference/llama"
	"github.com/ipfs-accelerate/accel/inference/quant"
)

// Shape is the size of a synthetic model.
type Shape struct {
	Dim, HiddenDim, Layers, Heads, KVHeads, Vocab, SeqLen int
	Seed                                                  uint64
}

// DefaultShape is a Llama-shaped model of about 307M parameters.
var DefaultShape = Shape{Dim: 2048, HiddenDim: 5632, Layers: 4, Heads: 32, KVHeads: 4, Vocab: 32000, SeqLen: 2048, Seed: 1}

// Params is the number of weights.
func (s Shape) Params() int {
	n := 0
	for _, t := range llama.Tensors(s.config()) {
		size := 1
		for _, d := range t.Shape {
			size *= d
		}
		n += size
	}
	return n
}

// config is the engine configuration of the shape: heads of Dim/Heads
// values, rotated whole, and an output classifier of its own.
func (s Shape) config() llama.Config {
	head := s.Dim / s.Heads
	return llama.Config{
		Dim: s.Dim, HiddenDim: s.HiddenDim, Layers: s.Layers, Heads: s.Heads, KVHeads: s.KVHeads,
		Vocab: s.Vocab, SeqLen: s.SeqLen, HeadDim: head, RopeDim: head, RopeTheta: 10000, NormEps: 1e-5,
	}
}

// Validate checks that the shape makes a Llama model the engine and GGUF
// Q8_0/Q4_0 can hold.
func (s Shape) Validate() error {
	switch {
	case s.Dim <= 0 || s.HiddenDim <= 0 || s.Layers <= 0 || s.Heads <= 0 || s.KVHeads <= 0 || s.Vocab < 300 || s.SeqLen <= 0:
		return fmt.Errorf("synth: invalid shape %+v (vocab must be at least 300)", s)
	case s.Dim%s.Heads != 0 || (s.Dim/s.Heads)%2 != 0 || s.Heads%s.KVHeads != 0:
		return fmt.Errorf("synth: dim %d, %d heads and %d KV heads do not divide evenly into even head sizes", s.Dim, s.Heads, s.KVHeads)
	case s.Dim%32 != 0 || s.HiddenDim%32 != 0:
		return fmt.Errorf("synth: dim %d and hidden dim %d must be multiples of 32", s.Dim, s.HiddenDim)
	}
	return nil
}

// ggufTypes are the tensor types WriteGGUF can store matrices in, with
// their general.file_type.
var ggufTypes = map[gguf.Type]uint32{
	gguf.F32: 0, gguf.F16: 1, gguf.Q4_0: 2, gguf.Q8_0: 7, gguf.Q4_K: 15, gguf.Q5_K: 17, gguf.Q6_K: 18,
}

// mixFileTypes are the general.file_type of llama.cpp's mixes.
var mixFileTypes = map[string]uint32{"q4_k_m": 15, "q5_k_m": 17}

// WriteGGUF writes a random model of this shape with its matrices stored as
// typ (F32, F16, Q8_0, Q4_0, Q4_K, Q5_K or Q6_K; norms stay F32). The same
// shape and seed give the same weights whatever typ is.
func WriteGGUF(w io.Writer, s Shape, typ gguf.Type) error {
	fileType, ok := ggufTypes[typ]
	if !ok {
		return fmt.Errorf("synth: cannot write type %s (want F32, F16, Q8_0, Q4_0, Q4_K, Q5_K or Q6_K)", typ)
	}
	return writeGGUF(w, s, fileType, func(string, []int) gguf.Type { return typ })
}

// WriteGGUFMix writes the model as WriteGGUF does with its matrices in
// llama.cpp's mix (Q4_K_M or Q5_K_M, see quant.MixPlan). Every row length
// of the shape must be a multiple of 256.
func WriteGGUFMix(w io.Writer, s Shape, mix string) error {
	plan, err := quant.MixPlan(mix, s.Layers, false)
	if err != nil {
		return err
	}
	if s.Dim%256 != 0 || s.HiddenDim%256 != 0 {
		return fmt.Errorf("synth: %s needs dim and hidden dim that are multiples of 256", mix)
	}
	return writeGGUF(w, s, mixFileTypes[strings.ToLower(mix)], func(name string, shape []int) gguf.Type {
		t, _ := llama.NativeGGMLType(plan.FormatFor(name, shape))
		return t
	})
}

// writeGGUF writes the model with each matrix stored in the type typeFor
// gives it.
func writeGGUF(w io.Writer, s Shape, fileType uint32, typeFor func(name string, shape []int) gguf.Type) error {
	if err := s.Validate(); err != nil {
		return err
	}
	g := gguf.NewWriter()
	if err := addMetadata(g, s, fileType); err != nil {
		return err
	}
	for i, t := range llama.Tensors(s.config()) {
		dims := make([]uint64, len(t.Shape))
		for j, d := range t.Shape {
			dims[len(dims)-1-j] = uint64(d)
		}
		if len(t.Shape) == 1 { // a norm: ones, stored as F32
			if err := g.AddTensor(t.Name, dims, gguf.F32, quant.Float32Bytes(ones(t.Shape[0]))); err != nil {
				return err
			}
			continue
		}
		typ := typeFor(t.Name, t.Shape)
		format, _ := llama.NativeFormat(typ)
		rows, cols := t.Shape[0], t.Shape[1]
		m, err := quant.Quantize(randomMatrix(rows, cols, s.Seed+uint64(i)), rows, cols, format)
		if err != nil {
			return fmt.Errorf("synth: %s: %w", t.Name, err)
		}
		if err := g.AddTensor(t.Name, dims, typ, m.Data); err != nil {
			return err
		}
	}
	_, err := g.WriteTo(w)
	return err
}

// randomMatrix draws Gaussian weights with standard deviation 1/√cols, so
// every output starts with about unit variance.
func randomMatrix(rows, cols int, seed uint64) []float32 {
	w := make([]float32, rows*cols)
	std := 1 / math.Sqrt(float64(cols))
	const chunk = 1 << 16
	quant.ParallelFor((len(w)+chunk-1)/chunk, 1, func(lo, hi int) {
		for c := lo; c < hi; c++ {
			rng := rand.New(rand.NewPCG(seed, uint64(c)))
			for i := c * chunk; i < min((c+1)*chunk, len(w)); i++ {
				w[i] = float32(rng.NormFloat64() * std)
			}
		}
	})
	return w
}

func ones(n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = 1
	}
	return v
}

// addMetadata writes llama hyperparameters and a SentencePiece-style
// vocabulary: <unk>, <s>, </s>, the 256 byte tokens, then made-up pieces.
func addMetadata(g *gguf.Writer, s Shape, fileType uint32) error {
	tokens := make([]string, s.Vocab)
	scores := make([]float32, s.Vocab)
	types := make([]int32, s.Vocab)
	copy(tokens, []string{"<unk>", "<s>", "</s>"})
	types[0], types[1], types[2] = 2, 3, 3
	for b := range 256 {
		tokens[3+b], types[3+b] = fmt.Sprintf("<0x%02X>", b), 6
	}
	for i := 259; i < s.Vocab; i++ {
		tokens[i], scores[i], types[i] = "▁"+letters(i-259), -float32(i), 1
	}
	c := s.config()
	kvs := []struct {
		key string
		v   any
	}{
		{"general.architecture", "llama"},
		{"general.name", fmt.Sprintf("accel-synth-%dM", s.Params()/1_000_000)},
		{"general.file_type", fileType},
		{"llama.context_length", uint32(s.SeqLen)},
		{"llama.embedding_length", uint32(s.Dim)},
		{"llama.feed_forward_length", uint32(s.HiddenDim)},
		{"llama.block_count", uint32(s.Layers)},
		{"llama.attention.head_count", uint32(s.Heads)},
		{"llama.attention.head_count_kv", uint32(s.KVHeads)},
		{"llama.rope.dimension_count", uint32(c.RopeDim)},
		{"llama.rope.freq_base", c.RopeTheta},
		{"llama.attention.layer_norm_rms_epsilon", c.NormEps},
		{"llama.vocab_size", uint32(s.Vocab)},
		{"tokenizer.ggml.model", "llama"},
		{"tokenizer.ggml.tokens", tokens},
		{"tokenizer.ggml.scores", scores},
		{"tokenizer.ggml.token_type", types},
		{"tokenizer.ggml.bos_token_id", uint32(1)},
		{"tokenizer.ggml.eos_token_id", uint32(2)},
		{"tokenizer.ggml.unknown_token_id", uint32(0)},
	}
	for _, kv := range kvs {
		if err := g.AddKV(kv.key, kv.v); err != nil {
			return err
		}
	}
	return nil
}

// letters spells n in base 26 ("a", "b", …, "ba", …).
func letters(n int) string {
	s := ""
	for {
		s = string(rune('a'+n%26)) + s
		n /= 26
		if n == 0 {
			return s
		}
	}
}

// WriteFile writes the model to path (see WriteGGUF). The file appears
// whole or not at all: it is written beside path and renamed into place.
func WriteFile(path string, s Shape, typ gguf.Type) error {
	return writeFile(path, func(w io.Writer) error { return WriteGGUF(w, s, typ) })
}

// WriteFileMix writes the model in a mix to path (see WriteGGUFMix), as
// WriteFile does.
func WriteFileMix(path string, s Shape, mix string) error {
	return writeFile(path, func(w io.Writer) error { return WriteGGUFMix(w, s, mix) })
}

func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".synth-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // fails harmlessly after the rename
	w := bufio.NewWriterSize(f, 1<<20)
	err = write(w)
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
