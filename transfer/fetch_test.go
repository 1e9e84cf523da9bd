package transfer

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipfs/boxo/blockstore"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ipfs-accelerate/accel/internal/p2ptest"
)

// hookStore runs get on every block the wrapped store returns.
type hookStore struct {
	blockstore.Blockstore
	get func(blocks.Block) blocks.Block
}

func (h hookStore) Get(ctx context.Context, c cid.Cid) (blocks.Block, error) {
	b, err := h.Blockstore.Get(ctx, c)
	if err != nil {
		return nil, err
	}
	return h.get(b), nil
}

func TestFetchTwoProviders(t *testing.T) {
	blks, cids := randomBlocks(t, 200, 256<<10)
	a := newProvider(t, storeWith(t, blks))
	b := newProvider(t, storeWith(t, blks))
	client := p2ptest.NewHost(t)
	connect(t, client, a.host, b.host)

	local := newStore()
	var stored, bytes int
	f := NewFetcher(client, local, OnBlock(func(c cid.Cid, size int) { stored++; bytes += size }))
	if err := f.Fetch(context.Background(), []peer.ID{a.host.ID(), b.host.ID()}, cids); err != nil {
		t.Fatal(err)
	}
	checkStored(t, local, blks)
	if stored != 200 || bytes != 200*256<<10 {
		t.Errorf("OnBlock saw %d blocks, %d bytes; want 200, %d", stored, bytes, 200*256<<10)
	}
	sa, sb := a.server.Stats(), b.server.Stats()
	t.Logf("served: a %d blocks, b %d blocks", sa.BlocksServed, sb.BlocksServed)
	if sa.BlocksServed == 0 || sb.BlocksServed == 0 {
		t.Errorf("want both providers to serve; a %d, b %d", sa.BlocksServed, sb.BlocksServed)
	}
	if n := sa.BlocksServed + sb.BlocksServed; n != 200 {
		t.Errorf("served %d blocks, want 200", n)
	}
}

func TestFetchResumes(t *testing.T) {
	blks, cids := randomBlocks(t, 100, 64<<10)
	a := newProvider(t, storeWith(t, blks))
	b := newProvider(t, storeWith(t, blks))
	client := p2ptest.NewHost(t)
	connect(t, client, a.host, b.host)

	local := newStore()
	for i := 0; i < len(blks); i += 2 {
		if err := local.Put(context.Background(), blks[i]); err != nil {
			t.Fatal(err)
		}
	}
	f := NewFetcher(client, local, WithBatchSize(8))
	if err := f.Fetch(context.Background(), []peer.ID{a.host.ID(), b.host.ID()}, cids); err != nil {
		t.Fatal(err)
	}
	checkStored(t, local, blks)
	if n := a.server.Stats().BlocksServed + b.server.Stats().BlocksServed; n != 50 {
		t.Errorf("served %d blocks, want the 50 missing ones", n)
	}
	// Everything is local now: nothing more is asked.
	if err := f.Fetch(context.Background(), []peer.ID{a.host.ID()}, cids); err != nil {
		t.Fatal(err)
	}
	if n := a.server.Stats().BlocksServed + b.server.Stats().BlocksServed; n != 50 {
		t.Errorf("served %d blocks after a complete fetch, want 50", n)
	}
}

func TestFetchBadPeer(t *testing.T) {
	blks, cids := randomBlocks(t, 100, 64<<10)
	corrupt := hookStore{storeWith(t, blks), func(b blocks.Block) blocks.Block {
		data := append([]byte(nil), b.RawData()...)
		data[len(data)/2] ^= 1
		bad, _ := blocks.NewBlockWithCid(data, b.Cid())
		return bad
	}}
	bad := newProvider(t, corrupt)
	good := newProvider(t, storeWith(t, blks))
	client := p2ptest.NewHost(t)
	connect(t, client, bad.host, good.host)

	local := newStore()
	var mu sync.Mutex
	var bans []peer.ID
	f := NewFetcher(client, local, WithBatchSize(4), OnBadPeer(func(p peer.ID, err error) {
		mu.Lock()
		defer mu.Unlock()
		t.Logf("bad peer: %v", err)
		bans = append(bans, p)
	}))
	// The bad provider goes first, so it gets the first batch.
	if err := f.Fetch(context.Background(), []peer.ID{bad.host.ID(), good.host.ID()}, cids); err != nil {
		t.Fatal(err)
	}
	checkStored(t, local, blks)
	if len(bans) != 1 || bans[0] != bad.host.ID() {
		t.Errorf("OnBadPeer called for %v, want once for %s", bans, bad.host.ID())
	}
	if bad.server.Stats().BlocksServed == 0 {
		t.Error("the bad provider was never asked")
	}
}

