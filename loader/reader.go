package loader

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/ipfs/go-cid"

	"github.com/ipfs-accelerate/accel/inference/gguf"
	"github.com/ipfs-accelerate/accel/inference/llama"
	"github.com/ipfs-accelerate/accel/inference/quant"
)

// Model is a model DAG opened for reading: its validated manifest and
// where its blocks come from (see BlockGetter). Its methods are safe for
// concurrent use.
type Model struct {
	Root     cid.Cid
	Manifest *Manifest
	blocks   BlockGetter

	mu       sync.Mutex
	held     map[string][]byte   // component files read ahead by Hold
	external map[string]External // component files held elsewhere (HoldExternal)
}

// External is a component file held outside Go memory, on a device such as
// the browser runtime's kernel arena: its matrices are built on the device
// in place, its other bytes copied out as they are read.
type External interface {
	io.ReaderAt
	// Matrix returns the rows×cols matrix in format f whose rows start at
	// offset in the file (quant.NewHeldMatrix).
	Matrix(offset int64, rows, cols int, f quant.Format) (*quant.Matrix, error)
}

// Open fetches and validates the manifest at root.
func Open(ctx context.Context, root cid.Cid, get BlockGetter) (*Model, error) {
	if !root.Defined() || root.Type() != cid.DagCBOR {
		return nil, fmt.Errorf("loader: %v is not the CID of a model manifest (dag-cbor)", root)
	}
	nd, err := get.Get(ctx, root)
	if err != nil {
		return nil, fmt.Errorf("loader: fetching manifest %s: %w", root, err)
	}
	data := nd.RawData()
	if sum, err := root.Prefix().Sum(data); err != nil || !sum.Equals(root) {
		return nil, fmt.Errorf("loader: manifest block does not match its CID %s", root)
	}
	m, err := DecodeManifest(data)
	if err != nil {
		return nil, fmt.Errorf("loader: %s: %w", root, err)
	}
	return &Model{Root: root, Manifest: m, blocks: get}, nil
}

// Hold reads the named component's file now and keeps it: ReadComponent
// and the models built afterwards use those bytes, so the blocks they came
// from may be dropped.
func (m *Model) Hold(ctx context.Context, name string) error {
	data, err := m.ReadComponent(ctx, name)
	if err != nil {
		return err
	}
	m.HoldFile(name, data)
	return nil
}

// HoldFile keeps data as the named component's file from now on, as Hold
// does with the bytes it reads: the caller checks that data is the file's
// bytes and does not modify it.
func (m *Model) HoldFile(name string, data []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.held == nil {
		m.held = map[string][]byte{}
	}
	m.held[name] = data
}

// HoldExternal has ext hold the named component's file from now on, in
// place of its blocks: the models built afterwards take its matrices
// from ext (llama.Tensor.Matrix) and copy its other tensors out of it.
// The caller checks that ext holds the file's bytes.
func (m *Model) HoldExternal(name string, ext External) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.external == nil {
		m.external = map[string]External{}
	}
	m.external[name] = ext
}

// ReadComponent returns the whole file of the named component: the bytes
// Hold kept (not to be modified), a copy of those HoldExternal's holds,
// else a new read of its blocks.
func (m *Model) ReadComponent(ctx context.Context, name string) ([]byte, error) {
	m.mu.Lock()
	data, ok := m.held[name]
	ext := m.external[name]
	m.mu.Unlock()
	if ok {
		return data, nil
	}
	if ext != nil {
		c, _ := m.Manifest.Component(name)
		data = make([]byte, c.Size)
		if _, err := ext.ReadAt(data, 0); err != nil {
			return nil, fmt.Errorf("loader: reading component %s: %w", name, err)
		}
		return data, nil
	}
	c, ok := m.Manifest.Component(name)
	if !ok {
		return nil, fmt.Errorf("loader: the model has no component %q", name)
	}
	return m.ReadRange(ctx, name, 0, c.Size)
}

// ReadRange returns length bytes of the named component from offset,
// fetching only the blocks that hold them, not the whole component.
func (m *Model) ReadRange(ctx context.Context, name string, offset, length int64) ([]byte, error) {
	c, ok := m.Manifest.Component(name)
	if !ok {
		return nil, fmt.Errorf("loader: the model has no component %q", name)
	}
	if offset < 0 || length < 0 || offset > c.Size || length > c.Size-offset {
		return nil, fmt.Errorf("loader: range [%d, +%d) is outside component %s (%d bytes)", offset, length, name, c.Size)
	}
	buf := make([]byte, length)
	if err := readFile(ctx, m.blocks, c.CID, c.Size, offset, buf); err != nil {
		return nil, fmt.Errorf("loader: reading component %s: %w", name, err)
	}
	return buf, nil
}

