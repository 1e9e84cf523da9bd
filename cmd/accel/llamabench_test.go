package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/ipfs-accelerate/accel/inference/bench"
)

// TestRunLlamaBench reads llama-bench's JSON (a stand-in script prints
// it): the medians of the pp and tg samples.
func TestRunLlamaBench(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "llama-bench")
	script := `#!/bin/sh
cat <<'JSON'
[{"n_prompt": 512, "n_gen": 0, "samples_ts": [100, 300, 200]},
 {"n_prompt": 0, "n_gen": 40, "samples_ts": [10, 30]}]
JSON
`
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	r, err := runLlamaBench(bin, "model.gguf", 2, 512, 40, 3)
	if err != nil {
		t.Fatal(err)
	}
	if r.PrefillTokensPerS != 200 || r.DecodeTokensPerS != 20 {
		t.Fatalf("got %+v, want prefill 200 and decode 20", r)
	}
	if err := os.WriteFile(bin, []byte("#!/bin/sh\necho '[]'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := runLlamaBench(bin, "model.gguf", 1, 512, 40, 3); err == nil {
		t.Fatal("no figures accepted")
	}
}

// TestPairedMedians: llama.cpp's figures are medians over the rounds, and
// each ratio the median of the rounds' own ratios (not the ratio of the
// medians: a slow round slows both sides).
func TestPairedMedians(t *testing.T) {
	ours := []bench.Result{
		{DecodeTokensPerS: 10, PrefillTokensPerS: 100, WeightBytes: 1e9, MemoryReadBytesPerS: 20e9},
		{DecodeTokensPerS: 20, PrefillTokensPerS: 300, WeightBytes: 1e9, MemoryReadBytesPerS: 25e9},
		{DecodeTokensPerS: 40, PrefillTokensPerS: 90, WeightBytes: 1e9, MemoryReadBytesPerS: 100e9},
	}
	theirs := []llamaBench{{DecodeTokensPerS: 10, PrefillTokensPerS: 200}, {DecodeTokensPerS: 10, PrefillTokensPerS: 100}, {DecodeTokensPerS: 40, PrefillTokensPerS: 300}}
	ref, decode, prefill := pairedMedians(ours, theirs)
	if ref.DecodeTokensPerS != 10 || ref.PrefillTokensPerS != 200 {
		t.Errorf("llama.cpp's medians %+v, want decode 10 and prefill 200", ref)
	}
	// llama.cpp's decode streams 10, 10 and 40 GB/s against 20, 25 and 100.
	if ref.BandwidthFraction != 0.4 {
		t.Errorf("llama.cpp's share of the bandwidth %v, want the median of 0.5, 0.4 and 0.4", ref.BandwidthFraction)
	}
	// Decode ratios 1, 2, 1; prefill 0.5, 3, 0.3.
	if decode != 1 || prefill != 0.5 {
		t.Errorf("ratios decode %v, prefill %v: want 1 and 0.5", decode, prefill)
	}
}
