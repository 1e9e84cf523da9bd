//go:build js && wasm

// Command wasm is the accel browser runtime: the project's inference code
// compiled with GOOS=js GOARCH=wasm. It registers a global accelRuntime
// object whose methods load a model DAG through JS functions — inner nodes
// block by block, each component's leaves in one call — verifying every
// block against its CID, and generate
// text with the same code path as `accel run`, running the layers not
// loaded yet on a peer over the offload protocol:
//
//	accelRuntime.loadModel(cid, {fetchBlock, fetchLeaves, onVerified, digest, onComponentLoaded, onViable, peer, gpu, kernels, threads, maxLocalBytes})
//	  → Promise<{components, remoteLayers, bytes, architecture, backend}>
//	  fetchBlock(cid, info) → Promise<Uint8Array>; onVerified(cid, bytes, info)
//	  fetchLeaves(info, [{cid, size, offsets}], dst, digest) → Promise<{digests, sizes}>
//	  peer: {open(protocol) → Promise<handle>, exchange(handle, Uint8Array) → Promise<Uint8Array>, close(handle)}
//	accelRuntime.generate(prompt, {maxTokens, temperature, topP, topK, repetitionPenalty, stopSequences, seed}, onToken) → Promise<string>
//	accelRuntime.memoryUsage() → {heapBytes, arenaBytes, modelBytes}
//	accelRuntime.unloadComponent(name) → Promise<void>
//	accelRuntime.backendStats() → {kernels, threads, kernelCalls, kernelMs, bytes?, weightBytes?, kvBytes?, scratchBytes?, calls?, steps?, stepTokens?, readbacks?, residentLayers?, failures?, lastError?} | null
//
// Methods that take time return a Promise and run on their own goroutine,
// so the JS event loop is never blocked.
package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"syscall/js"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/ipfs-accelerate/accel/browser/kern"
	"github.com/ipfs-accelerate/accel/inference/generate"
	"github.com/ipfs-accelerate/accel/inference/llama"
	"github.com/ipfs-accelerate/accel/inference/quant"
	"github.com/ipfs-accelerate/accel/loader"
)

// gcPercent is the runtime's GOGC. The weights dominate its heap, and Go's
// default (100) lets garbage grow as large as everything live before a
// collection: a page would come to hold the model twice. The weights hold
// no pointers, so a collection costs little whatever their size.
const gcPercent = 10

func main() {
	debug.SetGCPercent(gcPercent)
	e := &engine{}
	js.Global().Set("accelRuntime", js.ValueOf(map[string]any{
		"loadModel":       js.FuncOf(e.loadModel),
		"generate":        js.FuncOf(e.generate),
		"memoryUsage":     js.FuncOf(e.memoryUsage),
		"unloadComponent": js.FuncOf(e.unloadComponent),
		"backendStats":    js.FuncOf(e.backendStats),
	}))
	select {}
}

// engine holds the model the runtime generates with: the last one loaded,
// which may still lack layers that a peer runs meanwhile.
type engine struct {
	mu         sync.Mutex
	model      *llama.Model
	manifest   *loader.Manifest
	root       cid.Cid
	peer       js.Value   // the page's libp2p connection (undefined: none)
	modelBytes int64      // the weights held locally
	generating int        // generations running
	gpu        *gpuDevice // the WebGPU backend, when the load uses it (nil: WASM)
	kernels    string     // the matrix kernels: 'relaxed', 'simd128' or 'go'

	device  *kern.Device            // the kernels on this thread (nil: Go's)
	arena   *kern.Arena             // the kernels' threads (nil: one thread)
	regions map[string]*kern.Region // the components held in the arena

	// first is the first generation of the model, which a load whose
	// daemon runs the whole model lets go first (awaitFirstToken).
	first firstGeneration

	// whole is closed when the load ends, with every layer local (false
	// when some stay on the peer or the load failed).
	whole    chan struct{}
	allLocal bool
	claimed  bool // a load has begun: one model per runtime
}

// claim reserves the runtime for one load: the state above is that one
// model's. A page loads another model in another runtime (worker).
func (e *engine) claim() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.claimed {
		return errors.New("loadModel: this runtime holds a model already; load another in a new runtime (IPFSAccelerate.loadModel starts one per model)")
	}
	e.claimed, e.regions = true, map[string]*kern.Region{}
	return nil
}

