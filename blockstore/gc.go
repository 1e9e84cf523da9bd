package blockstore

import (
	"context"
	"fmt"

	bstore "github.com/ipfs/boxo/blockstore"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
	mh "github.com/multiformats/go-multihash"
)

// GCResult is what a collection removed.
type GCResult struct {
	Blocks int   // blocks deleted
	Bytes  int64 // their bytes
}

// Collect deletes every block of bs whose multihash is not in live, and
// returns the count and bytes freed. The live set comes first and whole,
// so a failure while enumerating deletes nothing more; the caller must keep
// writers out of bs meanwhile (the repo lock).
func Collect(ctx context.Context, bs Blockstore, live Live) (GCResult, error) {
	var (
		keys <-chan cid.Cid
		done = func() error { return nil }
		err  error
	)
	if e, ok := bs.(bstore.AllKeysChanWithErrer); ok {
		keys, done, err = e.AllKeysChanWithErr(ctx)
	} else {
		keys, err = bs.AllKeysChan(ctx)
	}
	if err != nil {
		return GCResult{}, fmt.Errorf("blockstore: listing blocks: %w", err)
	}
	var dead []cid.Cid
	for k := range keys {
		if _, ok := live[string(k.Hash())]; !ok {
			dead = append(dead, k)
		}
	}
	if err := done(); err != nil {
		return GCResult{}, fmt.Errorf("blockstore: listing blocks: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return GCResult{}, err
	}
	var r GCResult
	for _, k := range dead {
		n, err := bs.GetSize(ctx, k)
		if err != nil && !ipld.IsNotFound(err) {
			return r, err
		}
		if err := bs.DeleteBlock(ctx, k); err != nil {
			return r, fmt.Errorf("blockstore: deleting %s: %w", k, err)
		}
		r.Blocks++
		r.Bytes += int64(max(n, 0))
	}
	return r, nil
}

// Live is a set of multihashes, the form Collect takes.
type Live map[string]struct{}

// Add puts c's multihash in the set and reports whether it was new.
func (l Live) Add(c cid.Cid) bool {
	k := string(c.Hash())
	if _, ok := l[k]; ok {
		return false
	}
	l[k] = struct{}{}
	return true
}

// Has reports whether h is in the set.
func (l Live) Has(h mh.Multihash) bool {
	_, ok := l[string(h)]
	return ok
}
