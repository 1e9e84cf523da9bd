package offload

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"github.com/ipfs/go-cid"
	logging "github.com/ipfs/go-log/v2"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"

	"github.com/ipfs-accelerate/accel/inference/llama"
	"github.com/ipfs-accelerate/accel/proto/offloadwire"
)

var log = logging.Logger("accel/offload")

// ErrNoModel is what a ModelSource wraps when the peer does not hold a
// model whole.
var ErrNoModel = errors.New("this peer does not hold the model")

// ModelSource opens the models a server runs layers of.
type ModelSource interface {
	// Model returns the model at root with every block loaded, or an error
	// wrapping ErrNoModel when this peer does not hold it. The server
	// keeps up to Limits.Models of them and drops the others without
	// closing them, so their memory must be the garbage collector's (as
	// loader.Model.LlamaModel's is).
	Model(ctx context.Context, root cid.Cid) (*llama.Model, error)
}

// Limits bound what a server takes on. Zero fields take the defaults.
type Limits struct {
	Sessions    int           // sessions at once (16); a stream over it gets an Error
	IdleTimeout time.Duration // longest wait for a session's next request (2 minutes)
	Context     int           // positions of one session (4096)
	Models      int           // models kept open (2)
	// KVBytes bounds the KV caches of all sessions together (1 GiB): an
	// Open whose cache could outgrow what is left gets an Error.
	KVBytes int64
}

func (l Limits) withDefaults() Limits {
	if l.Sessions <= 0 {
		l.Sessions = 16
	}
	if l.IdleTimeout <= 0 {
		l.IdleTimeout = 2 * time.Minute
	}
	if l.Context <= 0 {
		l.Context = 4096
	}
	if l.Models <= 0 {
		l.Models = 2
	}
	if l.KVBytes <= 0 {
		l.KVBytes = 1 << 30
	}
	return l
}

// Server serves offload sessions to peers that speak
// offloadwire.ProtocolID, one per stream, within its Limits. It answers
// every request, a bad one with an Error that ends the session, and never
// panics on what a peer sends.
type Server struct {
	host   host.Host
	limits Limits
	models *modelCache
	ctx    context.Context // ends with Close
	cancel context.CancelFunc
	ids    atomic.Uint64
	tags   atomic.Uint64 // connection manager tags, one per admitted stream

	mu      sync.Mutex
	streams map[network.Stream]struct{} // streams being served
	kvBytes int64                       // KV cache bytes the open sessions may reach
}

// NewServer registers the offload handler on h, serving the models that
// models opens.
func NewServer(h host.Host, models ModelSource, limits Limits) *Server {
	limits = limits.withDefaults()
	cache, _ := simplelru.NewLRU[cid.Cid, *llama.Model](limits.Models, nil)
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		host: h, limits: limits, ctx: ctx, cancel: cancel,
		models:  &modelCache{src: models, lru: cache, loading: map[cid.Cid]*modelLoad{}},
		streams: map[network.Stream]struct{}{},
	}
	h.SetStreamHandler(offloadwire.ProtocolID, s.handle)
	return s
}

// Close removes the handler and ends every session.
func (s *Server) Close() error {
	s.host.RemoveStreamHandler(offloadwire.ProtocolID)
	s.cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	for st := range s.streams {
		_ = st.Reset()
	}
	return nil
}

// ActiveSessions is the number of sessions being served (streams
// admitted, open or about to be).
func (s *Server) ActiveSessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.streams)
}

func (s *Server) admit(st network.Stream) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.streams) >= s.limits.Sessions || s.ctx.Err() != nil {
		return false
	}
	s.streams[st] = struct{}{}
	return true
}

func (s *Server) leave(st network.Stream) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.streams, st)
}

// handle serves one stream: its session, request by request, until the
// client closes it, an Error ends it, or it idles out.
func (s *Server) handle(st network.Stream) {
	admitted := s.admit(st)
	if admitted {
		defer s.leave(st)
		// The connection carries a session: the connection manager keeps it.
		peer, tag := st.Conn().RemotePeer(), fmt.Sprintf("accel-offload-%d", s.tags.Add(1))
		s.host.ConnManager().Protect(peer, tag)
		defer s.host.ConnManager().Unprotect(peer, tag)
	}
	sess := &session{server: s}
	defer sess.end()
	r := bufio.NewReader(st)
	for {
		_ = st.SetReadDeadline(time.Now().Add(s.limits.IdleTimeout))
		body, err := offloadwire.ReadFrame(r)
		var reply offloadwire.Message
		switch {
		case errors.Is(err, offloadwire.ErrProtocol):
			reply = offloadwire.ErrorOf(err)
		case err != nil: // the client left, or idled out
			log.Debugf("offload stream from %s: %s", st.Conn().RemotePeer(), err)
			_ = st.Reset()
			return
		case !admitted:
			reply = offloadwire.ErrorOf(fmt.Errorf("the peer serves its maximum of %d sessions: try later or another peer", s.limits.Sessions))
		default:
			reply = sess.answer(body)
		}
		out, err := offloadwire.Encode(reply)
		if err == nil {
			_ = st.SetWriteDeadline(time.Now().Add(exchangeTimeout))
			err = offloadwire.WriteFrame(st, out)
		}
		if err != nil {
			_ = st.Reset()
			return
		}
		switch reply.(type) {
		case offloadwire.Error, offloadwire.Closed:
			_ = st.Close()
			return
		}
	}
}