// ReadTensorRange returns the stored bytes of one tensor (in its manifest
// format), reading only its range of its component.
func (m *Model) ReadTensorRange(ctx context.Context, tensor string) ([]byte, error) {
	t, c, ok := m.Manifest.Tensor(tensor)
	if !ok {
		return nil, fmt.Errorf("loader: the model has no tensor %q", tensor)
	}
	return m.ReadRange(ctx, c.Name, t.Offset, t.Length)
}

// metadata reads the tokenizer component and checks that it agrees with
// the manifest.
func (m *Model) metadata(ctx context.Context) (*gguf.File, error) {
	data, err := m.ReadComponent(ctx, ComponentTokenizer)
	if err != nil {
		return nil, err
	}
	g, err := gguf.Decode(data)
	if err != nil {
		return nil, fmt.Errorf("loader: tokenizer component: %w", err)
	}
	if len(g.Tensors) != 0 {
		return nil, fmt.Errorf("loader: tokenizer component holds %d tensors, want none", len(g.Tensors))
	}
	h, err := hyperparameters(g)
	if err != nil {
		return nil, fmt.Errorf("loader: tokenizer component: %w", err)
	}
	want := m.Manifest.Hyperparameters
	h.Vocab, h.TiedOutput = want.Vocab, want.TiedOutput
	if h != want {
		return nil, fmt.Errorf("loader: the tokenizer component's metadata gives %+v, the manifest %+v", h, want)
	}
	return g, nil
}

// ChatTemplate is the model's Jinja chat template, from the metadata's
// tokenizer.chat_template; "" when it has none.
func (m *Model) ChatTemplate(ctx context.Context) (string, error) {
	g, err := m.metadata(ctx)
	if err != nil {
		return "", err
	}
	source, _ := g.String("tokenizer.chat_template")
	return source, nil
}

// LlamaModel builds a runnable model from the DAG: the configuration and
// tokenizer from the tokenizer component's metadata, the weights from the
// other components, used in place where the kernels run their format
// (others are decoded to f32). opts.Precision converts the weights further,
// as llama.Open does; opts.Tokenizer is not used.
func (m *Model) LlamaModel(ctx context.Context, opts llama.Options) (*llama.Model, error) {
	return m.llamaModel(ctx, opts, nil)
}

// PartialLlamaModel is LlamaModel from only the components have admits:
// the tokenizer, which it needs, embed and head, both or neither, and the
// layers at hand. What it leaves out is absent from the model
// (llama.NewPartial), for AddHead and AddLayer to fill once their blocks
// are local; until then sessions run it on peers.
func (m *Model) PartialLlamaModel(ctx context.Context, opts llama.Options, have func(component string) bool) (*llama.Model, error) {
	if !have(ComponentTokenizer) {
		return nil, fmt.Errorf("loader: a partial model needs the %s component", ComponentTokenizer)
	}
	if have(ComponentEmbed) != have(ComponentHead) {
		return nil, fmt.Errorf("loader: a partial model needs the %s and %s components, or neither", ComponentEmbed, ComponentHead)
	}
	return m.llamaModel(ctx, opts, have)
}

// AddHead loads components embed and head into model, a model of this DAG
// from PartialLlamaModel without them, with llama.Model.AddHead: it is
// safe while model generates. opts must be those model was built with.
func (m *Model) AddHead(ctx context.Context, model *llama.Model, opts llama.Options) error {
	head := func(c string) bool { return c == ComponentEmbed || c == ComponentHead }
	if err := model.AddHead(m.tensorSource(ctx, head), opts); err != nil {
		return fmt.Errorf("loader: %w", err)
	}
	return nil
}

// AddLayer loads component layer.N into model, a model of this DAG from
// PartialLlamaModel that lacks block layer, with llama.Model.AddBlock: it
// is safe while model generates. opts must be those model was built with.
func (m *Model) AddLayer(ctx context.Context, model *llama.Model, layer int, opts llama.Options) error {
	name := LayerComponent(layer)
	if err := model.AddBlock(layer, m.tensorSource(ctx, func(c string) bool { return c == name }), opts); err != nil {
		return fmt.Errorf("loader: %w", err)
	}
	return nil
}

