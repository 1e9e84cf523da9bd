package node

import (
	"context"
	"errors"
	"fmt"
	"log"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs/boxo/bitswap"
	"github.com/ipfs/boxo/bitswap/network/bsnet"
	"github.com/ipfs/boxo/blockservice"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/routing"

	"github.com/ipfs-accelerate/accel/loader"
	"github.com/ipfs-accelerate/accel/offload"
	"github.com/ipfs-accelerate/accel/transfer"
)

// Version is the node's version, sent in the libp2p user agent.
const Version = "0.1.0"

// Node is a running daemon: the repo, a libp2p host, content routing (the
// DHT, mDNS, bootstrap and static peers), block exchange (bitswap, client
// and server, and the bulk transfer protocol) and the offload server
// (running layers of the models it holds for peers), all over the stores
// the repo composed. Every block that enters the repo from the network is
// verified against its CID first. A Node is safe for concurrent use and
// stops cleanly with Close.
type Node struct {
	*Repo
	Host    host.Host
	Routing routing.Routing
	Bitswap *bitswap.Bitswap
	// Online reads local blocks, else fetches them from connected peers
	// over the bulk transfer protocol, else over bitswap; it stores what it
	// fetched after handing it over (Repo.Fetched).
	Online   blockservice.BlockService
	Transfer *transfer.Server
	Offload  *offload.Server

	metrics *metrics
	bans    *banlist
	ctx     context.Context // lives until Close
	cancel  context.CancelFunc
	closers []func() error

	inferenceMu sync.Mutex
	inference   Inference                    // what the dashboard shows of inference; nil before ShowInference
	loaded      atomic.Pointer[LoadedModels] // the models the offload server runs first; nil before ShareModels
}

