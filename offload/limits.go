package offload

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Limits bound what a server takes on, in total and for each peer. Peer
// IDs cost nothing, so the totals are what bound the server; the per-peer
// limits keep one peer from taking everything. Zero fields take
// DefaultLimits' values, and a per-peer limit over its total is the total.
type Limits struct {
	Streams         int // offload streams at once, sessions included (64)
	StreamsPerPeer  int // offload streams of one peer (8)
	Sessions        int // sessions at once (16)
	SessionsPerPeer int // sessions of one peer (4)
	// KVBytes bounds the KV caches of all sessions together (1 GiB), and
	// KVBytesPerPeer those of one peer's sessions (256 MiB): an Open whose
	// cache could outgrow what is left gets an Error.
	KVBytes, KVBytesPerPeer int64
	// InFlight bounds the requests being read or answered, by the lengths
	// their frames announce (128 MiB), and InFlightPerPeer those of one
	// peer (32 MiB): a frame over what is left gets an Error. A Tokens
	// request also counts, until it is answered, the hidden states of its
	// positions (as a Forward of them would carry) and its answer's logits.
	InFlight, InFlightPerPeer int64
	FirstRequest              time.Duration // longest wait for a stream's first request, whole (5 s)
	IdleTimeout               time.Duration // longest wait for a session's next request (2 minutes)
	Context                   int           // positions of one session (4096)
	Models                    int           // models kept open (2)
}

// DefaultLimits are the limits of a server whose Limits are zero; at
// them, four peers can each take their limits at once.
func DefaultLimits() Limits {
	return Limits{
		Streams: 64, StreamsPerPeer: 8,
		Sessions: 16, SessionsPerPeer: 4,
		KVBytes: 1 << 30, KVBytesPerPeer: 256 << 20,
		InFlight: 128 << 20, InFlightPerPeer: 32 << 20,
		FirstRequest: 5 * time.Second,
		IdleTimeout:  2 * time.Minute,
		Context:      4096,
		Models:       2,
	}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	orDefault(&l.Streams, d.Streams)
	orDefault(&l.Sessions, d.Sessions)
	orDefault(&l.KVBytes, d.KVBytes)
	orDefault(&l.InFlight, d.InFlight)
	orDefault(&l.FirstRequest, d.FirstRequest)
	orDefault(&l.IdleTimeout, d.IdleTimeout)
	orDefault(&l.Context, d.Context)
	orDefault(&l.Models, d.Models)
	l.StreamsPerPeer = min(orDefault(&l.StreamsPerPeer, d.StreamsPerPeer), l.Streams)
	l.SessionsPerPeer = min(orDefault(&l.SessionsPerPeer, d.SessionsPerPeer), l.Sessions)
	l.KVBytesPerPeer = min(orDefault(&l.KVBytesPerPeer, d.KVBytesPerPeer), l.KVBytes)
	l.InFlightPerPeer = min(orDefault(&l.InFlightPerPeer, d.InFlightPerPeer), l.InFlight)
	return l
}

// orDefault sets *v to def when it is not positive, and returns *v.
func orDefault[T int | int64 | time.Duration](v *T, def T) T {
	if *v <= 0 {
		*v = def
	}
	return *v
}

// The reasons a server refuses a stream or a request, the keys of
// Stats.Refused: each names the limit that was reached.
const (
	reasonStreams         = "streams"
	reasonStreamsPerPeer  = "streams_per_peer"
	reasonSessions        = "sessions"
	reasonSessionsPerPeer = "sessions_per_peer"
	reasonKVBytes         = "kv_bytes"
	reasonKVBytesPerPeer  = "kv_bytes_per_peer"
	reasonInFlight        = "in_flight_bytes"
	reasonInFlightPerPeer = "in_flight_bytes_per_peer"
	reasonFirstRequest    = "first_request" // no whole Open-sized first request in time
)

var reasons = []string{
	reasonStreams, reasonStreamsPerPeer, reasonSessions, reasonSessionsPerPeer,
	reasonKVBytes, reasonKVBytesPerPeer, reasonInFlight, reasonInFlightPerPeer, reasonFirstRequest,
}

// Stats is what a server holds now, and what it refused since it started.
type Stats struct {
	Streams  int    // offload streams, sessions included
	Sessions int    // open sessions
	Opened   uint64 // sessions opened since the server started
	KVBytes  int64  // KV cache bytes the open sessions reserved
	InFlight int64  // bytes of the requests being read or answered
	// Refused counts the streams and requests refused by the limit they
	// reached: streams, streams_per_peer, sessions, sessions_per_peer,
	// kv_bytes, kv_bytes_per_peer, in_flight_bytes,
	// in_flight_bytes_per_peer, and first_request (no whole first request
	// of an Open's size within Limits.FirstRequest). Every reason is
	// present.
	Refused map[string]uint64
}

