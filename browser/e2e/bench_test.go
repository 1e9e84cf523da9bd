package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ipfs-accelerate/accel/browser"
	"github.com/ipfs-accelerate/accel/inference/generate"
	"github.com/ipfs-accelerate/accel/inference/llama"
	"github.com/ipfs-accelerate/accel/inference/quant"
	"github.com/ipfs-accelerate/accel/internal/daemontest"
)

// Sizes of BenchmarkBrowserVsNode: rounds (each one pin add by a new
// daemon and one page load per transport; medians are quoted), the tokens
// each decode generates, and how many runs of each native decode.
const (
	browserRounds = 3
	decodeTokens  = 32
	nativeRuns    = 3
	decodePrompt  = "Once upon a time"
)

// browserTransports are the ways a page gets blocks, as IPFSAccelerate's
// transports option names them.
var browserTransports = []string{"webtransport", "webrtc-direct", "websocket", "gateway"}

// BenchmarkBrowserVsNode measures, in one run and side by side, the browser
// peer against the node and against wllama (llama.cpp compiled to wasm) in
// the same Chromium, on the ≈307M-parameter synthetic model of `accel
// synth`. It prints the CPU, then two tables (sub-benchmarks load and
// compute, see benchLoad and benchCompute). It runs once whatever b.N:
//
//	go test ./browser/e2e/ -run '^$' -bench BrowserVsNode -benchtime 1x -timeout 30m
func BenchmarkBrowserVsNode(b *testing.B) {
	chromium(b) // skips without Chromium, before the slow setup
	sdk := buildSDK(b)
	b.Setenv(browser.EnvSDKDir, sdk)
	fmt.Printf("CPU: %s, %d cores\n", daemontest.CPUModel(), runtime.NumCPU())
	a := startDaemon(b, newRepo(b))
	b.Run("load", func(b *testing.B) { benchLoad(b, a, sdk) })
	b.Run("compute", func(b *testing.B) { benchCompute(b, a, sdk) })
}