// release frees the runtime after a load that failed, for another try.
func (e *engine) release() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, r := range e.regions {
		r.Free()
	}
	if e.arena != nil {
		e.arena.Close()
	}
	quant.SetVectorDevice(nil)
	e.claimed, e.model, e.gpu, e.kernels, e.modelBytes, e.device, e.arena, e.regions = false, nil, nil, "", 0, nil, nil, nil
}

// begin returns what a generation runs with, counting it as running until
// end (when there is a model).
func (e *engine) begin() (*llama.Model, cid.Cid, js.Value) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.model != nil {
		e.generating++
		closeOnce(e.first.begun)
	}
	return e.model, e.root, e.peer
}

func (e *engine) end() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.generating--
	closeOnce(e.first.answered)
}

// firstGeneration follows a model's first generation: begun closes when it
// starts, answered when it has its first token or ends (closeOnce, with
// engine.mu held).
type firstGeneration struct {
	begun, answered chan struct{}
}

func newFirstGeneration() firstGeneration {
	return firstGeneration{begun: make(chan struct{}), answered: make(chan struct{})}
}

// closeOnce closes c unless it is closed already.
func closeOnce(c chan struct{}) {
	select {
	case <-c:
	default:
		close(c)
	}
}

// Waits of awaitFirstToken: for a generation to begin after the model is
// viable (the page asks at once, or not soon), and for its first token.
const (
	firstGenerationWait = 50 * time.Millisecond
	firstTokenWait      = 2 * time.Second
)

// answered marks the first token of a generation of model.
func (e *engine) answered(model *llama.Model) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.model == model {
		closeOnce(e.first.answered)
	}
}

// awaitFirstToken lets a generation of model that begins soon after it is
// viable have its first token before the load goes on.
func (e *engine) awaitFirstToken(model *llama.Model) {
	e.mu.Lock()
	f, current := e.first, e.model == model
	e.mu.Unlock()
	if !current {
		return
	}
	select {
	case <-f.begun:
	case <-time.After(firstGenerationWait):
		return
	}
	select {
	case <-f.answered:
	case <-time.After(firstTokenWait):
	}
}

func (e *engine) set(model *llama.Model, manifest *loader.Manifest, root cid.Cid, peer js.Value, gpu *gpuDevice, kernels string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.model, e.manifest, e.root, e.peer, e.gpu, e.kernels, e.modelBytes = model, manifest, root, peer, gpu, kernels, 0
	e.whole, e.allLocal, e.first = make(chan struct{}), false, newFirstGeneration()
}

// loaded marks the load of model over: every layer is local when allLocal.
func (e *engine) loaded(model *llama.Model, allLocal bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.model == model {
		e.allLocal = allLocal
		close(e.whole)
	}
}

// waitWhole waits for the load of model to end and reports whether it
// left every layer local.
func (e *engine) waitWhole(model *llama.Model) bool {
	e.mu.Lock()
	whole, current := e.whole, e.model == model
	e.mu.Unlock()
	if !current {
		return false
	}
	<-whole
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.allLocal
}

// held records that region r holds component name (none when r is nil).
func (e *engine) held(name string, r *kern.Region) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if r != nil {
		e.regions[name] = r
	}
}

func (e *engine) addBytes(n int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.modelBytes += n
}

