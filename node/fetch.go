package node

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ipfs/boxo/blockservice"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ipfs-accelerate/accel/loader"
	"github.com/ipfs-accelerate/accel/transfer"
)

// Progress reports a fetch: blocks and bytes local so far (those already
// in the repo included) and the expected total bytes, 0 while unknown.
type Progress struct {
	Blocks int
	Bytes  int64
	Total  int64
}

// FetchStall is how long a fetch waits without receiving any block before
// it gives up.
var FetchStall = 2 * time.Minute

// providerSearch bounds the DHT search for providers of a fetch's root.
const (
	providerSearch = 10 * time.Second
	maxProviders   = 16
)

// PinAdd fetches the DAG at root from the network (online), then pins it
// recursively under name. Blocks come level by level in link order — for
// a model: the manifest, its components in critical-path order, then
// their leaves in load order — over the bulk transfer protocol from every
// provider that speaks it, and over bitswap otherwise. Each block is
// verified against its CID before it is stored; blocks already in the
// repo are not fetched again, so a pin add cut short resumes. The pin is
// recorded only once every block is local.
func (n *Node) PinAdd(ctx context.Context, root cid.Cid, name string, progress func(Progress)) error {
	if !root.Defined() {
		return errors.New("pin add: undefined CID")
	}
	if !n.IsOnline() {
		return n.Pin(ctx, root, name)
	}
	if err := n.fetchAndPin(ctx, root, name, progress); err != nil {
		return err
	}
	n.touch(ctx, root)
	go n.provide(n.ctx, n.modelRoots(ctx, root)...)
	if err := n.autoGC(ctx); err != nil {
		return fmt.Errorf("pinned %s: %w", root, err)
	}
	return nil
}

// fetchAndPin fetches and pins with GC held off in between.
func (n *Node) fetchAndPin(ctx context.Context, root cid.Cid, name string, progress func(Progress)) error {
	release, err := n.gcLock.share(ctx)
	if err != nil {
		return err
	}
	defer release()
	f := &fetch{n: n, root: root, progress: progress, seen: map[peer.ID]bool{}}
	if err := f.run(ctx); err != nil {
		return fmt.Errorf("pin add %s: %w", root, err)
	}
	return n.Pin(ctx, root, name)
}

// FetchViable fetches, without pinning them, the manifest at root and the
// components a model needs to answer while peers run the rest of it: those
// up to loader.Plan's Viable with OffloadHead (the tokenizer).
// PinAdd fetches the rest.
func (n *Node) FetchViable(ctx context.Context, root cid.Cid) error {
	if !n.IsOnline() {
		return errors.New("fetching a model needs the daemon running")
	}
	release, err := n.gcLock.share(ctx)
	if err != nil {
		return err
	}
	defer release()
	f := &fetch{n: n, root: root, seen: map[peer.ID]bool{}}
	w := loader.Walker{Fetch: f.level, Get: n.Blocks.Get, Plan: func(m *loader.Manifest, _ int) ([]loader.Component, error) {
		p, err := loader.Plan(m, loader.PlanOptions{OffloadHead: true})
		if err != nil {
			return nil, err
		}
		return p.Fetch[:p.Viable], nil
	}}
	if err := w.Walk(ctx, root); err != nil {
		return fmt.Errorf("fetching %s: %w", root, err)
	}
	return nil
}

// fetch is one PinAdd's walk of a DAG.
type fetch struct {
	n        *Node
	root     cid.Cid
	progress func(Progress)

	providers []peer.ID // peers that speak the bulk transfer protocol
	searched  bool      // the DHT was searched for providers of the root
	seen      map[peer.ID]bool

	mu   sync.Mutex
	done Progress
}

// run fetches every block of the DAG, one level of links at a time.
func (f *fetch) run(ctx context.Context) error {
	w := loader.Walker{Fetch: f.level, Get: f.n.Blocks.Get, Plan: f.plan}
	return w.Walk(ctx, f.root)
}

// plan orders a model's components as a pin fetches them (loader.Plan
// without offload: all of them, in manifest order), and expects their size
// and the manifest's in all.
func (f *fetch) plan(m *loader.Manifest, size int) ([]loader.Component, error) {
	p, err := loader.Plan(m, loader.PlanOptions{})
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.done.Total = m.Size() + int64(size)
	f.mu.Unlock()
	return p.Fetch, nil
}