func TestFetchProviderClosed(t *testing.T) {
	blks, cids := randomBlocks(t, 200, 64<<10)
	var flaky provider
	var served atomic.Int32
	flaky = newProvider(t, hookStore{storeWith(t, blks), func(b blocks.Block) blocks.Block {
		if served.Add(1) == 20 {
			go flaky.host.Close()
		}
		return b
	}})
	steady := newProvider(t, storeWith(t, blks))
	client := p2ptest.NewHost(t)
	connect(t, client, flaky.host, steady.host)

	local := newStore()
	f := NewFetcher(client, local, WithBatchSize(8))
	if err := f.Fetch(context.Background(), []peer.ID{flaky.host.ID(), steady.host.ID()}, cids); err != nil {
		t.Fatal(err)
	}
	checkStored(t, local, blks)
	if n := flaky.server.Stats().BlocksServed; n >= 200 {
		t.Errorf("closed provider served %d blocks", n)
	}
}

func TestFetchLackingBlocks(t *testing.T) {
	blks, cids := randomBlocks(t, 60, 16<<10)
	half := newProvider(t, storeWith(t, blks[:30]))
	full := newProvider(t, storeWith(t, blks))
	client := p2ptest.NewHost(t)
	connect(t, client, half.host, full.host)

	local := newStore()
	f := NewFetcher(client, local, WithBatchSize(4))
	if err := f.Fetch(context.Background(), []peer.ID{half.host.ID(), full.host.ID()}, cids); err != nil {
		t.Fatal(err)
	}
	checkStored(t, local, blks)
}

func TestFetchNobodyHasIt(t *testing.T) {
	blks, cids := randomBlocks(t, 20, 16<<10)
	a := newProvider(t, storeWith(t, blks[:10]))
	b := newProvider(t, storeWith(t, append(blks[:9:9], blks[11:]...))) // both lack blks[10]
	client := p2ptest.NewHost(t)
	connect(t, client, a.host, b.host)

	local := newStore()
	f := NewFetcher(client, local, WithBatchSize(4))
	err := f.Fetch(context.Background(), []peer.ID{a.host.ID(), b.host.ID()}, cids)
	var me *MissingError
	if !errors.As(err, &me) {
		t.Fatalf("got %v, want a MissingError", err)
	}
	t.Log(err)
	if len(me.Missing) != 1 || me.Missing[0] != cids[10] || me.Requested != 20 {
		t.Errorf("missing %v of %d, want [%s] of 20", me.Missing, me.Requested, cids[10])
	}
	checkStored(t, local, append(blks[:10:10], blks[11:]...))
}

func TestFetchNoProviders(t *testing.T) {
	_, cids := randomBlocks(t, 3, 10)
	stranger := p2ptest.NewHost(t) // speaks no transfer protocol
	client := p2ptest.NewHost(t)
	connect(t, client, stranger)
	f := NewFetcher(client, newStore())
	for _, providers := range [][]peer.ID{nil, {client.ID()}, {stranger.ID()}} {
		err := f.Fetch(context.Background(), providers, cids)
		var me *MissingError
		if !errors.As(err, &me) || len(me.Missing) != 3 {
			t.Errorf("providers %v: got %v, want 3 blocks missing", providers, err)
		}
	}
}

func TestFetchCanceled(t *testing.T) {
	blks, cids := randomBlocks(t, 50, 64<<10)
	a := newProvider(t, storeWith(t, blks))
	client := p2ptest.NewHost(t)
	connect(t, client, a.host)
	ctx, cancel := context.WithCancel(context.Background())
	f := NewFetcher(client, newStore(), OnBlock(func(cid.Cid, int) { cancel() }))
	if err := f.Fetch(ctx, []peer.ID{a.host.ID()}, cids); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}

