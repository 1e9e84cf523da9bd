package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ipfs-accelerate/accel/browser"
	"github.com/ipfs-accelerate/accel/internal/daemontest"
	"github.com/ipfs-accelerate/accel/loader"
	"github.com/ipfs-accelerate/accel/node"
	"github.com/ipfs-accelerate/accel/rpc"
)

// pageResult is what test.html's runAccel resolves with.
type pageResult struct {
	Text string
	Info struct {
		Transport string         // the libp2p transport, or "gateway"
		Requests  int            // block requests to the network
		Sources   map[string]int // block requests per source (transport or gateway URL)
		Cached    int            // blocks read from the browser cache
		Dropped   []string       // sources dropped for bad bytes or failed requests
		Rejected  []struct {     // blocks whose bytes did not match their CID
			CID, Source string
		}
		Backend struct {
			Name         string // "wasm" or "webgpu"
			Kernels      string // the matrix kernels: "relaxed", "simd128" or "go"
			Threads      int    // the threads they run on
			ThreadsError string // why not as many as asked for
		}
	}
	Viable struct {
		Components   []string // loaded when the model became viable
		RemoteLayers []int    // layers the daemon runs for good
		Backend      struct{ Kernels string }
	}
	Capabilities struct {
		WasmThreads bool                   // the page can run threads
		Uses        struct{ Threads *int } // the threads the kernels run on
	}
	Events []struct {
		Type      string
		Component string
		Fraction  float64
	}
}

// A page served by the daemon loads stories260K by CID over the daemon's
// trustless gateway, verifying every block in the wasm runtime, and
// generates the reference greedy text; progress arrives in critical-path
// order and never goes backwards. After a reload the same load comes whole
// from the browser's verified block cache: no block requests.
func TestBrowserLoadsOverGateway(t *testing.T) {
	ctx := newBrowser(t)
	d, root := sdkDaemon(t)

	gatewayOnly := `{"transports": ["gateway"]}`
	res := runPage(t, ctx, d.Gateway+"/sdk/test.html", root, gatewayOnly)
	if res.Info.Requests == 0 || res.Info.Cached != 0 || res.Info.Transport != "gateway" {
		t.Errorf("first load: %d network requests, %d cached blocks, transport %q", res.Info.Requests, res.Info.Cached, res.Info.Transport)
	}
	again := runPage(t, ctx, d.Gateway+"/sdk/test.html", root, gatewayOnly)
	if again.Info.Requests != 0 || again.Info.Cached == 0 || again.Text != res.Text {
		t.Errorf("reload: %d network requests, %d cached blocks, text %q", again.Info.Requests, again.Info.Cached, again.Text)
	}
	if !strings.HasPrefix(res.Text, daemontest.StoryStart) {
		t.Errorf("the page generated %q", res.Text)
	}
	var loaded []string
	last := -1.0
	for _, e := range res.Events {
		switch e.Type {
		case "progress":
			if e.Fraction < last || e.Fraction > 1 {
				t.Errorf("progress went from %v to %v", last, e.Fraction)
			}
			last = e.Fraction
		case "componentLoaded":
			loaded = append(loaded, e.Component)
		}
	}
	if want := loader.CriticalPath(5); strings.Join(loaded, ",") != strings.Join(want, ",") {
		t.Errorf("components loaded in the order %v, want %v", loaded, want)
	}
	if last != 1 {
		t.Errorf("progress ended at %v", last)
	}
}

// runPage opens url and runs runAccel(root, options...) there (options: a
// JSON object for IPFSAccelerate, then one for loadModel).
func runPage(t *testing.T, ctx context.Context, url, root string, options ...string) pageResult {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("opening the page: %v", err)
	}
	args := jsString(root)
	for _, o := range options {
		args += ", " + o
	}
	res, err := chromedp.Run(ctx, chromedp.Evaluate[pageResult](`window.runAccel(`+args+`)`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("page: %v", err)
	}
	return res
}