// level makes every block of cids local.
func (f *fetch) level(ctx context.Context, cids []cid.Cid) error {
	var missing []cid.Cid
	for _, c := range cids {
		size, err := f.n.Blocks.GetSize(ctx, c)
		if err == nil {
			f.add(size)
			continue
		}
		missing = append(missing, c)
	}
	if len(missing) == 0 {
		return nil
	}
	// Peers that connected since the last level count too.
	for _, p := range f.n.Host.Network().Peers() {
		f.consider(p)
	}
	if err := f.bulk(ctx, f.providers, missing); err != nil {
		return err
	}
	missing = f.stillMissing(ctx, missing)
	if len(missing) > 0 && !f.searched {
		// Connected peers could not serve everything: look for providers.
		f.searched = true
		if extra := f.searchDHT(ctx); len(extra) > 0 {
			if err := f.bulk(ctx, extra, missing); err != nil {
				return err
			}
			missing = f.stillMissing(ctx, missing)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return f.bitswap(ctx, missing)
}

// bulk fetches what it can of cids from providers over the bulk transfer
// protocol, leaving the rest missing; a cancelled ctx or a failing local
// store is an error.
func (f *fetch) bulk(ctx context.Context, providers []peer.ID, cids []cid.Cid) error {
	if len(providers) == 0 {
		return nil
	}
	opts := []transfer.Option{
		transfer.OnBlock(func(c cid.Cid, size int) { f.add(size); f.n.metrics.receivedBlock(c, size) }),
		transfer.OnBadPeer(f.n.ban),
	}
	if f.n.flat != nil {
		// The store writes each block out and keeps no reference to its
		// bytes (a repo in memory would), so the fetcher may reuse them.
		opts = append(opts, transfer.RecycleBuffers())
	}
	// A pin add stores whole components it does not read back right
	// away: written past the page cache, they cost the fetcher far less.
	fe := transfer.NewFetcher(f.n.Host, f.n.Bulk, opts...)
	err := fe.Fetch(ctx, providers, cids)
	var missing *transfer.MissingError
	if err == nil || errors.As(err, &missing) && ctx.Err() == nil {
		return nil // what is missing goes on to the next source
	}
	return err
}

// stillMissing filters out the blocks now local.
func (f *fetch) stillMissing(ctx context.Context, cids []cid.Cid) []cid.Cid {
	var out []cid.Cid
	for _, c := range cids {
		if ok, err := f.n.Blocks.Has(ctx, c); err != nil || !ok {
			out = append(out, c)
		}
	}
	return out
}

// bitswap fetches cids in one bitswap session (bitswap checks each block
// against its CID, and the blockservice stores it), giving up when no
// block arrives for FetchStall. The bulk providers were asked already, so
// this goes to bitswap alone.
func (f *fetch) bitswap(ctx context.Context, cids []cid.Cid) error {
	if len(f.n.Host.Network().Peers()) == 0 {
		return fmt.Errorf("%d blocks missing and no peers connected: connect to a provider (accel swarm connect) or check the bootstrap peers", len(cids))
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ses := blockservice.NewSession(ctx, blockservice.New(f.n.Blocks, f.n.Bitswap))
	got := 0
	ch := ses.GetBlocks(ctx, cids)
	stall := time.NewTimer(FetchStall)
	defer stall.Stop()
	for got < len(cids) {
		select {
		case b, ok := <-ch:
			if !ok {
				if err := ctx.Err(); err != nil {
					return err
				}
				return fmt.Errorf("bitswap: %d of %d blocks never arrived", len(cids)-got, len(cids))
			}
			got++
			f.add(len(b.RawData()))
			stall.Reset(FetchStall)
		case <-stall.C:
			return fmt.Errorf("no peer sent any of %d missing blocks for %s (tried %d peers over bitswap)", len(cids)-got, FetchStall, len(f.n.Host.Network().Peers()))
		}
	}
	return nil
}

// consider adds p to the bulk providers if it speaks the protocol.
func (f *fetch) consider(p peer.ID) bool {
	if f.seen[p] || p == f.n.Host.ID() || f.n.banned(p) {
		return false
	}
	f.seen[p] = true
	if !transfer.Supports(f.n.Host, p) {
		return false
	}
	f.providers = append(f.providers, p)
	return true
}

// searchDHT dials the providers of the root found on the DHT, all at once,
// and returns the new ones that speak the bulk transfer protocol (the
// others still serve bitswap).
func (f *fetch) searchDHT(ctx context.Context) []peer.ID {
	sctx, cancel := context.WithTimeout(ctx, providerSearch)
	defer cancel()
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		reached = map[peer.ID]bool{}
		dialing = map[peer.ID]bool{}
	)
	for info := range f.n.Routing.FindProvidersAsync(sctx, f.root, maxProviders) {
		if f.seen[info.ID] || dialing[info.ID] || info.ID == f.n.Host.ID() {
			continue
		}
		dialing[info.ID] = true
		wg.Go(func() {
			if err := f.n.Host.Connect(sctx, info); err != nil {
				return
			}
			mu.Lock()
			reached[info.ID] = true
			mu.Unlock()
		})
	}
	wg.Wait()
	var out []peer.ID
	for p := range dialing {
		if !reached[p] {
			f.seen[p] = true // unreachable: not asked again
		} else if f.consider(p) {
			out = append(out, p)
		}
	}
	return out
}

// add counts a block now local and reports progress.
func (f *fetch) add(size int) {
	f.mu.Lock()
	f.done.Blocks++
	f.done.Bytes += int64(size)
	if f.done.Total > 0 && f.done.Bytes > f.done.Total {
		f.done.Total = f.done.Bytes
	}
	p := f.done
	f.mu.Unlock()
	if f.progress != nil {
		f.progress(p)
	}
}
