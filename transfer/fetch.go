package transfer

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/ipfs/boxo/blockstore"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	pool "github.com/libp2p/go-buffer-pool"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ipfs-accelerate/accel/proto/blockwire"
)

// stallTimeout is how long a provider may take to start or finish sending
// one block before the fetcher gives up on it.
const stallTimeout = 30 * time.Second

// Option configures a Fetcher.
type Option func(*config)

type config struct {
	batchSize int
	streams   int
	window    int
	onBlock   func(cid.Cid, int)
	onBadPeer func(peer.ID, error)
	recycle   bool
	pool      *StreamPool
}

// WithBatchSize sets how many CIDs go in one request (default 16, at most
// blockwire.MaxRequestCIDs).
func WithBatchSize(n int) Option {
	return func(c *config) { c.batchSize = min(max(n, 1), blockwire.MaxRequestCIDs) }
}

// WithStreams sets how many pipelined streams the fetcher opens to each
// provider (default 2, at most MaxStreamsPerPeer/2 so that two fetches can
// share a provider). Two streams let reading and verifying overlap.
func WithStreams(n int) Option {
	return func(c *config) { c.streams = min(max(n, 1), MaxStreamsPerPeer/2) }
}

// WithWindow sets how many requests may be outstanding on one stream
// (default 4).
func WithWindow(n int) Option {
	return func(c *config) { c.window = max(n, 1) }
}

// OnBlock sets a callback run after each block is stored, with its size.
func OnBlock(fn func(c cid.Cid, size int)) Option {
	return func(c *config) { c.onBlock = fn }
}

// OnBadPeer sets a callback run when a provider sends a block that does not
// match its CID. The provider is already dropped from the fetch; the
// callback may close its connection and ban it.
func OnBadPeer(fn func(p peer.ID, err error)) Option {
	return func(c *config) { c.onBadPeer = fn }
}

// RecycleBuffers tells the fetcher that its blockstore keeps no reference
// to a block's bytes once PutMany returns (a store that writes them out),
// so that later blocks are read into the same memory: on a VM, first
// touches of fresh memory make copying a block into it several times
// slower.
func RecycleBuffers() Option {
	return func(c *config) { c.recycle = true }
}

// WithStreamPool has the fetcher take its streams from pool, and leave them
// there open when a fetch is over, instead of opening and closing one per
// fetch and provider.
func WithStreamPool(pool *StreamPool) Option {
	return func(c *config) { c.pool = pool }
}

// newBuffer allocates memory for a block that its caller keeps.
func newBuffer(n int) []byte { return make([]byte, n) }

// Fetcher downloads blocks from providers that speak blockwire.ProtocolID
// into a local blockstore. Every block is checked against its CID before
// it is stored; nothing unverified ever reaches the store. A Fetcher may
// run several fetches at once.
type Fetcher struct {
	host host.Host
	bs   blockstore.Blockstore
	cfg  config

	cbMu sync.Mutex // serializes callbacks
}

// NewFetcher returns a Fetcher that opens streams from h and stores into bs.
func NewFetcher(h host.Host, bs blockstore.Blockstore, opts ...Option) *Fetcher {
	f := &Fetcher{host: h, bs: bs, cfg: config{batchSize: 16, streams: 2, window: 4}}
	for _, o := range opts {
		o(&f.cfg)
	}
	return f
}

// MissingError is returned by Fetch when some blocks could not be fetched.
type MissingError struct {
	Missing   []cid.Cid // the blocks not fetched, roughly in request order
	Requested int       // how many blocks Fetch had to fetch
	Err       error     // why: what went wrong with each provider
}

func (e *MissingError) Error() string {
	return fmt.Sprintf("transfer: %d of %d blocks missing: %v", len(e.Missing), e.Requested, e.Err)
}

func (e *MissingError) Unwrap() error { return e.Err }

