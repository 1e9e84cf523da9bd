//go:build js && wasm

// Command wasm is the accel browser runtime: the project's inference code
// compiled with GOOS=js GOARCH=wasm. It registers a global accelRuntime
// object whose methods load a model DAG block by block through a JS
// fetchBlock function, verifying every block against its CID, and generate
// text with the same code path as `accel run`:
//
//	accelRuntime.loadModel(cid, fetchBlock, onProgress, onComponentLoaded, onVerified) → Promise<{components, bytes, architecture}>
//	accelRuntime.generate(prompt, {maxTokens, temperature, topP, topK, repetitionPenalty, stopSequences, seed}, onToken) → Promise<string>
//	accelRuntime.memoryUsage() → {heapBytes, modelBytes}
//
// Methods that take time return a Promise and run on their own goroutine,
// so the JS event loop is never blocked.
package main

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"syscall/js"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/ipfs-accelerate/accel/inference/generate"
	"github.com/ipfs-accelerate/accel/inference/llama"
)

func main() {
	e := &engine{}
	js.Global().Set("accelRuntime", js.ValueOf(map[string]any{
		"loadModel":   js.FuncOf(e.loadModel),
		"generate":    js.FuncOf(e.generate),
		"memoryUsage": js.FuncOf(e.memoryUsage),
	}))
	select {}
}

// engine holds the model the runtime generates with: the last one loaded.
type engine struct {
	mu         sync.Mutex
	model      *llama.Model
	modelBytes int
}

func (e *engine) current() (*llama.Model, int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.model, e.modelBytes
}

// loadModel(cid, fetchBlock, onProgress, onComponentLoaded, onVerified)
// fetches and verifies every block of the model DAG at cid, then builds the
// model. It resolves with {components, bytes, architecture}: the component
// names in the order they were loaded, the bytes of all blocks fetched and
// the manifest's architecture. onProgress(fraction, component, {bytes}),
// onComponentLoaded(component, {loadingTimeMs}) and onVerified(cid, bytes)
// — called with each block once it matched its CID, for a cache — are
// optional.
func (e *engine) loadModel(_ js.Value, args []js.Value) any {
	root, fetchBlock := arg(args, 0), arg(args, 1)
	p := jsProgress{onProgress: arg(args, 2), onComponentLoaded: arg(args, 3)}
	onVerified := arg(args, 4)
	return promise(func() (any, error) {
		if root.Type() != js.TypeString {
			return nil, errors.New("loadModel: the model CID must be a string")
		}
		c, err := cid.Decode(root.String())
		if err != nil {
			return nil, fmt.Errorf("loadModel: %q is not a CID: %w", root.String(), err)
		}
		if fetchBlock.Type() != js.TypeFunction {
			return nil, errors.New("loadModel: fetchBlock must be a function")
		}
		ctx := context.Background()
		m, fetched, err := loadBlocks(ctx, c, fetcher{fetchBlock: fetchBlock, onVerified: onVerified}, p)
		if err != nil {
			return nil, fmt.Errorf("loadModel %s: %w", c, err)
		}
		model, err := m.LlamaModel(ctx, llama.Options{})
		if err != nil {
			return nil, fmt.Errorf("loadModel %s: %w", c, err)
		}
		size, _ := model.Size()
		e.mu.Lock()
		e.model, e.modelBytes = model, size
		e.mu.Unlock()
		var names []any
		for _, comp := range m.Manifest.Components {
			names = append(names, comp.Name)
		}
		return map[string]any{
			"components":   names,
			"bytes":        fetched,
			"architecture": m.Manifest.Architecture,
		}, nil
	})
}

// jsProgress reports a load to optional JS callbacks.
type jsProgress struct {
	onProgress, onComponentLoaded js.Value
}

func (p jsProgress) progress(fraction float64, component string, bytes int64) {
	call(p.onProgress, fraction, component, map[string]any{"bytes": bytes})
}

func (p jsProgress) componentLoaded(component string, took time.Duration) {
	call(p.onComponentLoaded, component, map[string]any{"loadingTimeMs": float64(took.Microseconds()) / 1000})
}

// generate(prompt, opts, onToken) continues prompt (BOS prepended) with the
// loaded model, calling the optional onToken(text) with each piece of text
// as it is final. It resolves with the generated text, without the prompt.
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
		m, _ := e.current()
		if m == nil {
			return nil, errors.New("generate: no model is loaded; call loadModel first")
		}
		var out []byte
		_, err = generate.Run(context.Background(), m, prompt.String(), opts, func(text string) error {
			out = append(out, text...)
			call(onToken, text)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("generate: %w", err)
		}
		return string(out), nil
	})
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

// memoryUsage() returns {heapBytes, modelBytes}: the Go heap in use and the
// stored size of the loaded model's weights (0 before a load).
func (e *engine) memoryUsage(js.Value, []js.Value) any {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	_, size := e.current()
	return map[string]any{"heapBytes": ms.HeapAlloc, "modelBytes": size}
}
