package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ipfs-accelerate/accel/internal/daemontest"
)

// Sizes of the compute comparison: one prompt of promptTokens tokens for
// every engine, computeTokens greedy tokens after it, computeRuns runs of
// each (medians quoted) but the slowest: on the software WebGPU adapter,
// one run of webgpuTokens after a prompt of as many tokens.
const (
	promptTokens  = 128
	computeTokens = 64
	computeRuns   = 3
	webgpuTokens  = 16
)

// computeFormats are the GGUF types the compute comparison runs.
var computeFormats = []string{"Q4_0", "Q8_0"}

// wllamaDir is the package of wllama (llama.cpp compiled to wasm), a dev
// dependency of the JS SDK.
const wllamaDir = "../js/node_modules/@wllama/wllama/esm"

// computePrompt is n tokens for accel's tokenizer and llama.cpp's alike:
// BOS, then single letters, each one token ("▁a") in the synthetic model's
// vocabulary. Both counts are checked.
func computePrompt(n int) string {
	words := make([]string, n-1)
	for i := range words {
		words[i] = string(rune('a' + i%26))
	}
	return strings.Join(words, " ")
}

// engineRow is one engine's medians: prompt and decode tokens/s.
type engineRow struct {
	name            string
	prefill, decode float64
}

// memoryRow is what one page held after generating, and the weights.
type memoryRow struct {
	name    string
	mem     pageMemory
	weights int64
}

// pageMemory is what bench.html's pageMemory resolves with.
type pageMemory struct {
	Bytes  int64
	Method string
}

// wllamaPage is what bench.html's runWllama resolves with.
type wllamaPage struct {
	Multithread bool
	Threads     int
	LoadMs      float64
	Decodes     []wllamaRun
	PageMemory  pageMemory
}

// wllamaRun is one of wllama's generations as the page timed it, with
// llama.cpp's own timings: the prompt's tokens and those taken from its
// cache, the time to the first token, then the tokens generated and the
// time from the first to the last.
type wllamaRun struct {
	decodeRun
	Timings struct {
		PromptN     int     `json:"prompt_n"`
		CacheN      int     `json:"cache_n"`
		PromptMs    float64 `json:"prompt_ms"`
		PredictedN  int     `json:"predicted_n"`
		PredictedMs float64 `json:"predicted_ms"`
	}
}