// loadModel(cid, {fetchBlock, fetchLeaves, onVerified, digest,
// onComponentLoaded, onViable, peer, gpu, kernels, maxLocalBytes}) loads the model
// DAG at cid, verifying every block (SHA-256 by digest, the browser's
// WebCrypto, when given). Without peer it fetches every component in manifest order
// and builds the model. With peer — the page's libp2p connection to a
// daemon, {open, exchange, close} (see remoteLayers) — the tokenizer, embed
// and head come first: the model can generate as soon as they are local,
// a peer running the layers not fetched yet; each layer runs locally from
// the next generation once its blocks are verified; layers past the
// maxLocalBytes budget of weights (0: no limit) are not fetched at all.
// onViable(info) is called once the model can generate, and the promise
// resolves with info once the load is over: {components, remoteLayers,
// bytes, architecture, backend}, the components fetched in order, the
// layers left to the peer, the bytes of all blocks fetched, the manifest's
// architecture and the backend (see openBackend; gpu is webgpu.js's
// backend, to place the weights on), with the matrix kernels of the
// weights WebGPU does not hold (see kernelLevels and openKernels: kernels
// is 'auto', 'relaxed', 'simd128' or 'go'), run on threads threads (default
// 1; see openThreads).
//
// The manifest and each component's inner UnixFS nodes come one block at a
// time from fetchBlock(cid, info), and onVerified(cid, bytes, info) is
// called with each once it matched its CID, for a cache. A component's raw
// leaves come in one call, fetchLeaves(info, leaves, dst, digest) →
// Promise<{digests, sizes}>: leaves is [{cid, size, offsets}], each leaf's
// size and where its bytes go in the component's file, as the nodes say;
// dst is where the file is held, a Uint8Array (a region of the kernels'
// arena) or a number (the address of a buffer in this runtime's memory);
// digest(bytes) is a SHA-256 in Go for a browser without WebCrypto. It
// writes each leaf's bytes, once they hash to its CID, at its offsets,
// and resolves with digests, a Uint8Array of each leaf's SHA-256 in turn,
// and sizes, each leaf's length; the runtime checks those against the
// leaves' CIDs and that they cover the file. info is the blocks' part of
// the model: {component, priority} for the manifest (component
// "manifest"), {component, priority, root, size, total} for a component,
// with its root CID, its file's size and the file bytes of the whole load.
// priority is the cache priority, higher for blocks more critical to keep
// (see fetcher.forComponent). All but fetchBlock and fetchLeaves are
// optional.
func (e *engine) loadModel(_ js.Value, args []js.Value) any {
	root, o := arg(args, 0), arg(args, 1)
	return promise(func() (any, error) {
		if root.Type() != js.TypeString {
			return nil, errors.New("loadModel: the model CID must be a string")
		}
		c, err := cid.Decode(root.String())
		if err != nil {
			return nil, fmt.Errorf("loadModel: %q is not a CID: %w", root.String(), err)
		}
		if o.Type() != js.TypeObject || o.Get("fetchBlock").Type() != js.TypeFunction || o.Get("fetchLeaves").Type() != js.TypeFunction {
			return nil, errors.New("loadModel: options.fetchBlock and options.fetchLeaves must be functions")
		}
		if err := e.claim(); err != nil {
			return nil, err
		}
		info, err := e.load(context.Background(), c, o)
		if err != nil {
			e.release()
			return nil, fmt.Errorf("loadModel %s: %w", c, err)
		}
		return info, nil
	})
}

