// Package llama2c reads checkpoints in the format of Andrej Karpathy's
// llama2.c (run.c): a header of seven int32 hyperparameters followed by the
// float32 weights in a fixed order. Tensors are returned under GGUF names so
// the model loader treats both formats alike.
//
// The format has no magic number: any file starts with something that
// reads as a header. Errors therefore never quote what a file holds, only
// what is wrong with it.
package llama2c

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"

	"github.com/ipfs-accelerate/accel/inference/mmap"
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
	// Offset is where Data starts in the checkpoint.
	Offset int64
}

// Checkpoint is a parsed llama2.c file.
type Checkpoint struct {
	Config  Config
	Tensors []Tensor
	unmap   func() error
}

// ErrNotCheckpoint is the error for data whose header is not a llama2.c
// header: too short, or with a field out of range.
var ErrNotCheckpoint = errors.New("not a llama2.c checkpoint")

const headerBytes = 7 * 4

// maxDim bounds every header field so that sizes cannot overflow, and
// maxLayers the layers, so that the tensor list stays small.
const (
	maxDim    = 1 << 20
	maxLayers = 1 << 10
)

// Open maps the checkpoint at path read-only (mmap on unix, a whole read
// on js/wasm); see OpenFile.
func Open(path string) (*Checkpoint, error) {
	f, _, err := mmap.OpenRegular(path)
	if err != nil {
		return nil, fmt.Errorf("llama2c: %w", err)
	}
	defer f.Close()
	return OpenFile(f)
}

// OpenFile reads the header of the checkpoint in f, checks that it
// describes exactly the file's size, then maps the file read-only: nothing
// past the header is read before the sizes agree. The tensors alias the
// mapping until Close; f may be closed once OpenFile returns. Errors start
// with f's name.
func OpenFile(f *os.File) (*Checkpoint, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("llama2c: %w", err)
	}
	var hdr [headerBytes]byte
	if st.Size() >= headerBytes {
		if _, err := f.ReadAt(hdr[:], 0); err != nil {
			return nil, fmt.Errorf("llama2c: %w", err)
		}
	}
	c, err := parseHeader(hdr[:min(st.Size(), headerBytes)])
	if err == nil {
		_, err = c.layout(st.Size())
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name(), err)
	}
	data, release, err := mmap.MapFile(f)
	if err != nil {
		return nil, fmt.Errorf("llama2c: %w", err)
	}
	ck, err := Decode(data)
	if err != nil {
		release()
		return nil, fmt.Errorf("%s: %w", f.Name(), err)
	}
	ck.unmap = release
	return ck, nil
}

// Close releases the mapping Open made, if any; the tensors' Data must not
// be used afterwards.
func (ck *Checkpoint) Close() error {
	if ck.unmap == nil {
		return nil
	}
	err := ck.unmap()
	ck.unmap = nil
	return err
}

// Decode parses a checkpoint held in memory; the tensors alias data.
func Decode(data []byte) (*Checkpoint, error) {
	c, err := parseHeader(data[:min(len(data), headerBytes)])
	if err != nil {
		return nil, err
	}
	tensors, err := c.layout(int64(len(data)))
	if err != nil {
		return nil, err
	}
	for i := range tensors {
		t := &tensors[i]
		end := t.Offset + size(t.Shape)
		t.Data = data[t.Offset:end:end]
	}
	return &Checkpoint{Config: c, Tensors: tensors}, nil
}

// parseHeader reads and checks the header fields.
func parseHeader(hdr []byte) (Config, error) {
	if len(hdr) < headerBytes {
		return Config{}, fmt.Errorf("llama2c: shorter than the %d-byte header: %w", headerBytes, ErrNotCheckpoint)
	}
	var h [7]int
	for i := range h {
		h[i] = int(int32(binary.LittleEndian.Uint32(hdr[4*i:])))
	}
	c := Config{Dim: h[0], HiddenDim: h[1], Layers: h[2], Heads: h[3], KVHeads: h[4], Vocab: h[5], SeqLen: h[6]}
	c.Shared = c.Vocab > 0
	if c.Vocab < 0 {
		c.Vocab = -c.Vocab
	}
	if err := c.validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// validate checks the fields' ranges and that they fit together; its
// errors name fields, never their values, and wrap ErrNotCheckpoint.
func (c Config) validate() error {
	fields := []struct {
		name string
		v    int
		max  int
	}{{"dim", c.Dim, maxDim}, {"hidden_dim", c.HiddenDim, maxDim}, {"n_layers", c.Layers, maxLayers}, {"n_heads", c.Heads, maxDim},
		{"n_kv_heads", c.KVHeads, maxDim}, {"vocab_size", c.Vocab, maxDim}, {"seq_len", c.SeqLen, maxDim}}
	for _, f := range fields {
		if f.v <= 0 || f.v > f.max {
			return fmt.Errorf("llama2c: header field %s is out of range (1…%d): %w", f.name, f.max, ErrNotCheckpoint)
		}
	}
	if c.Dim%c.Heads != 0 || (c.Dim/c.Heads)%2 != 0 {
		return fmt.Errorf("llama2c: dim does not split into n_heads heads of even size: %w", ErrNotCheckpoint)
	}
	if c.Heads%c.KVHeads != 0 {
		return fmt.Errorf("llama2c: n_heads is not a multiple of n_kv_heads: %w", ErrNotCheckpoint)
	}
	return nil
}

// layout places the checkpoint's tensors in a file of fileSize bytes,
// setting their Offset but not their Data. The tensors must fill the file
// exactly.
func (c Config) layout(fileSize int64) ([]Tensor, error) {
	headSize := c.Dim / c.Heads
	kvDim := c.KVHeads * headSize
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
	var tensors []Tensor
	off := int64(headerBytes)
	for _, p := range parts {
		n := size(p.shape)
		count := 1
		if p.perL {
			count = c.Layers
		}
		for l := range count {
			if n > fileSize-off {
				return nil, errors.New("llama2c: the header describes a model larger than the file")
			}
			if !p.skip {
				name := p.name
				if p.perL {
					name = fmt.Sprintf("blk.%d.%s", l, p.name)
				}
				tensors = append(tensors, Tensor{Name: name, Shape: p.shape, Offset: off})
			}
			off += n
		}
	}
	if off != fileSize {
		return nil, errors.New("llama2c: the file is larger than the model its header describes")
	}
	return tensors, nil
}

// size is the number of bytes of a float32 tensor of shape. Header fields
// are at most maxDim, so it is below 2^42; layout keeps offsets within the
// file size, so their sums do not overflow either.
func size(shape []int) int64 {
	n := int64(4)
	for _, d := range shape {
		n *= int64(d)
	}
	return n
}
