package transfer

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ipfs/boxo/bitswap"
	bsnet "github.com/ipfs/boxo/bitswap/network/bsnet"
	"github.com/ipfs/go-cid"

	"github.com/ipfs-accelerate/accel/internal/p2ptest"
)

// BenchmarkBitswap is the reference for BenchmarkFetch: boxo bitswap moving
// the same 256 KiB blocks between two hosts over TCP loopback, each
// iteration into a fresh client.
func BenchmarkBitswap(b *testing.B) {
	const total = 32 << 20
	for _, n := range []int{total / (256 << 10), 1} {
		name := fmt.Sprintf("block=256KiB/n=%d", n)
		b.Run(name, func(b *testing.B) {
			blks, cids := pseudoBlocks(b, n, 256<<10)
			ph := p2ptest.NewHost(b)
			server := bitswap.New(context.Background(), bsnet.NewFromIpfsHost(ph), nil, storeWith(b, blks))
			b.Cleanup(func() { _ = server.Close() })
			b.SetBytes(int64(n * 256 << 10))
			var elapsed time.Duration
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				ch := p2ptest.NewHost(b)
				client := bitswap.New(context.Background(), bsnet.NewFromIpfsHost(ch), nil, newStore())
				connect(b, ch, ph)
				b.StartTimer()
				start := time.Now()
				if err := getAll(client, cids); err != nil {
					b.Fatal(err)
				}
				elapsed += time.Since(start)
				b.StopTimer()
				_ = client.Close()
				_ = ch.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(elapsed.Microseconds())/1000/float64(b.N*n), "ms/block")
		})
	}
}

func getAll(bs *bitswap.Bitswap, cids []cid.Cid) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ch, err := bs.GetBlocks(ctx, cids)
	if err != nil {
		return err
	}
	got := 0
	for range ch {
		got++
	}
	if got != len(cids) {
		return fmt.Errorf("bitswap got %d of %d blocks: %v", got, len(cids), ctx.Err())
	}
	return nil
}