func TestSupports(t *testing.T) {
	a := newProvider(t, newStore())
	client := p2ptest.NewHost(t)
	connect(t, client, a.host)
	deadline := time.Now().Add(5 * time.Second)
	for !Supports(client, a.host.ID()) {
		if time.Now().After(deadline) {
			t.Fatal("identify never reported the transfer protocol")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if Supports(a.host, client.ID()) {
		t.Error("client without a server reported as supporting the protocol")
	}
}

// copyingStore copies each block's bytes before storing them, as a store
// that writes blocks out does: the contract of RecycleBuffers.
type copyingStore struct{ blockstore.Blockstore }

func (s copyingStore) Put(ctx context.Context, b blocks.Block) error {
	return s.PutMany(ctx, []blocks.Block{b})
}

func (s copyingStore) PutMany(ctx context.Context, bs []blocks.Block) error {
	for _, b := range bs {
		c, _ := blocks.NewBlockWithCid(append([]byte(nil), b.RawData()...), b.Cid())
		if err := s.Blockstore.Put(ctx, c); err != nil {
			return err
		}
	}
	return nil
}

// oneProvider makes n random blocks of size bytes, a provider that holds
// them, and a client host connected to it.
func oneProvider(t *testing.T, n, size int) ([]blocks.Block, []cid.Cid, provider, host.Host) {
	t.Helper()
	blks, cids := randomBlocks(t, n, size)
	a := newProvider(t, storeWith(t, blks))
	client := p2ptest.NewHost(t)
	connect(t, client, a.host)
	return blks, cids, a, client
}

// TestFetchRecyclesBuffers fetches with buffers reused between batches:
// every block stored is still the block sent.
func TestFetchRecyclesBuffers(t *testing.T) {
	blks, cids, a, client := oneProvider(t, 300, 64<<10)
	local := newStore()
	f := NewFetcher(client, copyingStore{local}, RecycleBuffers(), WithBatchSize(4))
	if err := f.Fetch(context.Background(), []peer.ID{a.host.ID()}, cids); err != nil {
		t.Fatal(err)
	}
	checkStored(t, local, blks)
}

// TestFetchReusesPooledStreams runs fetches from one provider through a
// stream pool: the second fetch uses the stream the first one left, a
// fetch whose pooled stream was reset goes on over a new one, a stream
// whose connection closed is not used, and a closed pool closes what it
// holds.
func TestFetchReusesPooledStreams(t *testing.T) {
	_, cids, a, client := oneProvider(t, 6, 256<<10)
	sp := NewStreamPool()
	fetchOne := func(i int) {
		t.Helper()
		f := NewFetcher(client, newStore(), WithStreams(1), WithStreamPool(sp))
		if err := f.Fetch(context.Background(), []peer.ID{a.host.ID()}, cids[i:i+1]); err != nil {
			t.Fatal(err)
		}
	}
	pooled := func() []string {
		sp.mu.Lock()
		defer sp.mu.Unlock()
		var ids []string
		for _, ps := range sp.idle[a.host.ID()] {
			ids = append(ids, ps.s.ID())
		}
		return ids
	}
	fetchOne(0)
	first := pooled()
	fetchOne(1)
	if again := pooled(); len(first) != 1 || len(again) != 1 || again[0] != first[0] {
		t.Fatalf("pooled streams %v after the first fetch, %v after the second: want the same one", first, again)
	}

	// The pooled stream is reset while it waits: the next fetch still
	// succeeds, over a new stream, from the same provider.
	sp.idle[a.host.ID()][0].s.Reset()
	fetchOne(2)
	second := pooled()
	if len(second) != 1 || second[0] == first[0] {
		t.Fatalf("pooled streams %v after the pooled one was reset, want one new stream (not %s)", second, first[0])
	}

	// The provider's connection goes: the pooled stream is dropped and a
	// fresh connection and stream serve the next fetch.
	client.Network().ClosePeer(a.host.ID())
	connect(t, client, a.host)
	fetchOne(3)
	if again := pooled(); len(again) != 1 || again[0] == second[0] {
		t.Fatalf("pooled streams %v after the connection closed, want one new stream (not %s)", again, second[0])
	}

	s := sp.idle[a.host.ID()][0].s
	sp.Close()
	if _, err := s.Write([]byte{0}); err == nil {
		t.Error("a stream of a closed pool is still writable")
	}
	fetchOne(4) // works without pooling
	if left := pooled(); len(left) != 0 {
		t.Errorf("a closed pool kept %d streams", len(left))
	}
}