// The page's own daemon serves corrupted blocks: the runtime rejects every
// one (never caching it), drops that gateway and gets the blocks from the
// other daemon, and the text is still the reference.
func TestBrowserRejectsCorruptBlocks(t *testing.T) {
	needModels(t)
	ctx := newBrowser(t)
	t.Setenv(browser.EnvSDKDir, buildSDK(t))
	good := startDaemon(t, newRepo(t))
	bad := startDaemon(t, newRepo(t))
	root := daemontest.AddStories(t, accel, good.Dir, models)
	daemontest.AddStories(t, accel, bad.Dir, models)
	bad.Stop()
	daemontest.CorruptBlocks(t, bad.Dir)
	bad = startDaemon(t, bad.Dir)

	gateways, _ := json.Marshal(map[string][]string{"gateway": {bad.Gateway, good.Gateway}, "transports": {"gateway"}})
	res := runPage(t, ctx, bad.Gateway+"/sdk/test.html", root, string(gateways))
	if !strings.HasPrefix(res.Text, daemontest.StoryStart) {
		t.Errorf("the page generated %q", res.Text)
	}
	if len(res.Info.Dropped) != 1 || !strings.HasPrefix(res.Info.Dropped[0], bad.Gateway) {
		t.Errorf("dropped gateways %v, want only %s", res.Info.Dropped, bad.Gateway)
	}
	// Nothing bad was cached: a reload loads from the cache alone.
	again := runPage(t, ctx, bad.Gateway+"/sdk/test.html", root, string(gateways))
	if again.Info.Requests != 0 || again.Text != res.Text {
		t.Errorf("reload: %d network requests, text %q", again.Info.Requests, again.Text)
	}

	// Over libp2p: the page's daemon sends bad blocks (and cannot run
	// layers, its copy being corrupt): the page drops the connection as a
	// block source, gets the blocks from the other daemon's gateway, and
	// runs every layer itself.
	sources, _ := json.Marshal(map[string][]string{"gateway": {good.Gateway}, "transports": {"websocket", "gateway"}})
	p2p := runPage(t, newBrowser(t), bad.Gateway+"/sdk/test.html", root, string(sources))
	if !strings.HasPrefix(p2p.Text, daemontest.StoryStart) {
		t.Errorf("the page generated %q", p2p.Text)
	}
	if !slices.Equal(p2p.Info.Dropped, []string{"websocket"}) || p2p.Info.Sources["websocket"] == 0 || p2p.Info.Sources[good.Gateway+"/"] == 0 {
		t.Errorf("dropped %v, requests by source %v: want websocket dropped for %s", p2p.Info.Dropped, p2p.Info.Sources, good.Gateway)
	}
}

// For each libp2p transport a browser has, a page dials the daemon at an
// address from the daemon's /sdk/bootstrap.json, loads stories260K over the
// bulk block protocol alone (no gateway request) and generates the
// reference text.
func TestBrowserLoadsOverLibp2p(t *testing.T) {
	d, root := sdkDaemon(t)
	for _, transport := range []string{"webtransport", "webrtc-direct", "websocket"} {
		t.Run(transport, func(t *testing.T) {
			ctx := newBrowser(t) // a fresh profile: an empty block cache
			res := runPage(t, ctx, d.Gateway+"/sdk/test.html", root, `{"transports": [`+jsString(transport)+`]}`)
			if !strings.HasPrefix(res.Text, daemontest.StoryStart) {
				t.Errorf("the page generated %q", res.Text)
			}
			if res.Info.Transport != transport || res.Info.Requests == 0 || res.Info.Sources[transport] != res.Info.Requests {
				t.Errorf("transport %q, %d block requests by source %v: want all over %s", res.Info.Transport, res.Info.Requests, res.Info.Sources, transport)
			}
		})
	}
}

