package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"

	"github.com/ipfs-accelerate/accel/inference/bench"
)

// llamaBench is llama.cpp's figures for one model file at one thread
// count, measured by its llama-bench: medians over its repetitions.
type llamaBench struct {
	DecodeTokensPerS  float64 `json:"decode_tokens_per_s"`
	PrefillTokensPerS float64 `json:"prefill_tokens_per_s"`
	// BandwidthFraction is the weight bytes its decode streams per second
	// over the memory read bandwidth accel measured in the same round
	// (set by pairedMedians).
	BandwidthFraction float64 `json:"bandwidth_fraction,omitempty"`
}

// pairedMedians sums up rounds of accel's figures (ours) and llama.cpp's
// (theirs, measured right after each of ours): llama.cpp's medians (its
// share of the memory bandwidth taken round by round), and the medians of
// each round's ratios ours/theirs for decode and prefill.
func pairedMedians(ours []bench.Result, theirs []llamaBench) (ref llamaBench, decode, prefill float64) {
	n := len(theirs)
	dec, pre, refDec, refPre, refMem := make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
	for i, t := range theirs {
		refDec[i], refPre[i] = t.DecodeTokensPerS, t.PrefillTokensPerS
		dec[i], pre[i] = ours[i].DecodeTokensPerS/t.DecodeTokensPerS, ours[i].PrefillTokensPerS/t.PrefillTokensPerS
		refMem[i] = t.DecodeTokensPerS * float64(ours[i].WeightBytes) / ours[i].MemoryReadBytesPerS
	}
	ref = llamaBench{DecodeTokensPerS: bench.Median(refDec), PrefillTokensPerS: bench.Median(refPre), BandwidthFraction: bench.Median(refMem)}
	return ref, bench.Median(dec), bench.Median(pre)
}

// runLlamaBench runs bin (llama-bench) on model with threads threads: a
// prompt of prompt tokens (pp) and gen decoded tokens (tg), reps times each.
func runLlamaBench(bin, model string, threads, prompt, gen, reps int) (llamaBench, error) {
	cmd := exec.Command(bin, "-m", model, "-t", strconv.Itoa(threads), "-p", strconv.Itoa(prompt),
		"-n", strconv.Itoa(gen), "-r", strconv.Itoa(reps), "-o", "json")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return llamaBench{}, fmt.Errorf("%s: %v: %s", bin, err, lastLine(stderr.String()))
	}
	var tests []struct {
		NPrompt   int       `json:"n_prompt"`
		NGen      int       `json:"n_gen"`
		SamplesTS []float64 `json:"samples_ts"`
	}
	if err := json.Unmarshal(out, &tests); err != nil {
		return llamaBench{}, fmt.Errorf("%s: reading its JSON: %v", bin, err)
	}
	var r llamaBench
	for _, t := range tests {
		if len(t.SamplesTS) == 0 {
			continue
		}
		switch {
		case t.NPrompt > 0 && t.NGen == 0:
			r.PrefillTokensPerS = bench.Median(t.SamplesTS)
		case t.NGen > 0 && t.NPrompt == 0:
			r.DecodeTokensPerS = bench.Median(t.SamplesTS)
		}
	}
	if r.PrefillTokensPerS == 0 || r.DecodeTokensPerS == 0 {
		return r, fmt.Errorf("%s printed no pp%d or tg%d figures", bin, prompt, gen)
	}
	return r, nil
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// cpuModel is the processor's model name (from /proc/cpuinfo where there
// is one) and its number of logical cores.
func cpuModel() string {
	name := runtime.GOARCH
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		defer f.Close()
		s := bufio.NewScanner(f)
		for s.Scan() {
			if k, v, ok := strings.Cut(s.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				name = strings.TrimSpace(v)
				break
			}
		}
	}
	return fmt.Sprintf("%s, %d cores", name, runtime.NumCPU())
}
