package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ipfs-accelerate/accel/inference/generate"
)

func runCmd() *cobra.Command {
	var (
		mf   modelFlags
		opts generate.Options
	)
	cmd := &cobra.Command{
		Use:   "run --model PATH [flags] PROMPT",
		Short: "Generate text from a prompt, streamed to stdout",
		Example: `  accel run --model ../shared/models/stories260K.bin --tokenizer ../shared/models/tok512.bin \
      --temp 0 -n 256 "Once upon a time"`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := mf.load()
			if err != nil {
				return err
			}
			defer m.Close()
			prompt := strings.Join(args, " ")
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
			defer stop()
			out := bufio.NewWriter(os.Stdout)
			fmt.Fprint(out, prompt)
			out.Flush()
			st, err := generate.Run(ctx, m, prompt, opts, func(text string) error {
				if _, err := out.WriteString(text); err != nil {
					return err
				}
				return out.Flush()
			})
			fmt.Fprintln(out)
			out.Flush()
			fmt.Fprintf(os.Stderr, "prompt: %d tokens, %.1f tokens/s; generated: %d tokens, %.1f tokens/s (%s)\n",
				st.PromptTokens, st.PrefillTokensPerSecond(), st.Tokens, st.DecodeTokensPerSecond(), st.Reason)
			return err
		},
	}
	mf.register(cmd)
	f := cmd.Flags()
	f.IntVarP(&opts.MaxTokens, "n", "n", 256, "new tokens to generate (0: until the context is full)")
	f.Float32Var(&opts.Sample.Temperature, "temp", 0.8, "sampling temperature (0: greedy)")
	f.IntVar(&opts.Sample.TopK, "top-k", 40, "sample from the K most likely tokens (0: all)")
	f.Float32Var(&opts.Sample.TopP, "top-p", 0.95, "sample from the smallest set of tokens whose probability reaches P (1: all)")
	f.Float32Var(&opts.Sample.RepetitionPenalty, "repeat-penalty", 1, "penalty for recently generated tokens (1: off)")
	f.Float32Var(&opts.Sample.PresencePenalty, "presence-penalty", 0, "subtracted from the logits of recent tokens")
	f.Float32Var(&opts.Sample.FrequencyPenalty, "frequency-penalty", 0, "subtracted per occurrence of a recent token")
	f.IntVar(&opts.Sample.PenaltyWindow, "repeat-last-n", 64, "how many recent tokens the penalties consider")
	f.Uint64Var(&opts.Sample.Seed, "seed", 0, "random seed (same seed, same output)")
	f.StringArrayVar(&opts.Stop, "stop", nil, "stop before this text (repeatable)")
	f.IntVarP(&opts.Session.Context, "ctx", "c", 4096, "context length in tokens (0: the model's; like llama.cpp, may exceed what it was trained on)")
	f.BoolVar(&opts.Session.F16Cache, "kv-f16", false, "store the KV cache in float16")
	f.IntVar(&opts.Session.Window, "window", 0, "sliding-window attention over the last N positions (0: full context)")
	return cmd
}
