package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"time"

	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
	"github.com/spf13/cobra"

	"github.com/ipfs-accelerate/accel/browser"
	"github.com/ipfs-accelerate/accel/node"
	"github.com/ipfs-accelerate/accel/rpc"
	"github.com/ipfs-accelerate/accel/serve"
)

// uploadsDir holds models uploaded to the RPC API while they import; it is
// emptied when the daemon starts.
const uploadsDir = "uploads"

func daemonCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "daemon",
		Short: "Run the node: libp2p host, bitswap and bulk transfer, DHT, RPC API and gateway",
		Long: `Run the node until SIGINT or SIGTERM. It writes the RPC API's multiaddr to
$ACCEL_PATH/api and the gateway's (trustless gateway, /metrics) to
$ACCEL_PATH/gateway, and prints "Daemon is ready" once it listens. While it
runs, the other commands talk to it. The API listener also serves inference
over the pinned models: OpenAI's /v1/models, /v1/completions and
/v1/chat/completions, and a WebSocket stream at /api/stream (on the gateway
too with Gateway.ServeInference). The API demands the token in the repo
config (API.Token) when it listens beyond loopback.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signalContext()
			defer stop()
			dir, r, err := openRepo(ctx)
			if err != nil {
				return err
			}
			n, err := node.Start(ctx, r)
			if err != nil {
				r.Close()
				return err
			}
			err = serveHTTP(ctx, dir, n)
			node.RemoveAddrFiles(dir)
			if cerr := n.Close(); err == nil {
				err = cerr
			}
			return err
		},
	}
}

// serveHTTP runs the HTTP services of n until ctx ends.
func serveHTTP(ctx context.Context, dir string, n *node.Node) error {
	cfg := n.Config
	uploads := filepath.Join(dir, uploadsDir)
	if err := os.RemoveAll(uploads); err != nil {
		return err
	}
	if err := os.MkdirAll(uploads, 0o700); err != nil {
		return err
	}
	apiLn, apiAddr, err := listen(cfg.Addresses.API)
	if err != nil {
		return fmt.Errorf("RPC API: %w", err)
	}
	token := ""
	if !manet.IsIPLoopback(apiAddr) {
		if token = cfg.API.Token; token == "" {
			apiLn.Close()
			return fmt.Errorf("the RPC API listens on %s, beyond loopback, but the config has no API.Token to demand", apiAddr)
		}
	}
	commands := http.NewServeMux()
	commands.Handle(rpc.Prefix, rpc.NewHandler(n, uploads))
	commands.Handle("/metrics", n.MetricsHandler())
	commands.HandleFunc("/debug/pprof/", pprof.Index) // Go profiles, as Kubo serves them
	commands.HandleFunc("/debug/pprof/profile", pprof.Profile)
	commands.HandleFunc("/debug/pprof/trace", pprof.Trace)
	api := http.NewServeMux()
	api.Handle("/", rpc.Protect(token, commands))
	inference := serve.New(n, n.Metrics(), serve.Options{Fetch: n})
	n.ShowInference(inference)
	n.ShareModels(inference)
	for _, p := range serve.Paths {
		api.Handle(p, serve.Protect(token, inference))
	}
	gwLn, gwAddr, err := listen(cfg.Addresses.Gateway)
	if err != nil {
		apiLn.Close()
		return fmt.Errorf("gateway: %w", err)
	}
	pages, err := n.GatewayHandler()
	if err != nil {
		apiLn.Close()
		gwLn.Close()
		return err
	}
	gw := http.NewServeMux()
	gw.Handle("/", pages)
	if cfg.Gateway.ServeInference {
		for _, p := range serve.Paths {
			gw.Handle(p, serve.Public(inference))
		}
	}
	// Requests end with the daemon: their contexts are ctx's.
	base := func(net.Listener) context.Context { return ctx }
	servers := []*http.Server{
		{Handler: api, ReadHeaderTimeout: 10 * time.Second, BaseContext: base},
		{Handler: gw, ReadHeaderTimeout: 10 * time.Second, BaseContext: base},
	}
	errc := make(chan error, 2)
	for i, ln := range []net.Listener{apiLn, gwLn} {
		go func() { errc <- servers[i].Serve(ln) }()
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, s := range servers {
			if e := s.Shutdown(sctx); e != nil && !errors.Is(e, http.ErrServerClosed) {
				s.Close()
			}
		}
	}()
	if err := node.WriteAddrFile(dir, node.APIFile, apiAddr.String()); err != nil {
		return err
	}
	if err := node.WriteAddrFile(dir, node.GatewayFile, gwAddr.String()); err != nil {
		return err
	}
	if _, err := browser.Files(); err != nil {
		fmt.Fprintf(os.Stderr, "WARNING: %v; the web UI at / and the SDK at /sdk/ answer 503 without it\n", err)
	}
	id, _ := n.ID(ctx)
	fmt.Printf("PeerID: %s\n", id.ID)
	for _, a := range id.Addresses {
		fmt.Printf("Swarm listening on %s\n", a)
	}
	fmt.Printf("RPC API server listening on %s\nGateway server listening on %s\nDaemon is ready\n", apiAddr, gwAddr)

	select {
	case <-ctx.Done():
		err = nil
	case err = <-errc:
	}
	fmt.Println("Received interrupt signal, shutting down...")
	return err
}

// listen opens a TCP listener at a multiaddr and returns the address it
// got (the port filled in).
func listen(addr string) (net.Listener, ma.Multiaddr, error) {
	m, err := ma.NewMultiaddr(addr)
	if err != nil {
		return nil, nil, fmt.Errorf("address %q: %w", addr, err)
	}
	ln, err := manet.Listen(m)
	if err != nil {
		return nil, nil, err
	}
	return manet.NetListener(ln), ln.Multiaddr(), nil
}