// Fetch stores the blocks of cids that the local blockstore lacks, asking
// providers in parallel. cids are in priority order: they are requested in
// batches from the front, so early blocks arrive first.
//
// A provider that fails (stream reset, connection lost, protocol error, bad
// block) is dropped and its unfinished batches go back to the queue. A block
// a provider says it lacks is asked from the others. Fetch returns nil once
// every block is stored, a *MissingError when no provider left can supply the
// rest, or the context's error when ctx ends first. Blocks stored before an
// error stay stored, so a later Fetch resumes where this one stopped.
func (f *Fetcher) Fetch(ctx context.Context, providers []peer.ID, cids []cid.Cid) error {
	var todo []cid.Cid
	seen := make(map[cid.Cid]bool, len(cids))
	for _, c := range cids {
		if seen[c] {
			continue
		}
		seen[c] = true
		have, err := f.bs.Has(ctx, c)
		if err != nil {
			return fmt.Errorf("transfer: local store: %w", err)
		}
		if !have {
			todo = append(todo, c)
		}
	}
	if len(todo) == 0 {
		return nil
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	fe := &fetch{
		Fetcher: f,
		ctx:     ctx,
		abort:   cancel,
		live:    make(map[peer.ID]bool),
		lacked:  make(map[peer.ID]int),
		wake:    make(chan struct{}),
	}
	for _, p := range providers {
		if p != f.host.ID() {
			fe.live[p] = true
		}
	}
	if len(fe.live) == 0 {
		fe.errs = append(fe.errs, errors.New("no providers"))
	}
	for i := 0; i < len(todo); i += f.cfg.batchSize {
		fe.put(&batch{seq: i, cids: todo[i:min(i+f.cfg.batchSize, len(todo))]})
	}

	var wg sync.WaitGroup
	for _, p := range slices.Collect(maps.Keys(fe.live)) {
		pctx, drop := context.WithCancel(ctx)
		defer drop()
		for range f.cfg.streams {
			wg.Go(func() { fe.run(pctx, drop, p) })
		}
	}
	wg.Wait()

	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	if len(fe.missing) > 0 {
		slices.SortStableFunc(fe.missing, func(a, b *batch) int { return a.seq - b.seq })
		var missing []cid.Cid
		for _, b := range fe.missing {
			missing = append(missing, b.cids...)
		}
		errs := fe.errs
		for p, n := range fe.lacked {
			errs = append(errs, fmt.Errorf("%s lacks %d blocks", p, n))
		}
		return &MissingError{Missing: missing, Requested: len(todo), Err: errors.Join(errs...)}
	}
	return nil
}

// batch is one request's worth of CIDs. seq orders batches by priority;
// lacking lists the providers that said they do not have these blocks.
type batch struct {
	seq     int
	cids    []cid.Cid
	lacking []peer.ID
}

// fetch is the state of one Fetch call, shared by its provider goroutines.
// Every batch is at any time in exactly one place: the queue, one
// provider's pipeline (counted in busy), or missing.
type fetch struct {
	*Fetcher
	ctx   context.Context
	abort context.CancelCauseFunc

	mu      sync.Mutex
	queue   []*batch // servable batches, by seq
	busy    int      // batches taken by providers and not finished
	live    map[peer.ID]bool
	missing []*batch        // batches no live provider can serve
	errs    []error         // why providers failed
	lacked  map[peer.ID]int // blocks each provider said it does not have
	wake    chan struct{}   // closed and replaced on every change
}

// put queues b, or moves it to missing when no live provider may serve it.
// The caller holds mu (or has not started the providers yet).
func (fe *fetch) put(b *batch) {
	if !fe.servable(b) {
		fe.missing = append(fe.missing, b)
		return
	}
	i, _ := slices.BinarySearchFunc(fe.queue, b.seq, func(q *batch, seq int) int {
		if q.seq <= seq {
			return -1 // after equal seqs: requeued blocks keep their order
		}
		return 1
	})
	fe.queue = slices.Insert(fe.queue, i, b)
}

func (fe *fetch) servable(b *batch) bool {
	for p := range fe.live {
		if !slices.Contains(b.lacking, p) {
			return true
		}
	}
	return false
}

func (fe *fetch) notify() {
	close(fe.wake)
	fe.wake = make(chan struct{})
}

// take hands p the first queued batch it may serve. It waits while other
// providers have work in flight that may come back, and returns nil when
// the fetch is over or ctx ends.
func (fe *fetch) take(ctx context.Context, p peer.ID) *batch {
	fe.mu.Lock()
	defer fe.mu.Unlock()
	for ctx.Err() == nil {
		for i, b := range fe.queue {
			if !slices.Contains(b.lacking, p) {
				fe.queue = slices.Delete(fe.queue, i, i+1)
				fe.busy++
				return b
			}
		}
		if len(fe.queue) == 0 && fe.busy == 0 {
			return nil
		}
		wake := fe.wake
		fe.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
		}
		fe.mu.Lock()
	}
	return nil
}

