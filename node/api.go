package node

import (
	"context"
	"fmt"
	"io"

	"github.com/ipfs/go-cid"

	"github.com/ipfs-accelerate/accel/blockstore"
	"github.com/ipfs-accelerate/accel/inference/quant"
	"github.com/ipfs-accelerate/accel/loader"
)

// API is what the CLI asks of a node: a *Node in this process (the daemon,
// or an offline node when none runs), or the daemon's RPC API over HTTP
// (rpc.Client). Both give the same answers and errors.
type API interface {
	ID(ctx context.Context) (IDInfo, error)
	SwarmConnect(ctx context.Context, addr string) error
	SwarmDisconnect(ctx context.Context, addr string) error
	SwarmPeers(ctx context.Context) ([]PeerInfo, error)
	SwarmAddrs(ctx context.Context) ([]string, error)

	// AddModel imports the model at src and pins it; progress, if set,
	// gets the bytes stored and the total.
	AddModel(ctx context.Context, src loader.Source, opts AddOptions, progress func(done, total int64)) (cid.Cid, error)
	PinAdd(ctx context.Context, c cid.Cid, name string, progress func(Progress)) error
	Pins(ctx context.Context) ([]PinInfo, error)
	Unpin(ctx context.Context, c cid.Cid) error
	Stat(ctx context.Context, c cid.Cid) (*ModelStat, error)
	// Block returns one block's bytes.
	Block(ctx context.Context, c cid.Cid) ([]byte, error)
	// WriteGGUF writes the model at c as a GGUF file.
	WriteGGUF(ctx context.Context, c cid.Cid, w io.Writer) error
	ExportCAR(ctx context.Context, c cid.Cid, w io.Writer) error
	ImportCAR(ctx context.Context, r io.Reader) ([]cid.Cid, error)
	GC(ctx context.Context) (blockstore.GCResult, error)
	RepoStat(ctx context.Context) (*RepoStat, error)
	Verify(ctx context.Context) (checked int, corrupt []cid.Cid, err error)
}

var _ API = (*Node)(nil)

// AddOptions are the import options that travel over the RPC API.
type AddOptions struct {
	// Precision is a quantization plan in the compact form quant.ParsePlan
	// reads; "" keeps the source formats.
	Precision string
	ChunkSize int // 0: loader.DefaultChunkSize
	// Name names the pin ("": the model file's name).
	Name string
}

// importOptions turns o into loader options.
func (o AddOptions) importOptions(progress func(done, total int64)) (loader.ImportOptions, error) {
	opts := loader.ImportOptions{ChunkSize: o.ChunkSize, Progress: progress}
	if o.Precision != "" {
		p, err := quant.ParsePlan(o.Precision)
		if err != nil {
			return opts, Invalid(fmt.Errorf("precision: %w", err))
		}
		opts.Precision = &p
	}
	return opts, nil
}

// AddModel imports and pins the model at src, then announces it.
func (n *Node) AddModel(ctx context.Context, src loader.Source, o AddOptions, progress func(done, total int64)) (cid.Cid, error) {
	opts, err := o.importOptions(progress)
	if err != nil {
		return cid.Undef, err
	}
	root, _, err := n.Add(ctx, src, o.Name, opts)
	if err == nil && n.IsOnline() {
		go n.provide(n.ctx, n.modelRoots(ctx, root)...)
	}
	return root, err
}

// Block returns c's bytes, fetched from the network when online.
func (n *Node) Block(ctx context.Context, c cid.Cid) ([]byte, error) {
	if n.IsOnline() {
		b, err := n.Online.GetBlock(ctx, c)
		if err != nil {
			return nil, err
		}
		return b.RawData(), nil
	}
	b, err := n.Blocks.Get(ctx, c)
	if err != nil {
		return nil, notLocal(err)
	}
	return b.RawData(), nil
}

// WriteGGUF writes the model at c as a GGUF file, fetching missing blocks
// when online.
func (n *Node) WriteGGUF(ctx context.Context, c cid.Cid, w io.Writer) error {
	var blocks loader.BlockGetter = n.Blocks
	if n.IsOnline() {
		blocks = loader.GetterFunc(n.Online.GetBlock)
	}
	m, err := loader.Open(ctx, c, blocks)
	if err != nil {
		return notLocal(err)
	}
	n.touch(ctx, c)
	return m.WriteGGUF(ctx, w)
}

// ImportCAR imports a CAR and, online, announces its roots.
func (n *Node) ImportCAR(ctx context.Context, rd io.Reader) ([]cid.Cid, error) {
	roots, err := n.Repo.ImportCAR(ctx, rd)
	if n.IsOnline() {
		for _, root := range roots {
			go n.provide(n.ctx, n.modelRoots(ctx, root)...)
		}
	}
	return roots, err
}
