package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ipfs-accelerate/accel/node"
)

func idCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "id [--json]",
		Short: "Show the node's peer ID and listen multiaddrs",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return withAPI(func(ctx context.Context, api node.API) error {
				info, err := api.ID(ctx)
				if err != nil {
					return err
				}
				if asJSON {
					return printJSON(info)
				}
				fmt.Println(info.ID)
				for _, a := range info.Addresses {
					fmt.Println(a)
				}
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON (Kubo's field names)")
	return cmd
}

func swarmCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "swarm", Short: "Peers of the running daemon"}
	connect := eachAddr("connect", "Connect to peers (multiaddrs ending in /p2p/PEERID)", node.API.SwarmConnect)
	disconnect := eachAddr("disconnect", "Close the connections to peers (a connection's multiaddr/p2p/PEERID, or /p2p/PEERID for all of them)", node.API.SwarmDisconnect)
	peers := &cobra.Command{
		Use:   "peers",
		Short: "List connected peers, one multiaddr/p2p/PEERID per line",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return withAPI(func(ctx context.Context, api node.API) error {
				ps, err := api.SwarmPeers(ctx)
				if err != nil {
					return err
				}
				for _, p := range ps {
					fmt.Printf("%s/p2p/%s\n", strings.TrimSuffix(p.Addr, "/"), p.Peer)
				}
				return nil
			})
		},
	}
	addrs := &cobra.Command{
		Use:   "addrs",
		Short: "List the addresses the node listens on",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return withAPI(func(ctx context.Context, api node.API) error {
				as, err := api.SwarmAddrs(ctx)
				if err != nil {
					return err
				}
				for _, a := range as {
					fmt.Println(a)
				}
				return nil
			})
		},
	}
	cmd.AddCommand(connect, disconnect, peers, addrs)
	return cmd
}

// eachAddr is the swarm subcommand verb: op on each multiaddr argument in
// turn, as Kubo prints it.
func eachAddr(verb, short string, op func(node.API, context.Context, string) error) *cobra.Command {
	return &cobra.Command{
		Use:   verb + " MULTIADDR...",
		Short: short,
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withAPI(func(ctx context.Context, api node.API) error {
				for _, a := range args {
					if err := op(api, ctx, a); err != nil {
						return err
					}
					fmt.Printf("%s %s success\n", verb, a)
				}
				return nil
			})
		},
	}
}
