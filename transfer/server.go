package transfer

import (
	"bufio"
	"context"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs/boxo/blockstore"
	"github.com/ipfs/go-cid"
	logging "github.com/ipfs/go-log/v2"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ipfs-accelerate/accel/proto/blockwire"
)

var log = logging.Logger("accel/transfer")

// MaxStreamsPerPeer is how many transfer streams one peer may hold open on a
// server at once; further streams are reset. A fetch opens 2 per provider
// by default, so a peer may run 32 fetches from one server at a time (a
// daemon pinning many models at once), while the resource manager bounds
// streams and memory overall.
const MaxStreamsPerPeer = 64

// Server timeouts: how long a stream may wait for its next request, and how
// long one block may take to be written before the stream is reset.
const (
	idleTimeout  = time.Minute
	writeTimeout = 30 * time.Second
)

// Server serves blocks from a blockstore to peers that speak
// blockwire.ProtocolID. It answers every request in order, never reads
// more than the protocol limits, and resets streams that break them.
type Server struct {
	host host.Host
	bs   blockstore.Blockstore

	mu      sync.Mutex
	streams map[peer.ID]int // open streams per peer

	blocks   atomic.Uint64
	bytes    atomic.Uint64
	misses   atomic.Uint64
	rejected atomic.Uint64
}

// ServerStats are the server's counters since it started.
type ServerStats struct {
	BlocksServed uint64 // blocks sent
	BytesServed  uint64 // block bytes sent
	Misses       uint64 // CIDs asked for that the blockstore did not have
	Rejected     uint64 // streams reset: malformed request or too many streams
	Streams      int    // streams open now
}

// NewServer registers the transfer handler on h, serving blocks from bs.
func NewServer(h host.Host, bs blockstore.Blockstore) *Server {
	s := &Server{host: h, bs: bs, streams: make(map[peer.ID]int)}
	h.SetStreamHandler(blockwire.ProtocolID, s.handle)
	return s
}

// Close removes the handler. Streams already open finish their current
// request and then end as their peers close them.
func (s *Server) Close() error {
	s.host.RemoveStreamHandler(blockwire.ProtocolID)
	return nil
}

// Stats returns a snapshot of the server's counters.
func (s *Server) Stats() ServerStats {
	s.mu.Lock()
	open := 0
	for _, n := range s.streams {
		open += n
	}
	s.mu.Unlock()
	return ServerStats{
		BlocksServed: s.blocks.Load(),
		BytesServed:  s.bytes.Load(),
		Misses:       s.misses.Load(),
		Rejected:     s.rejected.Load(),
		Streams:      open,
	}
}

func (s *Server) handle(st network.Stream) {
	p := st.Conn().RemotePeer()
	if !s.acquire(p) {
		s.rejected.Add(1)
		_ = st.Reset()
		return
	}
	defer s.release(p)

	if err := s.serve(st); err != nil {
		log.Debugf("transfer stream from %s: %s", p, err)
		_ = st.Reset()
		return
	}
	_ = st.Close()
}

// serve answers requests on st until the client closes its write side.
func (s *Server) serve(st network.Stream) error {
	ctx := context.Background()
	r := bufio.NewReader(st)
	w := bufio.NewWriterSize(st, 64<<10)
	var hdr []byte
	var buf []byte
	if _, ok := s.bs.(BlockReader); ok {
		b := readBuffers.Get().(*[]byte)
		defer readBuffers.Put(b)
		buf = *b
	}
	for {
		_ = st.SetReadDeadline(time.Now().Add(idleTimeout))
		cids, err := blockwire.ReadRequest(r)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			s.rejected.Add(1)
			return err
		}
		for _, c := range cids {
			data, err := s.read(ctx, c, buf)
			have := err == nil && len(data) <= blockwire.MaxBlockSize
			if !have {
				data = nil
				s.misses.Add(1)
			}
			_ = st.SetWriteDeadline(time.Now().Add(writeTimeout))
			hdr = blockwire.AppendResponseHeader(hdr[:0], data, have)
			if _, err := w.Write(hdr); err != nil {
				return err
			}
			if _, err := w.Write(data); err != nil {
				return err
			}
			if have {
				s.blocks.Add(1)
				s.bytes.Add(uint64(len(data)))
			}
		}
		if err := w.Flush(); err != nil {
			return err
		}
	}
}

func (s *Server) acquire(p peer.ID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.streams[p] >= MaxStreamsPerPeer {
		return false
	}
	s.streams[p]++
	return true
}

func (s *Server) release(p peer.ID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.streams[p]--; s.streams[p] == 0 {
		delete(s.streams, p)
	}
}

// BlockReader is a blockstore that can read a block into the caller's
// buffer. The server reads through it when its store has it: one buffer
// per stream instead of a fresh allocation per block, which on a
// file-backed store costs more than the read itself.
type BlockReader interface {
	// ReadBlock returns c's bytes in buf (or in other memory when buf is
	// too small), or an error when the store lacks c.
	ReadBlock(ctx context.Context, c cid.Cid, buf []byte) ([]byte, error)
}

// readBuffers are the streams' block buffers. A cold-block request opens
// a stream of its own; a buffer from the pool is memory already touched,
// where a fresh one costs a page fault per page it is read into.
var readBuffers = sync.Pool{New: func() any {
	b := make([]byte, blockwire.MaxBlockSize)
	return &b
}}

// read returns c's bytes, in buf when the store can read into it.
func (s *Server) read(ctx context.Context, c cid.Cid, buf []byte) ([]byte, error) {
	if br, ok := s.bs.(BlockReader); ok {
		return br.ReadBlock(ctx, c, buf)
	}
	b, err := s.bs.Get(ctx, c)
	if err != nil {
		return nil, err
	}
	return b.RawData(), nil
}
