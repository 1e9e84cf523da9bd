package relay

import (
	"bufio"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/ipfs-accelerate/accel/internal/p2ptest"
)

// A publicly reachable host with the relay service relays a connection
// between two peers through a circuit v2 reservation; one without the
// service refuses the reservation.
func TestService(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const hop = "/libp2p/circuit/relay/0.2.0/hop"
	relay := func(service bool) host.Host {
		opts, err := Options(Config{Service: service, ForceReachability: "public"}) // loopback: AutoNAT cannot tell
		if err != nil {
			t.Fatal(err)
		}
		return p2ptest.NewHost(t, opts...)
	}
	behindNAT, dialer := p2ptest.NewHost(t), p2ptest.NewHost(t)
	const echo = "/accel-test/echo"
	behindNAT.SetStreamHandler(echo, func(s network.Stream) {
		defer s.Close()
		line, _ := bufio.NewReader(s).ReadString('\n')
		_, _ = s.Write([]byte(line))
	})

	off := relay(false)
	offInfo := peer.AddrInfo{ID: off.ID(), Addrs: off.Addrs()}
	if err := behindNAT.Connect(ctx, offInfo); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Reserve(ctx, behindNAT, offInfo); err == nil || !strings.Contains(err.Error(), "protocols not supported") {
		t.Fatalf("a reservation with a host whose relay service is off: %v", err)
	}

	on := relay(true)
	// libp2p starts the service once the reachability event arrives.
	for deadline := time.Now().Add(10 * time.Second); !slices.Contains(on.Mux().Protocols(), protocol.ID(hop)); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the relay service did not start: protocols %v", on.Mux().Protocols())
		}
	}
	onInfo := peer.AddrInfo{ID: on.ID(), Addrs: on.Addrs()}
	if err := behindNAT.Connect(ctx, onInfo); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Reserve(ctx, behindNAT, onInfo); err != nil {
		t.Fatalf("reservation with the relay service on: %v", err)
	}

	var circuit []ma.Multiaddr
	for _, a := range on.Addrs() {
		circuit = append(circuit, a.Encapsulate(ma.StringCast("/p2p/"+on.ID().String()+"/p2p-circuit")))
	}
	if err := dialer.Connect(ctx, peer.AddrInfo{ID: behindNAT.ID(), Addrs: circuit}); err != nil {
		t.Fatalf("dialling through the relay %v: %v", circuit, err)
	}
	s, err := dialer.NewStream(network.WithAllowLimitedConn(ctx, "test"), behindNAT.ID(), echo)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !s.Conn().Stat().Limited || !strings.Contains(s.Conn().RemoteMultiaddr().String(), "/p2p-circuit") {
		t.Fatalf("the stream went over %s (limited %v), not through the relay", s.Conn().RemoteMultiaddr(), s.Conn().Stat().Limited)
	}
	if _, err := s.Write([]byte("through the relay\n")); err != nil {
		t.Fatal(err)
	}
	got, err := bufio.NewReader(s).ReadString('\n')
	if err != nil || got != "through the relay\n" {
		t.Fatalf("echo through the relay: %q, %v", got, err)
	}
}

func TestOptionsRefuseUnknownReachability(t *testing.T) {
	for _, force := range []string{"", "public", "private"} {
		if _, err := Options(Config{ForceReachability: force}); err != nil {
			t.Errorf("reachability %q: %v", force, err)
		}
	}
	for _, force := range []string{"sometimes", "Public", " "} {
		if _, err := Options(Config{ForceReachability: force}); err == nil {
			t.Errorf("reachability %q was accepted", force)
		}
	}
}
