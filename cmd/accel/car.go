package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"

	"github.com/ipfs/go-cid"
	"github.com/spf13/cobra"

	"github.com/ipfs-accelerate/accel/node"
)

func exportCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "export CID [-o FILE] > model.car",
		Short: "Write a model DAG as a CARv1 (root = the manifest) to stdout or a file",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withCID(args[0], func(ctx context.Context, api node.API, c cid.Cid) error {
				var w io.Writer = os.Stdout
				var f *os.File
				if out != "" {
					var err error
					if f, err = os.Create(out); err != nil {
						return err
					}
					defer f.Close()
					w = f
				}
				bw := bufio.NewWriterSize(w, 1<<20)
				if err := api.ExportCAR(ctx, c, bw); err != nil {
					if f != nil {
						os.Remove(out)
					}
					return err
				}
				if err := bw.Flush(); err != nil {
					return err
				}
				if f != nil {
					return f.Close()
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "write the CAR to this file instead of stdout")
	return cmd
}

func importCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "import FILE.car...",
		Short: "Import CAR files (- for stdin): verify every block, store it, pin the roots",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withAPI(func(ctx context.Context, api node.API) error {
				for _, name := range args {
					var rd io.Reader = os.Stdin
					if name != "-" {
						f, err := os.Open(name)
						if err != nil {
							return err
						}
						defer f.Close()
						rd = f
					}
					roots, err := api.ImportCAR(ctx, bufio.NewReaderSize(rd, 1<<20))
					if err != nil {
						return fmt.Errorf("%s: %w", name, err)
					}
					for _, c := range roots {
						fmt.Printf("pinned root %s\n", c)
					}
				}
				return nil
			})
		},
	}
}
