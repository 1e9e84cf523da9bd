package main

import (
	"bufio"
	"context"
	"fmt"
	"os"

	"github.com/ipfs/go-cid"

	"github.com/spf13/cobra"

	"github.com/ipfs-accelerate/accel/inference/llama"
	"github.com/ipfs-accelerate/accel/inference/quant"
	"github.com/ipfs-accelerate/accel/inference/quant/planfile"
	"github.com/ipfs-accelerate/accel/node"
)

// modelFlags are the flags of every command that loads a model file.
type modelFlags struct {
	path, tokenizer, precision string
	threads                    int
}

func (f *modelFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&f.path, "model", "m", "", "model: a GGUF file, a llama2.c checkpoint, or the CID of a model in the repo (fetched through the daemon when one runs) (required)")
	cmd.Flags().StringVar(&f.tokenizer, "tokenizer", "", "llama2.c tokenizer file (for llama2.c checkpoints)")
	cmd.Flags().StringVar(&f.precision, "precision", "", "convert weights on load: a preset (f32, f16, bf16, q8_0, q4_0, q4_k, q5_k, q6_k, q8, q4, q3, q2, mixed), llama.cpp's mix q4_k_m or q5_k_m, a format (int4g64, int3g128a, …), a compact plan (\"mixed; role:feed_forward=q3\") or a rules file (.json/.yaml)")
	if cmd.Flags().Lookup("threads") == nil {
		cmd.Flags().IntVarP(&f.threads, "threads", "t", 0, "kernel threads (default: all cores)")
	}
	cmd.MarkFlagRequired("model")
}

// precisionName describes the weights' precision for tables.
func (f *modelFlags) precisionName(m *llama.Model) string {
	if f.precision == "" {
		return m.Blocks[0].Q.Format.String()
	}
	return f.precision
}

// load opens the model with the flags' precision and threads.
func (f *modelFlags) load() (*llama.Model, error) {
	if f.threads > 0 {
		quant.SetThreads(f.threads)
	}
	opts := llama.Options{Tokenizer: f.tokenizer}
	path := f.path
	if _, err := os.Stat(path); err != nil {
		c, cerr := cid.Decode(path)
		if cerr != nil {
			return nil, fmt.Errorf("model %q is neither a file (%v) nor a CID", path, err)
		}
		if path, err = fetchGGUF(c); err != nil {
			return nil, err
		}
		defer os.Remove(path) // the model maps it; the name can go
	}
	if f.precision != "" {
		plan, err := loadPlanFor(f.precision, path, f.tokenizer)
		if err != nil {
			return nil, err
		}
		opts.Precision = plan
	}
	return llama.Open(path, opts)
}

// fetchGGUF writes the model at c from the node to a temporary GGUF file.
func fetchGGUF(c cid.Cid) (string, error) {
	f, err := os.CreateTemp("", "accel-model-*.gguf")
	if err != nil {
		return "", err
	}
	err = withAPI(func(ctx context.Context, api node.API) error {
		w := bufio.NewWriterSize(f, 1<<20)
		if err := api.WriteGGUF(ctx, c, w); err != nil {
			return err
		}
		return w.Flush()
	})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("model %s: %w", c, err)
	}
	return f.Name(), nil
}

// loadPlanFor is loadPlan, but for llama.cpp's mixes (q4_k_m, q5_k_m),
// which it writes out for the layers and classifier of the model at path.
func loadPlanFor(name, path, tokenizer string) (quant.Plan, error) {
	if !quant.IsMix(name) {
		return loadPlan(name)
	}
	m, err := llama.Open(path, llama.Options{Tokenizer: tokenizer})
	if err != nil {
		return quant.Plan{}, err
	}
	defer m.Close()
	return quant.MixPlan(name, m.Layers, m.TiedOutput)
}

// loadPlan reads a rules file when name is a file, else a preset, a format
// name or a compact plan ("mixed; role:feed_forward=q3").
func loadPlan(name string) (quant.Plan, error) {
	if _, err := os.Stat(name); err == nil {
		return planfile.Load(name)
	}
	plan, err := quant.ParsePlan(name)
	if err != nil {
		return plan, fmt.Errorf("%w (or give the path of a JSON/YAML rules file)", err)
	}
	return plan, nil
}
