package transfer

import (
	"bufio"
	"context"
	"testing"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/ipfs-accelerate/accel/internal/p2ptest"
)

func TestServerResetsMalformedRequests(t *testing.T) {
	blks, cids := randomBlocks(t, 1, 100)
	p := newProvider(t, storeWith(t, blks))
	client := p2ptest.NewHost(t)
	connect(t, client, p.host)

	for name, req := range badRequests {
		s, err := client.NewStream(context.Background(), p.host.ID(), ProtocolID)
		if err != nil {
			t.Fatal(err)
		}
		// A good request first: the stream must serve it, then die on the bad one.
		if _, err := s.Write(appendRequest(nil, cids)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		r := bufio.NewReader(s)
		if data, have, err := readResponse(r, newBuffer); err != nil || !have || len(data) != 100 {
			t.Fatalf("%s: good request answered %d bytes, %v, %v", name, len(data), have, err)
		}
		_, _ = s.Write(req)
		_ = s.CloseWrite()
		if _, _, err := readResponse(r, newBuffer); err == nil {
			t.Errorf("%s: stream not reset", name)
		}
		_ = s.Reset()
	}
	if got := p.server.Stats().Rejected; got != uint64(len(badRequests)) {
		t.Errorf("Rejected = %d, want %d", got, len(badRequests))
	}
}

func TestServerLimitsStreamsPerPeer(t *testing.T) {
	blks, cids := randomBlocks(t, 1, 100)
	p := newProvider(t, storeWith(t, blks))
	client := p2ptest.NewHost(t)
	connect(t, client, p.host)

	open := func() (network.Stream, error) {
		s, err := client.NewStream(context.Background(), p.host.ID(), ProtocolID)
		if err != nil {
			return nil, err
		}
		if _, err := s.Write(appendRequest(nil, cids)); err != nil {
			return nil, err
		}
		_, _, err = readResponse(bufio.NewReader(s), newBuffer)
		return s, err
	}
	for i := range MaxStreamsPerPeer {
		s, err := open()
		if err != nil {
			t.Fatalf("stream %d: %v", i, err)
		}
		defer s.Reset()
	}
	if got := p.server.Stats().Streams; got != MaxStreamsPerPeer {
		t.Errorf("Streams = %d, want %d", got, MaxStreamsPerPeer)
	}
	if _, err := open(); err == nil {
		t.Errorf("stream %d was served", MaxStreamsPerPeer+1)
	}
}
