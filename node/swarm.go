package node

import (
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// IDInfo describes the node, with Kubo's `ipfs id` field names.
type IDInfo struct {
	ID           string
	PublicKey    string   // base64 of the libp2p protobuf encoding
	Addresses    []string // listen multiaddrs ending in /p2p/ID (configured ones when offline)
	AgentVersion string
	Protocols    []string `json:",omitempty"`
}

// ID describes the node.
func (n *Node) ID(context.Context) (IDInfo, error) {
	key, id, err := n.Config.Identity.Key()
	if err != nil {
		return IDInfo{}, err
	}
	pub, err := crypto.MarshalPublicKey(key.GetPublic())
	if err != nil {
		return IDInfo{}, err
	}
	info := IDInfo{ID: id.String(), PublicKey: base64.StdEncoding.EncodeToString(pub), AgentVersion: "accel/" + Version}
	if !n.IsOnline() {
		info.Addresses = n.Config.Addresses.Swarm
		return info, nil
	}
	info.Addresses = n.listenAddrs()
	for _, p := range n.Host.Mux().Protocols() {
		info.Protocols = append(info.Protocols, string(p))
	}
	slices.Sort(info.Protocols)
	return info, nil
}

// listenAddrs are the host's addresses with its /p2p/ suffix.
func (n *Node) listenAddrs() []string {
	addrs, _ := peer.AddrInfoToP2pAddrs(&peer.AddrInfo{ID: n.Host.ID(), Addrs: n.Host.Addrs()})
	out := make([]string, len(addrs))
	for i, a := range addrs {
		out[i] = a.String()
	}
	return out
}

// SwarmAddrs lists the addresses the node listens on, with /p2p/.
func (n *Node) SwarmAddrs(context.Context) ([]string, error) {
	if !n.IsOnline() {
		return nil, ErrOffline
	}
	return n.listenAddrs(), nil
}

// peerAddr parses addr, a multiaddr ending in /p2p/ID, for op of an
// online node.
func (n *Node) peerAddr(op, addr string) (*peer.AddrInfo, error) {
	if !n.IsOnline() {
		return nil, ErrOffline
	}
	a, err := ma.NewMultiaddr(addr)
	if err != nil {
		return nil, Invalid(fmt.Errorf("%s: %q is not a multiaddr: %w", op, addr, err))
	}
	info, err := peer.AddrInfoFromP2pAddr(a)
	if err != nil {
		return nil, Invalid(fmt.Errorf("%s: %s: %w (the address needs a /p2p/PEERID suffix)", op, addr, err))
	}
	return info, nil
}

// SwarmConnect dials the peer at addr, a multiaddr ending in /p2p/ID (or
// a bare /p2p/ID, found through the DHT).
func (n *Node) SwarmConnect(ctx context.Context, addr string) error {
	info, err := n.peerAddr("swarm connect", addr)
	if err != nil {
		return err
	}
	if info.ID == n.Host.ID() {
		return Invalid(fmt.Errorf("swarm connect: %s is this node", info.ID))
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if len(info.Addrs) == 0 {
		if *info, err = n.Routing.FindPeer(ctx, info.ID); err != nil {
			return fmt.Errorf("swarm connect: finding %s: %w", info.ID, err)
		}
	}
	if err := n.Host.Connect(ctx, *info); err != nil {
		return fmt.Errorf("swarm connect %s: %w", addr, err)
	}
	return nil
}

// SwarmDisconnect closes the connections to the peer at addr: those to
// that address, or, for a bare /p2p/ID, every one to the peer.
func (n *Node) SwarmDisconnect(_ context.Context, addr string) error {
	info, err := n.peerAddr("swarm disconnect", addr)
	if err != nil {
		return err
	}
	closed := 0
	for _, c := range n.Host.Network().ConnsToPeer(info.ID) {
		if len(info.Addrs) == 0 || c.RemoteMultiaddr().Equal(info.Addrs[0]) {
			_ = c.Close()
			closed++
		}
	}
	if closed == 0 {
		return NotFound(fmt.Errorf("swarm disconnect: not connected to %s", addr))
	}
	return nil
}

// PeerInfo is one connection of SwarmPeers.
type PeerInfo struct {
	Peer      string
	Addr      string // the remote multiaddr of the connection
	Direction string // "inbound" or "outbound"
	Transport string // "tcp", "quic-v1", "webtransport", "webrtc-direct", "websocket", …
}

// SwarmPeers lists the open connections, one per peer.
func (n *Node) SwarmPeers(context.Context) ([]PeerInfo, error) {
	if !n.IsOnline() {
		return nil, ErrOffline
	}
	var out []PeerInfo
	seen := map[peer.ID]bool{}
	for _, c := range n.Host.Network().Conns() {
		if seen[c.RemotePeer()] {
			continue
		}
		seen[c.RemotePeer()] = true
		out = append(out, PeerInfo{Peer: c.RemotePeer().String(), Addr: c.RemoteMultiaddr().String(), Direction: c.Stat().Direction.String(), Transport: c.ConnState().Transport})
	}
	slices.SortFunc(out, func(a, b PeerInfo) int { return strings.Compare(a.Peer, b.Peer) })
	return out, nil
}
