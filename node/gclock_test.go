package node

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// A GC that gives up while an add holds the lock says that it waited for
// it, and removed nothing; once the add is done, GC runs.
func TestGCSaysItWaited(t *testing.T) {
	r := memRepo(t)
	release, err := r.gcLock.share(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	res, err := r.GC(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.HasPrefix(err.Error(), "gc: gave up waiting for the adds, imports and fetches in progress to end") || res.Blocks != 0 {
		t.Fatalf("GC while an add runs: %+v, %v", res, err)
	}
	release()
	if _, err := r.GC(context.Background()); err != nil {
		t.Fatalf("GC after the add: %v", err)
	}
}
