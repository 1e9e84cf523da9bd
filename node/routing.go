package node

import (
	"context"
	"fmt"
	"sync"
	"time"

	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p-kad-dht/dual"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/routing"
	"github.com/libp2p/go-libp2p/p2p/discovery/mdns"
	ma "github.com/multiformats/go-multiaddr"
)

// peeringInterval is how often static peers that dropped are redialled.
const peeringInterval = 5 * time.Second

// newRouting starts content routing: in the test profile one Kademlia DHT
// in server mode that accepts loopback peers (so three daemons on
// 127.0.0.1 find each other's providers); otherwise Kubo's dual DHT (a LAN
// and a WAN table, server mode when publicly reachable).
func newRouting(h host.Host, cfg *Config) (routing.Routing, error) {
	var (
		r   routing.Routing
		err error
	)
	if cfg.Profile == ProfileTest {
		r, err = dht.New(h, dht.Mode(dht.ModeServer))
	} else {
		r, err = dual.New(h, dual.DHTOption(dht.Mode(dht.ModeAuto)))
	}
	if err != nil {
		return nil, fmt.Errorf("starting the DHT: %w", err)
	}
	return r, nil
}

// parsePeers reads multiaddrs with /p2p/ components into AddrInfos.
func parsePeers(addrs []string) ([]peer.AddrInfo, error) {
	var mas []ma.Multiaddr
	for _, s := range addrs {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			return nil, fmt.Errorf("peer address %q: %w", s, err)
		}
		mas = append(mas, a)
	}
	infos, err := peer.AddrInfosFromP2pAddrs(mas...)
	if err != nil {
		return nil, fmt.Errorf("peer addresses: %w (each needs a /p2p/PEERID suffix)", err)
	}
	return infos, nil
}

// connectAll dials peers in parallel and returns how many answered.
func connectAll(ctx context.Context, h host.Host, peers []peer.AddrInfo) int {
	var (
		wg sync.WaitGroup
		mu sync.Mutex
		n  int
	)
	for _, p := range peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			if h.Connect(dctx, p) == nil {
				mu.Lock()
				n++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return n
}

// keepPeered keeps connections to the static peers: they are protected
// from the connection manager and redialled while ctx lives.
func keepPeered(ctx context.Context, h host.Host, peers []peer.AddrInfo) {
	for _, p := range peers {
		h.ConnManager().Protect(p.ID, "peering")
		h.Peerstore().AddAddrs(p.ID, p.Addrs, time.Hour)
	}
	t := time.NewTicker(peeringInterval)
	defer t.Stop()
	for {
		var missing []peer.AddrInfo
		for _, p := range peers {
			if len(h.Network().ConnsToPeer(p.ID)) == 0 {
				missing = append(missing, p)
			}
		}
		connectAll(ctx, h, missing)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// mdnsNotifee dials every peer mDNS finds on the local network.
type mdnsNotifee struct {
	ctx context.Context
	h   host.Host
}

func (n mdnsNotifee) HandlePeerFound(p peer.AddrInfo) {
	if p.ID == n.h.ID() {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(n.ctx, 10*time.Second)
		defer cancel()
		n.h.Connect(ctx, p) //nolint:errcheck // best effort, like Kubo
	}()
}

// startMDNS announces the node on the local network and dials the peers
// it hears of.
func startMDNS(ctx context.Context, h host.Host) (interface{ Close() error }, error) {
	s := mdns.NewMdnsService(h, mdns.ServiceName, mdnsNotifee{ctx, h})
	if err := s.Start(); err != nil {
		return nil, fmt.Errorf("starting mDNS: %w", err)
	}
	return s, nil
}
