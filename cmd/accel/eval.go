package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/ipfs-accelerate/accel/inference/eval"
	"github.com/ipfs-accelerate/accel/inference/llama"
	"github.com/ipfs-accelerate/accel/inference/quant"
)

func evalCmd() *cobra.Command {
	var (
		mf        modelFlags
		positions int
		seqLen    int
		seed      uint64
		plans     []string
		files     []string
	)
	cmd := &cobra.Command{
		Use:   "eval --model PATH [--tokenizer PATH] [--plans P,...] [--files F,...]",
		Short: "Measure each precision's KL divergence and top-1 agreement against f32",
		Long: `Samples text from the float32 model (temperature 1, seeded), then for each
precision plan loads the model converted to it and reports bits per weight,
model bytes, the mean KL divergence KL(P_f32 ‖ P_plan) of next-token
distributions, top-1 agreement and the perplexity of the sampled text.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if mf.precision != "" {
				return fmt.Errorf("eval compares many precisions: use --plans, not --precision")
			}
			ref, err := mf.load()
			if err != nil {
				return err
			}
			defer ref.Close()
			sample, err := eval.NewReference(ref, positions, seqLen, seed)
			if err != nil {
				return err
			}
			if len(plans) == 0 {
				plans = defaultEvalPlans()
			}
			fmt.Printf("%s: %d positions of text sampled from f32 (seed %d)\n\n", mf.path, sample.Positions(), seed)
			tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintln(tw, "precision\tbits/weight\tmodel bytes\tKL (nats)\ttop-1\tppl\t")
			row := func(name string, m *llama.Model) error {
				s, err := eval.Compare(sample, m)
				if err != nil {
					return err
				}
				bytes, params := m.Size()
				fmt.Fprintf(tw, "%s\t%.2f\t%d\t%.5f\t%.1f%%\t%.3f\t\n", name, float64(8*bytes)/float64(params), bytes, s.KL, 100*s.Top1, s.Perplexity)
				return nil
			}
			if err := row("f32", ref); err != nil {
				return err
			}
			for _, p := range plans {
				name, rtn := strings.CutSuffix(p, "/rtn")
				plan, err := loadPlanFor(name, mf.path, mf.tokenizer)
				if err != nil {
					return err
				}
				m, err := llama.Open(mf.path, llama.Options{Tokenizer: mf.tokenizer, Precision: plan, Quantize: quant.Options{RTN: rtn}})
				if err != nil {
					return fmt.Errorf("plan %q: %w", p, err)
				}
				err = row(p, m)
				m.Close()
				if err != nil {
					return err
				}
			}
			for _, f := range files {
				m, err := llama.Open(f, llama.Options{Tokenizer: mf.tokenizer})
				if err != nil {
					return fmt.Errorf("%s: %w", f, err)
				}
				err = row(filepath.Base(f), m)
				m.Close()
				if err != nil {
					return err
				}
			}
			return tw.Flush()
		},
	}
	mf.register(cmd)
	f := cmd.Flags()
	f.IntVar(&positions, "positions", 1024, "next-token positions to compare (at least)")
	f.IntVar(&seqLen, "seq-len", 256, "tokens per sampled sequence")
	f.Uint64Var(&seed, "seed", 1, "sampling seed of the reference text")
	f.StringSliceVar(&plans, "plans", nil, "precision plans to compare; a /rtn suffix quantizes with plain round-to-nearest scales instead of the error-minimizing search (default: the presets, RTN at 2–4 bits, then every Int width × group × symmetry)")
	f.StringSliceVar(&files, "files", nil, "model files of the same model to compare as stored, after the plans (GGUF files another quantizer wrote, say)")
	return cmd
}

// defaultEvalPlans are the presets, the same with round-to-nearest scales
// where the scale search applies, the GGUF block formats, then each Int
// width at group sizes 32…256, symmetric and asymmetric.
func defaultEvalPlans() []string {
	plans := []string{"f16", "bf16", "q8_0", "q4_0", "q8", "q4", "q4/rtn", "q3", "q3/rtn", "q2", "q2/rtn", "mixed", "mixed/rtn"}
	for _, bits := range []int{8, 4, 3, 2} {
		for _, group := range []int{32, 64, 128, 256} {
			for _, asym := range []bool{false, true} {
				plans = append(plans, quant.Format{Kind: quant.Int, Bits: bits, Group: group, Asym: asym}.String())
			}
		}
	}
	return plans
}
