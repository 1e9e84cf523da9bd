package node

import (
	"context"
	"fmt"

	"golang.org/x/sync/semaphore"
)

// gcLock keeps GC out while blocks are written and not yet pinned: adds,
// imports and fetches share it, GC holds it alone. Waiting for it ends
// with the caller's context, and a waiting GC holds back new sharers
// (first come, first served), so neither side starves.
type gcLock struct{ sem *semaphore.Weighted }

// gcSharers bounds the adds and fetches that may run at once.
const gcSharers = 1 << 20

func newGCLock() gcLock { return gcLock{semaphore.NewWeighted(gcSharers)} }

// share waits for GC to be out and keeps it out until release.
func (l gcLock) share(ctx context.Context) (release func(), err error) {
	if err := l.sem.Acquire(ctx, 1); err != nil {
		return nil, err
	}
	return func() { l.sem.Release(1) }, nil
}

// exclude waits until nothing shares the lock and keeps everyone out
// until release. When ctx ends first, the error says what it waited for.
func (l gcLock) exclude(ctx context.Context) (release func(), err error) {
	if !l.sem.TryAcquire(gcSharers) {
		if err := l.sem.Acquire(ctx, gcSharers); err != nil {
			return nil, fmt.Errorf("gave up waiting for the adds, imports and fetches in progress to end: %w", err)
		}
	}
	return func() { l.sem.Release(gcSharers) }, nil
}
