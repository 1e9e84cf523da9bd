package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"text/tabwriter"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/codec/dagcbor"
	"github.com/ipld/go-ipld-prime/codec/dagjson"
	"github.com/ipld/go-ipld-prime/node/basicnode"
	"github.com/spf13/cobra"

	"github.com/ipfs-accelerate/accel/loader"
	"github.com/ipfs-accelerate/accel/node"
)

func statCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "stat CID [--json]",
		Short: "Summarize a model: architecture, precision, components in load order, local/remote blocks",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withCID(args[0], func(ctx context.Context, api node.API, c cid.Cid) error {
				st, err := api.Stat(ctx, c)
				if err != nil {
					return err
				}
				if asJSON {
					return printJSON(st)
				}
				h := st.Hyperparameters
				precision := st.Precision
				if precision == "" {
					precision = "source formats"
				}
				fmt.Printf("root:          %s (%s)\narchitecture:  %s\nprecision:     %s\n", st.Root, st.Version, st.Architecture, precision)
				fmt.Printf("shape:         dim %d, ffn %d, layers %d, heads %d, kv heads %d, head dim %d, vocab %d, context %d, rope theta %g, norm eps %g, tied output %v\n",
					h.Dim, h.HiddenDim, h.Layers, h.Heads, h.KVHeads, h.HeadDim, h.Vocab, h.Context, h.RopeTheta, h.NormEps, h.TiedOutput)
				fmt.Printf("size:          %d bytes\npinned:        %v\nblocks:        %d local, %d remote\n\n", st.Size, st.Pinned, st.LocalBlocks, st.RemoteBlocks)
				tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "component\tpriority\tbytes\ttensors\tlocal\tremote\tcid")
				for _, c := range st.Components {
					fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%s\n", c.Name, c.Priority, c.Size, c.Tensors, c.LocalBlocks, c.RemoteBlocks, c.CID)
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func getCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "get CID -o DIR",
		Short: "Write a model back out as DIR/model.gguf and DIR/manifest.json",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withCID(args[0], func(ctx context.Context, api node.API, c cid.Cid) error {
				// The manifest as dag-json, the IPLD form of the root block.
				b, err := api.Block(ctx, c)
				if err != nil {
					return err
				}
				if _, err := loader.DecodeManifest(b); err != nil {
					return fmt.Errorf("%s is not a model: %w", c, err)
				}
				if err := os.MkdirAll(dir, 0o755); err != nil {
					return err
				}
				nb := basicnode.Prototype.Any.NewBuilder()
				if err := dagcbor.Decode(nb, bytes.NewReader(b)); err != nil {
					return err
				}
				var js, pretty bytes.Buffer
				if err := dagjson.Encode(nb.Build(), &js); err != nil {
					return err
				}
				if err := json.Indent(&pretty, js.Bytes(), "", "  "); err != nil {
					return err
				}
				pretty.WriteByte('\n')
				if err := os.WriteFile(filepath.Join(dir, "manifest.json"), pretty.Bytes(), 0o644); err != nil {
					return err
				}
				// The GGUF, renamed into place once whole.
				path := filepath.Join(dir, "model.gguf")
				f, err := os.CreateTemp(dir, ".model.gguf.tmp*")
				if err != nil {
					return err
				}
				defer os.Remove(f.Name())
				if err := f.Chmod(0o644); err != nil {
					f.Close()
					return err
				}
				if err := api.WriteGGUF(ctx, c, f); err != nil {
					f.Close()
					return err
				}
				if err := f.Close(); err != nil {
					return err
				}
				if err := os.Rename(f.Name(), path); err != nil {
					return err
				}
				fmt.Printf("wrote %s and %s\n", path, filepath.Join(dir, "manifest.json"))
				return nil
			})
		},
	}
	cmd.Flags().StringVarP(&dir, "output", "o", "", "directory to write (required)")
	cmd.MarkFlagRequired("output")
	return cmd
}
