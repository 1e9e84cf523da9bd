package node

import (
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/host"
	basicconnmgr "github.com/libp2p/go-libp2p/p2p/net/connmgr"
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
// and a connection manager; a circuit relay v2 service when the config
// asks for one (libp2p runs it while the node is publicly reachable), and
// NAT traversal (port mapping, hole punching) outside the test profile.
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
	opts := []libp2p.Option{
		libp2p.Identity(key),
		libp2p.ListenAddrStrings(cfg.Addresses.Swarm...),
		libp2p.ConnectionManager(cm),
		libp2p.ConnectionGater(gater),
		libp2p.UserAgent("accel/" + Version),
	}
	if cfg.Swarm.RelayService {
		opts = append(opts, libp2p.EnableRelayService())
	}
	switch cfg.Swarm.ForceReachability {
	case "public":
		opts = append(opts, libp2p.ForceReachabilityPublic())
	case "private":
		opts = append(opts, libp2p.ForceReachabilityPrivate())
	}
	if cfg.Profile != ProfileTest {
		opts = append(opts, libp2p.NATPortMap(), libp2p.EnableHolePunching())
	}
	h, err := libp2p.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("starting the libp2p host: %w", err)
	}
	return h, nil
}
