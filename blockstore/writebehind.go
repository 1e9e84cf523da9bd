package blockstore

import (
	"context"
	"sync"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
)

// WriteBehind stores blocks in the background: Put returns as soon as the
// block is held in memory, where Get, Has and GetSize find it until it is
// written. It is for blocks that a caller waits to use — a gateway request
// that fetched them from the network — so that writing them is not on the
// request's path. Up to a bound of bytes wait at a time; past it, Put
// writes before it returns. A failed write is reported and the block
// forgotten, as if never stored.
type WriteBehind struct {
	Blockstore
	maxPending int64
	onError    func(error)

	mu      sync.Mutex
	pending map[string]blocks.Block // by multihash
	bytes   int64
	idle    sync.Cond // signalled when pending empties
}

var _ Blockstore = (*WriteBehind)(nil)

// NewWriteBehind returns bs writing behind, with up to maxPending bytes
// waiting; onError (which may be nil) hears of failed writes.
func NewWriteBehind(bs Blockstore, maxPending int64, onError func(error)) *WriteBehind {
	w := &WriteBehind{Blockstore: bs, maxPending: maxPending, onError: onError, pending: map[string]blocks.Block{}}
	w.idle.L = &w.mu
	return w
}

// Put holds b and writes it in the background, or writes it now when the
// pending bytes would pass the bound.
func (w *WriteBehind) Put(ctx context.Context, b blocks.Block) error {
	key := string(b.Cid().Hash())
	size := int64(len(b.RawData()))
	w.mu.Lock()
	if _, ok := w.pending[key]; ok {
		w.mu.Unlock()
		return nil
	}
	if w.bytes+size > w.maxPending {
		w.mu.Unlock()
		return w.Blockstore.Put(ctx, b)
	}
	w.pending[key] = b
	w.bytes += size
	w.mu.Unlock()
	go func() {
		if err := w.Blockstore.Put(context.WithoutCancel(ctx), b); err != nil && w.onError != nil {
			w.onError(err)
		}
		w.mu.Lock()
		delete(w.pending, key)
		w.bytes -= size
		if len(w.pending) == 0 {
			w.idle.Broadcast()
		}
		w.mu.Unlock()
	}()
	return nil
}

// PutMany puts each block as Put does.
func (w *WriteBehind) PutMany(ctx context.Context, bs []blocks.Block) error {
	for _, b := range bs {
		if err := w.Put(ctx, b); err != nil {
			return err
		}
	}
	return nil
}

func (w *WriteBehind) held(c cid.Cid) (blocks.Block, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	b, ok := w.pending[string(c.Hash())]
	return b, ok
}

func (w *WriteBehind) Get(ctx context.Context, c cid.Cid) (blocks.Block, error) {
	if b, ok := w.held(c); ok {
		return blocks.NewBlockWithCid(b.RawData(), c)
	}
	return w.Blockstore.Get(ctx, c)
}

func (w *WriteBehind) Has(ctx context.Context, c cid.Cid) (bool, error) {
	if _, ok := w.held(c); ok {
		return true, nil
	}
	return w.Blockstore.Has(ctx, c)
}

func (w *WriteBehind) GetSize(ctx context.Context, c cid.Cid) (int, error) {
	if b, ok := w.held(c); ok {
		return len(b.RawData()), nil
	}
	return w.Blockstore.GetSize(ctx, c)
}

// DeleteBlock waits for the pending writes (one may be c's), then deletes.
func (w *WriteBehind) DeleteBlock(ctx context.Context, c cid.Cid) error {
	w.Wait()
	return w.Blockstore.DeleteBlock(ctx, c)
}

// Wait returns once no write is pending.
func (w *WriteBehind) Wait() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for len(w.pending) > 0 {
		w.idle.Wait()
	}
}