// Over libp2p the page generates before the download ends: the model is
// viable once the tokenizer is loaded — before any block of the last layer
// arrives — and the daemon runs what the page does not hold yet over the
// offload protocol (the whole model until the embedding and classifier are
// here, then the layers the page lacks), with the reference text as the
// result, the page's layers on the SIMD kernels. With a memory budget
// below the model, the page never fetches the last layers and the daemon
// runs them for the whole generation; asked for Go's kernels, the page
// runs its layers on them, with the same text.
func TestBrowserMinimumViableModel(t *testing.T) {
	d, root := sdkDaemon(t)
	last := loader.LayerComponent(5 - 1)

	t.Run("viable before the last layer", func(t *testing.T) {
		res := runPage(t, newBrowser(t), d.Gateway+"/sdk/test.html", root, `{"transports": ["websocket"]}`)
		if !strings.HasPrefix(res.Text, daemontest.StoryStart) {
			t.Errorf("the page generated %q", res.Text)
		}
		viable, lastBlock := -1, -1
		for i, e := range res.Events {
			if e.Type == "viable" {
				viable = i
			}
			if e.Type == "progress" && e.Component == last && lastBlock < 0 {
				lastBlock = i
			}
		}
		if viable < 0 || lastBlock < 0 || viable > lastBlock {
			t.Errorf("viable at event %d, the first block of %s at %d: want viable first (events %+v)", viable, last, lastBlock, res.Events)
		}
		if got := strings.Join(res.Viable.Components, ","); got != "tokenizer" {
			t.Errorf("viable with components %s, want the tokenizer alone", got)
		}
		// The kernels' self-test waits for the first token: they are not
		// chosen yet when the model is viable.
		if k := res.Viable.Backend.Kernels; k != "" {
			t.Errorf("viable with the %s kernels chosen: want them chosen after the first token", k)
		}
		if b := res.Info.Backend; b.Name != "wasm" || b.Kernels != "relaxed" && b.Kernels != "simd128" {
			t.Errorf("backend %+v: want wasm on the SIMD kernels", b)
		}
	})

	t.Run("layers over budget stay remote", func(t *testing.T) {
		res := runPage(t, newBrowser(t), d.Gateway+"/sdk/test.html", root, `{"transports": ["websocket"], "maxMemoryUsageMB": 0.6, "kernels": "go"}`)
		if !strings.HasPrefix(res.Text, daemontest.StoryStart) {
			t.Errorf("the page generated %q", res.Text)
		}
		if b := res.Info.Backend; b.Kernels != "go" {
			t.Errorf("backend %+v: want Go's kernels, as asked", b)
		}
		remote := res.Viable.RemoteLayers
		if len(remote) == 0 || len(remote) == 5 || remote[len(remote)-1] != 4 {
			t.Errorf("remote layers %v: want the last few, not none or all", remote)
		}
		for _, e := range res.Events {
			if e.Type == "componentLoaded" && e.Component == last {
				t.Errorf("the page loaded %s, which is over its budget", last)
			}
		}
	})
}

