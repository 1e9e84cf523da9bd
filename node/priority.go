package node

import (
	"context"
	"encoding/binary"

	"github.com/ipfs/boxo/datastore/dshelp"
	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
	mh "github.com/multiformats/go-multihash"

	"github.com/ipfs-accelerate/accel/blockstore"
	"github.com/ipfs-accelerate/accel/loader"
)

// Block priorities. When a model is pinned — added, imported from a CAR,
// or fetched by pin add — the repo records the priority of each of its
// blocks, the one the hot cache keeps it under: its component's
// (loader.Priority: tokenizer 0, embed 1, head 2, layer.N 3+N), 0 for the
// manifest, the lowest where a block is in several components or models.
// Each is a varint under /priority/<multihash> in the leveldb datastore,
// so it holds after a restart; GC drops the records of the blocks it
// deletes. A block with no record has blockstore.DefaultPriority.
const priorityPrefix = "/priority"

func priorityKey(h mh.Multihash) ds.Key {
	return ds.NewKey(priorityPrefix).Child(dshelp.MultihashToDsKey(h))
}

// priority returns the priority recorded for block c: the hot cache's
// lookup. A record that cannot be read counts as none.
func (r *Repo) priority(ctx context.Context, c cid.Cid) int {
	v, err := r.dstore.Get(ctx, priorityKey(c.Hash()))
	if err != nil {
		return blockstore.DefaultPriority
	}
	p, n := binary.Varint(v)
	if n <= 0 {
		return blockstore.DefaultPriority
	}
	return int(p)
}

// recordPriorities records the priorities of the blocks of the model at
// root, in one batch; a root that is not a model manifest has none. The
// blocks with links must be local.
func (r *Repo) recordPriorities(ctx context.Context, root cid.Cid) error {
	// Past the cache: reading is not using.
	m, err := loader.Open(ctx, root, r.stored)
	if err != nil {
		return nil // not a model: its blocks keep the default priority
	}
	prio := map[string]int{string(root.Hash()): 0} // by multihash
	for _, comp := range m.Manifest.Components {
		err := dagBlocks(ctx, r.stored, comp.CID, func(c cid.Cid) {
			if p, ok := prio[string(c.Hash())]; !ok || comp.Priority < p {
				prio[string(c.Hash())] = comp.Priority
			}
		})
		if err != nil {
			return err
		}
	}
	batch, err := r.dstore.Batch(ctx)
	if err != nil {
		return err
	}
	for h, p := range prio {
		c := cid.NewCidV1(cid.Raw, mh.Multihash(h))
		if r.priority(ctx, c) <= p {
			continue // another model's block, already more important
		}
		if err := batch.Put(ctx, priorityKey(c.Hash()), binary.AppendVarint(nil, int64(p))); err != nil {
			return err
		}
	}
	return batch.Commit(ctx)
}

// forgetPriorities drops the priority records of the blocks no longer in
// the repo. A failure leaves them to the next GC.
func (r *Repo) forgetPriorities(ctx context.Context) {
	res, err := r.dstore.Query(ctx, dsq.Query{Prefix: priorityPrefix, KeysOnly: true})
	if err != nil {
		return
	}
	var gone []ds.Key
	for e := range res.Next() {
		if e.Error != nil {
			break
		}
		key := ds.RawKey(e.Key)
		h, err := dshelp.DsKeyToMultihash(ds.NewKey(key.BaseNamespace()))
		if err != nil {
			continue
		}
		if has, err := r.stored.Has(ctx, cid.NewCidV1(cid.Raw, h)); err == nil && !has {
			gone = append(gone, key)
		}
	}
	res.Close()
	batch, err := r.dstore.Batch(ctx)
	if err != nil {
		return
	}
	for _, key := range gone {
		if batch.Delete(ctx, key) != nil {
			return
		}
	}
	_ = batch.Commit(ctx)
}

// dagBlocks calls visit once with each block of the local DAG at root.
func dagBlocks(ctx context.Context, bs blockstore.Blockstore, root cid.Cid, visit func(cid.Cid)) error {
	w := loader.Walker{Get: bs.Get, Fetch: func(_ context.Context, level []cid.Cid) error {
		for _, c := range level {
			visit(c)
		}
		return nil
	}}
	return w.Walk(ctx, root)
}
