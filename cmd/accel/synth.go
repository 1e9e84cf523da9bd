package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ipfs-accelerate/accel/inference/gguf"
	"github.com/ipfs-accelerate/accel/inference/quant"
	"github.com/ipfs-accelerate/accel/inference/synth"
)

func synthCmd() *cobra.Command {
	s := synth.DefaultShape
	var out, typ string
	cmd := &cobra.Command{
		Use:   "synth -o FILE.gguf [--type F32|F16|Q8_0|Q4_0|Q6_K|Q5_K_M|Q4_K_M|…] [shape flags]",
		Short: "Write a Llama-shaped GGUF model with random weights (default ≈307M parameters)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if quant.IsMix(typ) {
				if err := synth.WriteFileMix(out, s, typ); err != nil {
					return err
				}
			} else {
				t, err := gguf.ParseType(typ)
				if err != nil {
					return err
				}
				if err := synth.WriteFile(out, s, t); err != nil {
					return err
				}
			}
			fmt.Fprintf(os.Stderr, "wrote %s: %d parameters, %s\n", out, s.Params(), strings.ToUpper(typ))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&out, "output", "o", "", "GGUF file to write (required)")
	f.StringVar(&typ, "type", "Q4_0", "matrix storage type: F32, F16, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K, or llama.cpp's mix Q4_K_M or Q5_K_M")
	f.IntVar(&s.Dim, "dim", s.Dim, "embedding width")
	f.IntVar(&s.HiddenDim, "ffn", s.HiddenDim, "feed-forward width")
	f.IntVar(&s.Layers, "layers", s.Layers, "transformer blocks")
	f.IntVar(&s.Heads, "heads", s.Heads, "attention heads")
	f.IntVar(&s.KVHeads, "kv-heads", s.KVHeads, "key/value heads")
	f.IntVar(&s.Vocab, "vocab", s.Vocab, "vocabulary size")
	f.IntVar(&s.SeqLen, "context", s.SeqLen, "context length")
	f.Uint64Var(&s.Seed, "seed", s.Seed, "random seed")
	cmd.MarkFlagRequired("output")
	return cmd
}
