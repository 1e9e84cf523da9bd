package transfer

import (
	"bufio"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// StreamPool keeps the streams that fetches finished with, for the next
// fetch from the same provider: a fetch of one block (a gateway request)
// then skips opening a stream, and the server setting one up, and the
// stream keeps the flow-control window it has grown. A stream is taken
// again only within poolIdle of its last fetch, well within the server's
// idle timeout, and at most poolPerPeer wait per provider. A fetch whose
// pooled stream fails before its first answer (the provider ended it
// meanwhile) goes on over a new stream to the same provider.
type StreamPool struct {
	mu     sync.Mutex
	idle   map[peer.ID][]pooledStream
	closed bool
}

type pooledStream struct {
	s     network.Stream
	r     *bufio.Reader
	since time.Time
}

const (
	poolIdle    = 20 * time.Second
	poolPerPeer = 4
)

// NewStreamPool returns an empty pool.
func NewStreamPool() *StreamPool {
	return &StreamPool{idle: map[peer.ID][]pooledStream{}}
}

// get returns a stream to p that is still open, if one waits.
func (sp *StreamPool) get(p peer.ID) (network.Stream, *bufio.Reader, bool) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	sp.expire(time.Now())
	for list := sp.idle[p]; len(list) > 0; list = sp.idle[p] {
		ps := list[len(list)-1]
		sp.idle[p] = list[:len(list)-1]
		if !ps.s.Conn().IsClosed() {
			return ps.s, ps.r, true
		}
		_ = ps.s.Reset()
	}
	return nil, nil, false
}

// put keeps s for a later fetch from p, or closes it when the pool is
// full or closed.
func (sp *StreamPool) put(p peer.ID, s network.Stream, r *bufio.Reader) {
	_ = s.SetDeadline(time.Time{})
	sp.mu.Lock()
	defer sp.mu.Unlock()
	sp.expire(time.Now())
	if sp.closed || len(sp.idle[p]) >= poolPerPeer {
		_ = s.Close()
		return
	}
	sp.idle[p] = append(sp.idle[p], pooledStream{s, r, time.Now()})
}

// expire closes the streams that waited too long. The caller holds mu.
func (sp *StreamPool) expire(now time.Time) {
	for p, list := range sp.idle {
		kept := list[:0]
		for _, ps := range list {
			if now.Sub(ps.since) < poolIdle {
				kept = append(kept, ps)
			} else {
				_ = ps.s.Close()
			}
		}
		if len(kept) == 0 {
			delete(sp.idle, p)
		} else {
			sp.idle[p] = kept
		}
	}
}

// Close closes every waiting stream; streams put later are closed too.
func (sp *StreamPool) Close() error {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	sp.closed = true
	for _, list := range sp.idle {
		for _, ps := range list {
			_ = ps.s.Close()
		}
	}
	sp.idle = nil
	return nil
}