// session is the state of one stream: nothing until Open, then a llama
// session over the layer range asked for.
type session struct {
	server   *Server
	model    *llama.Model
	run      *llama.Session
	from, to int
	held     int   // positions the KV cache holds
	kvBytes  int64 // the most its KV cache can reach, reserved with the server
}

// reserve sets aside n bytes of the server's KV budget, or fails saying so.
func (s *Server) reserve(n int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.kvBytes+n > s.limits.KVBytes {
		return fmt.Errorf("the session's KV cache (up to %d MiB) does not fit in what this peer has left (%d of %d MiB): ask for fewer layers or positions, or try later", n>>20, (s.limits.KVBytes-s.kvBytes)>>20, s.limits.KVBytes>>20)
	}
	s.kvBytes += n
	return nil
}

// end gives the session's KV budget back.
func (s *session) end() {
	s.server.mu.Lock()
	defer s.server.mu.Unlock()
	s.server.kvBytes -= s.kvBytes
	s.kvBytes = 0
}

// answer handles one request body and returns the reply; an Error ends
// the session.
func (s *session) answer(body []byte) offloadwire.Message {
	m, err := offloadwire.Decode(body)
	if err != nil {
		return offloadwire.ErrorOf(err)
	}
	var reply offloadwire.Message
	switch m := m.(type) {
	case offloadwire.Open:
		reply, err = s.open(m)
	case offloadwire.Forward:
		reply, err = s.forward(m)
	case offloadwire.Close:
		reply = offloadwire.Closed{}
	default:
		err = fmt.Errorf("%T is not a request", m)
	}
	if err != nil {
		return offloadwire.ErrorOf(err)
	}
	return reply
}

func (s *session) open(m offloadwire.Open) (offloadwire.Message, error) {
	limit := s.server.limits.Context
	switch {
	case s.run != nil:
		return nil, errors.New("the session is already open")
	case m.Context > limit:
		return nil, fmt.Errorf("a context of %d positions exceeds this peer's limit of %d", m.Context, limit)
	}
	model, err := s.server.models.get(s.server.ctx, m.Root)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", m.Root, err)
	}
	if m.To > model.Layers {
		return nil, fmt.Errorf("model %s has %d layers: [%d, %d) is outside them", m.Root, model.Layers, m.From, m.To)
	}
	positions := m.Context
	if positions == 0 {
		positions = min(model.SeqLen, limit)
	}
	kv := int64(m.To-m.From) * int64(positions) * int64(model.KVDim()) * 2 * 4 // keys and values, f32
	if err := s.server.reserve(kv); err != nil {
		return nil, err
	}
	s.kvBytes = kv
	s.model, s.from, s.to = model, m.From, m.To
	s.run = model.NewSession(llama.SessionOptions{Context: positions})
	return offloadwire.Opened{Session: s.server.ids.Add(1), Dim: model.Dim}, nil
}

func (s *session) forward(m offloadwire.Forward) (offloadwire.Message, error) {
	switch {
	case s.run == nil:
		return nil, errors.New("a Forward before Open")
	case len(m.States) != m.N*s.model.Dim:
		return nil, fmt.Errorf("hidden states %d wide, the model's are %d", len(m.States)/m.N, s.model.Dim)
	case m.Pos > s.held:
		return nil, fmt.Errorf("position %d skips past the %d positions the session holds", m.Pos, s.held)
	}
	if err := s.run.RunLayers(s.from, s.to, m.Pos, m.States); err != nil {
		return nil, err
	}
	s.held = m.Pos + m.N
	return offloadwire.Hidden{States: m.States}, nil
}

// modelCache keeps the models a server opened, the most recently used
// ones, and opens each root once however many sessions ask for it at a
// time. A root that fails to open is not cached, so requests for models
// the peer lacks evict nothing.
type modelCache struct {
	src     ModelSource
	mu      sync.Mutex
	lru     *simplelru.LRU[cid.Cid, *llama.Model]
	loading map[cid.Cid]*modelLoad
}

// modelLoad is an open under way; done closes when m or err is set.
type modelLoad struct {
	done chan struct{}
	m    *llama.Model
	err  error
}

func (c *modelCache) get(ctx context.Context, root cid.Cid) (*llama.Model, error) {
	c.mu.Lock()
	if m, ok := c.lru.Get(root); ok {
		c.mu.Unlock()
		return m, nil
	}
	if l, ok := c.loading[root]; ok {
		c.mu.Unlock()
		<-l.done
		return l.m, l.err
	}
	l := &modelLoad{done: make(chan struct{})}
	c.loading[root] = l
	c.mu.Unlock()

	l.m, l.err = c.src.Model(ctx, root)
	c.mu.Lock()
	delete(c.loading, root)
	if l.err == nil {
		c.lru.Add(root, l.m)
	}
	c.mu.Unlock()
	close(l.done)
	return l.m, l.err
}
