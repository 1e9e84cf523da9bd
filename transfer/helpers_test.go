package transfer

import (
	"context"
	"crypto/rand"
	"testing"

	"github.com/ipfs/boxo/blockstore"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multihash"

	"github.com/ipfs-accelerate/accel/internal/p2ptest"
)

func newStore() blockstore.Blockstore {
	return blockstore.NewBlockstore(dssync.MutexWrap(ds.NewMapDatastore()))
}

// connect tells a how to reach each of others and dials them.
func connect(tb testing.TB, a host.Host, others ...host.Host) {
	tb.Helper()
	for _, b := range others {
		if err := a.Connect(context.Background(), peer.AddrInfo{ID: b.ID(), Addrs: b.Addrs()}); err != nil {
			tb.Fatal(err)
		}
	}
}

// randomBlocks makes n random raw blocks of size bytes with CIDv1 sha2-256.
func randomBlocks(tb testing.TB, n, size int) ([]blocks.Block, []cid.Cid) {
	tb.Helper()
	blks := make([]blocks.Block, n)
	cids := make([]cid.Cid, n)
	for i := range blks {
		data := make([]byte, size)
		_, _ = rand.Read(data)
		mh, err := multihash.Sum(data, multihash.SHA2_256, -1)
		if err != nil {
			tb.Fatal(err)
		}
		cids[i] = cid.NewCidV1(cid.Raw, mh)
		blks[i], _ = blocks.NewBlockWithCid(data, cids[i])
	}
	return blks, cids
}

func storeWith(tb testing.TB, blks []blocks.Block) blockstore.Blockstore {
	tb.Helper()
	bs := newStore()
	if err := bs.PutMany(context.Background(), blks); err != nil {
		tb.Fatal(err)
	}
	return bs
}

// provider is a host serving a blockstore.
type provider struct {
	host   host.Host
	server *Server
}

func newProvider(tb testing.TB, bs blockstore.Blockstore) provider {
	h := p2ptest.NewHost(tb)
	s := NewServer(h, bs)
	tb.Cleanup(func() { _ = s.Close() })
	return provider{h, s}
}

// checkStored fails unless bs holds exactly blks' bytes.
func checkStored(tb testing.TB, bs blockstore.Blockstore, blks []blocks.Block) {
	tb.Helper()
	for _, b := range blks {
		got, err := bs.Get(context.Background(), b.Cid())
		if err != nil {
			tb.Fatalf("block %s: %v", b.Cid(), err)
		}
		if string(got.RawData()) != string(b.RawData()) {
			tb.Fatalf("block %s: bytes differ", b.Cid())
		}
	}
}
