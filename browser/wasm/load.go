//go:build js && wasm

package main

import (
	"context"
	"fmt"
	"sync"
	"syscall/js"
	"time"

	"github.com/ipfs/boxo/blockstore"
	"github.com/ipfs/boxo/ipld/merkledag"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
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
// whose bytes hash to their CID.
type fetcher struct {
	fetchBlock js.Value // async (cid string) => Uint8Array
	onVerified js.Value // optional (cid string, bytes Uint8Array) => void
}

// block returns the verified block c. A failed request or bytes that do not
// match c are dropped and the block is asked for again, fetchTries times in
// all.
func (f fetcher) block(c cid.Cid) (blocks.Block, error) {
	var last error
	for range fetchTries {
		data, err := f.fetch(c)
		if err == nil {
			var b blocks.Block
			if b, err = verified(c, data); err == nil {
				f.verified(b)
				return b, nil
			}
		}
		last = err
	}
	return nil, fmt.Errorf("block %s: %d tries failed, the last: %w", c, fetchTries, last)
}

func (f fetcher) fetch(c cid.Cid) ([]byte, error) {
	v, err := await(f.fetchBlock.Invoke(c.String()))
	if err != nil {
		return nil, fmt.Errorf("fetchBlock: %w", err)
	}
	data, err := bytesOf(v)
	if err != nil {
		return nil, fmt.Errorf("fetchBlock: %w", err)
	}
	return data, nil
}

// verified hands a block that matched its CID to onVerified.
func (f fetcher) verified(b blocks.Block) {
	if f.onVerified.Type() != js.TypeFunction {
		return
	}
	data := js.Global().Get("Uint8Array").New(len(b.RawData()))
	js.CopyBytesToJS(data, b.RawData())
	f.onVerified.Invoke(b.Cid().String(), data)
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

// loadBlocks fetches the whole model DAG at root into a new in-memory
// blockstore: the manifest first, then each component in manifest
// (critical-path) order, breadth first through its UnixFS tree with
// fetchWindow requests in flight. It returns the model opened over that
// blockstore and the bytes of all blocks fetched.
func loadBlocks(ctx context.Context, root cid.Cid, f fetcher, p loadProgress) (*loader.Model, int64, error) {
	bs := blockstore.NewBlockstore(dssync.MutexWrap(ds.NewMapDatastore()))
	mb, err := f.block(root)
	if err != nil {
		return nil, 0, fmt.Errorf("manifest: %w", err)
	}
	if err := bs.Put(ctx, mb); err != nil {
		return nil, 0, err
	}
	m, err := loader.Open(ctx, root, loader.NewDAGService(bs))
	if err != nil {
		return nil, 0, err
	}
	total := m.Manifest.Size()
	fetched := int64(len(mb.RawData()))
	var before int64 // file bytes of the components already loaded
	for _, c := range m.Manifest.Components {
		start := time.Now()
		var (
			mu   sync.Mutex
			seen int64 // block bytes of this component so far
		)
		put := func(b blocks.Block) error {
			mu.Lock()
			defer mu.Unlock()
			if err := bs.Put(ctx, b); err != nil {
				return err
			}
			n := int64(len(b.RawData()))
			fetched += n
			seen += n
			// Block bytes run a little over the file size (the UnixFS
			// nodes); the component's share is reached, never passed.
			p.progress(float64(before+min(seen, c.Size))/float64(total), c.Name, fetched)
			return nil
		}
		if err := fetchTree(ctx, c.CID, f, put); err != nil {
			return nil, 0, fmt.Errorf("component %s: %w", c.Name, err)
		}
		before += c.Size
		p.componentLoaded(c.Name, time.Since(start))
	}
	return m, fetched, nil
}

// fetchTree fetches the DAG at root level by level, fetchWindow blocks at a
// time, handing each verified block to put (never concurrently).
func fetchTree(ctx context.Context, root cid.Cid, f fetcher, put func(blocks.Block) error) error {
	level := []cid.Cid{root}
	for len(level) > 0 {
		next := make([][]cid.Cid, len(level))
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(fetchWindow)
		for i, c := range level {
			g.Go(func() error {
				if err := gctx.Err(); err != nil {
					return err
				}
				b, err := f.block(c)
				if err != nil {
					return err
				}
				if c.Type() == cid.DagProtobuf {
					nd, err := merkledag.DecodeProtobuf(b.RawData())
					if err != nil {
						return fmt.Errorf("block %s: %w", c, err)
					}
					for _, l := range nd.Links() {
						next[i] = append(next[i], l.Cid)
					}
				}
				return put(b)
			})
		}
		if err := g.Wait(); err != nil {
			return err
		}
		level = nil
		for _, links := range next {
			level = append(level, links...)
		}
	}
	return nil
}
