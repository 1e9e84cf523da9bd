package main

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/ipfs-accelerate/accel/inference/bench"
	"github.com/ipfs-accelerate/accel/inference/quant"
)

// llamaHeader heads the columns --llama-bench adds to bench.Header.
const llamaHeader = " ref decode t/s ref of mem ref prefill t/s  decode ×  prefill ×"

func benchCmd() *cobra.Command {
	var (
		mf        modelFlags
		opts      bench.Options
		threads   []int
		asJSON    bool
		llamaBin  string
		llamaReps int
		rounds    int
		noHeader  bool
	)
	cmd := &cobra.Command{
		Use:   "bench --model PATH [--threads N,...] [--json]",
		Short: "Measure decode and prefill speed beside the memory read bandwidth",
		Long: `Measures decode tokens/s (median per-token time), prefill tokens/s of a
512-token prompt, the weight bytes decode streams per second and this
machine's memory read bandwidth (a SIMD read kernel), all in the same run.
With --llama-bench, llama.cpp's llama-bench measures the same file at each
thread count in the same run (prompt of the same length, decode), and each
row gains its figures and the ratios accel/llama.cpp. With --rounds N the
two alternate N times per thread count: each figure is the median over the
rounds and each ratio the median of the rounds' own ratios, so that a slow
spell of a shared machine falls on both sides.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if llamaBin != "" && mf.precision != "" {
				return fmt.Errorf("--llama-bench measures the file as stored: it cannot be given with --precision")
			}
			opts.BaseResident = bench.ResidentBytes()
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
			var refs []llamaBench
			if !asJSON && !noHeader {
				fmt.Printf("CPU: %s; accel kernels %s\n", cpuModel(), quant.SIMD())
				if llamaBin == "" {
					fmt.Println("(give --llama-bench PATH to llama.cpp's llama-bench for its figures beside these)")
					fmt.Println(bench.Header)
				} else {
					fmt.Printf("ref: llama.cpp's %s on the same file and threads, same run; ×: accel/ref\n", llamaBin)
					fmt.Println(bench.Header + llamaHeader)
				}
			}
			for _, t := range threads {
				var ours []bench.Result
				var theirs []llamaBench
				for range max(rounds, 1) {
					r, err := bench.Measure(m, t, opts)
					if err != nil {
						return err
					}
					ours = append(ours, r)
					if llamaBin != "" {
						ref, err := runLlamaBench(llamaBin, mf.path, t, opts.PrefillTokens, opts.DecodeTokens, llamaReps)
						if err != nil {
							return err
						}
						theirs = append(theirs, ref)
					}
				}
				r := bench.MedianOf(ours)
				results = append(results, r)
				row := r.Row(mf.precisionName(m))
				if llamaBin != "" {
					ref, decode, prefill := pairedMedians(ours, theirs)
					refs = append(refs, ref)
					row += fmt.Sprintf(" %14.2f %9.0f%% %15.1f %8.2f× %8.2f×", ref.DecodeTokensPerS, 100*ref.BandwidthFraction, ref.PrefillTokensPerS, decode, prefill)
				}
				if !asJSON {
					fmt.Println(row)
				}
			}
			if !asJSON {
				return nil
			}
			last := results[len(results)-1]
			out := struct {
				Model string `json:"model"`
				bench.Result
				Format   string         `json:"format"`
				Runs     []bench.Result `json:"runs"`
				LlamaCpp []llamaBench   `json:"llama_cpp,omitempty"`
			}{mf.path, last, mf.precisionName(m), results, refs}
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
	f.StringVar(&llamaBin, "llama-bench", "", "llama.cpp's llama-bench: measure the same file with it at each thread count, beside accel")
	f.IntVar(&llamaReps, "llama-reps", 3, "llama-bench repetitions per round (median reported)")
	f.IntVar(&rounds, "rounds", 1, "rounds per thread count, accel's measurement and llama-bench's alternating (medians reported)")
	f.BoolVar(&noHeader, "no-header", false, "print the rows alone (to append to an earlier table)")
	return cmd
}
