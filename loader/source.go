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
	// file, when set, holds data at offset, for reader.
	file   io.ReaderAt
	offset int64
}

// reader reads the tensor's stored bytes: with reads of the source file
// where it is known, else from memory. A read copies from the page cache
// inside the kernel, several times cheaper on a VM than first touches of
// a fresh memory mapping (≈0.1 s against ≈0.3 s of CPU per 500 MiB).
func (t srcTensor) reader() io.Reader {
	if t.file != nil {
		return io.NewSectionReader(t.file, t.offset, int64(len(t.data)))
	}
	return bytes.NewReader(t.data)
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
	file, err := os.Open(path)
	if err != nil {
		g.Close()
		return nil, fmt.Errorf("loader: %w", err)
	}
	ck, err := fromGGUF(g, file)
	if err != nil {
		file.Close()
		g.Close()
		return nil, fmt.Errorf("%w (in %s)", err, path)
	}
	ck.close = func() error {
		file.Close()
		return g.Close()
	}
	return ck, nil
}

// fromGGUF reads the checkpoint g describes; file, when not nil, is the
// file g maps, which tensors are read from.
func fromGGUF(g *gguf.File, file io.ReaderAt) (*checkpoint, error) {
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
		t := srcTensor{shape: shape, format: f, data: data}
		if file != nil {
			t.file, t.offset = file, int64(g.DataOffset+info.Offset)
		}
		ck.tensors[info.Name] = t
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
