package node

import (
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/host"
	basicconnmgr "github.com/libp2p/go-libp2p/p2p/net/connmgr"

	"github.com/ipfs-accelerate/accel/relay"
)

// Connection manager watermarks (Kubo's defaults): above High connections
// the manager trims back to Low, sparing connections younger than the
// grace period and protected peers.
const (
	connLow   = 32
	connHigh  = 96
	connGrace = 20 * time.Second
)

// newHost builds the libp2p host the config describes: every default
// transport (TCP, QUIC, WebTransport, WebRTC-direct, WebSocket), Noise and
// TLS, yamux, the default resource manager (limits scaled to the machine)
// and a connection manager; the reachability package relay sets up: a
// circuit relay v2 service when the config asks for one (libp2p runs it
// while the node is publicly reachable), the forced reachability, and NAT
// traversal (port mapping, hole punching) outside the test profile.
// gater refuses banned peers.
func newHost(cfg *Config, gater connmgr.ConnectionGater) (host.Host, error) {
	key, _, err := cfg.Identity.Key()
	if err != nil {
		return nil, err
	}
	cm, err := basicconnmgr.NewConnManager(connLow, connHigh, basicconnmgr.WithGracePeriod(connGrace))
	if err != nil {
		return nil, err
	}
	reach, err := relay.Options(relay.Config{
		Service:           cfg.Swarm.RelayService,
		ForceReachability: cfg.Swarm.ForceReachability,
		NAT:               cfg.Profile != ProfileTest,
	})
	if err != nil {
		return nil, fmt.Errorf("the config's Swarm.ForceReachability: %w", err)
	}
	opts := append([]libp2p.Option{
		libp2p.Identity(key),
		libp2p.ListenAddrStrings(cfg.Addresses.Swarm...),
		libp2p.ConnectionManager(cm),
		libp2p.ConnectionGater(gater),
		libp2p.UserAgent("accel/" + Version),
	}, reach...)
	h, err := libp2p.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("starting the libp2p host: %w", err)
	}
	return h, nil
}
