//go:build js && wasm

package main

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall/js"
	"time"
	"unsafe"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
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
// the model each block belongs to, as info: see forManifest and
// forComponent.
type fetcher struct {
	fetchBlock js.Value // async (cid string, info) => Uint8Array
	// fetchLeaves is async (info, leaves, dst, digest) => {digests, sizes}:
	// see blockLoader.leaves and loadModel.
	fetchLeaves js.Value
	onVerified  js.Value // optional (cid string, bytes Uint8Array, info) => void
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
	f.info = js.ValueOf(map[string]any{"component": "manifest", "priority": maxPriority + 2})
	return f
}

// forComponent returns f for the blocks of component c, out of a load of
// total file bytes: info is {component, priority, root, size, total}, c's
// name, root CID and file size. Their priority is c.Priority (the node's
// cache and GC priority, lower is more critical) reversed to
// 1…maxPriority+1, higher is more critical: the tokenizer, embed and head
// rank above the layers, and earlier layers above later ones. A browser
// cache keeps the blocks of higher priority longer.
func (f fetcher) forComponent(c loader.Component, total int64) fetcher {
	f.info = js.ValueOf(map[string]any{"component": c.Name, "priority": maxPriority + 1 - c.Priority,
		"root": c.CID.String(), "size": c.Size, "total": total})
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

// blockSet is the blocks of a load in memory, a loader.BlockGetter. Its
// methods are safe for concurrent use.
type blockSet struct {
	mu     sync.Mutex
	blocks map[cid.Cid]blocks.Block
}

func (s *blockSet) Get(_ context.Context, c cid.Cid) (blocks.Block, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b, ok := s.blocks[c]; ok {
		return b, nil
	}
	return nil, ipld.ErrNotFound{Cid: c}
}

func (s *blockSet) put(b blocks.Block) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.blocks[b.Cid()] = b
}

func (s *blockSet) drop(cids []cid.Cid) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range cids {
		delete(s.blocks, c)
	}
}

// blockLoader fetches a model DAG component by component: the inner nodes
// into an in-memory set, the raw leaves' bytes straight to where the
// component's file is held.
type blockLoader struct {
	bs      *blockSet
	f       fetcher
	total   int64        // file bytes of the components the load fetches
	fetched atomic.Int64 // block bytes fetched, the manifest included
}

// openManifest fetches the manifest block at root and opens the model DAG
// over a new in-memory block set.
func openManifest(ctx context.Context, root cid.Cid, f fetcher) (*loader.Model, *blockLoader, error) {
	l := &blockLoader{bs: &blockSet{blocks: map[cid.Cid]blocks.Block{}}, f: f}
	mb, err := f.forManifest().block(root)
	if err != nil {
		return nil, nil, fmt.Errorf("manifest: %w", err)
	}
	l.bs.put(mb)
	l.fetched.Store(int64(len(mb.RawData())))
	m, err := loader.Open(ctx, root, l.bs)
	if err != nil {
		return nil, nil, err
	}
	return m, l, nil
}

// componentsInFlight is how many components a load fetches at once: the
// next one's inner nodes and request go out while one streams.
const componentsInFlight = 2

// heldComponent is the outcome of one component's fetch (hold): its region
// (nil: held in Go memory) and how long the fetch took.
type heldComponent struct {
	region *kern.Region
	took   time.Duration
	err    error
}

// holdAll fetches components in their order, componentsInFlight at a
// time, each held as hold holds it in the arena arenaFor gives the i-th
// (nil: Go memory), which it asks for before the fetch starts; the i-th
// channel receives the i-th outcome. Once ctx ends, the components not
// started yet fail at once.
func (l *blockLoader) holdAll(ctx context.Context, m *loader.Model, components []loader.Component, arenaFor func(int, loader.Component) *kern.Arena) []chan heldComponent {
	out := make([]chan heldComponent, len(components))
	for i := range out {
		out[i] = make(chan heldComponent, 1)
	}
	go func() {
		slots := make(chan struct{}, componentsInFlight)
		for i, c := range components {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				out[i] <- heldComponent{err: ctx.Err()}
				continue
			}
			go func() {
				defer func() { <-slots }()
				arena := arenaFor(i, c)
				start := time.Now()
				r, err := l.hold(ctx, m, c, arena)
				out[i] <- heldComponent{r, time.Since(start), err}
			}()
		}
	}()
	return out
}