// benchLoad measures the Q4_0 model's load: the throughput of a whole load
// into a fresh Chromium profile over each transport against a pin add by
// a new daemon connected to the serving one a; the runtime's decode
// tokens/s (Go compiled to wasm: one thread, no SIMD) against the native
// engine's on the same file; the runtime's heap after the load; and the
// sizes of the files a page downloads.
func benchLoad(b *testing.B, a *daemontest.Accel, sdk string) {
	file := daemontest.SynthModel(b, accel, "Q4_0")
	fi, err := os.Stat(file)
	if err != nil {
		b.Fatal(err)
	}
	root := strings.TrimSpace(a.Run("add", "-q", file))

	// Rounds, so that the machine's slow and fast moments spread over
	// every way of loading.
	var pins []float64 // seconds
	pages := map[string][]benchPage{}
	for round := range browserRounds {
		pins = append(pins, pinOnNewDaemon(b, a, root).Seconds())
		progress("round %d: pin add by a new daemon %.2fs", round+1, pins[round])
		for _, t := range browserTransports {
			p := loadInPage(b, a, root, t, round == 0)
			pages[t] = append(pages[t], p)
			decoded := ""
			if len(p.Decodes) > 0 {
				decoded = fmt.Sprintf(", decode %.2f tok/s", p.Decodes[0].rate())
			}
			progress("round %d: %s load %.2fs (blocks from %.2fs to %.2fs, %.1f MB), heap %.0f MiB%s",
				round+1, t, p.LoadMs/1e3, p.FirstBlockMs/1e3, p.LastBlockMs/1e3, float64(p.Info.Bytes)/1e6, mib(p.Memory.HeapBytes), decoded)
		}
	}
	dagBytes := pages[browserTransports[0]][0].Info.Bytes
	for _, t := range browserTransports {
		for _, p := range pages[t] {
			if p.Info.Bytes != dagBytes {
				b.Fatalf("%s load fetched %d bytes, another %d", t, p.Info.Bytes, dagBytes)
			}
		}
	}
	mbps := func(seconds float64) float64 { return float64(dagBytes) / 1e6 / seconds }
	node := mbps(median(pins))

	natives := nativeDecodes(b, file, decodePrompt, decodeTokens, nativeSetting{1, true}, nativeSetting{runtime.NumCPU(), true}, nativeSetting{1, false})
	generic := natives[len(natives)-1]
	var wasm, heaps, linear []float64
	for _, t := range browserTransports {
		for i, p := range pages[t] {
			heaps = append(heaps, float64(p.Memory.HeapBytes))
			linear = append(linear, p.Memory.LinearMb)
			if i > 0 {
				continue // decoded in the first round only
			}
			wasm = append(wasm, p.Decodes[0].rate())
			if p.Decodes[0].Text != generic.text {
				progress("%s: the page's greedy text differs from the native generic kernels': %q, native %q", t, p.Decodes[0].Text, generic.text)
			}
		}
	}
	wasmRate := median(wasm)
	weights := pages[browserTransports[0]][0].Memory.ModelBytes

	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "%s (%.0f MiB; DAG %.1f MB), medians of %d\t%9s\t%9s\t%s\n", filepath.Base(file), float64(fi.Size())/(1<<20), float64(dagBytes)/1e6, browserRounds, "browser", "node", "browser/node")
	fmt.Fprintf(tw, "load MB/s: loadModel until loaded (browser), pin add by a new daemon (node)\t\t\t\n")
	for _, t := range browserTransports {
		rate := mbps(medianOf(pages[t], func(p benchPage) float64 { return p.LoadMs / 1e3 }))
		fmt.Fprintf(tw, "  %s\t%9.1f\t%9.1f\t%6.2f×\n", t, rate, node, rate/node)
		b.ReportMetric(rate, t+"-MB/s")
	}
	b.ReportMetric(node, "node-MB/s")
	fmt.Fprintf(tw, "blocks only, MB/s: first block to last\t\t\t\n")
	for _, t := range browserTransports {
		rate := mbps(medianOf(pages[t], func(p benchPage) float64 { return (p.LastBlockMs - p.FirstBlockMs) / 1e3 }))
		fmt.Fprintf(tw, "  %s\t%9.1f\t%9.1f\t%6.2f×\n", t, rate, node, rate/node)
	}
	fmt.Fprintf(tw, "ms to the first block (dial, worker and accel.wasm start, manifest)\t\t\t\n")
	for _, t := range browserTransports {
		fmt.Fprintf(tw, "  %s\t%9.0f\t\t\n", t, medianOf(pages[t], func(p benchPage) float64 { return p.FirstBlockMs }))
	}
	fmt.Fprintf(tw, "ms after the last block (build the model, finish caching)\t\t\t\n")
	for _, t := range browserTransports {
		fmt.Fprintf(tw, "  %s\t%9.0f\t\t\n", t, medianOf(pages[t], func(p benchPage) float64 { return p.LoadMs - p.LastBlockMs }))
	}
	fmt.Fprintf(tw, "decode tok/s, %d greedy tokens, prefill excluded (medians: wasm of %d loads, native of %d runs)\t%9s\t%9s\t%s\n", decodeTokens, len(wasm), nativeRuns, "wasm", "native", "wasm/native")
	for _, n := range natives {
		fmt.Fprintf(tw, "  native %s\t%9.2f\t%9.2f\t%6.3f×\n", n.name, wasmRate, n.decode, wasmRate/n.decode)
	}
	b.ReportMetric(wasmRate, "wasm-tok/s")
	b.ReportMetric(natives[0].decode, "native-1t-tok/s")
	fmt.Fprintf(tw, "memory of the page's runtime, MiB (median of %d loads)\t%9s\t%9s\t%s\n", len(heaps), "wasm", "weights", "wasm/weights")
	fmt.Fprintf(tw, "  Go heap after the load (getMemoryUsage)\t%9.1f\t%9.1f\t%6.2f×\n", median(heaps)/(1<<20), mib(weights), median(heaps)/float64(weights))
	if l := median(linear); l > 0 {
		fmt.Fprintf(tw, "  WebAssembly memory at the last block, before the model is built\t%9.1f\t%9.1f\t%6.2f×\n", l, mib(weights), l*(1<<20)/float64(weights))
	}
	fmt.Fprintf(tw, "files a page downloads, KiB\t%9s\t%9s\t%s\n", "raw", "gzipped", "gzip/raw")
	var raw, packed int64
	for _, f := range bundleFiles(b, sdk) {
		raw, packed = raw+f.raw, packed+f.gzipped
		fmt.Fprintf(tw, "  %s\t%9.1f\t%9.1f\t%6.2f×\n", f.name, kib(f.raw), kib(f.gzipped), float64(f.gzipped)/float64(f.raw))
	}
	fmt.Fprintf(tw, "  total\t%9.1f\t%9.1f\t%6.2f×\n", kib(raw), kib(packed), float64(packed)/float64(raw))
	tw.Flush()
}