// The model's API beyond generate: capabilities (WebGPU through
// SwiftShader, WebNN's API present but, in Debian's Chromium, no context;
// SIMD and threads offered, the runtime using SIMD — relaxed, its kernels'
// best level, chosen at load — on the default threads, half the cores),
// the backend's kernels, a layer unloaded and then run by the daemon with
// the same text, and a stream aborted mid-way that stops the generation.
func TestBrowserModelAPI(t *testing.T) {
	d, root := sdkDaemon(t)
	ctx := newBrowser(t, chromedp.Flag("enable-unsafe-webgpu", true),
		chromedp.Flag("enable-features", "WebMachineLearningNeuralNetwork"))
	if _, err := chromedp.Run(ctx, chromedp.Navigate(d.Gateway+"/sdk/test.html")); err != nil {
		t.Fatal(err)
	}
	type result struct {
		Capabilities struct {
			WebGPU struct {
				Available bool
				Features  []string
				Limits    map[string]float64
			}
			WebNN struct {
				API       bool
				Available bool
				Error     string
			}
			WasmSimd, WasmThreads bool
			Backend               string
			HardwareConcurrency   int
			Uses                  struct {
				Backend string
				Kernels *string
				SIMD    *bool
				Threads *int
			}
		}
		// The capabilities' uses before the load (the kernels unknown
		// then), and the backend's stats after it.
		UsesBefore struct {
			Kernels *string
			SIMD    *bool
			Threads *int
		}
		Stats struct {
			Kernels string
			Threads int
		}
		Loaded, AfterUnload []string
		Unloaded            string
		Text                string
		Memory              struct{ ModelBytes, WasmBytes, UnloadedBytes float64 }
		Streamed            int
		BadUnload           string
		Again               string
		// Offload sessions on the daemon mid-generation, and once the
		// model is closed.
		SessionsMid, SessionsClosed int
	}
	res, err := chromedp.Run(ctx, chromedp.Evaluate[result](`(async () => {
		const acc = new IPFSAccelerate({ transports: ['websocket'] });
		const usesBefore = { ...(await acc.getCapabilities()).uses };
		const model = await acc.loadModel(`+jsString(root)+`);
		await model.waitForLoad();
		const capabilities = await acc.getCapabilities();
		const stats = await model.getBackendStats();
		const loaded = model.getLoadedComponents();
		const { modelBytes, wasmBytes } = await model.getMemoryUsage();
		const memory = { modelBytes, wasmBytes };
		await model.unloadComponent('layer.2');
		memory.unloadedBytes = (await model.getMemoryUsage()).modelBytes;
		const prompt = 'Once upon a time';
		const text = prompt + await model.generate(prompt, { maxTokens: 64, temperature: 0 });
		const badUnload = await model.unloadComponent('embed').then(() => '', (err) => err.message);
		const abort = new AbortController();
		let streamed = 0;
		try {
			for await (const piece of model.generateStream(prompt, { maxTokens: 200, temperature: 0, signal: abort.signal })) {
				if (++streamed === 5) abort.abort();
			}
		} catch {}
		const again = prompt + await model.generate(prompt, { maxTokens: 64, temperature: 0 });
		// Closing the model mid-generation ends its offload session on the daemon.
		const sessions = async () => (await (await fetch('/dashboard/stats')).json()).sessions.offload;
		const pieces = model.generateStream(prompt, { maxTokens: 200, temperature: 0 })[Symbol.asyncIterator]();
		await pieces.next();
		const sessionsMid = await sessions();
		model.close();
		let sessionsClosed = sessionsMid;
		for (let i = 0; i < 50 && sessionsClosed > 0; i++) {
			await new Promise((r) => setTimeout(r, 100));
			sessionsClosed = await sessions();
		}
		return { capabilities, usesBefore, stats, loaded, afterUnload: model.getLoadedComponents(), text, memory, streamed, badUnload, again, sessionsMid, sessionsClosed };
	})()`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	caps := res.Capabilities
	t.Logf("capabilities: %+v", caps)
	if !caps.WebGPU.Available || caps.WebGPU.Limits["maxStorageBufferBindingSize"] <= 0 || caps.Backend != "wasm" {
		t.Errorf("capabilities %+v: want a WebGPU adapter with its limits, and the wasm backend", caps)
	}
	// Chromium offers SIMD (relaxed SIMD too) and, the page being
	// cross-origin isolated, threads; the runtime uses relaxed SIMD
	// kernels on half the cores (1 to 8), known once the model is loaded.
	threads := min(8, max(1, caps.HardwareConcurrency/2))
	if u := caps.Uses; !caps.WasmSimd || !caps.WasmThreads || u.Backend != "wasm" || u.Kernels == nil || *u.Kernels != "relaxed" ||
		u.SIMD == nil || !*u.SIMD || u.Threads == nil || *u.Threads != threads {
		t.Errorf("capabilities %+v, uses %+v: want SIMD and threads offered, the wasm backend used, relaxed SIMD on %d threads", caps, caps.Uses, threads)
	}
	if u := res.UsesBefore; u.Kernels != nil || u.SIMD != nil || u.Threads != nil {
		t.Errorf("before the load, uses %+v: want the kernels and their threads unknown (null)", u)
	}
	if res.Stats.Kernels != "relaxed" || res.Stats.Threads != threads {
		t.Errorf("backend stats %+v: want the relaxed SIMD kernels on %d threads", res.Stats, threads)
	}
	if !caps.WebNN.API || caps.WebNN.Available && caps.WebNN.Error != "" {
		t.Errorf("WebNN %+v: want navigator.ml, with an error where no context can be made", caps.WebNN)
	}
	if !strings.HasPrefix(res.Text, daemontest.StoryStart) || res.Again != res.Text {
		t.Errorf("with layer.2 unloaded the page generated %q, then %q", res.Text, res.Again)
	}
	if slices.Contains(res.AfterUnload, "layer.2") || len(res.AfterUnload) != len(res.Loaded)-1 {
		t.Errorf("loaded %v, after unloading layer.2 %v", res.Loaded, res.AfterUnload)
	}
	if res.Memory.UnloadedBytes >= res.Memory.ModelBytes {
		t.Errorf("the weights went from %v to %v bytes when a layer was unloaded", res.Memory.ModelBytes, res.Memory.UnloadedBytes)
	}
	if res.Memory.WasmBytes <= res.Memory.ModelBytes {
		t.Errorf("the runtime's WebAssembly memory is %v bytes, less than the %v bytes of weights it holds", res.Memory.WasmBytes, res.Memory.ModelBytes)
	}
	if !strings.Contains(res.BadUnload, "only layers") {
		t.Errorf("unloading the embedding: %q", res.BadUnload)
	}
	if res.Streamed < 5 || res.Streamed > 10 {
		t.Errorf("the aborted stream yielded %d pieces, want it to stop right after the 5th", res.Streamed)
	}
	if res.SessionsMid != 1 || res.SessionsClosed != 0 {
		t.Errorf("offload sessions on the daemon: %d mid-generation, %d after Model.close; want 1, then 0", res.SessionsMid, res.SessionsClosed)
	}
}

// The WebGPU backend, on Chromium's SwiftShader adapter: asked for, it
// passes its checks against the CPU kernels — each format's products, and
// each layer's and the head's resident step — holds the weights on the GPU
// in their stored format (GPU memory within 1.1× their stored size, the
// KV cache apart), runs the whole decode step there, every layer and the
// head in one pass with one readback per token and no product call of its
// own, with no failure, and generates what the WASM backend does — the
// reference text from the f32 model — from models in f32; in f16, bf16,
// Q8_0, Q4_0 and int4g32 (Q4_0's values where rows are not a multiple of
// 32); and mixed (Int 2, 3, 4 and 8 bits, symmetric and not). The GPU adds
// terms in another order, so a near-tie may go the other way late in the
// text: it must match the WASM backend's for as long as the reference
// text. The kernels use the adapter's optional features (subgroups, packed
// 8-bit dot products) where it has them, and run without them too. With
// layers left to the daemon (a memory budget below the model), the page's
// layers run resident and read the hidden state back for the daemon's, and
// the text is the same as with every layer in the page. Left to choose,
// the SDK keeps the WASM backend on a software adapter.
func TestBrowserWebGPUBackend(t *testing.T) {
	d, root := sdkDaemon(t)
	// A browser per model: SwiftShader runs WebGPU on the CPU, slowly, and
	// each browser has its own time limit.
	page := func() context.Context {
		ctx := newBrowser(t, chromedp.Flag("enable-unsafe-webgpu", true))
		if _, err := chromedp.Run(ctx, chromedp.Navigate(d.Gateway+"/sdk/test.html")); err != nil {
			t.Fatal(err)
		}
		return ctx
	}
	ctx := page()
	auto, err := chromedp.Run(ctx, chromedp.Evaluate[struct{ Backend, BackendReason string }](
		`new IPFSAccelerate().getCapabilities()`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	if auto.Backend != "wasm" || !strings.Contains(auto.BackendReason, "software") {
		t.Errorf("left to choose on SwiftShader: %+v, want wasm for a software adapter", auto)
	}
	offered, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`(async () => {
		const adapter = await navigator.gpu.requestAdapter();
		const language = navigator.gpu.wgslLanguageFeatures;
		return [
			adapter.features.has('subgroups') && language.has('subgroup_id') && 'subgroups',
			language.has('packed_4x8_integer_dot_product') && 'packed_4x8_integer_dot_product',
		].filter(Boolean);
	})()`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	chromedp.Cancel(ctx)

	type result struct {
		Info struct {
			Backend struct {
				Name       string
				Check      float64
				Checks     map[string]float64
				StepCheck  float64
				StepChecks map[string]float64
				Features   []string
				Error      string
			}
			RemoteLayers []int
		}
		Text  string
		Ms    float64
		Stats struct {
			Bytes, WeightBytes, KvBytes, Calls, Steps, StepTokens, Readbacks, Failures float64
			ResidentLayers                                                             []int
		}
	}
	const maxTokens = 64
	const layers = 5 // stories260K's
	allLayers := []int{0, 1, 2, 3, 4}
	run := func(ctx context.Context, cid, options string) result {
		t.Helper()
		res, err := chromedp.Run(ctx, chromedp.Evaluate[result](`(async () => {
			const model = await new IPFSAccelerate({ transports: ['websocket'], ...`+options+` }).loadModel(`+jsString(cid)+`);
			const info = await model.waitForLoad();
			const prompt = 'Once upon a time';
			const start = performance.now();
			const text = prompt + await model.generate(prompt, { maxTokens: `+fmt.Sprint(maxTokens)+`, temperature: 0 });
			const ms = performance.now() - start;
			const stats = await model.getBackendStats();
			model.close();
			return { info, text, ms, stats };
		})()`, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	type model struct{ name, root string }
	converted := []model{
		{"f32", root},
		{"f16+bf16+q8_0+q4_0", daemontest.AddStories(t, accel, d.Dir, models, "--precision",
			"role:attention.query/key/value=bf16; role:attention.output=q4_0; role:feed_forward.gate/up=q8_0; role:feed_forward.down=q4_0; default=f16")},
		{"mixed", daemontest.AddStories(t, accel, d.Dir, models, "--precision", "mixed")},
	}
	for _, m := range converted {
		ctx := page()
		wasm := run(ctx, m.root, `{ backend: 'wasm' }`)
		t.Logf("%s on WASM: %.1f tokens/s", m.name, maxTokens*1000/wasm.Ms)
		if m.name == "f32" && !strings.HasPrefix(wasm.Text, daemontest.StoryStart) {
			t.Errorf("f32 on WASM: the page generated %q", wasm.Text)
		}
		features := []bool{true}
		if m.name == "mixed" {
			features = append(features, false)
		}
		for _, features := range features {
			res := run(ctx, m.root, fmt.Sprintf(`{ backend: 'webgpu', webgpuFeatures: %v }`, features))
			b, s := res.Info.Backend, res.Stats
			name := fmt.Sprintf("%s on WebGPU (features %v)", m.name, b.Features)
			t.Logf("%s: %.1f tokens/s; checks %v, steps' %v; %v bytes on the GPU for %v bytes of weights (%.4f×), %v of KV cache; %v steps of %v positions, %v readbacks, %v product calls",
				name, maxTokens*1000/res.Ms, b.Checks, b.StepChecks, s.Bytes, s.WeightBytes, s.Bytes/s.WeightBytes, s.KvBytes, s.Steps, s.StepTokens, s.Readbacks, s.Calls)
			if b.Name != "webgpu" || b.Error != "" || b.Check > 1e-4 || len(b.Checks) == 0 {
				t.Fatalf("%s: backend %+v: want webgpu, every format checked against the CPU kernels", name, b)
			}
			want := offered
			if !features {
				want = nil
			}
			if !slices.Equal(b.Features, want) {
				t.Errorf("%s: want the features %v", name, want)
			}
			if res.Text != wasm.Text {
				same := 0
				for same < min(len(res.Text), len(wasm.Text)) && res.Text[same] == wasm.Text[same] {
					same++
				}
				t.Logf("%s generated %q, WASM %q: the same for %d bytes", name, res.Text, wasm.Text, same)
				if same < len(daemontest.StoryStart) {
					t.Errorf("%s: the text parts from the WASM backend's after %d bytes, before the %d of the reference", name, same, len(daemontest.StoryStart))
				}
			}
			if s.Failures != 0 || s.WeightBytes == 0 || s.Bytes > 1.1*s.WeightBytes || s.KvBytes == 0 {
				t.Errorf("%s: stats %+v: want none failed, GPU memory within 1.1× the weights, a KV cache on the GPU", name, s)
			}
			if b.StepCheck > 1e-3 || len(b.StepChecks) != layers+1 || !slices.Equal(s.ResidentLayers, allLayers) ||
				s.Steps < maxTokens || s.Readbacks != s.Steps || s.Calls != 0 {
				t.Errorf("%s: step checks %v, stats %+v: want every layer and the head resident, one readback a step, no product call", name, b.StepChecks, s)
			}
			if m.name != "f32" {
				continue
			}
			// Layers left to the daemon: the page's run resident, reading the
			// hidden state back for the daemon's; the head follows on the
			// CPU path, its product on the GPU.
			split := run(ctx, m.root, `{ backend: 'webgpu', maxMemoryUsageMB: 0.6 }`)
			s = split.Stats
			t.Logf("f32 on WebGPU, layers %v on the daemon: %.1f tokens/s; stats %+v", split.Info.RemoteLayers, maxTokens*1000/split.Ms, s)
			if len(split.Info.RemoteLayers) == 0 || split.Info.Backend.Error != "" || split.Text != res.Text {
				t.Errorf("f32 on WebGPU, layers %v on the daemon (backend %+v): the page generated %q, with every layer local %q",
					split.Info.RemoteLayers, split.Info.Backend, split.Text, res.Text)
			}
			if len(s.ResidentLayers) != layers-len(split.Info.RemoteLayers) || s.Steps < maxTokens || s.Readbacks != s.Steps+s.Calls || s.Failures != 0 {
				t.Errorf("f32 on WebGPU, layers on the daemon: stats %+v: want the page's layers resident, one readback a step and one a product call", s)
			}
		}
		chromedp.Cancel(ctx)
	}
}

// A generation whose peer drops the page mid-way goes on: the page dials
// the daemon again, runs the token history on a new offload session, and
// the text is the same as a generation with no failure. With the daemon
// gone for good and a layer the page does not hold, a generation fails.
func TestBrowserOffloadFailover(t *testing.T) {
	d, root := sdkDaemon(t)
	api, err := rpc.NewClient(d.WaitFile(node.APIFile), "") // on loopback: no token
	if err != nil {
		t.Fatal(err)
	}
	ctx := newBrowser(t)
	if _, err := chromedp.Run(ctx, chromedp.Navigate(d.Gateway+"/sdk/test.html")); err != nil {
		t.Fatal(err)
	}
	type result struct {
		Failed, Again string
		Pieces        []float64 // when each piece of the failed-over generation came, in Unix ms
		err           error
	}
	page := make(chan result, 1)
	go func() {
		// Layer 2 unloaded, the daemon runs it for the whole generation;
		// the Go side drops the connection once the first generation has
		// written a few pieces, then the second one runs undisturbed.
		res, err := chromedp.Run(ctx, chromedp.Evaluate[result](`(async () => {
			const acc = new IPFSAccelerate({ transports: ['websocket'] });
			const model = await acc.loadModel(`+jsString(root)+`);
			window.failoverModel = model;
			await model.waitForLoad();
			await model.unloadComponent('layer.2');
			const prompt = 'Once upon a time';
			const opts = { maxTokens: 400, temperature: 0 };
			let failed = prompt;
			const pieces = [];
			for await (const piece of model.generateStream(prompt, opts)) {
				failed += piece;
				pieces.push(Date.now());
				window.generatedPieces = pieces.length;
			}
			const again = prompt + await model.generate(prompt, opts);
			return { failed, again, pieces };
		})()`, chromedp.EvalAwaitPromise))
		res.err = err
		page <- res
	}()

	generated := func() int {
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int]("window.generatedPieces ?? 0"))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	bg := context.Background()
	for deadline := time.Now().Add(2 * time.Minute); generated() < 5; time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the page generated no 5 pieces in 2 minutes")
		}
	}
	peers, err := api.SwarmPeers(bg)
	if err != nil || len(peers) != 1 {
		t.Fatalf("the daemon's peers: %v, %v; want the page alone", peers, err)
	}
	if err := api.SwarmDisconnect(bg, "/p2p/"+peers[0].Peer); err != nil {
		t.Fatal(err)
	}
	dropped := time.Now().UnixMilli()

	res := <-page
	if res.err != nil {
		t.Fatal(res.err)
	}
	if !strings.HasPrefix(res.Failed, daemontest.StoryStart) || res.Failed != res.Again {
		t.Errorf("the generation that failed over wrote %q,\nthe one after it %q", res.Failed, res.Again)
	}
	after := 0
	for _, p := range res.Pieces {
		if p > float64(dropped) {
			after++
		}
	}
	t.Logf("%d of %d pieces came after the daemon dropped the page", after, len(res.Pieces))
	if after == 0 || after == len(res.Pieces) {
		t.Errorf("the daemon dropped the page at %d ms, not mid-generation (pieces at %v)", dropped, res.Pieces)
	}
	if peers, err := api.SwarmPeers(bg); err != nil || len(peers) != 1 || peers[0].Transport != "websocket" {
		t.Errorf("the daemon's peers after the generations: %+v, %v; want the page, dialled again", peers, err)
	}

	// With the daemon gone for good, the page cannot run layer 2 anywhere:
	// the generation fails, with the reason, once its tries are over.
	d.Kill()
	start := time.Now()
	msg, err := chromedp.Run(ctx, chromedp.Evaluate[string](`window.failoverModel.generate('Once upon a time', { maxTokens: 50, temperature: 0 }).then(
		(text) => 'generated ' + JSON.stringify(text), (err) => err.message)`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("with the daemon gone, after %s: %s", time.Since(start).Round(time.Millisecond), msg)
	if !strings.Contains(msg, "offloaded layers [2, 3)") || !strings.Contains(msg, "dialling it again") {
		t.Errorf("a generation with no daemon to run layer 2: %q, want the offload failure", msg)
	}
}
