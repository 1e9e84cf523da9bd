package node

import (
	"context"
	"sync"

	"github.com/ipfs/boxo/bitswap"
	"github.com/ipfs/boxo/blockstore"
	"github.com/ipfs/boxo/exchange"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ipfs-accelerate/accel/transfer"
)

// bulkFirst is the exchange behind the node's online blockservice (the
// gateway, get, block reads): a block that is not local is asked of the
// connected peers that speak the bulk transfer protocol — one round trip —
// and only then of bitswap, whose want-have/want-block exchange takes
// several. Blocks from either are verified against their CIDs, and the
// blockservice stores them.
type bulkFirst struct {
	n       *Node
	bs      *bitswap.Bitswap
	streams *transfer.StreamPool // kept open between requests
}

var _ exchange.Interface = (*bulkFirst)(nil)

// bulk fetches what it can of cids into the store and returns the blocks
// it got; the rest are left to bitswap.
func (e *bulkFirst) bulk(ctx context.Context, cids []cid.Cid) (got []blocks.Block, missing []cid.Cid) {
	var providers []peer.ID
	for _, p := range e.n.Host.Network().Peers() {
		if !e.n.banned(p) && transfer.Supports(e.n.Host, p) {
			providers = append(providers, p)
		}
	}
	stored := &keptBlocks{Blockstore: e.n.Blocks, kept: map[cid.Cid]blocks.Block{}}
	if len(providers) > 0 {
		transfer.NewFetcher(e.n.Host, stored, transfer.WithStreams(1), transfer.WithStreamPool(e.streams), transfer.OnBlock(e.n.metrics.receivedBlock), transfer.OnBadPeer(e.n.ban)).Fetch(ctx, providers, cids) //nolint:errcheck // what is missing goes to bitswap
	}
	for _, c := range cids {
		if b, ok := stored.block(c); ok {
			got = append(got, b)
		} else if b, err := e.n.Blocks.Get(ctx, c); err == nil {
			got = append(got, b)
		} else {
			missing = append(missing, c)
		}
	}
	return got, missing
}

// keptBlocks is the store of the exchange's fetches: it keeps the blocks
// put through it in memory, for the blockservice, which hands them to the
// caller and then stores them. Everything else goes to the wrapped store.
type keptBlocks struct {
	blockstore.Blockstore
	mu   sync.Mutex
	kept map[cid.Cid]blocks.Block
}

func (k *keptBlocks) Put(ctx context.Context, b blocks.Block) error {
	return k.PutMany(ctx, []blocks.Block{b})
}

func (k *keptBlocks) PutMany(_ context.Context, bs []blocks.Block) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, b := range bs {
		k.kept[b.Cid()] = b
	}
	return nil
}

func (k *keptBlocks) block(c cid.Cid) (blocks.Block, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	b, ok := k.kept[c]
	return b, ok
}

func (e *bulkFirst) GetBlock(ctx context.Context, c cid.Cid) (blocks.Block, error) {
	if got, _ := e.bulk(ctx, []cid.Cid{c}); len(got) == 1 {
		return got[0], nil
	}
	return e.bs.GetBlock(ctx, c)
}

func (e *bulkFirst) GetBlocks(ctx context.Context, cids []cid.Cid) (<-chan blocks.Block, error) {
	got, missing := e.bulk(ctx, cids)
	var rest <-chan blocks.Block
	if len(missing) > 0 {
		var err error
		if rest, err = e.bs.GetBlocks(ctx, missing); err != nil {
			return nil, err
		}
	}
	out := make(chan blocks.Block)
	go func() {
		defer close(out)
		for _, b := range got {
			select {
			case out <- b:
			case <-ctx.Done():
				return
			}
		}
		for b := range rest {
			select {
			case out <- b:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

func (e *bulkFirst) NotifyNewBlocks(ctx context.Context, bs ...blocks.Block) error {
	return e.bs.NotifyNewBlocks(ctx, bs...)
}

// Close leaves bitswap to the node, which closes it.
func (e *bulkFirst) Close() error { return nil }
