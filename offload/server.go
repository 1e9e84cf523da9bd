package offload

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"github.com/ipfs/go-cid"
	logging "github.com/ipfs/go-log/v2"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

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

// Server serves offload sessions to peers that speak
// offloadwire.ProtocolID, one per stream, within its Limits. It answers
// every request, a bad one or one over a limit with an Error that ends the
// stream, and never panics on what a peer sends. A stream takes a session
// only with a valid Open, and before that may send one frame of at most
// maxFirstFrame bytes, whole within Limits.FirstRequest. The length a
// request's frame announces counts against Limits.InFlight until the
// request is answered, and its memory is committed as its bytes arrive; a
// Tokens request also counts the hidden states it makes and the logits it
// answers with (see tokensBytes).
type Server struct {
	host    host.Host
	limits  Limits
	models  *modelCache
	ctx     context.Context // ends with Close
	cancel  context.CancelFunc
	ids     atomic.Uint64
	tags    atomic.Uint64 // connection manager tags, one per session
	refused refusals

	mu      sync.Mutex
	streams map[network.Stream]struct{} // streams being served
	total   usage                       // what every peer holds
	peers   map[peer.ID]*usage          // what each peer holds, for those that hold anything
	opened  uint64                      // sessions opened
}

// maxFirstFrame bounds a stream's first frame, which must be an Open (an
// Open is at most about 150 bytes): a stream without a session gets no
// more of the server's memory.
const maxFirstFrame = 1 << 10

// NewServer registers the offload handler on h, serving the models that
// models opens.
func NewServer(h host.Host, models ModelSource, limits Limits) *Server {
	limits = limits.withDefaults()
	cache, _ := simplelru.NewLRU[cid.Cid, *llama.Model](limits.Models, nil)
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		host: h, limits: limits, ctx: ctx, cancel: cancel, refused: newRefusals(),
		models:  &modelCache{src: models, lru: cache, loading: map[cid.Cid]*modelLoad{}},
		streams: map[network.Stream]struct{}{},
		peers:   map[peer.ID]*usage{},
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

// ActiveSessions is the number of open sessions.
func (s *Server) ActiveSessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total.sessions
}

// enter admits st within the stream limits, or says which one it breaks.
func (s *Server) enter(st network.Stream, p peer.ID) error {
	if err := s.take(p, usage{streams: 1}); err != nil {
		return err
	}
	s.mu.Lock()
	closed := s.ctx.Err() != nil
	if !closed {
		s.streams[st] = struct{}{}
	}
	s.mu.Unlock()
	if closed {
		s.give(p, usage{streams: 1})
		return errors.New("the peer is shutting down")
	}
	return nil
}

func (s *Server) leave(st network.Stream, p peer.ID) {
	s.mu.Lock()
	delete(s.streams, st)
	s.mu.Unlock()
	s.give(p, usage{streams: 1})
}

// handle serves one stream: its session, request by request, until the
// client closes it, an Error ends it, or it idles out.
func (s *Server) handle(st network.Stream) {
	p := st.Conn().RemotePeer()
	if err := s.enter(st, p); err != nil {
		if s.send(st, offloadwire.ErrorOf(err)) == nil {
			_ = st.Close()
		} else {
			_ = st.Reset()
		}
		return
	}
	defer s.leave(st, p)
	sess := &session{server: s, peer: p}
	defer sess.end()
	r := bufio.NewReader(st)
	for s.exchange(st, r, sess) {
	}
}

// exchange reads one request from st and answers it. It returns whether
// the session goes on; when not, it has closed or reset st.
func (s *Server) exchange(st network.Stream, r *bufio.Reader, sess *session) bool {
	first := sess.run == nil
	wait := s.limits.IdleTimeout
	if first {
		wait = s.limits.FirstRequest
	}
	_ = st.SetReadDeadline(time.Now().Add(wait))
	var held usage // the request's bytes, until it is answered
	defer func() { s.give(sess.peer, held) }()
	body, err := offloadwire.ReadFrameIf(r, func(n int) error {
		if first && n > maxFirstFrame {
			return s.refused.refuse(reasonFirstRequest, "a first request of %d bytes: the first must be an Open, at most %d bytes", n, maxFirstFrame)
		}
		if err := s.take(sess.peer, usage{inFlight: int64(n)}); err != nil {
			return err
		}
		held = usage{inFlight: int64(n)}
		return nil
	})
	var reply offloadwire.Message
	switch {
	case errors.Is(err, offloadwire.ErrProtocol) || isRefusal(err):
		reply = offloadwire.ErrorOf(err)
	case first && isTimeout(err):
		reply = offloadwire.ErrorOf(s.refused.refuse(reasonFirstRequest, "no whole first request within %s", s.limits.FirstRequest))
	case err != nil: // the client left, or idled out
		log.Debugf("offload stream from %s: %s", sess.peer, err)
		_ = st.Reset()
		return false
	default:
		reply = sess.answer(body)
		held.add(sess.replying, 1) // given back once the reply is sent
		sess.replying = usage{}
	}
	if err := s.send(st, reply); err != nil {
		_ = st.Reset()
		return false
	}
	switch reply.(type) {
	case offloadwire.Error, offloadwire.Closed:
		_ = st.Close()
		return false
	}
	return true
}