// usage is what a peer, or every peer together, holds of a server.
type usage struct {
	streams, sessions int
	kvBytes, inFlight int64
}

func (u *usage) add(d usage, sign int) {
	u.streams += sign * d.streams
	u.sessions += sign * d.sessions
	u.kvBytes += int64(sign) * d.kvBytes
	u.inFlight += int64(sign) * d.inFlight
}

// refusal is a stream or a request refused for a limit; its message says
// which limit, and its value.
type refusal struct{ error }

// refusals counts refusals by reason.
type refusals map[string]*atomic.Uint64

func newRefusals() refusals {
	r := refusals{}
	for _, reason := range reasons {
		r[reason] = new(atomic.Uint64)
	}
	return r
}

// refuse counts a refusal for reason and returns it, with the message
// format and args make.
func (r refusals) refuse(reason, format string, args ...any) error {
	r[reason].Add(1)
	return refusal{fmt.Errorf(format, args...)}
}

func isRefusal(err error) bool { return errors.As(err, new(refusal)) }

// take adds d to what p holds, unless that would break a limit; then it
// counts the refusal and returns it, for the first limit broken, totals
// first.
func (s *Server) take(p peer.ID, d usage) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, all, u := s.limits, &s.total, s.peers[p]
	if u == nil {
		u = new(usage)
	}
	r := s.refused
	switch {
	case d.streams > 0 && all.streams+d.streams > l.Streams:
		return r.refuse(reasonStreams, "this peer serves its maximum of %d offload streams: try later or another peer", l.Streams)
	case d.streams > 0 && u.streams+d.streams > l.StreamsPerPeer:
		return r.refuse(reasonStreamsPerPeer, "your peer already has %d of its %d offload streams here: end one or try later", u.streams, l.StreamsPerPeer)
	case d.sessions > 0 && all.sessions+d.sessions > l.Sessions:
		return r.refuse(reasonSessions, "the peer serves its maximum of %d sessions: try later or another peer", l.Sessions)
	case d.sessions > 0 && u.sessions+d.sessions > l.SessionsPerPeer:
		return r.refuse(reasonSessionsPerPeer, "your peer already holds %d of its %d offload sessions here: close one or try later", u.sessions, l.SessionsPerPeer)
	case all.kvBytes+d.kvBytes > l.KVBytes:
		return r.refuse(reasonKVBytes, "the session's KV cache (up to %s) does not fit in what this peer has left (%s of %s): ask for fewer layers or positions, or try later", size(d.kvBytes), size(l.KVBytes-all.kvBytes), size(l.KVBytes))
	case u.kvBytes+d.kvBytes > l.KVBytesPerPeer:
		return r.refuse(reasonKVBytesPerPeer, "the session's KV cache (up to %s) does not fit in what your peer has left of its share (%s of %s): close a session, or ask for fewer layers or positions", size(d.kvBytes), size(l.KVBytesPerPeer-u.kvBytes), size(l.KVBytesPerPeer))
	case all.inFlight+d.inFlight > l.InFlight:
		return r.refuse(reasonInFlight, "a request of %s does not fit in what this peer has left for requests in flight (%s of %s): try later", size(d.inFlight), size(l.InFlight-all.inFlight), size(l.InFlight))
	case u.inFlight+d.inFlight > l.InFlightPerPeer:
		return r.refuse(reasonInFlightPerPeer, "a request of %s does not fit in what your peer has left for requests in flight (%s of %s): send fewer positions per Forward or Tokens, or fewer requests at once", size(d.inFlight), size(l.InFlightPerPeer-u.inFlight), size(l.InFlightPerPeer))
	}
	all.add(d, 1)
	u.add(d, 1)
	s.peers[p] = u
	s.opened += uint64(d.sessions)
	return nil
}

// give returns d, which p held.
func (s *Server) give(p peer.ID, d usage) {
	if d == (usage{}) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.total.add(d, -1)
	u := s.peers[p]
	if u.add(d, -1); *u == (usage{}) {
		delete(s.peers, p)
	}
}

// Stats returns what the server holds now, and what it refused.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	st := Stats{Streams: s.total.streams, Sessions: s.total.sessions, Opened: s.opened, KVBytes: s.total.kvBytes, InFlight: s.total.inFlight}
	s.mu.Unlock()
	st.Refused = map[string]uint64{}
	for reason, n := range s.refused {
		st.Refused[reason] = n.Load()
	}
	return st
}

// size writes n bytes in the largest unit that writes it whole.
func size(n int64) string {
	switch {
	case n != 0 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n != 0 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