// llamaModel is LlamaModel, or PartialLlamaModel when have is not nil.
func (m *Model) llamaModel(ctx context.Context, opts llama.Options, have func(string) bool) (*llama.Model, error) {
	g, err := m.metadata(ctx)
	if err != nil {
		return nil, err
	}
	tok, err := llama.TokenizerFromGGUF(g)
	if err != nil {
		return nil, fmt.Errorf("loader: %w", err)
	}
	build := llama.New
	if have != nil {
		build = llama.NewPartial
	}
	model, err := build(m.Manifest.Hyperparameters.config(), tok, m.tensorSource(ctx, have), opts)
	if err != nil {
		return nil, fmt.Errorf("loader: %w", err)
	}
	return model, nil
}

// tensorSource yields the tensors of the components have admits (all when
// nil), reading each component whole the first time it is asked for; the
// tensors of a component held externally come from there, its matrices
// in place where the kernels run their format.
func (m *Model) tensorSource(ctx context.Context, have func(string) bool) llama.TensorSource {
	components := map[string][]byte{}
	return func(name string) (llama.Tensor, bool, error) {
		t, c, ok := m.Manifest.Tensor(name)
		if !ok || (have != nil && !have(c.Name)) {
			return llama.Tensor{}, false, nil
		}
		f, err := parseFormat(t.Format)
		if err != nil {
			return llama.Tensor{}, true, fmt.Errorf("loader: tensor %s: %w", name, err)
		}
		m.mu.Lock()
		ext := m.external[c.Name]
		m.mu.Unlock()
		if ext != nil {
			return externalTensor(ext, name, t, f)
		}
		data, read := components[c.Name]
		if !read {
			if data, err = m.ReadComponent(ctx, c.Name); err != nil {
				return llama.Tensor{}, true, err
			}
			components[c.Name] = data
		}
		lt, err := f.tensor(name, t.Shape, data[t.Offset:t.Offset+t.Length])
		return lt, true, err
	}
}

// externalTensor is tensor t (named name, stored in f) of a file ext holds:
// a matrix ext builds in place where the kernels run f, else its bytes
// copied out.
func externalTensor(ext External, name string, t Tensor, f format) (llama.Tensor, bool, error) {
	if len(t.Shape) == 2 && f.runs {
		mat, err := ext.Matrix(t.Offset, t.Shape[0], t.Shape[1], f.quant)
		if err != nil {
			return llama.Tensor{}, true, fmt.Errorf("loader: tensor %s: %w", name, err)
		}
		return llama.Tensor{Name: name, Shape: t.Shape, Format: f.quant, Matrix: mat}, true, nil
	}
	data := make([]byte, t.Length)
	if _, err := ext.ReadAt(data, t.Offset); err != nil {
		return llama.Tensor{}, true, fmt.Errorf("loader: tensor %s: %w", name, err)
	}
	lt, err := f.tensor(name, t.Shape, data)
	return lt, true, err
}

// WriteGGUF writes the model as a GGUF file that llama.Open and llama.cpp
// run: the tokenizer component's metadata, then every tensor in manifest
// order. Tensors in a GGML layout keep their bytes; the project's Int
// formats, which GGUF cannot hold, are written as f32 (their dequantized
// values).
func (m *Model) WriteGGUF(ctx context.Context, w io.Writer) error {
	g, err := m.metadata(ctx)
	if err != nil {
		return err
	}
	out := gguf.NewWriter()
	for _, kv := range g.KV {
		if kv.Key == gguf.KeyAlignment {
			continue
		}
		if err := out.AddKV(kv.Key, kv.Value); err != nil {
			return fmt.Errorf("loader: metadata %s: %w", kv.Key, err)
		}
	}
	for _, c := range m.Manifest.Components[1:] {
		data, err := m.ReadComponent(ctx, c.Name)
		if err != nil {
			return err
		}
		for _, t := range c.Tensors {
			f, err := parseFormat(t.Format)
			if err != nil {
				return err
			}
			b, typ := data[t.Offset:t.Offset+t.Length], f.ggml
			if !f.inGGUF {
				mat, err := f.matrix(t.Shape, b)
				if err != nil {
					return fmt.Errorf("loader: tensor %s: %w", t.Name, err)
				}
				b, typ = quant.Float32Bytes(mat.Dequantize()), gguf.F32
			}
			dims := make([]uint64, len(t.Shape))
			for i, d := range t.Shape {
				dims[len(dims)-1-i] = uint64(d)
			}
			if err := out.AddTensor(t.Name, dims, typ, b); err != nil {
				return fmt.Errorf("loader: tensor %s: %w", t.Name, err)
			}
		}
	}
	_, err = out.WriteTo(w)
	return err
}