// send writes m to st as one frame.
func (s *Server) send(st network.Stream, m offloadwire.Message) error {
	out, err := offloadwire.Encode(m)
	if err != nil {
		return err
	}
	_ = st.SetWriteDeadline(time.Now().Add(exchangeTimeout))
	return offloadwire.WriteFrame(st, out)
}

// isTimeout reports whether err is a stream's read deadline passing.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// session is the state of one stream: nothing until Open, then a llama
// session over the layer range asked for, holding a session and its KV
// cache's bytes of what the server allows its peer.
type session struct {
	server    *Server
	peer      peer.ID
	model     *llama.Model
	run       *llama.Session
	from, to  int
	positions int    // positions the KV cache holds
	holds     usage  // the session and the most its KV cache can reach
	replying  usage  // what the reply being made holds until it is sent
	tag       string // the connection manager's protection of the session's connection
}

// end gives the session's share of the server back.
func (s *session) end() {
	s.server.give(s.peer, s.holds)
	s.holds = usage{}
	if s.tag != "" {
		s.server.host.ConnManager().Unprotect(s.peer, s.tag)
	}
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
	case offloadwire.Tokens:
		reply, err = s.tokens(m)
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
	holds := usage{sessions: 1, kvBytes: int64(m.To-m.From) * int64(positions) * int64(model.KVDim()) * 2 * 4} // keys and values, f32
	if err := s.server.take(s.peer, holds); err != nil {
		return nil, err
	}
	s.holds = holds
	// The connection carries a session: the connection manager keeps it.
	s.tag = fmt.Sprintf("accel-offload-%d", s.server.tags.Add(1))
	s.server.host.ConnManager().Protect(s.peer, s.tag)
	s.model, s.from, s.to = model, m.From, m.To
	s.run = model.NewSession(llama.SessionOptions{Context: positions, Layers: [2]int{m.From, m.To}})
	return offloadwire.Opened{Session: s.server.ids.Add(1), Dim: model.Dim}, nil
}

func (s *session) forward(m offloadwire.Forward) (offloadwire.Message, error) {
	switch {
	case s.run == nil:
		return nil, errors.New("a Forward before Open")
	case len(m.States) != m.N*s.model.Dim:
		return nil, fmt.Errorf("hidden states %d wide, the model's are %d", len(m.States)/m.N, s.model.Dim)
	case m.Pos > s.positions:
		return nil, fmt.Errorf("position %d skips past the %d positions the session holds", m.Pos, s.positions)
	}
	if err := s.run.RunLayers(s.from, s.to, m.Pos, m.States); err != nil {
		return nil, err
	}
	s.positions = m.Pos + m.N
	return offloadwire.Hidden{States: m.States}, nil
}

// tokensBytes is what a Tokens request of n positions holds of a model
// while it is answered, beyond its frame: the hidden states the server
// makes of the tokens (as many bytes as a Forward of those positions
// carries) and the answer's Logits frame body.
func tokensBytes(model *llama.Model, n int) int64 {
	return int64(n)*int64(model.Dim)*4 + 1 + int64(model.Vocab)*4
}

// tokens runs the whole model on m's tokens and answers with the logits of
// the last one.
func (s *session) tokens(m offloadwire.Tokens) (offloadwire.Message, error) {
	if s.run == nil {
		return nil, errors.New("a Tokens before Open")
	}
	layers, vocab := s.model.Layers, s.model.Vocab
	switch {
	case s.from != 0 || s.to != layers:
		return nil, fmt.Errorf("a Tokens runs the whole model, layers [0, %d), and this session runs layers [%d, %d)", layers, s.from, s.to)
	case vocab > offloadwire.MaxVocab:
		return nil, fmt.Errorf("the model's vocabulary of %d tokens exceeds the %d logits an answer carries", vocab, offloadwire.MaxVocab)
	case m.Pos > s.positions:
		return nil, fmt.Errorf("position %d skips past the %d positions the session holds", m.Pos, s.positions)
	}
	for i, id := range m.IDs {
		if id >= vocab {
			return nil, fmt.Errorf("token %d: id %d is outside the model's vocabulary of %d tokens", i, id, vocab)
		}
	}
	n := len(m.IDs)
	work := usage{inFlight: tokensBytes(s.model, n)}
	if err := s.server.take(s.peer, work); err != nil {
		return nil, fmt.Errorf("running %d tokens: %w", n, err)
	}
	s.replying = work
	s.run.Pos = m.Pos
	logits, err := s.run.Forward(m.IDs)
	if err != nil {
		return nil, err
	}
	s.positions = m.Pos + n
	return offloadwire.Logits{Values: logits}, nil
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
