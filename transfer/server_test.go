package transfer

import (
	"bufio"
	"context"
	"encoding/binary"
	"testing"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/ipfs-accelerate/accel/internal/p2ptest"
	"github.com/ipfs-accelerate/accel/proto/blockwire"
)

// malformedRequests are requests the server must reset the stream on
// (package blockwire tests the codec's refusals in full).
var malformedRequests = map[string][]byte{
	"zero count":     {0},
	"count over max": binary.AppendUvarint(nil, blockwire.MaxRequestCIDs+1),
	"not a CID":      {1, 3, 0xff, 0xff, 0xff},
	"truncated":      {2},
}

func TestServerResetsMalformedRequests(t *testing.T) {
	blks, cids := randomBlocks(t, 1, 100)
	p := newProvider(t, storeWith(t, blks))
	client := p2ptest.NewHost(t)
	connect(t, client, p.host)

	for name, req := range malformedRequests {
		s, err := client.NewStream(context.Background(), p.host.ID(), blockwire.ProtocolID)
		if err != nil {
			t.Fatal(err)
		}
		// A good request first: the stream must serve it, then die on the bad one.
		if _, err := s.Write(blockwire.AppendRequest(nil, cids)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		r := bufio.NewReader(s)
		if data, have, err := blockwire.ReadResponse(r, newBuffer); err != nil || !have || len(data) != 100 {
			t.Fatalf("%s: good request answered %d bytes, %v, %v", name, len(data), have, err)
		}
		_, _ = s.Write(req)
		_ = s.CloseWrite()
		if _, _, err := blockwire.ReadResponse(r, newBuffer); err == nil {
			t.Errorf("%s: stream not reset", name)
		}
		_ = s.Reset()
	}
	if got := p.server.Stats().Rejected; got != uint64(len(malformedRequests)) {
		t.Errorf("Rejected = %d, want %d", got, len(malformedRequests))
	}
}

func TestServerLimitsStreamsPerPeer(t *testing.T) {
	blks, cids := randomBlocks(t, 1, 100)
	p := newProvider(t, storeWith(t, blks))
	client := p2ptest.NewHost(t)
	connect(t, client, p.host)

	open := func() (network.Stream, error) {
		s, err := client.NewStream(context.Background(), p.host.ID(), blockwire.ProtocolID)
		if err != nil {
			return nil, err
		}
		if _, err := s.Write(blockwire.AppendRequest(nil, cids)); err != nil {
			return nil, err
		}
		_, _, err = blockwire.ReadResponse(bufio.NewReader(s), newBuffer)
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