// benchCompute compares, with one prompt, on the synthetic model in each
// of computeFormats: the page's prefill and decode tokens/s (WASM backend)
// against wllama's in the same Chromium at 1 and 2 threads and against the
// native engine's; the memory each page holds against the weights; and, on
// Q4_0, the page's WebGPU backend on Chromium's software adapter against
// its WASM backend.
func benchCompute(b *testing.B, a *daemontest.Accel, sdk string) {
	prompt := computePrompt(promptTokens)
	linkInto(b, filepath.Join(sdk, "wllama"), filepath.Join(wllamaDir, "index.js"), filepath.Join(wllamaDir, "wasm", "wllama.wasm"))
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "compute: %d-token prompt, %d greedy tokens; medians of %d runs\t%9s\t%9s\t%s\t%s\n", promptTokens, computeTokens, computeRuns, "prefill", "decode", "accel/wllama", "accel/wllama")
	fmt.Fprintf(tw, "tok/s; accel/wllama: the accel page's figure over wllama's at the same threads, prefill then decode\t\t\t\t\n")
	var memory []memoryRow
	var shares []string
	var q4 engineRow
	var q4root string
	for _, typ := range computeFormats {
		file := daemontest.SynthModel(b, accel, typ)
		root := strings.TrimSpace(a.Run("add", "-q", file))
		linkInto(b, filepath.Join(sdk, "models"), file)
		url := "models/" + filepath.Base(file)

		var rows []engineRow
		var weights int64
		var llamaTokens, accelTokens int // the prompt's length to each tokenizer
		for _, threads := range []int{1, 2} {
			p := computeInPage(b, a, root, "wasm", prompt, promptTokens, computeTokens, computeRuns, threads)
			weights = p.Memory.ModelBytes
			page := engineRow{
				fmt.Sprintf("accel page, WASM kernels, %d thread(s)", threads),
				medianOf(p.Decodes, func(d decodeRun) float64 { return d.prefill(promptTokens) }),
				medianOf(p.Decodes, decodeRun.rate),
			}
			memory = append(memory, memoryRow{fmt.Sprintf("accel page %s, %d thread(s)", typ, threads), p.PageMemory, weights})
			u := p.Kernels
			shares = append(shares, fmt.Sprintf("  %s %s\t%.0f\t%.1f\t%.1f\t%.1f%%\n", page.name, typ, u.Tokens, u.Ms/u.Tokens, (u.Ms-u.KernelMs)/u.Tokens, 100*(1-u.KernelMs/u.Ms)))
			w := wllamaInPage(b, a, url, threads, prompt)
			llamaTokens = w.Decodes[0].Timings.PromptN
			rows = append(rows, page, engineRow{
				fmt.Sprintf("wllama, %d thread(s) (isMultithread %v)", w.Threads, w.Multithread),
				medianOf(w.Decodes, func(d wllamaRun) float64 { return d.prefill(promptTokens) }),
				medianOf(w.Decodes, func(d wllamaRun) float64 { return d.rate() }),
			})
			memory = append(memory, memoryRow{fmt.Sprintf("wllama %s, %d thread(s)", typ, threads), w.PageMemory, weights})
			if typ == "Q4_0" && threads == 2 {
				q4, q4root = page, root
			}
		}
		for _, n := range nativeDecodes(b, file, prompt, computeTokens, nativeSetting{1, true}, nativeSetting{2, true}) {
			if accelTokens = n.promptTokens; accelTokens != promptTokens {
				b.Fatalf("accel's tokenizer makes %d tokens of the prompt, want %d", accelTokens, promptTokens)
			}
			rows = append(rows, engineRow{"native accel, " + n.name, n.prefill, n.decode})
		}
		fmt.Fprintf(tw, "%s (%.0f MiB of weights; prompt tokens: %d to accel, %d to llama.cpp)\t\t\t\t\n", filepath.Base(file), mib(weights), accelTokens, llamaTokens)
		for i, r := range rows {
			if i == 1 || i == 3 { // wllama, beside the accel page at its threads
				page := rows[i-1]
				fmt.Fprintf(tw, "  %s\t%9.1f\t%9.2f\t%8.3f×\t%8.3f×\n", r.name, r.prefill, r.decode, page.prefill/r.prefill, page.decode/r.decode)
				continue
			}
			fmt.Fprintf(tw, "  %s\t%9.1f\t%9.2f\t\t\n", r.name, r.prefill, r.decode)
		}
	}
	fmt.Fprintf(tw, "outside the kernels: %d decode steps after the prompt\t%s\t%s\t%s\t%s\n", computeTokens, "tokens", "ms/token", "outside", "share")
	fmt.Fprintf(tw, "  (the runtime's Go: norms, RoPE, softmax, SwiGLU, residuals, sampling, messages)\t\t\t\t\n")
	for _, s := range shares {
		fmt.Fprint(tw, s)
	}
	if q4root != "" {
		p := computeInPage(b, a, q4root, "webgpu", computePrompt(webgpuTokens), webgpuTokens, webgpuTokens, 1, 1, chromedp.Flag("enable-unsafe-webgpu", true))
		gpu := p.Decodes[0].rate()
		fmt.Fprintf(tw, "WebGPU on SwiftShader (software only: no GPU here), Q4_0, 1 run of %d tokens\t\t%9s\t\t%s\n", webgpuTokens, "decode", "gpu/wasm")
		fmt.Fprintf(tw, "  accel page, WebGPU backend, against its WASM backend above\t\t%9.2f\t\t%8.3f×\n", gpu, gpu/q4.decode)
	}
	fmt.Fprintf(tw, "page memory after generating, MiB\t%9s\t%9s\t%s\t\n", "page", "weights", "page/weights")
	for _, m := range memory {
		fmt.Fprintf(tw, "  %s (%s)\t%9.1f\t%9.1f\t%8.2f×\t\n", m.name, m.mem.Method, mib(m.mem.Bytes), mib(m.weights), float64(m.mem.Bytes)/float64(m.weights))
	}
	tw.Flush()
}

