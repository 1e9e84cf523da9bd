package main

import (
	"context"
	"fmt"

	"github.com/ipfs/go-cid"
	"github.com/spf13/cobra"

	"github.com/ipfs-accelerate/accel/node"
)

func pinCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "pin", Short: "Pin models so gc keeps them"}
	add := &cobra.Command{
		Use:   "add CID",
		Short: "Pin the DAG at CID recursively (offline: its blocks must be local)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withCID(args[0], func(ctx context.Context, r *node.Repo, c cid.Cid) error {
				if err := r.Pin(ctx, c, ""); err != nil {
					return err
				}
				fmt.Printf("pinned %s recursively\n", c)
				return nil
			})
		},
	}
	var quiet bool
	ls := &cobra.Command{
		Use:   "ls [-q]",
		Short: "List the pins",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return withRepo(func(ctx context.Context, r *node.Repo) error {
				pins, err := r.Pins(ctx)
				if err != nil {
					return err
				}
				for _, p := range pins {
					switch {
					case quiet:
						fmt.Println(p.CID)
					case p.Name != "":
						fmt.Printf("%s %s %s\n", p.CID, p.Mode, p.Name)
					default:
						fmt.Printf("%s %s\n", p.CID, p.Mode)
					}
				}
				return nil
			})
		},
	}
	ls.Flags().BoolVarP(&quiet, "quiet", "q", false, "print only the CIDs")
	rm := &cobra.Command{
		Use:   "rm CID",
		Short: "Remove the recursive pin of CID (gc then frees its blocks)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withCID(args[0], func(ctx context.Context, r *node.Repo, c cid.Cid) error {
				if err := r.Unpin(ctx, c); err != nil {
					return err
				}
				fmt.Printf("unpinned %s\n", c)
				return nil
			})
		},
	}
	cmd.AddCommand(add, ls, rm)
	return cmd
}
