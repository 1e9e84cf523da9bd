package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/ipfs/go-cid"
	"github.com/spf13/cobra"

	"github.com/ipfs-accelerate/accel/node"
	"github.com/ipfs-accelerate/accel/rpc"
)

// signalContext is cancelled by Ctrl-C or SIGTERM, so a command can stop
// cleanly and leave the repo consistent.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// withAPI runs fn against the node: over the daemon's RPC API when a
// daemon holds the repo, else on the repo opened here, offline.
func withAPI(fn func(ctx context.Context, api node.API) error) error {
	ctx, stop := signalContext()
	defer stop()
	dir, r, err := openRepo(ctx)
	if errors.Is(err, node.ErrLocked) {
		c, cerr := daemonClient(dir)
		if cerr != nil {
			return fmt.Errorf("%w; and its API is out of reach: %v", err, cerr)
		}
		return fn(ctx, c)
	}
	if err != nil {
		return err
	}
	n := node.Offline(r)
	err = fn(ctx, n)
	if cerr := n.Close(); err == nil {
		err = cerr
	}
	return err
}

// openRepo opens the repo at $ACCEL_PATH (default ~/.accel) and returns
// its directory too.
func openRepo(ctx context.Context) (string, *node.Repo, error) {
	dir, err := node.DefaultPath()
	if err != nil {
		return "", nil, err
	}
	r, err := node.Open(ctx, dir)
	return dir, r, err
}

// daemonClient is the RPC client of the daemon running on dir.
func daemonClient(dir string) (*rpc.Client, error) {
	addr, err := node.ReadAddrFile(dir, node.APIFile)
	if err != nil {
		return nil, err
	}
	token, err := node.APIToken(dir)
	if err != nil {
		return nil, err
	}
	return rpc.NewClient(addr, token)
}

// withCID parses a CID argument, then runs fn with the node.
func withCID(arg string, fn func(ctx context.Context, api node.API, c cid.Cid) error) error {
	c, err := parseCID(arg)
	if err != nil {
		return err
	}
	return withAPI(func(ctx context.Context, api node.API) error { return fn(ctx, api, c) })
}

func parseCID(s string) (cid.Cid, error) {
	c, err := cid.Decode(s)
	if err != nil {
		return cid.Undef, fmt.Errorf("invalid CID %q: %v", s, err)
	}
	return c, nil
}

func printJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func initCmd() *cobra.Command {
	var profile string
	cmd := &cobra.Command{
		Use:   "init [--profile=test]",
		Short: "Create the node's repo ($ACCEL_PATH, default ~/.accel)",
		Long: `Create the repo: a config file with a new Ed25519 peer identity and listen
addresses, and an empty block store and datastore. The test profile listens
on 127.0.0.1 only, on random ports, with no bootstrap peers and no mDNS.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, err := node.DefaultPath()
			if err != nil {
				return err
			}
			cfg, err := node.Init(dir, profile)
			if err != nil {
				return err
			}
			fmt.Printf("initialized accel repo at %s (profile %s)\npeer identity: %s\n", dir, cfg.Profile, cfg.Identity.PeerID)
			return nil
		},
	}
	cmd.Flags().StringVar(&profile, "profile", node.ProfileDefault, "configuration profile: default or test")
	return cmd
}

func repoCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "repo", Short: "Inspect the repo"}
	var asJSON bool
	stat := &cobra.Command{
		Use:   "stat [--json]",
		Short: "Blocks, bytes, storage budget and path of the repo",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return withAPI(func(ctx context.Context, api node.API) error {
				st, err := api.RepoStat(ctx)
				if err != nil {
					return err
				}
				if asJSON {
					return printJSON(st)
				}
				fmt.Printf("NumObjects: %d\nRepoSize:   %d\nStorageMax: %d\nRepoPath:   %s\nPins:       %d\n", st.Blocks, st.Bytes, st.StorageMax, st.Path, st.Pins)
				return nil
			})
		},
	}
	stat.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Re-hash every stored block against its CID",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return withAPI(func(ctx context.Context, api node.API) error {
				n, bad, err := api.Verify(ctx)
				if err != nil {
					return err
				}
				for _, c := range bad {
					fmt.Printf("corrupt block %s\n", c)
				}
				if len(bad) > 0 {
					return fmt.Errorf("%d of %d blocks are corrupt", len(bad), n)
				}
				fmt.Printf("verified %d blocks\n", n)
				return nil
			})
		},
	}
	cmd.AddCommand(stat, verify)
	return cmd
}

func gcCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "gc",
		Short: "Delete every block not reachable from a pin",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return withAPI(func(ctx context.Context, api node.API) error {
				res, err := api.GC(ctx)
				if err == nil || res.Blocks > 0 { // a GC that waited and gave up removed nothing
					fmt.Printf("removed %d blocks, %d bytes\n", res.Blocks, res.Bytes)
				}
				return err
			})
		},
	}
}
