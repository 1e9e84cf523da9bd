package loader

import (
	"bytes"
	"fmt"
	"io"
	"os"

	"github.com/ipfs-accelerate/accel/inference/gguf"
	"github.com/ipfs-accelerate/accel/inference/llama"
	"github.com/ipfs-accelerate/accel/inference/llama2c"
	"github.com/ipfs-accelerate/accel/inference/quant"
)

// Source is a model checkpoint to import: a GGUF file, a llama2.c
// checkpoint with its tokenizer.bin, or a Hugging Face Llama directory of
// safetensors weights (see openSafetensors).
type Source struct {
	// Path is a GGUF file or a llama2.c checkpoint, told apart by the
	// GGUF magic, or a Hugging Face model directory.
	Path string
	// Tokenizer is the tokenizer.bin of a llama2.c checkpoint. GGUF files
	// and model directories carry their own vocabulary, so it must be
	// empty there.
	Tokenizer string
	// Staged marks files staged only for this import (an upload to the
	// daemon): Import deletes them as soon as it has them open or mapped,
	// so their bytes are never written back to disk.
	Staged bool
}

// checkpoint is an opened source: its shape, the metadata of its
// tokenizer component and its tensors as stored.
type checkpoint struct {
	hp      Hyperparameters
	meta    []metaKV
	tensors map[string]srcTensor
	close   func() error
}

// srcTensor is a source tensor in its stored format.
type srcTensor struct {
	shape  []int // outermost first
	format format
	data   []byte
}

// open reads the source's header and metadata; tensor data stays in the
// files (memory-mapped for GGUF and safetensors) until close.
func (s Source) open() (*checkpoint, error) {
	f, err := os.Open(s.Path)
	if err != nil {
		return nil, fmt.Errorf("loader: %w", err)
	}
	if st, err := f.Stat(); err == nil && st.IsDir() {
		f.Close()
		if s.Tokenizer != "" {
			return nil, fmt.Errorf("loader: %s is a model directory, which carries its own vocabulary: a tokenizer file is only for llama2.c checkpoints", s.Path)
		}
		return openSafetensors(s.Path)
	}
	head := make([]byte, 4)
	_, err = io.ReadFull(f, head)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("loader: reading %s: %w", s.Path, err)
	}
	if bytes.Equal(head, []byte(gguf.Magic)) {
		if s.Tokenizer != "" {
			return nil, fmt.Errorf("loader: %s is a GGUF file, which carries its own vocabulary: a tokenizer file is only for llama2.c checkpoints", s.Path)
		}
		return openGGUF(s.Path)
	}
	return openLlama2C(s.Path, s.Tokenizer)
}

func openGGUF(path string) (*checkpoint, error) {
	g, err := gguf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("loader: %s: %w", path, err)
	}
	ck, err := fromGGUF(g)
	if err != nil {
		g.Close()
		return nil, fmt.Errorf("%w (in %s)", err, path)
	}
	ck.close = g.Close
	return ck, nil
}

func fromGGUF(g *gguf.File) (*checkpoint, error) {
	hp, err := hyperparameters(g)
	if err != nil {
		return nil, err
	}
	ck := &checkpoint{hp: hp, tensors: map[string]srcTensor{}}
	for _, kv := range g.KV {
		ck.meta = append(ck.meta, metaKV{kv.Key, kv.Value})
	}
	for _, info := range g.Tensors {
		f, err := ggmlFormat(info.Type)
		if err != nil {
			return nil, fmt.Errorf("loader: tensor %s: %w", info.Name, err)
		}
		data, err := g.TensorData(info)
		if err != nil {
			return nil, fmt.Errorf("loader: tensor %s: %w", info.Name, err)
		}
		shape := make([]int, len(info.Dims))
		for i, d := range info.Dims {
			shape[len(shape)-1-i] = int(d)
		}
		ck.tensors[info.Name] = srcTensor{shape: shape, format: f, data: data}
	}
	if emb, ok := ck.tensors["token_embd.weight"]; ok && len(emb.shape) == 2 {
		ck.hp.Vocab = emb.shape[0]
	}
	_, hasOutput := ck.tensors["output.weight"]
	ck.hp.TiedOutput = !hasOutput
	return ck, nil
}

func openLlama2C(path, tokPath string) (*checkpoint, error) {
	ck, err := llama2c.Load(path)
	if err != nil {
		return nil, fmt.Errorf("loader: %s is neither a GGUF file nor a llama2.c checkpoint: %w", path, err)
	}
	if tokPath == "" {
		return nil, fmt.Errorf("loader: %s is a llama2.c checkpoint, which has no vocabulary: give its tokenizer file (e.g. tok512.bin)", path)
	}
	c := ck.Config
	meta, err := llama2cMetadata(c, tokPath)
	if err != nil {
		return nil, err
	}
	out := &checkpoint{
		hp:      hyperparametersOf(llama.ConfigFromLlama2C(c)),
		meta:    meta,
		tensors: map[string]srcTensor{},
		close:   func() error { return nil },
	}
	f32 := quantFormat(quant.FormatF32)
	for _, t := range ck.Tensors {
		out.tensors[t.Name] = srcTensor{shape: t.Shape, format: f32, data: t.Data}
	}
	return out, nil
}
