package loader

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"sync"
	"time"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
	"golang.org/x/sync/errgroup"

	"github.com/ipfs-accelerate/accel/inference/gguf"
	"github.com/ipfs-accelerate/accel/inference/llama"
	"github.com/ipfs-accelerate/accel/inference/quant"
)

// UnixFS layout of components: IPIP-499's unixfs-v1-2025 profile (CIDv1,
// sha2-256, raw leaves, balanced DAG of up to 1024 links per node) with a
// fixed-size chunker of ChunkSize bytes. Kubo with that import profile and
// --chunker=size-N gives a component's bytes the same CID (Kubo's older
// default of 174 links per node differs only for files of more than 174
// chunks).
const (
	DefaultChunkSize = 1 << 20
	MinChunkSize     = 256 << 10
	MaxChunkSize     = 2 << 20
	DAGWidth         = 1024
)

// FilePrefix makes the CIDs of component nodes (raw leaves take the Raw
// codec with the same hash).
var FilePrefix = cid.Prefix{Version: 1, Codec: cid.DagProtobuf, MhType: mh.SHA2_256, MhLength: -1}

// ImportOptions control Import. The same source and options give the same
// root CID on every machine.
type ImportOptions struct {
	// Precision converts the weights with a quantization plan (norms stay
	// f32); nil keeps every tensor in its source format.
	Precision *quant.Plan
	// ChunkSize is the size of the UnixFS leaves: 0 for DefaultChunkSize,
	// else MinChunkSize…MaxChunkSize.
	ChunkSize int
	// Progress, if set, is called as component bytes are stored, with the
	// bytes done and the total of all components.
	Progress func(done, total int64)
}

// FileStore is where Store writes a model (a blockstore through the
// package dagstore): its components as UnixFS files, then its manifest
// block.
type FileStore interface {
	// AddFile stores the bytes of r as a UnixFS file, a balanced DAG of
	// raw leaves of chunkSize bytes and nodes of up to width links whose
	// CIDs take prefix, and returns its CID.
	AddFile(ctx context.Context, r io.Reader, chunkSize, width int, prefix cid.Prefix) (cid.Cid, error)
	// Put stores one block.
	Put(ctx context.Context, b blocks.Block) error
}

// Import stores the model at src in fs as a model DAG and returns its root
// CID and manifest: Prepare, then Store.
func Import(ctx context.Context, src Source, opts ImportOptions, fs FileStore) (cid.Cid, *Manifest, error) {
	p, err := Prepare(ctx, src, opts)
	if err != nil {
		return cid.Undef, nil, err
	}
	defer p.Close()
	return p.Store(ctx, fs)
}

// Prepared is a source opened, read and checked for Store: its headers,
// metadata and vocabulary are read, every tensor the hyperparameters call
// for is there with its shape, and the manifest is laid out. Only tensor
// data is left in the files, to be read by range as Store needs it.
type Prepared struct {
	path     string
	ck       *checkpoint
	m        *Manifest
	parts    [][]io.Reader
	chunk    int
	progress func(done, total int64)
}

// prepareTimeout bounds Prepare, which reads no more than headers,
// metadata and vocabularies.
const prepareTimeout = time.Minute

// Prepare opens and checks the model at src for Store. It gives up when
// ctx ends or after prepareTimeout, even while a read of the source is
// stuck (the files are closed once that read returns).
func Prepare(ctx context.Context, src Source, opts ImportOptions) (*Prepared, error) {
	chunk := opts.ChunkSize
	if chunk == 0 {
		chunk = DefaultChunkSize
	}
	if chunk < MinChunkSize || chunk > MaxChunkSize {
		return nil, fmt.Errorf("loader: chunk size %d is outside %d…%d", chunk, MinChunkSize, MaxChunkSize)
	}
	if opts.Precision != nil {
		if err := opts.Precision.Validate(); err != nil {
			return nil, fmt.Errorf("loader: precision plan: %w", err)
		}
	}
	ctx, cancel := context.WithTimeoutCause(ctx, prepareTimeout, fmt.Errorf("reading the model took over %v", prepareTimeout))
	defer cancel()
	type result struct {
		p   *Prepared
		err error
	}
	done := make(chan result, 1)
	go func() {
		p, err := prepare(src, opts.Precision)
		if p != nil {
			p.chunk, p.progress = chunk, opts.Progress
		}
		done <- result{p, err}
	}()
	select {
	case r := <-done:
		return r.p, r.err
	case <-ctx.Done():
		go func() {
			if r := <-done; r.p != nil {
				r.p.Close()
			}
		}()
		return nil, fmt.Errorf("%s: %w", src.Path, context.Cause(ctx))
	}
}