// pinOnNewDaemon times a pin add of root by a new daemon connected to src
// (through the new daemon's RPC API, as the CLI does), then stops that
// daemon and deletes its repo.
func pinOnNewDaemon(tb testing.TB, src *daemontest.Accel, root string) time.Duration {
	tb.Helper()
	d := startDaemon(tb, newRepo(tb))
	d.Connect(src)
	start := time.Now()
	d.Run("pin", "add", root)
	took := time.Since(start)
	d.Stop()
	if err := os.RemoveAll(d.Dir); err != nil {
		tb.Fatal(err)
	}
	return took
}

// benchPage is what bench.html's runBench resolves with.
type benchPage struct {
	FirstBlockMs, LastBlockMs, LoadMs float64 // from the loadModel call
	Info                              struct {
		Transport    string
		RemoteLayers []string // layers run by the daemon: none, offload is off
		Bytes        int64
		Requests     int
		Cached       int
		Sources      map[string]int
		Backend      struct {
			Name, Error, Kernels string
			Threads              int
		}
	}
	Memory struct {
		HeapBytes, ModelBytes int64   // the runtime's getMemoryUsage() after the load
		LinearMb              float64 // its WebAssembly memory at the last block (0: not reported)
	}
	Decodes    []decodeRun
	Kernels    *struct{ Tokens, Ms, KernelMs float64 } // the SIMD kernels' part of decode steps
	PageMemory pageMemory                              // after the last generation
}

// decodeRun is one timed greedy generation: the text, the pieces of text
// streamed (one per token), the time to the first (the prompt's forward
// pass and one sample) and from the first to the last.
type decodeRun struct {
	Text            string
	Pieces          int
	FirstMs, SpanMs float64
}

// rate is decode tokens/s: the steps between the first piece and the
// last, each one forward pass and a sample, so prefill is left out.
func (d decodeRun) rate() float64 {
	if d.Pieces < 2 || d.SpanMs <= 0 {
		return 0
	}
	return float64(d.Pieces-1) / (d.SpanMs / 1e3)
}

// prefill is prompt tokens/s for a prompt of n tokens: up to the first
// piece, so one sample is counted in.
func (d decodeRun) prefill(n int) float64 {
	if d.FirstMs <= 0 {
		return 0
	}
	return float64(n) / (d.FirstMs / 1e3)
}

// openBench starts Chromium, with any extra flags, on src's bench.html,
// for at most timeout. The caller ends the browser with chromedp.Cancel.
func openBench(tb testing.TB, src *daemontest.Accel, timeout time.Duration, extra ...chromedp.ExecAllocatorOption) context.Context {
	tb.Helper()
	ctx := newBrowserFor(tb, timeout, extra...)
	url := src.Gateway + "/sdk/bench.html"
	if _, err := chromedp.Run(ctx, chromedp.Navigate(url)); err != nil {
		tb.Fatalf("opening %s: %v", url, err)
	}
	return ctx
}

// loadInPage opens src's bench.html in a fresh Chromium profile (an empty
// block cache), loads root there over transport alone, generates
// decodeTokens tokens if decode is set, and closes the browser.
func loadInPage(tb testing.TB, src *daemontest.Accel, root, transport string, decode bool) benchPage {
	tb.Helper()
	ctx := openBench(tb, src, 3*time.Minute)
	defer chromedp.Cancel(ctx) // the browser and its wasm heap go now, not at the end
	options := `{"transports": [` + jsString(transport) + `]}`
	tokens := 0
	if decode {
		tokens = decodeTokens
	}
	generate := fmt.Sprintf(`{"prompt": %s, "maxTokens": %d}`, jsString(decodePrompt), tokens)
	p, err := chromedp.Run(ctx, chromedp.Evaluate[benchPage](`window.runBench(`+jsString(root)+`, `+options+`, `+generate+`)`, chromedp.EvalAwaitPromise))
	if err != nil {
		tb.Fatalf("bench.html over %s: %v", transport, err)
	}
	over := p.Info.Sources[transport] // block requests over the transport
	if transport == "gateway" {
		over = p.Info.Sources[src.Gateway] // sources name gateways by URL
	}
	if i := p.Info; i.Transport != transport || i.Requests == 0 || i.Cached != 0 || over != i.Requests || i.Bytes == 0 || len(i.RemoteLayers) > 0 {
		tb.Fatalf("load over %s: transport %q, %d bytes, %d block requests by source %v, %d cached blocks, remote layers %v: want every block over %s, all layers in the page",
			transport, i.Transport, i.Bytes, i.Requests, i.Sources, i.Cached, i.RemoteLayers, transport)
	}
	if decode && p.Decodes[0].Pieces != decodeTokens {
		tb.Fatalf("the page generated %d pieces of text, want %d (one per token): %q", p.Decodes[0].Pieces, decodeTokens, p.Decodes[0].Text)
	}
	return p
}

