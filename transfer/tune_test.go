package transfer

import (
	"context"
	"fmt"
	"testing"
	"bufio"
	"sync"
	"sync/atomic"
	blocks "github.com/ipfs/go-block-format"

	"github.com/libp2p/go-libp2p/core/peer"
)

func BenchmarkTune(b *testing.B) {
	const total = 128 << 20
	size := 256 << 10
	blks, cids := pseudoBlocks(b, total/size, size)
	p := newProvider(b, storeWith(b, blks))
	client := newHost(b)
	connect(b, client, p.host)
	for _, bs := range []int{4, 16, 64} {
		for _, w := range []int{1, 2, 4, 8} {
			b.Run(fmt.Sprintf("batch=%d/window=%d", bs, w), func(b *testing.B) {
				b.SetBytes(total)
				for range b.N {
					f := NewFetcher(client, newStore(), WithBatchSize(bs), WithWindow(w))
					if err := f.Fetch(context.Background(), []peer.ID{p.host.ID()}, cids); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// stream-per-batch client, for comparison only.
func BenchmarkTunePerStream(b *testing.B) {
	const total = 128 << 20
	size := 256 << 10
	blks, cids := pseudoBlocks(b, total/size, size)
	p := newProvider(b, storeWith(b, blks))
	client := newHost(b)
	connect(b, client, p.host)
	for _, bs := range []int{16, 64} {
		for _, w := range []int{1, 2, 4} {
			b.Run(fmt.Sprintf("batch=%d/streams=%d", bs, w), func(b *testing.B) {
				b.SetBytes(total)
				for range b.N {
					local := newStore()
					var next atomic.Int64
					var wg sync.WaitGroup
					for range w {
						wg.Go(func() {
							for {
								i := int(next.Add(int64(bs))) - bs
								if i >= len(cids) {
									return
								}
								batch := cids[i:min(i+bs, len(cids))]
								s, err := client.NewStream(context.Background(), p.host.ID(), ProtocolID)
								if err != nil {
									b.Error(err)
									return
								}
								s.Write(appendRequest(nil, batch))
								s.CloseWrite()
								r := bufio.NewReaderSize(s, 64<<10)
								var got []blocks.Block
								for _, c := range batch {
									data, _, err := readResponse(r)
									if err != nil {
										b.Error(err)
										return
									}
									if err := verify(c, data); err != nil {
										b.Error(err)
									}
									blk, _ := blocks.NewBlockWithCid(data, c)
									got = append(got, blk)
								}
								local.PutMany(context.Background(), got)
								s.Close()
							}
						})
					}
					wg.Wait()
				}
			})
		}
	}
}
