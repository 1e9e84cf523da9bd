package main

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/ipfs-accelerate/accel/inference/bench"
)

func benchCmd() *cobra.Command {
	var (
		mf      modelFlags
		opts    bench.Options
		threads []int
		asJSON  bool
	)
	cmd := &cobra.Command{
		Use:   "bench --model PATH [--threads N,...] [--json]",
		Short: "Measure decode and prefill speed beside the memory read bandwidth",
		Long: `Measures decode tokens/s (median per-token time), prefill tokens/s of a
512-token prompt, the weight bytes decode streams per second and this
machine's memory read bandwidth (a SIMD read kernel), all in the same run.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := mf.load()
			if err != nil {
				return err
			}
			defer m.Close()
			if len(threads) == 0 {
				threads = []int{1, runtime.NumCPU()}
				if runtime.NumCPU() == 1 {
					threads = threads[:1]
				}
			}
			var results []bench.Result
			if !asJSON {
				fmt.Println(bench.Header)
			}
			for _, t := range threads {
				r, err := bench.Measure(m, t, opts)
				if err != nil {
					return err
				}
				results = append(results, r)
				if !asJSON {
					fmt.Println(r.Row(mf.precisionName(m)))
				}
			}
			if !asJSON {
				return nil
			}
			last := results[len(results)-1]
			out := struct {
				Model string `json:"model"`
				bench.Result
				Format string         `json:"format"`
				Runs   []bench.Result `json:"runs"`
			}{mf.path, last, mf.precisionName(m), results}
			enc := json.NewEncoder(os.Stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(out)
		},
	}
	f := cmd.Flags()
	f.IntSliceVar(&threads, "threads", nil, "thread counts to measure (default: 1 and all cores)")
	mf.register(cmd) // after --threads, which it then leaves alone
	f.BoolVar(&asJSON, "json", false, "print one JSON object (the last thread count's figures, plus every run)")
	f.IntVar(&opts.DecodeTokens, "decode-tokens", 40, "decode steps timed (in 5 rounds, each right after a memory bandwidth pass)")
	f.IntVar(&opts.PrefillTokens, "prefill-tokens", 512, "prompt length for prefill")
	f.IntVar(&opts.PrefillRuns, "prefill-runs", 1, "prefill runs (median reported)")
	return cmd
}