// finish marks a taken batch done; retry, if any, holds the blocks p lacked.
func (fe *fetch) finish(p peer.ID, retry *batch) {
	fe.mu.Lock()
	defer fe.mu.Unlock()
	fe.busy--
	if retry != nil {
		fe.lacked[p] += len(retry.cids)
		fe.put(retry)
	}
	fe.notify()
}

// requeue puts taken batches back in the queue, as unfinished work of a
// provider that stays live.
func (fe *fetch) requeue(unfinished []*batch) {
	fe.mu.Lock()
	defer fe.mu.Unlock()
	fe.busy -= len(unfinished)
	for _, b := range unfinished {
		fe.put(b)
	}
	fe.notify()
}

// fail drops provider p and requeues its unfinished batches. It reports
// whether p was live, i.e. whether this is p's first failure.
func (fe *fetch) fail(p peer.ID, err error, unfinished []*batch) bool {
	fe.mu.Lock()
	defer fe.mu.Unlock()
	first := fe.live[p]
	delete(fe.live, p)
	if first && fe.ctx.Err() == nil {
		fe.errs = append(fe.errs, fmt.Errorf("%s: %w", p, err))
	}
	fe.busy -= len(unfinished)
	queue := fe.queue
	fe.queue = nil
	for _, b := range append(queue, unfinished...) {
		fe.put(b)
	}
	fe.notify()
	return first
}

// run fetches from provider p over one pipelined stream until the fetch is
// over or p fails. drop cancels pctx, which ends p's other streams.
func (fe *fetch) run(pctx context.Context, drop context.CancelFunc, p peer.ID) {
	s, r, pooled, err := fe.open(pctx, p, true)
	if err == nil && fe.serve(pctx, drop, p, s, r, pooled) {
		// The provider had ended the pooled stream: a new one goes on.
		s, r, _, err = fe.open(pctx, p, false)
		if err == nil {
			fe.serve(pctx, drop, p, s, r, false)
		}
	}
	if err != nil {
		fe.dropped(p, err, nil)
		drop()
	}
}

// serve runs the fetch over s until it is over or p fails. It reports
// stale, with the batches it took back in the queue, when s came from the
// pool and failed before its first answer: a stream the provider ended
// while it waited, not a failing provider.
func (fe *fetch) serve(pctx context.Context, drop context.CancelFunc, p peer.ID, s network.Stream, r *bufio.Reader, pooled bool) (stale bool) {
	ctx, cancel := context.WithCancel(pctx)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { _ = s.Reset() })

	inflight := make(chan *batch, fe.cfg.window)
	slots := make(chan struct{}, fe.cfg.window)
	var writer sync.WaitGroup
	writer.Go(func() {
		defer close(inflight)
		var req []byte
		for {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
			b := fe.take(ctx, p)
			if b == nil {
				if ctx.Err() == nil && fe.cfg.pool == nil {
					_ = s.CloseWrite()
				}
				return
			}
			inflight <- b // never blocks: slots bounds the batches in flight
			req = blockwire.AppendRequest(req[:0], b.cids)
			if _, err := s.Write(req); err != nil {
				_ = s.Reset() // the reader sees the failure
				return
			}
		}
	})

	answered := false
	for b := range inflight {
		retry, rest, err := fe.readBatch(p, s, r, b)
		if err != nil {
			cancel()
			writer.Wait()
			unfinished := []*batch{rest}
			for b := range inflight {
				unfinished = append(unfinished, b)
			}
			var bad badBlockError
			if pooled && !answered && len(rest.cids) == len(b.cids) && !errors.As(err, &bad) {
				fe.requeue(unfinished)
				return true
			}
			fe.dropped(p, err, unfinished)
			drop() // only now, so that the cause recorded is this error
			return false
		}
		answered = true
		<-slots
		fe.finish(p, retry)
	}
	if stop() && fe.cfg.pool != nil {
		fe.cfg.pool.put(p, s, r)
	} else {
		_ = s.Close()
	}
	return false
}

