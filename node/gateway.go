package node

import (
	"fmt"
	"net/http"

	"github.com/ipfs/boxo/gateway"

	"github.com/ipfs-accelerate/accel/browser"
	"github.com/ipfs-accelerate/accel/relay"
)

// GatewayHandler is the node's HTTP service for browsers and tools without
// libp2p. Public, to any host: a trustless gateway (boxo/gateway) at
// /ipfs/ that answers raw blocks (?format=raw) and CARs (?format=car)
// from the repo, fetching missing blocks from the network, with CORS open
// to any page (a whole file's CAR streams straight from the blocks:
// carBackend); the browser SDK and runtime at /sdk/, with the node's
// dialable addresses at /sdk/bootstrap.json. Private, for loopback hosts
// and those in Gateway.PrivatePagesHosts only: every other path — the
// metrics at /metrics and the web UI, with the playground at / and the
// dashboard at /dashboard, which list the node's models and peers.
func (n *Node) GatewayHandler() (http.Handler, error) {
	blocks, err := gateway.NewBlocksBackend(n.Online)
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	backend := carBackend{blocks, n.Online}
	gw := gateway.NewHeaders(nil).ApplyCors().Wrap(gateway.NewHandler(gateway.Config{
		NoDNSLink:             true,
		RetrievalTimeout:      gateway.DefaultRetrievalTimeout, // a block nobody has: 504, not a hung request
		MaxConcurrentRequests: gateway.DefaultMaxConcurrentRequests,
	}, backend))
	private := http.NewServeMux()
	private.Handle("/metrics", n.MetricsHandler())
	private.Handle("GET /{$}", uiPage("/ui/")) // the playground: ui/index.html
	private.Handle("GET /dashboard", uiPage("/ui/dashboard.html"))
	private.Handle("GET /dashboard/stats", n.dashboardStats())
	mux := http.NewServeMux()
	mux.Handle("/ipfs/", n.metrics.countGateway(gw))
	mux.Handle("/sdk/", http.StripPrefix("/sdk", browser.Handler()))
	mux.Handle("/sdk/bootstrap.json", relay.BootstrapHandler(n.Host))
	mux.Handle("/", privatePages(n.Config.Gateway.PrivatePagesHosts, private))
	return mux, nil
}