// load runs loadModel: it fetches the components loader.Plan orders, building
// the model as soon as it can generate.
func (e *engine) load(ctx context.Context, root cid.Cid, o js.Value) (_ map[string]any, err error) {
	f := fetcher{fetchBlock: o.Get("fetchBlock"), fetchLeaves: o.Get("fetchLeaves"), onVerified: o.Get("onVerified"), digest: o.Get("digest")}
	onComponentLoaded := o.Get("onComponentLoaded")
	peer := o.Get("peer")
	offload := peer.Type() == js.TypeObject
	levels, err := kernelLevels(o.Get("kernels"))
	if err != nil {
		return nil, err
	}
	gpu, backend := openBackend(o.Get("gpu"))
	// The kernels' self-test and threads take this thread for a while
	// (≈0.2 s in a fresh page, mostly compiling the code they run). Without
	// offload they start at once, while the manifest and the tokenizer
	// arrive, which need neither; with it, once the first generation has
	// its first token (see awaitFirstToken) or a component needs them, the
	// daemon running the whole model meanwhile. The arena takes components
	// once the kernels are chosen: its threads start and test themselves
	// while the components stream in (kern.Arena.Ready).
	started, kick, done := make(chan kernelSetup, 1), make(chan struct{}), make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-kick:
		case <-done:
			return
		}
		// A sleep hands the page's event loop the request in flight first:
		// the self-test runs on this thread and does not yield.
		time.Sleep(time.Millisecond)
		kernels, name := openKernels(levels, backend)
		arena := openThreads(name, int(option(o, "threads", 1)), gpu, backend)
		started <- kernelSetup{kernels, name, arena}
		if arena != nil {
			arena.Ready() // now, beside the load; place reports how it went
		}
	}()
	var kicked atomic.Bool
	startKernels := sync.OnceFunc(func() {
		kicked.Store(true)
		close(kick)
	})
	kernels := sync.OnceValue(func() *kernelSetup {
		startKernels()
		s := <-started
		e.mu.Lock()
		e.device, e.arena, e.kernels = s.device, s.arena, s.name
		e.mu.Unlock()
		return &s
	})
	// place puts model's local matrices on the kernels, once they compute.
	place := func(model *llama.Model) error {
		s := kernels()
		if err := s.ready(backend); err != nil {
			return err
		}
		placeKernels(s.device, model)
		gpu.placeOrNote(model, backend)
		return nil
	}
	if !offload {
		startKernels()
	}
	defer func() {
		if kicked.Load() {
			kernels() // a failed load releases the threads it started
		}
	}()
	m, l, err := openManifest(ctx, root, f)
	if err != nil {
		return nil, err
	}
	plan, err := loader.Plan(m.Manifest, loader.PlanOptions{Offload: offload, OffloadHead: offload, Budget: int64(option(o, "maxLocalBytes", 0))})
	if err != nil {
		return nil, fmt.Errorf("maxMemoryUsageMB: %w", err)
	}
	for _, c := range plan.Fetch {
		l.total += c.Size
	}
	var (
		model   *llama.Model
		opts    llama.Options
		have    = map[string]bool{}
		names   []any
		pending int64 // weights fetched but not in the model yet
	)
	info := func() map[string]any {
		remote := make([]any, len(plan.Remote))
		for i, layer := range plan.Remote {
			remote[i] = layer
		}
		return map[string]any{"components": names, "remoteLayers": remote, "bytes": l.fetched.Load(), "architecture": m.Manifest.Architecture, "backend": backend}
	}
	defer func() {
		if model != nil {
			e.loaded(model, err == nil && len(plan.Remote) == 0)
		}
	}()
	// The components after the viable ones need the kernels' arena only
	// once the model is viable: with a daemon that runs the whole model at
	// first, its first answer comes before the kernels start.
	ctx, cancel := context.WithCancel(ctx)
	viable := make(chan struct{})
	isViable := sync.OnceFunc(func() { close(viable) })
	fetches := l.holdAll(ctx, m, plan.Fetch, func(i int, c loader.Component) *kern.Arena {
		if !inArena(c) {
			return nil
		}
		if i >= plan.Viable {
			select {
			case <-viable:
			case <-ctx.Done():
				return nil
			}
		}
		return kernels().arena
	})
	taken := 0
	defer func() {
		cancel()
		isViable()
		release(fetches[taken:]) // those fetched for a load that failed
	}()
	for i, c := range plan.Fetch {
		h := <-fetches[i]
		taken = i + 1
		if h.err != nil {
			return nil, h.err
		}
		call(onComponentLoaded, c.Name, map[string]any{"loadingTimeMs": float64(h.took.Microseconds()) / 1000})
		e.held(c.Name, h.region)
		have[c.Name] = true
		names = append(names, c.Name)
		pending += c.Size
		switch {
		case i+1 < plan.Viable:
			continue
		case i+1 == plan.Viable:
			if offload {
				model, err = m.PartialLlamaModel(ctx, opts, func(name string) bool { return have[name] })
			} else {
				model, err = m.LlamaModel(ctx, opts)
			}
			if err != nil {
				return nil, err
			}
			if model.HasHead() {
				if err := place(model); err != nil {
					return nil, err
				}
				e.set(model, m.Manifest, root, peer, gpu, kernels().name)
			} else {
				// Nothing runs here yet: the daemon runs the whole model.
				e.set(model, m.Manifest, root, peer, gpu, "")
			}
			call(o.Get("onViable"), info())
			if !model.HasHead() {
				e.awaitFirstToken(model)
				startKernels()
			}
			isViable()
		case c.Name == loader.ComponentEmbed || c.Name == loader.ComponentHead:
			// The embedding and classifier, local from the next generation
			// on once both are here.
			if !have[loader.ComponentEmbed] || !have[loader.ComponentHead] {
				continue
			}
			if err := m.AddHead(ctx, model, opts); err != nil {
				return nil, err
			}
			if err := place(model); err != nil {
				return nil, err
			}
		default: // a layer, local from the next generation on
			layer, _ := c.Layer()
			if err := m.AddLayer(ctx, model, layer, opts); err != nil {
				return nil, err
			}
			if err := place(model); err != nil {
				return nil, err
			}
		}
		e.addBytes(pending)
		pending = 0
	}
	return info(), nil
}

// errStopped ends a generation whose onToken returned false.
var errStopped = errors.New("stopped")