// open returns a stream to p: one waiting in the pool (pooled) when
// fromPool allows, else a new one.
func (fe *fetch) open(ctx context.Context, p peer.ID, fromPool bool) (s network.Stream, r *bufio.Reader, pooled bool, err error) {
	if fe.cfg.pool != nil && fromPool {
		if s, r, ok := fe.cfg.pool.get(p); ok {
			return s, r, true, nil
		}
	}
	if s, err = fe.host.NewStream(ctx, p, blockwire.ProtocolID); err != nil {
		return nil, nil, false, err
	}
	return s, bufio.NewReaderSize(s, 64<<10), false, nil
}

// readBatch reads the answers to b, verifies and stores the blocks. It
// returns the blocks p lacks as retry. On error, rest holds every block of b
// not stored, and p must be dropped.
func (fe *fetch) readBatch(p peer.ID, s network.Stream, r *bufio.Reader, b *batch) (retry, rest *batch, err error) {
	var got []blocks.Block
	var lacking []cid.Cid
	alloc := newBuffer
	if fe.cfg.recycle {
		alloc = pool.Get
	}
	defer func() {
		if serr := fe.store(got); serr != nil {
			fe.abort(serr)
		}
	}()
	for i, c := range b.cids {
		_ = s.SetReadDeadline(time.Now().Add(stallTimeout))
		data, have, err := blockwire.ReadResponse(r, alloc)
		if err == nil && have {
			err = verify(c, data)
		}
		if err != nil {
			rest := &batch{seq: b.seq, cids: append(lacking, b.cids[i:]...), lacking: b.lacking}
			return nil, rest, err
		}
		if !have {
			lacking = append(lacking, c)
			continue
		}
		blk, _ := blocks.NewBlockWithCid(data, c) // verified above
		got = append(got, blk)
	}
	if len(lacking) > 0 {
		retry = &batch{seq: b.seq, cids: lacking, lacking: append(slices.Clip(b.lacking), p)}
	}
	return retry, nil, nil
}

// badBlockError is a block that does not match its CID.
type badBlockError struct{ error }

// verify checks that data hashes to c.
func verify(c cid.Cid, data []byte) error {
	got, err := c.Prefix().Sum(data)
	if err != nil {
		return badBlockError{fmt.Errorf("verify %s: %w", c, err)}
	}
	if !got.Equals(c) {
		return badBlockError{fmt.Errorf("block for %s hashes to %s", c, got)}
	}
	return nil
}

// store puts verified blocks into the local store in one batch.
func (fe *fetch) store(got []blocks.Block) error {
	if len(got) == 0 {
		return nil
	}
	err := fe.bs.PutMany(fe.ctx, got)
	if err == nil && fe.cfg.onBlock != nil {
		fe.cbMu.Lock()
		for _, b := range got {
			fe.cfg.onBlock(b.Cid(), len(b.RawData()))
		}
		fe.cbMu.Unlock()
	}
	if fe.cfg.recycle {
		for _, b := range got {
			pool.Put(b.RawData())
		}
	}
	if err != nil {
		return fmt.Errorf("transfer: local store: %w", err)
	}
	return nil
}

// dropped fails p and, the first time p sends a bad block, reports it.
func (fe *fetch) dropped(p peer.ID, err error, unfinished []*batch) {
	var bad badBlockError
	if fe.fail(p, err, unfinished) && errors.As(err, &bad) && fe.cfg.onBadPeer != nil {
		fe.cbMu.Lock()
		defer fe.cbMu.Unlock()
		fe.cfg.onBadPeer(p, err)
	}
}
