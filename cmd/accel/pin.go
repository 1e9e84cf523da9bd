package main

import (
	"context"
	"fmt"

	"github.com/ipfs/go-cid"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/ipfs-accelerate/accel/node"
)

func pinCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "pin", Short: "Pin models so gc keeps them"}
	var (
		quietAdd bool
		name     string
	)
	add := &cobra.Command{
		Use:   "add CID",
		Short: "Fetch the DAG at CID from the network and pin it recursively",
		Long: `Fetch every block of the DAG at CID that is not local yet — over the bulk
transfer protocol from every provider that speaks it, over bitswap from the
rest — verify each against its CID, then pin the DAG recursively. With no
daemon running, the blocks must already be local. Run it again after an
interruption: blocks already fetched are kept.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withCID(args[0], func(ctx context.Context, api node.API, c cid.Cid) error {
				var progress func(node.Progress)
				var bar *progressbar.ProgressBar
				if !quietAdd {
					progress = func(p node.Progress) {
						switch {
						case bar == nil:
							bar = newBar(c.String(), p.Total)
						case p.Total > 0 && bar.GetMax64() != p.Total:
							bar.ChangeMax64(p.Total)
						}
						bar.Set64(p.Bytes)
					}
				}
				err := api.PinAdd(ctx, c, name, progress)
				if bar != nil {
					bar.Finish()
				}
				if err != nil {
					return err
				}
				fmt.Printf("pinned %s recursively\n", c)
				return nil
			})
		},
	}
	add.Flags().BoolVarP(&quietAdd, "quiet", "q", false, "no progress bar")
	add.Flags().StringVar(&name, "name", "", "a name for the pin, which the inference API takes as the model's")
	var quiet bool
	ls := &cobra.Command{
		Use:   "ls [-q]",
		Short: "List the pins",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return withAPI(func(ctx context.Context, api node.API) error {
				pins, err := api.Pins(ctx)
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
			return withCID(args[0], func(ctx context.Context, api node.API, c cid.Cid) error {
				if err := api.Unpin(ctx, c); err != nil {
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
