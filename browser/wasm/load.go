//go:build js && wasm

package main

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"syscall/js"
	"time"

	"github.com/ipfs/boxo/blockstore"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/multiformats/go-multihash"
	"golang.org/x/sync/errgroup"

	"github.com/ipfs-accelerate/accel/loader"
)

const (
	// fetchTries is how many times a block is asked for before the load fails.
	fetchTries = 3
	// fetchWindow is how many fetchBlock calls are in flight at once.
	fetchWindow = 8
)

// fetcher gets blocks through a JS fetchBlock function and keeps only those
// whose bytes hash to their CID. It tells both JS functions which part of
// the model each block belongs to, as info = {component, priority}: see
// forManifest and forComponent.
type fetcher struct {
	fetchBlock js.Value // async (cid string, info) => Uint8Array
	onVerified js.Value // optional (cid string, bytes Uint8Array, info) => void
	// digest is an optional async (bytes Uint8Array) => Uint8Array giving
	// the SHA-256 of bytes (the browser's native WebCrypto, ten times Go's
	// on wasm); without it every hash is computed in Go.
	digest js.Value
	info   js.Value // this fetcher's blocks' info
}

// maxPriority is the highest loader.Priority a component can have, that of
// the last possible layer.
var maxPriority = loader.Priority(loader.LayerComponent(loader.MaxLayers - 1))

// forManifest returns f for the manifest block: component "manifest", with
// the highest priority of all.
func (f fetcher) forManifest() fetcher {
	return f.withInfo("manifest", maxPriority+2)
}

// forComponent returns f for the blocks of component c. Their priority is
// c.Priority (the node's cache and GC priority, lower is more critical)
// reversed to 1…maxPriority+1, higher is more critical: the tokenizer,
// embed and head rank above the layers, and earlier layers above later
// ones. A browser cache keeps the blocks of higher priority longer.
func (f fetcher) forComponent(c loader.Component) fetcher {
	return f.withInfo(c.Name, maxPriority+1-c.Priority)
}

// withInfo returns f telling the JS functions {component, priority}.
func (f fetcher) withInfo(component string, priority int) fetcher {
	f.info = js.ValueOf(map[string]any{"component": component, "priority": priority})
	return f
}

// block returns the verified block c. A failed request or bytes that do not
// match c are dropped and the block is asked for again, fetchTries times in
// all.
func (f fetcher) block(c cid.Cid) (blocks.Block, error) {
	var last error
	for range fetchTries {
		b, v, err := f.fetch(c)
		if err == nil {
			call(f.onVerified, c.String(), v, f.info)
			return b, nil
		}
		last = err
	}
	return nil, fmt.Errorf("block %s: %d tries failed, the last: %w", c, fetchTries, last)
}

// fetch asks fetchBlock for c and returns the block if its bytes hash to c,
// with the JS bytes it came as.
func (f fetcher) fetch(c cid.Cid) (blocks.Block, js.Value, error) {
	v, err := await(f.fetchBlock.Invoke(c.String(), f.info))
	if err != nil {
		return nil, v, fmt.Errorf("fetchBlock: %w", err)
	}
	data, err := bytesOf(v)
	if err != nil {
		return nil, v, fmt.Errorf("fetchBlock: %w", err)
	}
	mh, err := multihash.Decode(c.Hash())
	if err != nil || mh.Code != multihash.SHA2_256 || mh.Length != 32 || f.digest.Type() != js.TypeFunction {
		b, err := verified(c, data)
		return b, v, err
	}
	// digest copies v as it is called, before any other JS runs: it hashes
	// the bytes just copied into data.
	sum, err := await(f.digest.Invoke(v))
	if err != nil {
		return nil, v, fmt.Errorf("digest: %w", err)
	}
	if got, err := bytesOf(sum); err != nil || !bytes.Equal(got, mh.Digest) {
		return nil, v, fmt.Errorf("the %d bytes received do not hash to the requested CID", len(data))
	}
	b, err := blocks.NewBlockWithCid(data, c)
	return b, v, err
}

