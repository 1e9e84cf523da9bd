package transfer

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multihash"

	"github.com/ipfs-accelerate/accel/internal/p2ptest"
)

// pseudoBlocks makes n raw blocks of size bytes quickly (benchmark data need
// not be cryptographically random).
func pseudoBlocks(tb testing.TB, n, size int) ([]blocks.Block, []cid.Cid) {
	tb.Helper()
	rng := rand.NewChaCha8([32]byte{byte(n), byte(size >> 10)})
	blks := make([]blocks.Block, n)
	cids := make([]cid.Cid, n)
	for i := range blks {
		data := make([]byte, size)
		_, _ = rng.Read(data)
		mh, _ := multihash.Sum(data, multihash.SHA2_256, -1)
		cids[i] = cid.NewCidV1(cid.Raw, mh)
		blks[i], _ = blocks.NewBlockWithCid(data, cids[i])
	}
	return blks, cids
}

// BenchmarkFetch moves 128 MiB from one provider to a client over TCP
// loopback, into a fresh in-memory store each time, and times a single cold
// 256 KiB block. The reference is bitswap: about 31 ms per 256 KiB block
// (8 MB/s) against Kubo on the development machine; see BenchmarkBitswap
// for the same transfer measured here.
func BenchmarkFetch(b *testing.B) {
	const total = 128 << 20
	for _, size := range []int{256 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("block=%dKiB", size>>10), func(b *testing.B) {
			blks, cids := pseudoBlocks(b, total/size, size)
			p := newProvider(b, storeWith(b, blks))
			client := p2ptest.NewHost(b)
			connect(b, client, p.host)
			b.SetBytes(total)
			b.ResetTimer()
			for range b.N {
				f := NewFetcher(client, newStore())
				if err := f.Fetch(context.Background(), []peer.ID{p.host.ID()}, cids); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("first-block", func(b *testing.B) {
		blks, cids := pseudoBlocks(b, 1, 256<<10)
		p := newProvider(b, storeWith(b, blks))
		client := p2ptest.NewHost(b)
		connect(b, client, p.host)
		var elapsed time.Duration
		b.ResetTimer()
		for range b.N {
			f := NewFetcher(client, newStore())
			start := time.Now()
			if err := f.Fetch(context.Background(), []peer.ID{p.host.ID()}, cids); err != nil {
				b.Fatal(err)
			}
			elapsed += time.Since(start)
		}
		b.ReportMetric(float64(elapsed.Microseconds())/1000/float64(b.N), "ms/first-block")
	})
}
