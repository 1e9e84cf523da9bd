//go:build js && wasm

package main

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"syscall/js"
	"time"

	"github.com/ipfs/boxo/blockstore"
	"github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/boxo/ipld/unixfs"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/multiformats/go-multihash"
	"golang.org/x/sync/errgroup"

	"github.com/ipfs-accelerate/accel/browser/kern"
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

// block returns the verified block c.
func (f fetcher) block(c cid.Cid) (b blocks.Block, err error) {
	err = f.tries(c, func() (v js.Value, err error) {
		b, v, err = f.fetch(c)
		return v, err
	})
	return b, err
}

// leaf fetches raw leaf c and has write store its bytes (see fetchLeaf);
// it returns their length.
func (f fetcher) leaf(c cid.Cid, write func(v js.Value, data []byte) error) (n int, err error) {
	err = f.tries(c, func() (v js.Value, err error) {
		v, n, err = f.fetchLeaf(c, write)
		return v, err
	})
	return n, err
}

// tries runs try, a request for block c that returns the JS bytes it
// received, until it succeeds, and tells onVerified of those bytes. A
// failed request or bytes that do not match c are dropped and the block is
// asked for again, fetchTries times in all.
func (f fetcher) tries(c cid.Cid, try func() (js.Value, error)) error {
	var last error
	for range fetchTries {
		v, err := try()
		if err == nil {
			call(f.onVerified, c.String(), v, f.info)
			return nil
		}
		last = err
	}
	return fmt.Errorf("block %s: %d tries failed, the last: %w", c, fetchTries, last)
}

// fetch asks fetchBlock for c and returns the block if its bytes hash to c,
// with the JS bytes it came as.
func (f fetcher) fetch(c cid.Cid) (blocks.Block, js.Value, error) {
	v, err := f.request(c)
	if err != nil {
		return nil, v, err
	}
	data, err := bytesOf(v)
	if err != nil {
		return nil, v, fmt.Errorf("fetchBlock: %w", err)
	}
	sum, ok := f.digestOf(c)
	if !ok {
		b, err := verified(c, data)
		return b, v, err
	}
	// digest copies v as it is called, before any other JS runs: it hashes
	// the bytes just copied into data.
	if err := f.check(v, sum); err != nil {
		return nil, v, err
	}
	b, err := blocks.NewBlockWithCid(data, c)
	return b, v, err
}

// fetchLeaf asks fetchBlock for raw leaf c, has write store the bytes, and
// returns them (as JS bytes, and their length) if they hash to c. write is
// given the JS bytes, and the same in Go memory where Go hashes them; with
// digest, nil: the bytes never enter Go memory. It runs before the check,
// and what it stored must be dropped if the check fails.
func (f fetcher) fetchLeaf(c cid.Cid, write func(v js.Value, data []byte) error) (js.Value, int, error) {
	v, err := f.request(c)
	if err != nil {
		return v, 0, err
	}
	if v, err = uint8Array(v); err != nil {
		return v, 0, fmt.Errorf("fetchBlock: %w", err)
	}
	sum, ok := f.digestOf(c)
	if !ok {
		data, err := bytesOf(v)
		if err == nil {
			_, err = verified(c, data)
		}
		if err == nil {
			err = write(v, data)
		}
		return v, len(data), err
	}
	if err := write(v, nil); err != nil {
		return v, 0, err
	}
	// digest copies v as it is called, before any other JS runs: it hashes
	// the bytes just written.
	return v, v.Length(), f.check(v, sum)
}

// request asks fetchBlock for c.
func (f fetcher) request(c cid.Cid) (js.Value, error) {
	v, err := await(f.fetchBlock.Invoke(c.String(), f.info))
	if err != nil {
		return v, fmt.Errorf("fetchBlock: %w", err)
	}
	return v, nil
}

