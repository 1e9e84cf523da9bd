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
	release, err := r.gcLock.exclude(ctx)
	if err != nil {
		return blockstore.GCResult{}, fmt.Errorf("gc: %w", err)
	}
	defer release()
	live, err := r.live(ctx)
	if err != nil {
		return blockstore.GCResult{}, err
	}
	res, err := blockstore.Collect(ctx, r.Blocks, live)
	if res.Blocks > 0 {
		r.forgetPriorities(ctx)
	}
	if err == nil {
		if uses, e := r.LastUse(ctx); e == nil {
			r.forgetGone(ctx, uses)
		}
	}
	return res, err
}

// live returns the blocks reachable from the pins. A pinned DAG with a
// missing block is an error.
func (r *Repo) live(ctx context.Context) (blockstore.Live, error) {
	live := blockstore.Live{}
	pins, err := r.Pins(ctx)
	if err != nil {
		return nil, err
	}
	for _, p := range pins {
		if p.Mode != "recursive" {
			live.Add(p.CID)
			continue
		}
		if err := r.walk(ctx, p.CID, live.Add); err != nil {
			return nil, fmt.Errorf("gc: pinned DAG %s: %w", p.CID, notLocal(err))
		}
	}
	return live, nil
}