// computeInPage loads root in a fresh Chromium, with any extra flags, on
// backend ("wasm" or "webgpu") over the gateway, generates tokens tokens
// from prompt (of promptLen tokens) runs times, and returns the page's
// figures.
func computeInPage(tb testing.TB, src *daemontest.Accel, root, backend, prompt string, promptLen, tokens, runs, threads int, extra ...chromedp.ExecAllocatorOption) benchPage {
	tb.Helper()
	ctx := openBench(tb, src, 15*time.Minute, extra...)
	defer chromedp.Cancel(ctx)
	options := fmt.Sprintf(`{"transports": ["gateway"], "backend": %s}`, jsString(backend))
	generate := fmt.Sprintf(`{"prompt": %s, "maxTokens": %d, "runs": %d, "threads": %d}`, jsString(prompt), tokens, runs, threads)
	p, err := chromedp.Run(ctx, chromedp.Evaluate[benchPage](`window.runBench(`+jsString(root)+`, `+options+`, `+generate+`)`, chromedp.EvalAwaitPromise))
	if err != nil {
		tb.Fatalf("bench.html on %s: %v", backend, err)
	}
	if b := p.Info.Backend; b.Name != backend || backend == "wasm" && (b.Threads != threads || b.Kernels == "go") {
		tb.Fatalf("the page runs on %+v, want %s with SIMD kernels on %d thread(s)", b, backend, threads)
	}
	for _, d := range p.Decodes {
		progress("accel page, %s, %d thread(s): prefill %.1f tok/s, decode %.2f tok/s", backend, threads, d.prefill(promptLen), d.rate())
		if d.Pieces != tokens {
			tb.Fatalf("the page generated %d pieces of text, want %d (one per token): %q", d.Pieces, tokens, d.Text)
		}
	}
	return p
}

// wllamaInPage runs wllama in a fresh Chromium on src's bench.html: it
// loads the GGUF file at url (relative to the page) on the CPU with
// threads threads and generates computeTokens tokens from prompt
// computeRuns times.
func wllamaInPage(tb testing.TB, src *daemontest.Accel, url string, threads int, prompt string) wllamaPage {
	tb.Helper()
	args := fmt.Sprintf(`{"threads": %d, "prompt": %s, "maxTokens": %d, "runs": %d}`, threads, jsString(prompt), computeTokens, computeRuns)
	w := inFreshPage[wllamaPage](tb, src, 5*time.Minute, fmt.Sprintf("wllama at %d thread(s)", threads), `window.runWllama(`+jsString(url)+`, `+args+`)`)
	if w.Threads != threads || w.Multithread != (threads > 1) {
		tb.Fatalf("wllama runs %d thread(s), multithread %v; want %d", w.Threads, w.Multithread, threads)
	}
	for _, d := range w.Decodes {
		t := d.Timings
		progress("wllama, %d thread(s): prefill %.1f tok/s, decode %.2f tok/s (llama.cpp's timings: %d prompt tokens, %d cached, %.1f tok/s; %d tokens, %.2f tok/s)",
			threads, d.prefill(promptTokens), d.rate(), t.PromptN, t.CacheN, float64(t.PromptN)/(t.PromptMs/1e3), t.PredictedN, float64(t.PredictedN-1)/(t.PredictedMs/1e3))
		if d.Pieces != computeTokens || t.PromptN != promptTokens || t.CacheN != 0 {
			tb.Fatalf("wllama generated %d pieces of text from %d prompt tokens (%d cached), want %d from %d (none cached)", d.Pieces, t.PromptN, t.CacheN, computeTokens, promptTokens)
		}
	}
	return w
}

// linkInto makes dir and links each of files into it by name.
func linkInto(tb testing.TB, dir string, files ...string) {
	tb.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	for _, f := range files {
		abs, err := filepath.Abs(f)
		if err != nil {
			tb.Fatal(err)
		}
		link := filepath.Join(dir, filepath.Base(f))
		os.Remove(link)
		if err := os.Symlink(abs, link); err != nil {
			tb.Fatal(err)
		}
	}
}