// digestOf returns the SHA-256 digest c names, where digest can check it.
func (f fetcher) digestOf(c cid.Cid) ([]byte, bool) {
	mh, err := multihash.Decode(c.Hash())
	if err != nil || mh.Code != multihash.SHA2_256 || mh.Length != 32 || f.digest.Type() != js.TypeFunction {
		return nil, false
	}
	return mh.Digest, true
}

// check checks that the JS bytes v have SHA-256 digest sum, by digest.
func (f fetcher) check(v js.Value, sum []byte) error {
	got, err := await(f.digest.Invoke(v))
	if err != nil {
		return fmt.Errorf("digest: %w", err)
	}
	if b, err := bytesOf(got); err != nil || !bytes.Equal(b, sum) {
		return fmt.Errorf("the %d bytes received do not hash to the requested CID", v.Get("byteLength").Int())
	}
	return nil
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

// hold fetches component c and holds its file for m: in a new region of
// arena when arena is not nil and takes c (inArena), its raw leaves' bytes
// going there from JS (see component), else in Go memory (Hold). It
// returns the region, or nil.
func (l *blockLoader) hold(ctx context.Context, m *loader.Model, c loader.Component, arena *kern.Arena) (*kern.Region, error) {
	var r *kern.Region
	if arena != nil && inArena(c) {
		var err error
		if r, err = arena.Alloc(c.Size); err != nil {
			return nil, fmt.Errorf("component %s: %w", c.Name, err)
		}
	}
	cids, err := l.component(ctx, c, r)
	if err == nil && r == nil {
		// The component's file, read whole, replaces its blocks: the
		// model is built from it, and the page holds each byte once.
		err = m.Hold(ctx, c.Name)
	}
	if err != nil {
		if r != nil {
			r.Free()
		}
		return nil, err
	}
	if r != nil {
		m.HoldExternal(c.Name, r)
	}
	l.drop(ctx, cids)
	return r, nil
}

// component fetches component c's blocks, level by level through its
// UnixFS tree with fetchWindow requests in flight, and returns the CIDs
// of those it put in the blockstore: every block, or with a region r its
// inner nodes alone, its raw leaves' bytes going to r at their offsets in
// the file (see regionFile).
func (l *blockLoader) component(ctx context.Context, c loader.Component, r *kern.Region) ([]cid.Cid, error) {
	start := time.Now()
	var (
		mu   sync.Mutex
		seen int64 // block bytes of this component so far
		cids []cid.Cid
	)
	// got counts n bytes of block c fetched, c put in the blockstore
	// unless it is a leaf in r.
	got := func(b blocks.Block, n int) error {
		mu.Lock()
		defer mu.Unlock()
		if b != nil {
			if err := l.bs.Put(ctx, b); err != nil {
				return err
			}
			cids = append(cids, b.Cid())
		}
		l.fetched += int64(n)
		seen += int64(n)
		// Block bytes run a little over the file size (the UnixFS
		// nodes); the component's share is reached, never passed.
		l.p.progress(float64(l.before+min(seen, c.Size))/float64(l.total), c.Name, l.fetched)
		return nil
	}
	f := l.f.forComponent(c)
	file := newRegionFile(r, c.CID)
	fetch := func(id cid.Cid) error {
		if r != nil && id.Type() == cid.Raw {
			n, err := f.leaf(id, func(v js.Value, data []byte) error { return file.write(id, v, data) })
			if err != nil {
				return err
			}
			file.wrote(id, n)
			return got(nil, n)
		}
		b, err := f.block(id)
		if err == nil && r != nil {
			err = file.node(b)
		}
		if err != nil {
			return err
		}
		return got(b, len(b.RawData()))
	}
	w := loader.Walker{
		Fetch: func(ctx context.Context, level []cid.Cid) error { return fetchLevel(ctx, level, fetch) },
		Get:   l.bs.Get,
	}
	err := w.Walk(ctx, c.CID)
	if err == nil && r != nil {
		err = file.complete(c.Size)
	}
	if err != nil {
		return nil, fmt.Errorf("component %s: %w", c.Name, err)
	}
	l.before += c.Size
	l.p.componentLoaded(c.Name, time.Since(start))
	return cids, nil
}

// regionFile places a UnixFS file's raw leaves in a region at their
// offsets in the file, which its inner nodes give (their links'
// blocksizes) as the walk meets them, level by level from the root at 0.
// Its methods are safe for concurrent use.
type regionFile struct {
	r       *kern.Region
	mu      sync.Mutex
	offsets map[cid.Cid][]int64 // where each block's bytes start (a block may repeat)
	leaves  [][2]int64          // offset and length of every leaf written
}

func newRegionFile(r *kern.Region, root cid.Cid) *regionFile {
	return &regionFile{r: r, offsets: map[cid.Cid][]int64{root: {0}}}
}

// node records the offsets of the blocks inner node b links to. It
// accepts only nodes whose bytes are their links' (no data of their own).
func (p *regionFile) node(b blocks.Block) error {
	pn, err := merkledag.DecodeProtobuf(b.RawData())
	if err != nil {
		return fmt.Errorf("block %s: %w", b.Cid(), err)
	}
	fsn, err := unixfs.FSNodeFromBytes(pn.Data())
	if err != nil {
		return fmt.Errorf("block %s: %w", b.Cid(), err)
	}
	sizes := fsn.BlockSizes()
	if len(fsn.Data()) != 0 || len(sizes) != len(pn.Links()) {
		return fmt.Errorf("block %s is not a UnixFS node of raw leaves' file (data of its own, or a blocksize per link missing)", b.Cid())
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, off := range p.offsets[b.Cid()] {
		for i, link := range pn.Links() {
			p.offsets[link.Cid] = append(p.offsets[link.Cid], off)
			off += int64(sizes[i])
		}
	}
	return nil
}

// write stores leaf c's bytes — v in JS, data the same in Go memory or nil
// — at each of its offsets.
func (p *regionFile) write(c cid.Cid, v js.Value, data []byte) error {
	p.mu.Lock()
	offsets := p.offsets[c]
	p.mu.Unlock()
	if len(offsets) == 0 {
		return fmt.Errorf("block %s is at no offset the file's nodes gave", c)
	}
	for _, off := range offsets {
		var err error
		if data != nil {
			err = p.r.Write(off, data)
		} else {
			err = p.r.WriteJS(off, v, v.Length())
		}
		if err != nil {
			return fmt.Errorf("block %s: %w", c, err)
		}
	}
	return nil
}

// wrote records that leaf c's n bytes, written, matched c.
func (p *regionFile) wrote(c cid.Cid, n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, off := range p.offsets[c] {
		p.leaves = append(p.leaves, [2]int64{off, int64(n)})
	}
}

// complete checks that the leaves written cover the file's size bytes
// exactly, each byte once.
func (p *regionFile) complete(size int64) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	slices.SortFunc(p.leaves, func(a, b [2]int64) int { return cmp.Compare(a[0], b[0]) })
	next := int64(0)
	for _, l := range p.leaves {
		if l[0] != next {
			return fmt.Errorf("its leaves leave bytes [%d, %d) of the file unwritten or written twice", min(next, l[0]), max(next, l[0]))
		}
		next += l[1]
	}
	if next != size {
		return fmt.Errorf("its leaves hold %d bytes, the manifest says %d", next, size)
	}
	return nil
}

// drop deletes blocks from the blockstore once their data is held elsewhere.
func (l *blockLoader) drop(ctx context.Context, cids []cid.Cid) {
	for _, c := range cids {
		l.bs.DeleteBlock(ctx, c) // a map datastore: it cannot fail
	}
}

// fetchLevel runs fetch for each block of level, fetchWindow at a time:
// fetch may be called from several goroutines at once.
func fetchLevel(ctx context.Context, level []cid.Cid, fetch func(cid.Cid) error) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(fetchWindow)
	for _, c := range level {
		g.Go(func() error {
			if err := gctx.Err(); err != nil {
				return err
			}
			return fetch(c)
		})
	}
	return g.Wait()
}
