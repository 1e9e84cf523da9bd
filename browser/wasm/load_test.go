//go:build js && wasm

package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"math/rand/v2"
	"strings"
	"syscall/js"
	"testing"

	"github.com/ipfs/boxo/blockstore"
	chunker "github.com/ipfs/boxo/chunker"
	"github.com/ipfs/boxo/ipld/unixfs/importer/balanced"
	"github.com/ipfs/boxo/ipld/unixfs/importer/helpers"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"

	"github.com/ipfs-accelerate/accel/browser/kern"
	"github.com/ipfs-accelerate/accel/loader"
	"github.com/ipfs-accelerate/accel/loader/dagstore"
)

// A component fetched into an arena region and into Go memory: its inner
// nodes come block by block into the block set, its raw leaves in one
// fetchLeaves call that writes their bytes at their offsets in the file —
// a leaf repeated at several offsets at each. A leaf whose reported digest
// is not its CID's fails the load.
func TestComponentLeaves(t *testing.T) {
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
	params := helpers.DagBuilderParams{Dagserv: dagstore.DAGService(src), Maxlinks: 4, RawLeaves: true, CidBuilder: loader.FilePrefix}
	db, err := params.New(chunker.NewSizeSplitter(bytes.NewReader(file), 256))
	if err != nil {
		t.Fatal(err)
	}
	root, err := balanced.Layout(db)
	if err != nil {
		t.Fatal(err)
	}
	c := loader.Component{Name: "layer.0", CID: root.Cid(), Size: int64(len(file))}

	get := func(s string) []byte {
		id, _ := cid.Decode(s)
		b, err := src.Get(ctx, id)
		if err != nil {
			panic(err)
		}
		return b.RawData()
	}
	fetchBlock := js.FuncOf(func(_ js.Value, args []js.Value) any {
		data := get(args[0].String())
		v := js.Global().Get("Uint8Array").New(len(data))
		js.CopyBytesToJS(v, data)
		return v
	})
	defer fetchBlock.Release()
	buf := make([]byte, c.Size)
	lie := false // report a wrong digest for the first leaf
	var calls, leaves int
	fetchLeaves := js.FuncOf(func(_ js.Value, args []js.Value) any {
		calls++
		want, dst := args[1], args[2]
		n := want.Length()
		leaves += n
		digests := make([]byte, 0, 32*n)
		sizes := make([]any, n)
		for i := range n {
			data := get(want.Index(i).Get("cid").String())
			for j := range want.Index(i).Get("offsets").Length() {
				off := want.Index(i).Get("offsets").Index(j).Int()
				if dst.Type() == js.TypeNumber {
					if !dst.Equal(goMemory(buf)) {
						panic("fetchLeaves: dst is not buf's address")
					}
					copy(buf[off:], data)
				} else {
					js.CopyBytesToJS(dst.Call("subarray", off, off+len(data)), data)
				}
			}
			sum := sha256.Sum256(data)
			if lie && i == 0 {
				sum[0] ^= 1
			}
			digests = append(digests, sum[:]...)
			sizes[i] = len(data)
		}
		v := js.Global().Get("Uint8Array").New(len(digests))
		js.CopyBytesToJS(v, digests)
		return map[string]any{"digests": v, "sizes": sizes}
	})
	defer fetchLeaves.Release()
	l := &blockLoader{bs: &blockSet{blocks: map[cid.Cid]blocks.Block{}}, f: fetcher{fetchBlock: fetchBlock.Value, fetchLeaves: fetchLeaves.Value}, total: c.Size}

	r, err := arena.Alloc(c.Size)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Free()
	for name, dst := range map[string]js.Value{"region": r.Bytes(), "Go memory": goMemory(buf)} {
		calls, leaves = 0, 0
		cids, err := l.component(ctx, c, dst)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got := buf
		if name == "region" {
			got = make([]byte, len(file))
			if _, err := r.ReadAt(got, 0); err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(got, file) {
			t.Errorf("%s: does not hold the file", name)
		}
		if calls != 1 || leaves != 22 {
			t.Errorf("%s: %d fetchLeaves calls for %d leaves, want one for the 22 distinct leaves", name, calls, leaves)
		}
		for _, id := range cids {
			if id.Type() == cid.Raw {
				t.Errorf("%s: leaf %s went to the block set", name, id)
			}
		}
		if len(cids) != 1+2+6 {
			t.Errorf("%s: %d blocks in the block set, want the 9 inner nodes", name, len(cids))
		}
		l.bs.drop(cids)
	}

	lie = true
	if _, err := l.component(ctx, c, goMemory(buf)); err == nil || !strings.Contains(err.Error(), "do not hash to its CID") {
		t.Errorf("a leaf reported with a wrong digest: %v", err)
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
		p := &fileLayout{leaves: tc.leaves}
		if err := p.complete(15); (err == nil) != tc.ok {
			t.Errorf("leaves %v of a 15-byte file: %v", tc.leaves, err)
		}
	}
}
