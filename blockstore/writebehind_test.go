package blockstore

import (
	"context"
	"errors"
	"testing"

	blocks "github.com/ipfs/go-block-format"
)

// gatedStore holds every Put until gate is closed, and fails them with err.
type gatedStore struct {
	Blockstore
	gate chan struct{}
	err  error
}

func (g gatedStore) Put(ctx context.Context, b blocks.Block) error {
	<-g.gate
	if g.err != nil {
		return g.err
	}
	return g.Blockstore.Put(ctx, b)
}

func TestWriteBehindServesPendingBlocks(t *testing.T) {
	ctx := context.Background()
	under := newStore()
	gate := make(chan struct{})
	w := NewWriteBehind(gatedStore{under, gate, nil}, 1<<20, nil)
	b := block(1, 1000)
	if err := w.Put(ctx, b); err != nil { // returns with the write held at the gate
		t.Fatal(err)
	}
	if ok, _ := under.Has(ctx, b.Cid()); ok {
		t.Fatal("the block was written before the gate opened")
	}
	if ok, err := w.Has(ctx, b.Cid()); !ok || err != nil {
		t.Errorf("Has of a pending block: %v %v", ok, err)
	}
	if n, err := w.GetSize(ctx, b.Cid()); n != 1000 || err != nil {
		t.Errorf("GetSize of a pending block: %d %v", n, err)
	}
	if got, err := w.Get(ctx, b.Cid()); err != nil || string(got.RawData()) != string(b.RawData()) {
		t.Errorf("Get of a pending block: %v", err)
	}
	close(gate)
	w.Wait()
	if ok, _ := under.Has(ctx, b.Cid()); !ok {
		t.Error("the block was not written")
	}
}

func TestWriteBehindBoundAndFailures(t *testing.T) {
	ctx := context.Background()
	under := newStore()
	w := NewWriteBehind(under, 1500, nil)
	gate := make(chan struct{})
	close(gate)
	// Over the bound: written before Put returns.
	big := block(2, 2000)
	if err := w.Put(ctx, big); err != nil {
		t.Fatal(err)
	}
	if ok, _ := under.Has(ctx, big.Cid()); !ok {
		t.Error("a block over the bound was not written by Put")
	}

	var failures []error
	failing := NewWriteBehind(gatedStore{under, gate, errors.New("disk full")}, 1<<20, func(err error) { failures = append(failures, err) })
	lost := block(3, 100)
	if err := failing.Put(ctx, lost); err != nil {
		t.Fatal(err)
	}
	failing.Wait()
	if len(failures) != 1 {
		t.Errorf("%d failures reported, want 1", len(failures))
	}
	if ok, _ := failing.Has(ctx, lost.Cid()); ok {
		t.Error("a block whose write failed is still there")
	}
}
