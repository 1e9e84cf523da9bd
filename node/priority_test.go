package node

import (
	"context"
	"slices"
	"testing"

	"github.com/ipfs/go-cid"
	dsq "github.com/ipfs/go-datastore/query"

	"github.com/ipfs-accelerate/accel/loader"
)

// The priorities of a model's blocks, recorded when it is added, hold
// after the repo is reopened: with a hot cache that fits only the
// tokenizer, embed and head, reading every layer after them leaves those
// cached and the layers not. GC drops the records with the blocks.
func TestPrioritiesSurviveReopen(t *testing.T) {
	ctx := context.Background()
	dir, r := newTestRepo(t)
	defer func() { r.Close() }()
	root, m, err := r.Add(ctx, synthModel(t, 1), "", loader.ImportOptions{ChunkSize: loader.MinChunkSize})
	if err != nil {
		t.Fatal(err)
	}
	var critical, layers []cid.Cid
	var budget int64
	for _, c := range m.Components {
		if err := dagBlocks(ctx, r.Blocks, c.CID, func(k cid.Cid) {
			if c.Priority > loader.Priority(loader.ComponentHead) {
				layers = append(layers, k)
				return
			}
			critical = append(critical, k)
			n, err := r.Blocks.GetSize(ctx, k)
			if err != nil {
				t.Fatal(err)
			}
			budget += int64(n)
		}); err != nil {
			t.Fatal(err)
		}
	}
	layers = slices.DeleteFunc(layers, func(k cid.Cid) bool { return slices.Contains(critical, k) })

	cfg := r.Config
	cfg.Datastore.HotCache = budget
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := writeConfig(dir, cfg); err != nil {
		t.Fatal(err)
	}
	if r, err = Open(ctx, dir); err != nil {
		t.Fatal(err)
	}
	if p := r.priority(ctx, root); p != 0 {
		t.Errorf("the manifest's priority after reopening: %d, want 0", p)
	}
	for _, c := range m.Components {
		if p := r.priority(ctx, c.CID); p != c.Priority {
			t.Errorf("%s's priority after reopening: %d, want %d", c.Name, p, c.Priority)
		}
	}
	for _, k := range slices.Concat(critical, layers) {
		if _, err := r.Blocks.Get(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	before := r.Blocks.Stats()
	for _, k := range critical {
		r.Blocks.Get(ctx, k)
	}
	if st := r.Blocks.Stats(); st.Hits-before.Hits != uint64(len(critical)) || st.Blocks != len(critical) || st.Bytes > budget {
		t.Fatalf("after reading %d layer blocks, %d of the %d tokenizer, embed and head blocks were cached (cache %+v)",
			len(layers), st.Hits-before.Hits, len(critical), st)
	}

	if err := r.Unpin(ctx, root); err != nil {
		t.Fatal(err)
	}
	if _, err := r.GC(ctx); err != nil {
		t.Fatal(err)
	}
	res, err := r.dstore.Query(ctx, dsq.Query{Prefix: priorityPrefix, KeysOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if left, err := res.Rest(); err != nil || len(left) != 0 {
		t.Errorf("after gc, %d priority records are left (%v)", len(left), err)
	}
}
