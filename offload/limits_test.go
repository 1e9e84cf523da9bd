//go:build !js

package offload

import (
	"bufio"
	"context"
	"encoding/binary"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"

	"github.com/ipfs-accelerate/accel/internal/p2ptest"
	"github.com/ipfs-accelerate/accel/proto/offloadwire"
)

// otherClient is a second client host, a peer of its own.
func (f *fixture) otherClient(t *testing.T) host.Host {
	h := p2ptest.NewHost(t)
	h.Peerstore().AddAddrs(f.peer, f.client.Peerstore().Addrs(f.peer), time.Hour)
	return h
}

// openStream opens an offload stream from h and writes in on it.
func (f *fixture) openStream(t *testing.T, h host.Host, in []byte) network.Stream {
	t.Helper()
	st, err := h.NewStream(context.Background(), f.peer, offloadwire.ProtocolID)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Reset() })
	if _, err := st.Write(in); err != nil {
		t.Fatal(err)
	}
	return st
}

// wantError reads st's next frame, which must be an Error saying want,
// and then the end of the stream.
func wantError(t *testing.T, st network.Stream, want string) {
	t.Helper()
	_ = st.SetReadDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(st)
	body, err := offloadwire.ReadFrame(r)
	if err != nil {
		t.Fatalf("want an Error with %q: %v", want, err)
	}
	m, err := offloadwire.Decode(body)
	if e, ok := m.(offloadwire.Error); err != nil || !ok || !strings.Contains(e.Message, want) {
		t.Fatalf("%#v, %v; want an Error with %q", m, err, want)
	}
	if _, err := offloadwire.ReadFrame(r); err == nil {
		t.Fatal("the stream went on after an Error")
	}
}

// announce is the start of a frame of n bytes: its length and one byte.
func announce(n int) []byte { return append(binary.AppendUvarint(nil, uint64(n)), 0) }

func wantRefused(t *testing.T, s *Server, reason string, n uint64) {
	t.Helper()
	if got := s.Stats().Refused[reason]; got != n {
		t.Errorf("%d refusals for %s, want %d", got, reason, n)
	}
}

// A stream's first request is an Open-sized frame that arrives whole in
// time; a stream that sends more, or not all of it, is refused.
func TestFirstRequest(t *testing.T) {
	f := newFixture(t, Limits{FirstRequest: 200 * time.Millisecond})
	wantError(t, f.openStream(t, f.client, announce(offloadwire.MaxFrameSize)), "a first request of 16777216 bytes: the first must be an Open")
	start := time.Now()
	wantError(t, f.openStream(t, f.client, announce(100)), "no whole first request within 200ms")
	if waited := time.Since(start); waited > 2*time.Second {
		t.Errorf("a silent stream was refused after %s", waited)
	}
	wantRefused(t, f.server, reasonFirstRequest, 2)
	waitStats(t, f.server, "no streams", func(s Stats) bool { return s.Streams == 0 })
	f.dial(t, 0, 1, 0) // the first request in time opens a session
}

// One peer's streams and sessions leave room for the others'.
func TestPeerShares(t *testing.T) {
	f := newFixture(t, Limits{StreamsPerPeer: 2, SessionsPerPeer: 1})
	f.dial(t, 0, 1, 0)
	if _, err := Dial(t.Context(), f.client, f.peer, f.root, 0, 1, 0); err == nil || !strings.Contains(err.Error(), "already holds 1 of its 1 offload sessions") {
		t.Fatalf("a second session of the same peer: %v", err)
	}
	f.openStream(t, f.client, announce(100)) // the peer's second stream
	waitStats(t, f.server, "2 streams", func(s Stats) bool { return s.Streams == 2 })
	wantError(t, f.openStream(t, f.client, announce(100)), "already has 2 of its 2 offload streams")
	wantRefused(t, f.server, reasonStreamsPerPeer, 1)
	wantRefused(t, f.server, reasonSessionsPerPeer, 1)

	other := f.otherClient(t)
	c, err := Dial(t.Context(), other, f.peer, f.root, 0, f.full.Layers, 0)
	if err != nil {
		t.Fatalf("another peer's session: %v", err)
	}
	defer c.Close()
	if got := f.server.Stats(); got.Sessions != 2 || got.Streams != 3 {
		t.Fatalf("%+v, want 2 sessions on 3 streams", got)
	}
}

// The KV caches of one peer's sessions share its part of the budget.
func TestKVBytesPerPeer(t *testing.T) {
	full := newFixture(t, Limits{}).full
	perLayer := int64(64 * full.KVDim() * 2 * 4) // 64 positions of keys and values, f32
	f := newFixture(t, Limits{Context: 64, KVBytesPerPeer: 2 * perLayer})
	f.dial(t, 0, 2, 64)
	if _, err := Dial(t.Context(), f.client, f.peer, f.root, 2, 3, 64); err == nil || !strings.Contains(err.Error(), "does not fit in what your peer has left of its share (0 bytes of 32 KiB)") {
		t.Fatalf("a session over the peer's KV share: %v", err)
	}
	wantRefused(t, f.server, reasonKVBytesPerPeer, 1)
	c, err := Dial(t.Context(), f.otherClient(t), f.peer, f.root, 2, 3, 64)
	if err != nil {
		t.Fatalf("another peer's session: %v", err)
	}
	_ = c.Close()
}

// A request holds what its frame announces until it is answered; one over
// what is left of the peer's budget is refused.
func TestInFlightPerPeer(t *testing.T) {
	f := newFixture(t, Limits{InFlightPerPeer: 1 << 20})
	open := frame(t, offloadwire.Open{Root: f.root, From: 0, To: 1})
	var sessions []func(frame []byte) (offloadwire.Message, error)
	for range 2 {
		send := rawStream(t, f)
		if m, err := send(open); err != nil {
			t.Fatalf("open: %#v, %v", m, err)
		}
		sessions = append(sessions, send)
	}
	stalled := f.openStream(t, f.client, slices.Concat(open, announce(768<<10)))
	waitStats(t, f.server, "768 KiB in flight", func(s Stats) bool { return s.InFlight == 768<<10 })
	m, err := sessions[0](announce(512 << 10))
	if e, ok := m.(offloadwire.Error); err != nil || !ok || !strings.Contains(e.Message, "a request of 512 KiB does not fit in what your peer has left for requests in flight (256 KiB of 1 MiB)") {
		t.Fatalf("a request over the peer's budget: %#v, %v", m, err)
	}
	wantRefused(t, f.server, reasonInFlightPerPeer, 1)
	_ = stalled.Reset()
	waitStats(t, f.server, "nothing in flight", func(s Stats) bool { return s.InFlight == 0 })
	h := make([]float32, f.full.Dim)
	if m, err := sessions[1](frame(t, offloadwire.Forward{N: 1, States: h})); err != nil || !isHidden(m) {
		t.Fatalf("a Forward once the budget is back: %#v, %v", m, err)
	}
}

// waitStats waits until the server's Stats meet ok, which want describes.
func waitStats(t *testing.T, s *Server, want string, ok func(Stats) bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !ok(s.Stats()); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%+v, want %s", s.Stats(), want)
		}
	}
}

func isHidden(m offloadwire.Message) bool {
	_, ok := m.(offloadwire.Hidden)
	return ok
}
