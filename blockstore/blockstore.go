// Package blockstore holds the node's blocks: a persistent boxo blockstore
// over the repo's datastore (whose blocks live in FlatFS: flatfs, with the
// batches a fetch stores written past the page cache, flatfs.go), and
// decorators over boxo's Blockstore
// interface, one per file — a size limit (limit.go), verification on read
// (verify.go), a byte-bounded hot cache weighted by component priority
// (cache.go) — and garbage collection of unreachable blocks (gc.go).
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