// prepare is Prepare without its bounds.
func prepare(src Source, precision *quant.Plan) (*Prepared, error) {
	ck, err := src.open()
	if src.Staged {
		os.RemoveAll(src.Path)
		if src.Tokenizer != "" {
			os.Remove(src.Tokenizer)
		}
	}
	if err != nil {
		return nil, err
	}
	m, parts, err := layout(ck, precision)
	if err != nil {
		ck.close()
		return nil, fmt.Errorf("%s: %w", src.Path, err)
	}
	return &Prepared{path: src.Path, ck: ck, m: m, parts: parts}, nil
}

// Close releases the source's files. A Prepared must be closed, stored or
// not.
func (p *Prepared) Close() error { return p.ck.close() }

// Store writes the prepared model into fs and returns its root CID and
// manifest; it may be called once. Every component block is stored before
// the manifest block, which is written last: a failed or cancelled Store
// leaves no root, only unreferenced component blocks for garbage
// collection. It stops when ctx ends.
func (p *Prepared) Store(ctx context.Context, fs FileStore) (cid.Cid, *Manifest, error) {
	// Components are independent files: they are chunked and hashed in
	// parallel, one per core; the manifest records them in order.
	m := p.m
	prog := &progress{total: m.Size(), fn: p.progress}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i := range m.Components {
		c := &m.Components[i]
		g.Go(func() error {
			var err error
			c.CID, err = fs.AddFile(gctx, &progressReader{ctx: gctx, r: io.MultiReader(p.parts[i]...), p: prog}, p.chunk, DAGWidth, FilePrefix)
			if err != nil {
				return fmt.Errorf("%s: storing component %s: %w", p.path, c.Name, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return cid.Undef, nil, err
	}
	root, err := m.Block()
	if err != nil {
		return cid.Undef, nil, err
	}
	if err := fs.Put(ctx, root); err != nil {
		return cid.Undef, nil, fmt.Errorf("loader: storing the manifest: %w", err)
	}
	return root.Cid(), m, nil
}

// layout checks the checkpoint against its hyperparameters and lays out
// the manifest (without CIDs) and the readers of each component's bytes.
func layout(ck *checkpoint, precision *quant.Plan) (*Manifest, [][]io.Reader, error) {
	h := ck.hp
	if err := h.Validate(); err != nil {
		return nil, nil, err
	}
	tokFile, err := checkTokenizer(ck)
	if err != nil {
		return nil, nil, err
	}
	specs := componentSpecs(h)
	used := map[string]bool{}
	m := &Manifest{Version: Version, Architecture: "llama", Hyperparameters: h}
	if precision != nil {
		m.Precision = precision.String()
	}
	parts := make([][]io.Reader, len(specs))
	for i, name := range CriticalPath(h.Layers) {
		c := Component{Name: name, Priority: Priority(name)}
		if name == ComponentTokenizer {
			c.Size = int64(len(tokFile))
			parts[i] = []io.Reader{bytes.NewReader(tokFile)}
		}
		for _, s := range specs[i] {
			t, ok := ck.tensors[s.Name]
			if !ok {
				return nil, nil, fmt.Errorf("the checkpoint has no tensor %s", s.Name)
			}
			if !slices.Equal(t.shape, s.Shape) {
				return nil, nil, fmt.Errorf("tensor %s has shape %v, the hyperparameters give %v", s.Name, t.shape, s.Shape)
			}
			used[s.Name] = true
			to := t.format
			if precision != nil {
				to = quantFormat(precision.FormatFor(s.Name, s.Shape))
			}
			n, err := to.size(s.Shape)
			if err != nil {
				return nil, nil, fmt.Errorf("tensor %s as %s: %w", s.Name, to.name, err)
			}
			off := alignUp(c.Size)
			if pad := off - c.Size; pad > 0 {
				parts[i] = append(parts[i], bytes.NewReader(make([]byte, pad)))
			}
			c.Tensors = append(c.Tensors, Tensor{Name: s.Name, Shape: s.Shape, Format: to.name, Offset: off, Length: n})
			c.Size = off + n
			if to.name == t.format.name {
				if int64(len(t.data)) != n {
					return nil, nil, fmt.Errorf("tensor %s holds %d bytes, its shape and format need %d", s.Name, len(t.data), n)
				}
				parts[i] = append(parts[i], t.reader())
				continue
			}
			parts[i] = append(parts[i], &lazyReader{open: func() ([]byte, error) {
				out, err := convert(t.data, t.format, s.Shape, to.quant)
				if err != nil {
					return nil, fmt.Errorf("tensor %s from %s to %s: %w", s.Name, t.format.name, to.name, err)
				}
				return out, nil
			}, size: n})
		}
		m.Components = append(m.Components, c)
	}
	var extra []string
	for name := range ck.tensors {
		if !used[name] {
			extra = append(extra, name)
		}
	}
	if len(extra) > 0 {
		slices.Sort(extra)
		err := fmt.Errorf("tensor %q has no place in a Llama model DAG", extra[0])
		if len(extra) > 1 {
			err = fmt.Errorf("%w, nor have %d other tensors", err, len(extra)-1)
		}
		return nil, nil, err
	}
	return m, parts, nil
}

// checkTokenizer writes the tokenizer component and checks that a client
// holding only it gets the checkpoint's shape and a working tokenizer.
func checkTokenizer(ck *checkpoint) ([]byte, error) {
	file, err := tokenizerFile(ck.meta)
	if err != nil {
		return nil, err
	}
	g, err := gguf.Decode(file)
	if err != nil {
		return nil, fmt.Errorf("tokenizer component: %w", err)
	}
	h, err := hyperparameters(g)
	if err != nil {
		return nil, err
	}
	h.Vocab, h.TiedOutput = ck.hp.Vocab, ck.hp.TiedOutput
	if h != ck.hp {
		return nil, fmt.Errorf("the metadata gives hyperparameters %+v, the checkpoint %+v", h, ck.hp)
	}
	tok, err := llama.TokenizerFromGGUF(g)
	if err != nil {
		return nil, err
	}
	if tok.VocabSize() > ck.hp.Vocab {
		return nil, fmt.Errorf("the vocabulary has %d tokens, the embedding only %d rows", tok.VocabSize(), ck.hp.Vocab)
	}
	return file, nil
}

func alignUp(n int64) int64 {
	return (n + TensorAlignment - 1) / TensorAlignment * TensorAlignment
}

// lazyReader produces its bytes on the first Read (converting a tensor
// only when the chunker reaches it) and drops them at the end, so an
// import holds one converted tensor at a time.
type lazyReader struct {
	open func() ([]byte, error)
	size int64
	data []byte
	done bool
}

func (l *lazyReader) Read(p []byte) (int, error) {
	if l.done {
		return 0, io.EOF
	}
	if l.open != nil {
		data, err := l.open()
		if err != nil {
			return 0, err
		}
		if int64(len(data)) != l.size {
			return 0, fmt.Errorf("loader: internal error: %d bytes where %d were planned", len(data), l.size)
		}
		l.data, l.open = data, nil
	}
	n := copy(p, l.data)
	l.data = l.data[n:]
	if len(l.data) == 0 {
		l.data, l.done = nil, true
	}
	return n, nil
}

// progress adds up the bytes stored by all components for Progress.
type progress struct {
	mu          sync.Mutex
	done, total int64
	fn          func(done, total int64)
}

func (p *progress) add(n int) {
	if p.fn == nil || n == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done += int64(n)
	p.fn(p.done, p.total)
}

// progressReader counts the bytes read through it and stops the import
// when ctx ends.
type progressReader struct {
	ctx context.Context
	r   io.Reader
	p   *progress
}

func (p *progressReader) Read(b []byte) (int, error) {
	if err := p.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := p.r.Read(b)
	p.p.add(n)
	return n, err
}
