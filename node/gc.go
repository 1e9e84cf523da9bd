package node

import (
	"context"
	"fmt"

	"github.com/ipfs-accelerate/accel/blockstore"
)

// GC deletes every block not reachable from a recursive pin (nor directly
// pinned) and returns what it freed. A pinned DAG with a missing block
// stops it before anything is deleted.
func (r *Repo) GC(ctx context.Context) (blockstore.GCResult, error) {
	live := blockstore.Live{}
	pins, err := r.Pins(ctx)
	if err != nil {
		return blockstore.GCResult{}, err
	}
	for _, p := range pins {
		if p.Mode != "recursive" {
			live.Add(p.CID)
			continue
		}
		if err := r.walk(ctx, p.CID, live.Add); err != nil {
			return blockstore.GCResult{}, fmt.Errorf("gc: pinned DAG %s: %w", p.CID, notLocal(err))
		}
	}
	return blockstore.Collect(ctx, r.Blocks, live)
}
