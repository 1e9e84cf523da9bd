package interop

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	flatfs "github.com/ipfs/go-ds-flatfs"
	mh "github.com/multiformats/go-multihash"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ipfs-accelerate/accel/blockstore"
	"github.com/ipfs-accelerate/accel/internal/p2ptest"
)

// durableStore times the disk alone doing what a pin add's fetch must do
// before its pin is recorded: write blks into a new block store in one
// batch (direct I/O, as a fetch writes) and sync them. No network, no
// hashing: an estimate of the least time a transfer to a repo on this
// disk takes. It returns the median of benchRuns.
func durableStore(tb testing.TB, blks []blocks.Block) time.Duration {
	tb.Helper()
	var times []time.Duration
	for range benchRuns {
		dir := filepath.Join(tb.TempDir(), "blocks")
		if err := flatfs.Create(dir, flatfs.NextToLast(2)); err != nil {
			tb.Fatal(err)
		}
		flat, err := blockstore.OpenFlatFS(dir)
		if err != nil {
			tb.Fatal(err)
		}
		bs := blockstore.NewDirect(flat)
		ctx := context.Background()
		t0 := time.Now()
		err = bs.PutMany(ctx, blks)
		if err == nil {
			err = flat.Sync(ctx, ds.NewKey("/"))
		}
		times = append(times, time.Since(t0))
		if cerr := flat.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			tb.Fatal(err)
		}
		os.RemoveAll(dir)
	}
	return median(times)
}

// streamAndVerify times the network alone doing what a transfer must:
// blocks sent from one libp2p host to another over loopback TCP (TLS and
// yamux, as between daemons) from memory on one stream, each checked
// against its CID on arrival, then dropped. No disk, no daemon: an
// estimate of the least time a transfer between two libp2p nodes on this
// machine takes. It returns the median of benchRuns.
func streamAndVerify(tb testing.TB, blks []blocks.Block) time.Duration {
	tb.Helper()
	src, dst := p2ptest.NewHost(tb), p2ptest.NewHost(tb)
	const proto = "/accel-bench/stream"
	src.SetStreamHandler(proto, func(s network.Stream) {
		defer s.Close()
		for _, b := range blks {
			if _, err := s.Write(b.RawData()); err != nil {
				return
			}
		}
	})
	ctx := context.Background()
	if err := dst.Connect(ctx, peer.AddrInfo{ID: src.ID(), Addrs: src.Addrs()}); err != nil {
		tb.Fatal(err)
	}
	var times []time.Duration
	for range benchRuns {
		t0 := time.Now()
		s, err := dst.NewStream(ctx, src.ID(), proto)
		if err != nil {
			tb.Fatal(err)
		}
		buf := make([]byte, len(blks[0].RawData()))
		for _, b := range blks {
			data := buf[:len(b.RawData())]
			if _, err := io.ReadFull(s, data); err != nil {
				tb.Fatal(err)
			}
			if got, err := b.Cid().Prefix().Sum(data); err != nil || !got.Equals(b.Cid()) {
				tb.Fatalf("block %s arrived corrupted (%v)", b.Cid(), err)
			}
		}
		times = append(times, time.Since(t0))
		s.Close()
	}
	return median(times)
}

// fileBlocks reads file as raw blocks of chunk bytes.
func fileBlocks(tb testing.TB, file string, chunk int) []blocks.Block {
	tb.Helper()
	f, err := os.Open(file)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var out []blocks.Block
	for {
		buf := make([]byte, chunk)
		n, err := io.ReadFull(f, buf)
		if n > 0 {
			c, herr := cid.V1Builder{Codec: cid.Raw, MhType: mh.SHA2_256}.Sum(buf[:n])
			if herr != nil {
				tb.Fatal(herr)
			}
			blk, _ := blocks.NewBlockWithCid(buf[:n], c)
			out = append(out, blk)
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return out
		}
		if err != nil {
			tb.Fatal(err)
		}
	}
}