// release frees the regions of the outcomes left in held, once each
// arrives: those of a load that stopped before taking them.
func release(held []chan heldComponent) {
	go func() {
		for _, ch := range held {
			if h := <-ch; h.region != nil {
				h.region.Free()
			}
		}
	}()
}

// hold fetches component c and holds its file for m: in a new region of
// arena when arena is not nil and takes c (inArena), else in Go memory
// (HoldFile). Either way the leaves' bytes go there from JS, once: they
// never pass through the block set. It returns the region, or nil.
func (l *blockLoader) hold(ctx context.Context, m *loader.Model, c loader.Component, arena *kern.Arena) (*kern.Region, error) {
	var (
		r   *kern.Region
		buf []byte
		dst js.Value
	)
	if arena != nil && inArena(c) {
		var err error
		if r, err = arena.Alloc(c.Size); err != nil {
			return nil, fmt.Errorf("component %s: %w", c.Name, err)
		}
		dst = r.Bytes()
	} else {
		buf = make([]byte, c.Size)
		dst = goMemory(buf)
	}
	cids, err := l.component(ctx, c, dst)
	runtime.KeepAlive(buf) // written by JS at its address until component returns
	if err != nil {
		if r != nil {
			r.Free()
		}
		return nil, err
	}
	if r != nil {
		m.HoldExternal(c.Name, r)
	} else {
		m.HoldFile(c.Name, buf)
	}
	l.bs.drop(cids)
	return r, nil
}

// goMemory is the address of buf in the runtime's linear memory, where
// fetchLeaves writes (0 for an empty buf, where nothing is written). Go's
// heap does not move: buf stays there while it is live.
func goMemory(buf []byte) js.Value {
	if len(buf) == 0 {
		return js.ValueOf(0)
	}
	return js.ValueOf(float64(uintptr(unsafe.Pointer(&buf[0]))))
}

// component fetches component c: its inner nodes block by block, level by
// level through its UnixFS tree with fetchWindow requests in flight, into
// the block set (it returns their CIDs); then all its raw leaves in one
// call of fetchLeaves, which writes their bytes to dst at the offsets the
// nodes give (see fileLayout). It checks every leaf's digest against its
// CID and that the leaves cover the file exactly.
func (l *blockLoader) component(ctx context.Context, c loader.Component, dst js.Value) ([]cid.Cid, error) {
	var (
		mu     sync.Mutex
		cids   []cid.Cid
		leaves []cid.Cid
	)
	f := l.f.forComponent(c, l.total)
	file := newFileLayout(c.CID, c.Size)
	node := func(id cid.Cid) error {
		b, err := f.block(id)
		if err == nil {
			err = file.node(b)
		}
		if err != nil {
			return err
		}
		l.bs.put(b)
		l.fetched.Add(int64(len(b.RawData())))
		mu.Lock()
		defer mu.Unlock()
		cids = append(cids, id)
		return nil
	}
	w := loader.Walker{
		Fetch: func(ctx context.Context, level []cid.Cid) error {
			var nodes []cid.Cid
			for _, id := range level {
				if id.Type() == cid.Raw {
					leaves = append(leaves, id)
				} else {
					nodes = append(nodes, id)
				}
			}
			return fetchLevel(ctx, nodes, node)
		},
		Get: l.bs.Get,
	}
	err := w.Walk(ctx, c.CID)
	if err == nil {
		err = l.leaves(f, c, file, leaves, dst)
	}
	if err == nil {
		err = file.complete(c.Size)
	}
	if err != nil {
		return nil, fmt.Errorf("component %s: %w", c.Name, err)
	}
	return cids, nil
}

