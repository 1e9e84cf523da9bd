package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/ipfs-accelerate/accel/inference/quant"
	"github.com/ipfs-accelerate/accel/inference/quant/planfile"
	"github.com/ipfs-accelerate/accel/loader"
	"github.com/ipfs-accelerate/accel/node"
)

func addCmd() *cobra.Command {
	var (
		quiet                            bool
		tokenizer, precision, plan, name string
		chunk                            int
	)
	cmd := &cobra.Command{
		Use:   "add PATH [-q] [--name NAME] [--tokenizer TOK] [--precision P | --plan FILE] [--chunk-size N]",
		Short: "Import a model into the repo and pin it",
		Long: `Import a GGUF file, a llama2.c checkpoint (with --tokenizer) or a Hugging Face
Llama directory (config.json, tokenizer.json, safetensors weights) as a model
DAG and pin its root, under --name or the file's name. Only regular files (and that directory) are read. Without
--precision or --plan the weights keep their source format. The same file with
the same options gives the same CID everywhere.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := node.AddOptions{ChunkSize: chunk, Name: name}
			if precision != "" && plan != "" {
				return fmt.Errorf("give --precision or --plan, not both")
			}
			if precision != "" || plan != "" {
				var p quant.Plan
				var err error
				if plan != "" {
					p, err = planfile.Load(plan)
				} else {
					p, err = loadPlanFor(precision, args[0], tokenizer)
				}
				if err != nil {
					return err
				}
				opts.Precision = p.String()
			}
			src := loader.Source{Path: args[0], Tokenizer: tokenizer}
			if err := src.Check(); err != nil {
				return err
			}
			file := filepath.Base(args[0])
			var progress func(done, total int64)
			var bar *progressbar.ProgressBar
			if !quiet {
				progress = func(done, total int64) {
					if bar == nil {
						bar = newBar(file, total)
					}
					bar.Set64(done)
				}
			}
			return withAPI(func(ctx context.Context, api node.API) error {
				root, err := api.AddModel(ctx, src, opts, progress)
				if bar != nil {
					bar.Finish()
				}
				if err != nil {
					return err
				}
				if quiet {
					fmt.Println(root)
				} else {
					fmt.Printf("added %s %s\n", root, file)
				}
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&quiet, "quiet", "q", false, "print only the root CID, no progress")
	f.StringVar(&name, "name", "", "a name for the pin, which the inference API takes as the model's (default: the file's name)")
	f.StringVar(&tokenizer, "tokenizer", "", "tokenizer.bin of a llama2.c checkpoint")
	f.StringVar(&precision, "precision", "", "convert the weights: a preset (f16, q8_0, q4_0, q4_k, q5_k, q6_k, q8, q4, q3, q2, mixed), llama.cpp's mix q4_k_m or q5_k_m, a format (int4g64, …), a compact plan or a rules file")
	f.StringVar(&plan, "plan", "", "convert the weights with the precision plan in this JSON/YAML rules file")
	f.IntVar(&chunk, "chunk-size", loader.DefaultChunkSize, fmt.Sprintf("bytes per UnixFS leaf block, %d…%d", loader.MinChunkSize, loader.MaxChunkSize))
	return cmd
}

// newBar is the progress bar of long transfers, on stderr.
func newBar(name string, total int64) *progressbar.ProgressBar {
	if total <= 0 {
		total = -1 // unknown: a spinner with the bytes so far
	}
	return progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(os.Stderr),
		progressbar.OptionSetDescription(name),
		progressbar.OptionShowBytes(true),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish())
}
