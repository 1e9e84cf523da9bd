// Package llama2c reads checkpoints in the format of Andrej Karpathy's
// llama2.c (run.c): a header of seven int32 hyperparameters followed by the
// float32 weights in a fixed order. Tensors are returned under GGUF names so
// the model loader treats both formats alike.
package llama2c

import (
	"encoding/binary"
	"fmt"
	"os"
)

// Config is the checkpoint header.
type Config struct {
	Dim, HiddenDim, Layers, Heads, KVHeads, Vocab, SeqLen int
	// Shared is true when the classifier reuses the token embedding
	// (a positive vocab_size in the header).
	Shared bool
}

// Tensor is one float32 tensor of the checkpoint; Shape is outermost first
// ([rows, cols] for matrices).
type Tensor struct {
	Name  string
	Shape []int
	Data  []byte // little-endian float32
}

// Checkpoint is a parsed llama2.c file.
type Checkpoint struct {
	Config  Config
	Tensors []Tensor
}

const headerBytes = 7 * 4

// maxDim bounds every header field so that sizes cannot overflow.
const maxDim = 1 << 20

// Load reads a checkpoint file.
func Load(path string) (*Checkpoint, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("llama2c: %w", err)
	}
	return Decode(data)
}

// Decode parses a checkpoint held in memory; the tensors alias data.
func Decode(data []byte) (*Checkpoint, error) {
	if len(data) < headerBytes {
		return nil, fmt.Errorf("llama2c: file is %d bytes, shorter than the %d-byte header", len(data), headerBytes)
	}
	var h [7]int
	for i := range h {
		h[i] = int(int32(binary.LittleEndian.Uint32(data[4*i:])))
	}
	c := Config{Dim: h[0], HiddenDim: h[1], Layers: h[2], Heads: h[3], KVHeads: h[4], Vocab: h[5], SeqLen: h[6]}
	c.Shared = c.Vocab > 0
	if c.Vocab < 0 {
		c.Vocab = -c.Vocab
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	headSize := c.Dim / c.Heads
	kvDim := c.KVHeads * headSize
	L := c.Layers
	type part struct {
		name  string
		shape []int
		perL  bool // one tensor per layer, stored as a [layers, ...] array
		skip  bool // present in the file, unused
	}
	parts := []part{
		{name: "token_embd.weight", shape: []int{c.Vocab, c.Dim}},
		{name: "attn_norm.weight", shape: []int{c.Dim}, perL: true},
		{name: "attn_q.weight", shape: []int{c.Dim, c.Dim}, perL: true},
		{name: "attn_k.weight", shape: []int{kvDim, c.Dim}, perL: true},
		{name: "attn_v.weight", shape: []int{kvDim, c.Dim}, perL: true},
		{name: "attn_output.weight", shape: []int{c.Dim, c.Dim}, perL: true},
		{name: "ffn_norm.weight", shape: []int{c.Dim}, perL: true},
		{name: "ffn_gate.weight", shape: []int{c.HiddenDim, c.Dim}, perL: true},
		{name: "ffn_down.weight", shape: []int{c.Dim, c.HiddenDim}, perL: true},
		{name: "ffn_up.weight", shape: []int{c.HiddenDim, c.Dim}, perL: true},
		{name: "output_norm.weight", shape: []int{c.Dim}},
		{name: "freq_cis_real", shape: []int{c.SeqLen, headSize / 2}, skip: true},
		{name: "freq_cis_imag", shape: []int{c.SeqLen, headSize / 2}, skip: true},
	}
	if !c.Shared {
		parts = append(parts, part{name: "output.weight", shape: []int{c.Vocab, c.Dim}})
	}
	ck := &Checkpoint{Config: c}
	off := headerBytes
	for _, p := range parts {
		n := 4
		for _, d := range p.shape {
			n *= d
		}
		count := 1
		if p.perL {
			count = L
		}
		for l := range count {
			if off+n > len(data) {
				return nil, fmt.Errorf("llama2c: file is truncated: tensor %s needs bytes [%d, %d) of a %d-byte file", p.name, off, off+n, len(data))
			}
			if !p.skip {
				name := p.name
				if p.perL {
					name = fmt.Sprintf("blk.%d.%s", l, p.name)
				}
				ck.Tensors = append(ck.Tensors, Tensor{Name: name, Shape: p.shape, Data: data[off : off+n : off+n]})
			}
			off += n
		}
	}
	if off != len(data) {
		return nil, fmt.Errorf("llama2c: %d unexpected bytes after the last tensor (header %+v)", len(data)-off, c)
	}
	return ck, nil
}

func (c Config) validate() error {
	fields := []struct {
		name string
		v    int
	}{{"dim", c.Dim}, {"hidden_dim", c.HiddenDim}, {"n_layers", c.Layers}, {"n_heads", c.Heads},
		{"n_kv_heads", c.KVHeads}, {"vocab_size", c.Vocab}, {"seq_len", c.SeqLen}}
	for _, f := range fields {
		if f.v <= 0 || f.v > maxDim {
			return fmt.Errorf("llama2c: header field %s = %d is out of range (1…%d); is this a llama2.c checkpoint?", f.name, f.v, maxDim)
		}
	}
	if c.Dim%c.Heads != 0 || (c.Dim/c.Heads)%2 != 0 {
		return fmt.Errorf("llama2c: dim %d is not divisible into %d heads of even size", c.Dim, c.Heads)
	}
	if c.Heads%c.KVHeads != 0 {
		return fmt.Errorf("llama2c: n_heads %d is not a multiple of n_kv_heads %d", c.Heads, c.KVHeads)
	}
	return nil
}