// leaves has fetchLeaves write the raw leaves of component c to dst and
// checks what it reports: each leaf's SHA-256 digest is the one its CID
// names, and its bytes' length is recorded in file.
func (l *blockLoader) leaves(f fetcher, c loader.Component, file *fileLayout, leaves []cid.Cid, dst js.Value) error {
	want := make([]any, len(leaves))
	sums := make([][]byte, len(leaves))
	for i, id := range leaves {
		mh, err := multihash.Decode(id.Hash())
		if err != nil || mh.Code != multihash.SHA2_256 || mh.Length != 32 {
			return fmt.Errorf("leaf %s is not named by a SHA-256 digest (the browser loads SHA-256 blocks)", id)
		}
		sums[i] = mh.Digest
		offsets, size := file.place(id)
		offs := make([]any, len(offsets))
		for j, o := range offsets {
			offs[j] = o
		}
		want[i] = map[string]any{"cid": id.String(), "size": size, "offsets": offs}
	}
	res, err := await(f.fetchLeaves.Invoke(f.info, js.ValueOf(want), dst, goDigest))
	if err != nil {
		return fmt.Errorf("fetchLeaves: %w", err)
	}
	digests, err := bytesOf(res.Get("digests"))
	if err != nil || len(digests) != 32*len(leaves) || res.Get("sizes").Length() != len(leaves) {
		return fmt.Errorf("fetchLeaves: %d digests and sizes for %d leaves", len(digests)/32, len(leaves))
	}
	for i, id := range leaves {
		if !bytes.Equal(digests[32*i:32*i+32], sums[i]) {
			return fmt.Errorf("leaf %s: the bytes written do not hash to its CID", id)
		}
		n := int64(res.Get("sizes").Index(i).Float())
		file.wrote(id, n)
		l.fetched.Add(n)
	}
	return nil
}

// goDigest(bytes) is the SHA-256 of bytes, for fetchLeaves where the
// browser has no WebCrypto (a page that is not a secure context).
var goDigest = js.FuncOf(func(_ js.Value, args []js.Value) any {
	data, err := bytesOf(arg(args, 0))
	if err != nil {
		return js.Null()
	}
	sum := sha256.Sum256(data)
	v := js.Global().Get("Uint8Array").New(len(sum))
	js.CopyBytesToJS(v, sum[:])
	return v
})

// fileLayout places a UnixFS file's raw leaves at their offsets in the
// file, which its inner nodes give (their links' blocksizes) as the walk
// meets them, level by level from the root at 0, and checks that the
// leaves written cover the file. Its methods are safe for concurrent use.
type fileLayout struct {
	mu      sync.Mutex
	offsets map[cid.Cid][]int64 // where each block's bytes start (a block may repeat)
	sizes   map[cid.Cid]int64   // each block's size, as the node above it says
	leaves  [][2]int64          // offset and length of every leaf written
}

func newFileLayout(root cid.Cid, size int64) *fileLayout {
	return &fileLayout{offsets: map[cid.Cid][]int64{root: {0}}, sizes: map[cid.Cid]int64{root: size}}
}

// node records the offsets of the blocks inner node b links to. It
// accepts only nodes whose bytes are their links' (no data of their own).
func (p *fileLayout) node(b blocks.Block) error {
	n, err := loader.DecodeFileNode(b)
	if err != nil {
		return err
	}
	if len(n.Data) != 0 {
		return fmt.Errorf("block %s is not a UnixFS node of raw leaves' file (it holds data of its own)", b.Cid())
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, off := range p.offsets[b.Cid()] {
		for i, child := range n.Children {
			p.offsets[child] = append(p.offsets[child], off)
			p.sizes[child] = int64(n.Sizes[i])
			off += int64(n.Sizes[i])
		}
	}
	return nil
}

// place returns where leaf c goes in the file, and its size as the nodes
// say.
func (p *fileLayout) place(c cid.Cid) ([]int64, int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.offsets[c], p.sizes[c]
}

// wrote records that leaf c's n bytes, matched against c, were written at
// each of its offsets.
func (p *fileLayout) wrote(c cid.Cid, n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, off := range p.offsets[c] {
		p.leaves = append(p.leaves, [2]int64{off, n})
	}
}

// complete checks that the leaves written cover the file's size bytes
// exactly, each byte once.
func (p *fileLayout) complete(size int64) error {
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