// verified wraps data as block c if its hash matches c.
func verified(c cid.Cid, data []byte) (blocks.Block, error) {
	sum, err := c.Prefix().Sum(data)
	if err != nil {
		return nil, err
	}
	if !sum.Equals(c) {
		return nil, fmt.Errorf("the %d bytes received hash to %s, not to the requested CID", len(data), sum)
	}
	return blocks.NewBlockWithCid(data, c)
}

// loadProgress receives the load's progress; the fractions it is given
// never decrease and end at 1.
type loadProgress interface {
	progress(fraction float64, component string, bytes int64)
	componentLoaded(component string, took time.Duration)
}

// blockLoader fetches a model DAG into an in-memory blockstore, component
// by component, reporting progress over the bytes it was asked to fetch.
type blockLoader struct {
	bs      blockstore.Blockstore
	f       fetcher
	p       loadProgress
	total   int64 // file bytes of the components the load fetches
	before  int64 // file bytes of the components fetched so far
	fetched int64 // block bytes fetched, the manifest included
}

// openManifest fetches the manifest block at root and opens the model DAG
// over a new in-memory blockstore.
func openManifest(ctx context.Context, root cid.Cid, f fetcher, p loadProgress) (*loader.Model, *blockLoader, error) {
	l := &blockLoader{bs: blockstore.NewBlockstore(dssync.MutexWrap(ds.NewMapDatastore())), f: f, p: p}
	mb, err := f.forManifest().block(root)
	if err != nil {
		return nil, nil, fmt.Errorf("manifest: %w", err)
	}
	if err := l.bs.Put(ctx, mb); err != nil {
		return nil, nil, err
	}
	l.fetched = int64(len(mb.RawData()))
	m, err := loader.Open(ctx, root, loader.NewDAGService(l.bs))
	if err != nil {
		return nil, nil, err
	}
	return m, l, nil
}

// component fetches component c's blocks, level by level through its
// UnixFS tree with fetchWindow requests in flight, and returns their CIDs.
func (l *blockLoader) component(ctx context.Context, c loader.Component) ([]cid.Cid, error) {
	start := time.Now()
	var (
		mu   sync.Mutex
		seen int64 // block bytes of this component so far
		cids []cid.Cid
	)
	put := func(b blocks.Block) error {
		mu.Lock()
		defer mu.Unlock()
		if err := l.bs.Put(ctx, b); err != nil {
			return err
		}
		cids = append(cids, b.Cid())
		n := int64(len(b.RawData()))
		l.fetched += n
		seen += n
		// Block bytes run a little over the file size (the UnixFS
		// nodes); the component's share is reached, never passed.
		l.p.progress(float64(l.before+min(seen, c.Size))/float64(l.total), c.Name, l.fetched)
		return nil
	}
	f := l.f.forComponent(c)
	w := loader.Walker{
		Fetch: func(ctx context.Context, level []cid.Cid) error { return fetchLevel(ctx, level, f, put) },
		Get:   l.bs.Get,
	}
	if err := w.Walk(ctx, c.CID); err != nil {
		return nil, fmt.Errorf("component %s: %w", c.Name, err)
	}
	l.before += c.Size
	l.p.componentLoaded(c.Name, time.Since(start))
	return cids, nil
}

// drop deletes blocks from the blockstore once their data is held elsewhere.
func (l *blockLoader) drop(ctx context.Context, cids []cid.Cid) {
	for _, c := range cids {
		l.bs.DeleteBlock(ctx, c) // a map datastore: it cannot fail
	}
}

// fetchLevel fetches the blocks of level, fetchWindow at a time, handing
// each verified block to put, which may be called from several goroutines
// at once.
func fetchLevel(ctx context.Context, level []cid.Cid, f fetcher, put func(blocks.Block) error) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(fetchWindow)
	for _, c := range level {
		g.Go(func() error {
			if err := gctx.Err(); err != nil {
				return err
			}
			b, err := f.block(c)
			if err != nil {
				return err
			}
			return put(b)
		})
	}
	return g.Wait()
}
