package loader

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/ipfs-accelerate/accel/inference/gguf"
	"github.com/ipfs-accelerate/accel/inference/llama"
	"github.com/ipfs-accelerate/accel/inference/llama2c"
	"github.com/ipfs-accelerate/accel/inference/mmap"
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
	// daemon): Prepare deletes them as soon as it has them open or mapped,
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

// errNotModel is the error for a source that is none of the formats
// Import reads.
var errNotModel = errors.New("not a GGUF, llama2.c or safetensors model")

// Check opens the source's files as Prepare does, and closes them without
// reading a byte: the model must be a regular file or a directory, the
// tokenizer a regular file. An error of an open itself is the
// *fs.PathError of os.Open; a file of another kind (a FIFO, a device) gives
// an error wrapping mmap.ErrNotRegular.
func (s Source) Check() error {
	f, _, err := mmap.Open(s.Path)
	if err != nil {
		return err
	}
	f.Close()
	if s.Tokenizer == "" {
		return nil
	}
	tok, _, err := mmap.OpenRegular(s.Tokenizer)
	if err != nil {
		return err
	}
	return tok.Close()
}

// open reads the source's header and metadata; tensor data stays in the
// files (memory-mapped) until close. Only regular files, and a directory
// for safetensors, are opened, and each is checked on its open handle
// before a byte of it is read: a FIFO, a device or a socket is refused.
// Errors name the file at fault and what is wrong with it, never what a
// file that failed to parse holds.
func (s Source) open() (*checkpoint, error) {
	f, st, err := mmap.Open(s.Path)
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		f.Close()
		if s.Tokenizer != "" {
			return nil, fmt.Errorf("%s: a model directory carries its own vocabulary: a tokenizer file is only for llama2.c checkpoints", s.Path)
		}
		return openSafetensors(s.Path)
	}
	ck, err := s.openFile(f, st.Size())
	if err != nil {
		f.Close()
		return nil, err
	}
	return ck, nil
}

// openFile opens the GGUF file or llama2.c checkpoint f of size bytes,
// told apart by the GGUF magic; the checkpoint's close closes f.
func (s Source) openFile(f *os.File, size int64) (*checkpoint, error) {
	head := make([]byte, len(gguf.Magic))
	if size >= int64(len(head)) {
		if _, err := f.ReadAt(head, 0); err != nil {
			return nil, err
		}
	}
	if string(head) == gguf.Magic {
		if s.Tokenizer != "" {
			return nil, fmt.Errorf("%s: a GGUF file carries its own vocabulary: a tokenizer file is only for llama2.c checkpoints", s.Path)
		}
		return openGGUF(f)
	}
	return openLlama2C(f, s.Tokenizer)
}

func openGGUF(f *os.File) (*checkpoint, error) {
	g, err := gguf.OpenFile(f)
	if err != nil {
		return nil, err
	}
	ck, err := fromGGUF(g, f)
	if err != nil {
		g.Close()
		return nil, fmt.Errorf("%s: %w", f.Name(), err)
	}
	ck.close = func() error {
		f.Close()
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
	for i, info := range g.Tensors {
		f, err := ggmlFormat(info.Type)
		if err != nil {
			return nil, fmt.Errorf("tensor %d (%s): %w", i, info.Name, err)
		}
		data, err := g.TensorData(info)
		if err != nil {
			return nil, err
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

// openLlama2C opens the llama2.c checkpoint f with the tokenizer file at
// tokPath. A file whose header is not a llama2.c one is errNotModel.
func openLlama2C(f *os.File, tokPath string) (*checkpoint, error) {
	ck, err := llama2c.OpenFile(f)
	if errors.Is(err, llama2c.ErrNotCheckpoint) {
		return nil, fmt.Errorf("%s: %w", f.Name(), errNotModel)
	}
	if err != nil {
		return nil, err
	}
	out, err := fromLlama2C(ck, f, tokPath)
	if err != nil {
		ck.Close()
		return nil, err
	}
	out.close = func() error {
		f.Close()
		return ck.Close()
	}
	return out, nil
}

// fromLlama2C reads the checkpoint ck, mapped from file, with the
// vocabulary of the tokenizer file at tokPath.
func fromLlama2C(ck *llama2c.Checkpoint, file *os.File, tokPath string) (*checkpoint, error) {
	if tokPath == "" {
		return nil, fmt.Errorf("%s: a llama2.c checkpoint has no vocabulary: give its tokenizer file (e.g. tok512.bin)", file.Name())
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
	}
	f32 := quantFormat(quant.FormatF32)
	for _, t := range ck.Tensors {
		out.tensors[t.Name] = srcTensor{shape: t.Shape, format: f32, data: t.Data, file: file, offset: t.Offset}
	}
	return out, nil
}