// nativeDecode is the native engine's speed on one setting.
type nativeDecode struct {
	name            string
	prefill, decode float64 // tokens/s, medians of nativeRuns
	promptTokens    int
	text            string
}

// nativeSetting is a thread count and whether the SIMD kernels run.
type nativeSetting struct {
	threads int
	simd    bool
}

// nativeDecodes times the native engine's greedy generation of tokens
// tokens from prompt with file, in this process, on each setting (those
// asking for SIMD kernels skipped where there are none). Each generation
// is timed as the page times its own.
func nativeDecodes(tb testing.TB, file, prompt string, tokens int, settings ...nativeSetting) []nativeDecode {
	tb.Helper()
	m, err := llama.Open(file, llama.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	defer m.Close()
	threads, simd := quant.Threads(), quant.SetSIMD(true)
	defer func() { quant.SetThreads(threads); quant.SetSIMD(simd) }()
	var out []nativeDecode
	for _, s := range settings {
		quant.SetThreads(s.threads)
		quant.SetSIMD(s.simd)
		kernels := quant.SIMD()
		if s.simd && kernels == "generic" {
			continue // no SIMD kernels on this machine
		}
		nd := nativeDecode{name: fmt.Sprintf("%d thread(s), %s kernels", s.threads, kernels)}
		if kernels == "generic" {
			nd.name = fmt.Sprintf("%d thread(s), generic Go kernels (wasm's)", s.threads)
		}
		var runs []decodeRun
		for i := range nativeRuns + 1 { // the first maps the file in: not counted
			d, n := decodeNative(tb, m, prompt, tokens)
			progress("native %s: prefill %.1f tok/s, decode %.2f tok/s", nd.name, d.prefill(n), d.rate())
			if i > 0 {
				runs = append(runs, d)
			}
			nd.text, nd.promptTokens = d.Text, n
		}
		nd.prefill = medianOf(runs, func(d decodeRun) float64 { return d.prefill(nd.promptTokens) })
		nd.decode = medianOf(runs, decodeRun.rate)
		out = append(out, nd)
	}
	return out
}

// decodeNative generates tokens greedy tokens from prompt with m, stamping
// each piece of text as bench.html does, and returns the run with the
// prompt's length in tokens.
func decodeNative(tb testing.TB, m *llama.Model, prompt string, tokens int) (decodeRun, int) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var stamps []time.Time
	var text strings.Builder
	opts := generate.Options{MaxTokens: tokens}
	opts.Sample.Temperature = 0
	start := time.Now()
	st, err := generate.Run(ctx, m, prompt, opts, func(piece string) error {
		stamps = append(stamps, time.Now())
		text.WriteString(strings.ToValidUTF8(piece, "\uFFFD")) // as JS strings hold it
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	if len(stamps) != tokens {
		tb.Fatalf("native decode streamed %d pieces, want %d", len(stamps), tokens)
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1e3 }
	return decodeRun{Text: text.String(), Pieces: len(stamps), FirstMs: ms(stamps[0].Sub(start)), SpanMs: ms(stamps[len(stamps)-1].Sub(stamps[0]))}, st.PromptTokens
}

// bundleFile is one file a page downloads to run the SDK, with its size
// raw and gzipped.
type bundleFile struct {
	name         string
	raw, gzipped int64
}

// bundleFiles sizes the runtime (accel.wasm) and the JS files at the top
// of the SDK directory (the bundled SDK, the worker and what it imports),
// gzipped at level 9 by compress/gzip.
func bundleFiles(tb testing.TB, sdk string) []bundleFile {
	tb.Helper()
	js, err := filepath.Glob(filepath.Join(sdk, "*.js"))
	if err != nil {
		tb.Fatal(err)
	}
	var out []bundleFile
	for _, path := range append([]string{filepath.Join(sdk, "accel.wasm")}, js...) {
		data, err := os.ReadFile(path)
		if err != nil {
			tb.Fatal(err)
		}
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		if _, err := zw.Write(data); err != nil {
			tb.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			tb.Fatal(err)
		}
		out = append(out, bundleFile{filepath.Base(path), int64(len(data)), int64(buf.Len())})
	}
	return out
}

// medianOf is the median of a figure of xs.
func medianOf[T any](xs []T, figure func(T) float64) float64 {
	var fs []float64
	for _, x := range xs {
		fs = append(fs, figure(x))
	}
	return median(fs)
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// progress prints one measurement as the benchmark goes (b.Log keeps
// only a benchmark's first 10 lines).
func progress(format string, args ...any) {
	fmt.Printf("# "+format+"\n", args...)
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }
func kib(n int64) float64 { return float64(n) / (1 << 10) }