// Start brings r online. The Node owns r from then on: Close closes both.
func Start(ctx context.Context, r *Repo) (*Node, error) {
	cfg := r.Config
	bootstrap, err := parsePeers(cfg.Bootstrap)
	if err != nil {
		return nil, fmt.Errorf("bootstrap: %w", err)
	}
	peering, err := parsePeers(cfg.Peering.Peers)
	if err != nil {
		return nil, fmt.Errorf("peering: %w", err)
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	n := &Node{Repo: r, ctx: ctx, cancel: cancel, bans: newBanlist()}
	if err := n.start(bootstrap, peering); err != nil {
		n.closeServices()
		return nil, err
	}
	return n, nil
}

// start starts the services; closeServices stops what it started.
func (n *Node) start(bootstrap, peering []peer.AddrInfo) (err error) {
	ctx, r, cfg := n.ctx, n.Repo, n.Repo.Config
	if n.Host, err = newHost(cfg, n.bans); err != nil {
		return err
	}
	n.closers = append(n.closers, n.Host.Close)
	if n.Routing, err = newRouting(n.Host, cfg); err != nil {
		return err
	}
	n.closers = append(n.closers, n.Routing.(interface{ Close() error }).Close)
	n.Bitswap = bitswap.New(ctx, bsnet.NewFromIpfsHost(n.Host), n.Routing, r.Blocks,
		bitswap.ProviderSearchDelay(100*time.Millisecond))
	n.closers = append(n.closers, n.Bitswap.Close)
	streams := transfer.NewStreamPool()
	n.closers = append(n.closers, streams.Close)
	n.Online = blockservice.New(r.Fetched, &bulkFirst{n: n, bs: n.Bitswap, streams: streams})
	n.Transfer = transfer.NewServer(n.Host, servedStore{r.Blocks, r})
	n.closers = append(n.closers, n.Transfer.Close)
	n.Offload = offload.NewServer(n.Host, localModels{n}, cfg.Offload.Limits())
	n.closers = append(n.closers, n.Offload.Close)
	n.metrics = newMetrics(n)

	if cfg.Discovery.MDNS.Enabled {
		m, err := startMDNS(ctx, n.Host)
		if err != nil {
			return err
		}
		n.closers = append(n.closers, m.Close)
	}
	if period, err := cfg.Datastore.gcPeriod(); err != nil {
		return err
	} else if period > 0 {
		go n.trimEvery(ctx, period)
	}
	go func() {
		connectAll(ctx, n.Host, bootstrap)
		if err := n.Routing.Bootstrap(ctx); err != nil && !errors.Is(err, context.Canceled) {
			log.Printf("DHT bootstrap: %v", err)
		}
		n.reprovide(ctx)
	}()
	if len(peering) > 0 {
		go keepPeered(ctx, n.Host, peering)
	}
	return nil
}

// Offline wraps r in a Node without network services, the one the CLI
// uses when no daemon runs: network operations return ErrOffline.
func Offline(r *Repo) *Node { return &Node{Repo: r} }

// ErrOffline is returned by network operations of an offline Node.
var ErrOffline = errors.New("this needs the network: start the daemon (accel daemon) and run the command again")

// IsOnline reports whether n runs network services.
func (n *Node) IsOnline() bool { return n.Host != nil }

// Close stops the services and closes the repo, after the adds and
// fetches under way (whose contexts the caller has cancelled) let go.
func (n *Node) Close() error {
	if n.cancel != nil {
		n.cancel() // background work first: a periodic GC then stops early
	}
	if release, err := n.gcLock.exclude(context.Background()); err == nil {
		defer release()
	}
	err := n.closeServices()
	if e := n.Repo.Close(); err == nil {
		err = e
	}
	return err
}

// closeServices stops what Start started, newest first.
func (n *Node) closeServices() error {
	if n.cancel != nil {
		n.cancel()
	}
	var err error
	for i := len(n.closers) - 1; i >= 0; i-- {
		if e := n.closers[i](); e != nil && err == nil {
			err = e
		}
	}
	n.closers = nil
	return err
}

// provide announces roots on the DHT (and thereby to bitswap's provider
// searches), retrying with backoff while the routing table is empty or
// the network fails. Failure is logged, not returned: a model added with
// no DHT peers around is still served to connected ones, and announced
// again by the reprovider.
func (n *Node) provide(ctx context.Context, roots ...cid.Cid) {
	for _, c := range roots {
		var err error
		for wait := time.Second; ; wait *= 2 {
			pctx, cancel := context.WithTimeout(ctx, time.Minute)
			err = n.Routing.Provide(pctx, c, true)
			cancel()
			if err == nil || ctx.Err() != nil || wait > provideBackoff {
				break
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
		}
		if err != nil && ctx.Err() == nil {
			log.Printf("announcing %s: %v", c, err)
		}
	}
}

// provideBackoff is the longest wait between attempts to announce a CID.
const provideBackoff = time.Minute

// modelRoots are the CIDs a node announces for the model at root: the
// manifest and each component, so a peer can find providers of either.
func (n *Node) modelRoots(ctx context.Context, root cid.Cid) []cid.Cid {
	roots := []cid.Cid{root}
	if m, err := loader.Open(ctx, root, n.Blocks); err == nil {
		for _, c := range m.Manifest.Components {
			roots = append(roots, c.CID)
		}
	}
	return roots
}

// reprovide announces every recursive pin, once at start and then every
// reprovideInterval, as Kubo's "pinned" strategy does.
func (n *Node) reprovide(ctx context.Context) {
	t := time.NewTicker(reprovideInterval)
	defer t.Stop()
	for {
		pins, err := n.Pins(ctx)
		if err != nil && ctx.Err() == nil {
			log.Printf("reprovide: listing pins: %v", err)
		}
		for _, p := range pins {
			if p.Mode == "recursive" {
				n.provide(ctx, n.modelRoots(ctx, p.CID)...)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// trimEvery trims the repo to StorageMax (see autoGC) every period.
func (n *Node) trimEvery(ctx context.Context, period time.Duration) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := n.autoGC(ctx); err != nil && ctx.Err() == nil {
			log.Printf("periodic gc: %v", err)
		}
	}
}

// reprovideInterval is how often pins are announced again (provider
// records on the DHT live 48 hours).
const reprovideInterval = 12 * time.Hour
