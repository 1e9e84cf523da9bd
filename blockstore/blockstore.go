// Package blockstore holds the node's blocks: the persistent boxo
// blockstore over the repo's datastore (New), whose blocks live in FlatFS
// (flatfs.go), and a second blockstore over the same files whose batches
// are written past the page cache (NewDirect), for fetches; decorators
// over boxo's Blockstore interface, one per file — a size limit
// (limit.go), verification on read (verify.go), a byte-bounded hot cache
// weighted by the block priorities it looks up (cache.go) and writing in
// the background (writebehind.go); and garbage collection of unreachable
// blocks (gc.go).
package blockstore

import (
	bstore "github.com/ipfs/boxo/blockstore"
	ds "github.com/ipfs/go-datastore"
)

// Blockstore is boxo's blockstore interface, which every type here
// implements and decorates.
type Blockstore = bstore.Blockstore

// New opens the persistent blockstore over d, keyed by multihash under
// boxo's /blocks prefix (the Kubo layout). Reads trust the stored bytes
// (no hash on read); wrap it with Verifying, or call Verify, to check them.
// A Put of a block already stored is skipped.
func New(d ds.Batching) Blockstore {
	return bstore.NewBlockstore(d)
}

// NewDirect opens a blockstore over f for writers that do not read their
// blocks back soon — a fetch from the network: its PutMany writes past
// the page cache (see FlatFS). It holds the same blocks, under the same
// keys, as New over a datastore that mounts f at /blocks (the repo's),
// and like New, it trusts the stored bytes.
func NewDirect(f *FlatFS) Blockstore {
	return bstore.NewBlockstore(directView{f}, bstore.NoPrefix())
}
