//go:build js && wasm

package main

import (
	"bytes"
	"context"
	"math/rand/v2"
	"syscall/js"
	"testing"
	"time"

	"github.com/ipfs/boxo/blockstore"
	chunker "github.com/ipfs/boxo/chunker"
	"github.com/ipfs/boxo/ipld/unixfs/importer/balanced"
	"github.com/ipfs/boxo/ipld/unixfs/importer/helpers"
	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"

	"github.com/ipfs-accelerate/accel/browser/kern"
	"github.com/ipfs-accelerate/accel/loader"
)

// noProgress is a load that reports its progress to no one.
type noProgress struct{}

func (noProgress) progress(float64, string, int64)       {}
func (noProgress) componentLoaded(string, time.Duration) {}

// A component fetched into an arena region: its raw leaves' bytes land
// at their offsets in the file — a leaf repeated at several offsets at
// each, one first received corrupt at the right place once it matches —
// hashed by a JS digest or, without one, in Go; only the inner nodes stay
// in the blockstore.
func TestComponentIntoRegion(t *testing.T) {
	levels := kern.Levels()
	if len(levels) == 0 {
		t.Skip("no kernels: run the tests with -exec browser/kern/go_js_wasm_exec")
	}
	arena, err := kern.OpenArena(levels[0], 1)
	if err != nil {
		t.Fatal(err)
	}
	defer arena.Close()
	ctx := context.Background()

	// 23 chunks of 256 bytes (the last short), four links a node: three
	// levels of nodes above the leaves; chunks 2 and 9 are the same.
	rng := rand.New(rand.NewPCG(1, 2))
	file := make([]byte, 22*256+100)
	for i := range file {
		file[i] = byte(rng.Uint32())
	}
	copy(file[9*256:10*256], file[2*256:3*256])
	src := blockstore.NewBlockstore(dssync.MutexWrap(ds.NewMapDatastore()))
	params := helpers.DagBuilderParams{Dagserv: loader.NewDAGService(src), Maxlinks: 4, RawLeaves: true, CidBuilder: loader.FilePrefix}
	db, err := params.New(chunker.NewSizeSplitter(bytes.NewReader(file), 256))
	if err != nil {
		t.Fatal(err)
	}
	root, err := balanced.Layout(db)
	if err != nil {
		t.Fatal(err)
	}
	c := loader.Component{Name: "layer.0", CID: root.Cid(), Size: int64(len(file))}

	corrupt := cid.Undef // the leaf to send corrupt once
	fetchBlock := js.FuncOf(func(_ js.Value, args []js.Value) any {
		id, _ := cid.Decode(args[0].String())
		b, err := src.Get(ctx, id)
		if err != nil {
			panic(err)
		}
		data := bytes.Clone(b.RawData())
		if id.Type() == cid.Raw && !corrupt.Defined() {
			corrupt = id
			data[0] ^= 1
		}
		v := js.Global().Get("Uint8Array").New(len(data))
		js.CopyBytesToJS(v, data)
		return v
	})
	defer fetchBlock.Release()
	digest := js.Global().Get("Function").New("v", "return crypto.subtle.digest('SHA-256', v)")

	for _, d := range []js.Value{digest, js.Undefined()} {
		corrupt = cid.Undef
		r, err := arena.Alloc(c.Size)
		if err != nil {
			t.Fatal(err)
		}
		l := &blockLoader{bs: blockstore.NewBlockstore(dssync.MutexWrap(ds.NewMapDatastore())), f: fetcher{fetchBlock: fetchBlock.Value, digest: d}, p: noProgress{}, total: c.Size}
		cids, err := l.component(ctx, c, r)
		if err != nil {
			t.Fatalf("digest %v: %v", d.Type(), err)
		}
		got := make([]byte, len(file))
		if _, err := r.ReadAt(got, 0); err != nil || !bytes.Equal(got, file) {
			t.Errorf("digest %v: the region does not hold the file (%v)", d.Type(), err)
		}
		for _, id := range cids {
			if id.Type() == cid.Raw {
				t.Errorf("digest %v: leaf %s went to the blockstore", d.Type(), id)
			}
		}
		if len(cids) != 1+2+6 {
			t.Errorf("digest %v: %d blocks in the blockstore, want the 9 inner nodes", d.Type(), len(cids))
		}
		r.Free()
	}
}

// A file's leaves must cover it exactly: no gap, no overlap, no byte past
// its end.
func TestRegionFileComplete(t *testing.T) {
	for _, tc := range []struct {
		leaves [][2]int64
		ok     bool
	}{
		{[][2]int64{{10, 5}, {0, 10}}, true},
		{[][2]int64{{0, 10}, {5, 10}}, false},
		{[][2]int64{{0, 10}}, false},
		{[][2]int64{{0, 10}, {10, 10}}, false},
	} {
		p := &regionFile{leaves: tc.leaves}
		if err := p.complete(15); (err == nil) != tc.ok {
			t.Errorf("leaves %v of a 15-byte file: %v", tc.leaves, err)
		}
	}
}