// generate(prompt, opts, onToken) continues prompt (BOS prepended) with the
// loaded model, calling the optional onToken(text) with each piece of text
// as it is final; the generation stops early when onToken returns false.
// The layers the model lacks as it starts run on the peer. When the peer
// fails part way, the generation fails over (see resume): on new sessions
// on the peer, or here once every layer is local, it goes on with the
// same text. It resolves with the generated text, without the prompt.
// Options left out take `accel run`'s defaults; temperature 0 is greedy.
func (e *engine) generate(_ js.Value, args []js.Value) any {
	prompt, jsOpts, onToken := arg(args, 0), arg(args, 1), arg(args, 2)
	return promise(func() (any, error) {
		if prompt.Type() != js.TypeString {
			return nil, errors.New("generate: the prompt must be a string")
		}
		opts, err := generateOptions(jsOpts)
		if err != nil {
			return nil, err
		}
		m, root, peer := e.begin()
		if m == nil {
			return nil, errors.New("generate: no model is loaded; call loadModel first")
		}
		defer e.end()
		text, err := e.run(m, root, peer, prompt.String(), opts, onToken)
		if err != nil {
			return nil, fmt.Errorf("generate: %w", err)
		}
		return text, nil
	})
}

// run generates with m, offloading to peer (when there is one) the layers
// m lacks as the generation starts; it returns the text generated, also
// when it fails part way.
func (e *engine) run(m *llama.Model, root cid.Cid, peer js.Value, prompt string, opts generate.Options, onToken js.Value) (string, error) {
	var resume func(error) bool
	if peer.Type() == js.TypeObject {
		remote := newRemoteLayers(peer, root, m.Layers, opts.Session.Context)
		defer remote.close()
		opts.Session.Offload, opts.Session.Remote = remote.run, remote.runAll
		resume = e.resume(m, remote)
	}
	e.mu.Lock()
	gpu := e.gpu
	e.mu.Unlock()
	if accel := gpu.accelerator(m, opts.Session.Context); accel != nil {
		defer accel.close()
		opts.Session.Accelerator = accel
	}
	// A resident step that fails leaves the GPU's KV cache behind: the
	// history runs again on the CPU path (see stepError).
	opts.Resume = func(err error) bool {
		if errors.As(err, new(stepError)) {
			return true
		}
		return resume != nil && resume(err)
	}
	opts.OnToken = func(generate.Token) { e.answered(m) }
	var out []byte
	_, err := generate.Run(context.Background(), m, prompt, opts, func(text string) error {
		out = append(out, text...)
		if v := call(onToken, text); v.Type() == js.TypeBoolean && !v.Bool() {
			return errStopped
		}
		return nil
	})
	if errors.Is(err, errStopped) {
		err = nil
	}
	return string(out), err
}

// offloadRetries is how many times in a row a generation opens new
// offload sessions after failures (a quarter, a half, then a whole second
// after each) before it waits for every layer to be local.
const offloadRetries = 3

// resume is a generation's generate.Options.Resume: after an offload
// failure it ends the generation's remote sessions, so that the history
// is run again on new ones (over a new connection, which the page dials
// when the old one dropped), up to offloadRetries times in a row; then,
// once, it waits for the load to end, and the generation goes on here if
// every layer is local by then (none unloaded, none over the memory
// budget). Otherwise, and for other errors, the generation fails.
func (e *engine) resume(m *llama.Model, remote *remoteLayers) func(error) bool {
	retries, served := 0, 0
	return func(err error) bool {
		var offload offloadError
		if !errors.As(err, &offload) {
			return false
		}
		remote.close()
		if remote.served > served {
			retries, served = 0, remote.served // the peer served since: a new failure
		}
		retries++
		switch {
		case retries <= offloadRetries:
			time.Sleep(time.Second << (retries - 1) / 4)
			return true
		case retries == offloadRetries+1:
			return e.waitWhole(m)
		}
		return false
	}
}

// generateOptions reads generate's JS options over `accel run`'s defaults.
func generateOptions(o js.Value) (generate.Options, error) {
	var opts generate.Options
	opts.MaxTokens = int(option(o, "maxTokens", 256))
	opts.Sample.Temperature = float32(option(o, "temperature", 0.8))
	opts.Sample.TopK = int(option(o, "topK", 40))
	opts.Sample.TopP = float32(option(o, "topP", 0.95))
	opts.Sample.RepetitionPenalty = float32(option(o, "repetitionPenalty", 1))
	opts.Sample.Seed = uint64(option(o, "seed", 0))
	if o.Type() != js.TypeObject {
		return opts, nil
	}
	if stops := o.Get("stopSequences"); !stops.IsUndefined() && !stops.IsNull() {
		if !js.Global().Get("Array").Call("isArray", stops).Bool() {
			return opts, errors.New("generate: stopSequences must be an array of strings")
		}
		for i := range stops.Length() {
			s := stops.Index(i)
			if s.Type() != js.TypeString {
				return opts, errors.New("generate: stopSequences must be an array of strings")
			}
			opts.Stop = append(opts.Stop, s.String())
		}
	}
	return opts, nil
}

// unloadComponent(name) unloads layer component name ("layer.N"), releasing
// its weights: the peer runs that layer from the next generation on. It
// rejects other components (the minimum viable model needs them), a model
// with no peer to run the layer, and calls while a generation runs.
func (e *engine) unloadComponent(_ js.Value, args []js.Value) any {
	name := arg(args, 0)
	return promise(func() (any, error) {
		e.mu.Lock()
		defer e.mu.Unlock()
		switch {
		case e.model == nil:
			return nil, errors.New("unloadComponent: no model is loaded")
		case name.Type() != js.TypeString:
			return nil, errors.New("unloadComponent: the component name must be a string")
		case e.peer.Type() != js.TypeObject:
			return nil, fmt.Errorf("unloadComponent(%q): no peer is connected to run it in the page's stead", name.String())
		case e.generating > 0:
			return nil, fmt.Errorf("unloadComponent(%q): a generation is running; call it again once it ends", name.String())
		}
		c, ok := e.manifest.Component(name.String())
		layer, isLayer := loader.LayerOf(name.String())
		if !ok || !isLayer {
			return nil, fmt.Errorf("unloadComponent(%q): only layers can be unloaded; the tokenizer, embed and head make the minimum viable model", name.String())
		}
		if e.gpu != nil {
			e.gpu.releaseLayer(layer)
			for _, nm := range e.model.Matrices() {
				if strings.HasPrefix(nm.Name, fmt.Sprintf("blk.%d.", layer)) {
					e.gpu.release(nm.Matrix)
				}
			}
		}
		if err := e.model.RemoveBlock(layer); err != nil {
			return nil, fmt.Errorf("unloadComponent(%q): %w", name.String(), err)
		}
		if r := e.regions[c.Name]; r != nil {
			r.Free()
			delete(e.regions, c.Name)
		}
		e.allLocal = false // the peer runs it now
		e.modelBytes -= c.Size
		return nil, nil
	})
}

// backendStats() returns the backend's use once a model is loaded (null
// before): {kernels, threads, kernelCalls, kernelMs}, the matrix kernels
// ('relaxed', 'simd128' or 'go'), the threads they run on, and the calls
// the SIMD kernels ran (matrix products, attention's scores and sums) and
// the milliseconds they took (the rest of a token's time is Go's: norms,
// RoPE, softmax, SwiGLU, sampling), and on WebGPU also what
// gpuDevice.stats gives: the GPU memory of the weights and of the KV
// cache, the product calls and resident steps run and their readbacks,
// the layers the resident step runs, and the failures.
func (e *engine) backendStats(js.Value, []js.Value) any {
	e.mu.Lock()
	gpu, kernels, device, arena, loaded := e.gpu, e.kernels, e.device, e.arena, e.model != nil
	e.mu.Unlock()
	if !loaded {
		return nil
	}
	threads := 1
	var use kern.Usage
	if device != nil {
		use = device.Usage()
	}
	if arena != nil {
		threads = arena.Threads()
		u := arena.Usage()
		use.Calls += u.Calls
		use.Busy += u.Busy
	}
	stats := map[string]any{"kernels": kernels, "threads": threads, "kernelCalls": use.Calls, "kernelMs": float64(use.Busy.Microseconds()) / 1000}
	if gpu != nil {
		maps.Copy(stats, gpu.stats())
	}
	return stats
}

// memoryUsage() returns {heapBytes, arenaBytes, modelBytes}: the Go heap in
// use, the size of the kernels' arena on threads (0 without), and the
// stored size of the loaded model's weights (0 before a load).
func (e *engine) memoryUsage(js.Value, []js.Value) any {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	e.mu.Lock()
	defer e.mu.Unlock()
	arena := int64(0)
	if e.arena != nil {
		arena = e.arena.Bytes()
	}
	return map[string]any{"heapBytes": ms.HeapAlloc, "arenaBytes": arena, "modelBytes": e.modelBytes}
}
