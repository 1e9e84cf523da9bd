//go:build js && wasm

package main

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"syscall/js"

	"github.com/ipfs-accelerate/accel/inference/llama"
	"github.com/ipfs-accelerate/accel/inference/quant"
	"github.com/ipfs-accelerate/accel/loader"
)

// The resident step: the layers whose matrices the GPU holds run there
// whole — norms, products, rotary embeddings, attention over a KV cache
// kept on the GPU, SwiGLU, residuals — and the final norm and classifier
// after the last one, each pass in one command buffer with one readback
// (webgpu.js's Sequence). Each layer's step, and the head's, is checked
// against the CPU path when it becomes local; one that differs runs on the
// CPU path (its products still on the GPU, one call each).

// maxStepError is the largest difference from the CPU path, relative to
// the largest value, that a resident step may show at its check: the GPU
// quantizes the activations and adds in its own order, and an 8-bit code
// that rounds the other way moves a product by a step of its block's scale.
const maxStepError = 1e-3

// checkPositions is the context of a layer's check: a prefill of three
// positions, then a decode step.
const checkPositions = 4

// residentLayer is a layer whose step runs on the GPU: the ids of its
// norms' copies there.
type residentLayer struct{ attnNorm, ffnNorm int }

// stepCheck is the check of one resident step (a layer's, or the head's
// when layer is the model's Layers): the passes to run and what the CPU
// path gave for them.
type stepCheck struct {
	name   string // the component: "layer.N" or "head"
	layer  int
	passes []checkPass
}

// checkPass is one pass of a check: n hidden states at positions pos…,
// and the hidden states (a layer) or last position's logits (the head)
// the CPU path made of them.
type checkPass struct {
	pos      int
	in, want []float32
}

// pendingChecks returns the checks of the steps model has and g has not
// checked yet — the head and each local layer — with what the CPU path
// (the kernels their matrices are on now) gives for them: a prefill of
// three positions and a decode step for a layer, two positions for the
// head.
func (g *gpuDevice) pendingChecks(model *llama.Model) []stepCheck {
	if !model.HasHead() {
		return nil // its sessions run on a peer
	}
	g.mu.Lock()
	var layers []int
	for l := range model.Layers {
		if _, done := g.stepChecks[loader.LayerComponent(l)]; !done && model.HasBlock(l) {
			layers = append(layers, l)
		}
	}
	_, headDone := g.stepChecks[loader.ComponentHead]
	g.mu.Unlock()
	dim := model.Dim
	random := func(seed uint64, n int) []float32 {
		rng := rand.New(rand.NewPCG(seed, 3))
		x := make([]float32, n*dim)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		return x
	}
	var checks []stepCheck
	if !headDone {
		in := random(0, 2)
		s := model.NewSession(llama.SessionOptions{Context: 2})
		want := append([]float32(nil), s.Logits(in[dim:])...)
		checks = append(checks, stepCheck{name: loader.ComponentHead, layer: model.Layers, passes: []checkPass{{0, in, want}}})
	}
	for _, l := range layers {
		s := model.NewSession(llama.SessionOptions{Context: checkPositions})
		c := stepCheck{name: loader.LayerComponent(l), layer: l}
		for _, p := range []struct{ pos, n int }{{0, checkPositions - 1}, {checkPositions - 1, 1}} {
			in := random(uint64(l+1), p.n)
			want := append([]float32(nil), in...)
			if err := s.RunLayers(l, l+1, p.pos, want); err != nil {
				panic(err) // a local layer within the session's context
			}
			c.passes = append(c.passes, checkPass{p.pos, in, want})
		}
		checks = append(checks, c)
	}
	return checks
}

// runChecks runs checks on the GPU, once the matrices are placed: a step
// whose matrices are all there and whose results are within maxStepError
// of the CPU path's becomes resident. It returns the first error.
func (g *gpuDevice) runChecks(model *llama.Model, checks []stepCheck) error {
	var first error
	for _, c := range checks {
		rel, err := g.runCheck(model, c)
		g.mu.Lock()
		g.stepChecks[c.name] = formatCheck{rel, err}
		g.mu.Unlock()
		if err != nil && first == nil {
			first = fmt.Errorf("webgpu: the step of %s runs on the CPU: %w", c.name, err)
		}
	}
	return first
}

// runCheck runs check c (see runChecks) and returns the largest relative
// difference from the CPU path.
func (g *gpuDevice) runCheck(model *llama.Model, c stepCheck) (rel float64, err error) {
	var ids []int
	defer func() {
		if err != nil {
			for _, id := range ids {
				g.releaseVector(id)
			}
		}
	}()
	norm := func(v []float32) (int, error) {
		id, err := g.uploadVector(v)
		if err == nil {
			ids = append(ids, id)
		}
		return id, err
	}
	layers := make([]any, model.Layers)
	var head any
	var resident residentLayer
	if c.layer == model.Layers {
		out, err := g.id(classifier(model))
		if err != nil {
			return 0, err
		}
		n, err := norm(model.Norm)
		if err != nil {
			return 0, err
		}
		head = map[string]any{"norm": n, "output": out}
	} else {
		b := &model.Blocks[c.layer]
		if resident.attnNorm, err = norm(b.AttnNorm); err != nil {
			return 0, err
		}
		if resident.ffnNorm, err = norm(b.FFNNorm); err != nil {
			return 0, err
		}
		if layers[c.layer], err = g.layerIDs(b, resident); err != nil {
			return 0, err
		}
	}
	seq, err := await(g.backend.Call("sequence", stepConfig(model, checkPositions), js.ValueOf(layers), js.ValueOf(head)))
	if err != nil {
		return 0, err
	}
	defer seq.Call("destroy")
	var diff, scale float64
	for _, p := range c.passes {
		got := make([]float32, len(p.want))
		n := len(p.in) / model.Dim
		out, err := await(seq.Call("run", c.layer, min(c.layer+1, model.Layers), p.pos, n, stepInput(model, p.pos, p.in), head != nil))
		if err == nil {
			err = float32sFromJS(got, out)
		}
		if err != nil {
			return 0, err
		}
		for i, w := range p.want {
			diff = max(diff, math.Abs(float64(got[i]-w)))
			scale = max(scale, math.Abs(float64(w)))
		}
	}
	rel = diff / scale
	if !(rel <= maxStepError) {
		return rel, fmt.Errorf("it differs from the CPU path by %.2g (relative), over %.0g", rel, maxStepError)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if c.layer == model.Layers {
		g.headNorm = ids[0]
	} else {
		g.resident[c.layer] = resident
	}
	return rel, nil
}

// id is the id of m's GPU copy.
func (g *gpuDevice) id(m *quant.Matrix) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	id, ok := g.ids[m]
	if !ok {
		return 0, errors.New("a matrix stays on the CPU")
	}
	return id, nil
}

// layerIDs are the ids webgpu.js's sequence takes for block b, whose norms
// are r's.
func (g *gpuDevice) layerIDs(b *llama.Block, r residentLayer) (map[string]any, error) {
	ids := map[string]any{"attnNorm": r.attnNorm, "ffnNorm": r.ffnNorm}
	for name, m := range map[string]*quant.Matrix{"q": b.Q, "k": b.K, "v": b.V, "o": b.O, "gate": b.Gate, "up": b.Up, "down": b.Down} {
		id, err := g.id(m)
		if err != nil {
			return nil, err
		}
		ids[name] = id
	}
	return ids, nil
}

// classifier is model's output projection (the embedding when tied).
func classifier(model *llama.Model) *quant.Matrix {
	if model.Output != nil {
		return model.Output
	}
	return model.Embed
}

// uploadVector copies v to the GPU and returns its id.
func (g *gpuDevice) uploadVector(v []float32) (int, error) {
	data := js.Global().Get("Float32Array").New(len(v))
	u8 := js.Global().Get("Uint8Array").New(data.Get("buffer"))
	js.CopyBytesToJS(u8, quant.Float32Bytes(v))
	id, err := await(g.backend.Call("uploadVector", data))
	if err != nil {
		return 0, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.vectors[id.Int()] = int64(4 * len(v))
	g.bytes += int64(4 * len(v))
	return id.Int(), nil
}

// releaseVector frees vector id's GPU copy.
func (g *gpuDevice) releaseVector(id int) {
	g.mu.Lock()
	g.bytes -= g.vectors[id]
	delete(g.vectors, id)
	g.mu.Unlock()
	g.backend.Call("release", id)
}

// releaseLayer frees the resident step of layer l (its matrices are
// released on their own); it is checked again if the layer comes back.
func (g *gpuDevice) releaseLayer(l int) {
	g.mu.Lock()
	r, ok := g.resident[l]
	delete(g.resident, l)
	delete(g.stepChecks, loader.LayerComponent(l))
	g.mu.Unlock()
	if ok {
		g.releaseVector(r.attnNorm)
		g.releaseVector(r.ffnNorm)
	}
}

// stepConfig is webgpu.js's sequence config for model, holding context
// positions.
func stepConfig(model *llama.Model, context int) js.Value {
	return js.ValueOf(map[string]any{
		"dim": model.Dim, "hidden": model.HiddenDim, "heads": model.Heads, "kvHeads": model.KVHeads,
		"headDim": model.HeadDim, "ropeDim": model.RopeDim, "vocab": model.Vocab, "eps": model.NormEps,
		"context": context,
	})
}

// stepInput is a pass's input for webgpu.js: the hidden states h of
// positions pos…, then their rotary tables, every position's cos, then
// every position's sin (llama.Model.RopeTable).
func stepInput(model *llama.Model, pos int, h []float32) js.Value {
	n, half := len(h)/model.Dim, model.RopeDim/2
	b := make([]float32, len(h)+2*n*half)
	copy(b, h)
	cos, sin := b[len(h):len(h)+n*half], b[len(h)+n*half:]
	for t := range n {
		model.RopeTable(pos+t, cos[t*half:(t+1)*half], sin[t*half:(t+1)*half])
	}
	u8 := js.Global().Get("Uint8Array").New(4 * len(b))
	js.CopyBytesToJS(u8, quant.Float32Bytes(b))
	return u8
}

// gpuSequence is one generation's llama.Accelerator: it runs the layers
// whose resident step passed its check — the last one only with the
// head — on a webgpu.js Sequence, which holds their KV cache. After a
// failure it takes no layer (see stepError).
type gpuSequence struct {
	g      *gpuDevice
	model  *llama.Model
	seq    js.Value
	takes  []bool
	passes int // the sequence's passes counted so far (a long prompt takes several)
}

// stepError is a resident step that failed on the GPU. The device runs no
// step since: a session made afterwards runs every layer on the CPU path.
type stepError struct{ err error }

func (e stepError) Error() string { return "webgpu: the resident step failed: " + e.err.Error() }
func (e stepError) Unwrap() error { return e.err }

// accelerator returns the accelerator of a generation of model holding
// context positions, or nil when there is no device (g is nil), no
// layer's step is resident, one failed, or the sequence cannot be made (a
// failure, see fail).
func (g *gpuDevice) accelerator(model *llama.Model, context int) *gpuSequence {
	if g == nil {
		return nil
	}
	s, err := g.sequence(model, context)
	if err != nil {
		g.fail(err)
		return nil
	}
	return s
}

// sequence makes the accelerator (see accelerator), or nil.
func (g *gpuDevice) sequence(model *llama.Model, context int) (*gpuSequence, error) {
	g.mu.Lock()
	takes := make([]bool, model.Layers)
	resident := map[int]residentLayer{}
	for l := range model.Layers {
		r, ok := g.resident[l]
		if ok && model.HasBlock(l) && g.stepErr == nil && (l < model.Layers-1 || g.headNorm != 0) {
			takes[l], resident[l] = true, r
		}
	}
	headNorm := g.headNorm
	g.mu.Unlock()
	if len(resident) == 0 {
		return nil, nil
	}
	layers := make([]any, model.Layers)
	for l, r := range resident {
		ids, err := g.layerIDs(&model.Blocks[l], r)
		if err != nil {
			return nil, err
		}
		layers[l] = ids
	}
	var head any
	if takes[model.Layers-1] {
		id, err := g.id(classifier(model))
		if err != nil {
			return nil, err
		}
		head = map[string]any{"norm": headNorm, "output": id}
	}
	if context <= 0 {
		context = model.SeqLen
	}
	seq, err := await(g.backend.Call("sequence", stepConfig(model, context), js.ValueOf(layers), js.ValueOf(head)))
	if err != nil {
		return nil, err
	}
	return &gpuSequence{g: g, model: model, seq: seq, takes: takes}, nil
}

// Takes implements llama.Accelerator.
func (s *gpuSequence) Takes(l int) bool {
	s.g.mu.Lock()
	defer s.g.mu.Unlock()
	return s.takes[l] && s.g.stepErr == nil
}

// Run implements llama.Accelerator: one pass with one readback (a long
// prompt several).
func (s *gpuSequence) Run(from, to, pos int, h, logits []float32) error {
	n := len(h) / s.model.Dim
	out, err := await(s.seq.Call("run", from, to, pos, n, stepInput(s.model, pos, h), logits != nil))
	if err == nil {
		dst := h
		if logits != nil {
			dst = logits
		}
		err = float32sFromJS(dst, out)
	}
	if err != nil {
		return s.g.fail(err)
	}
	g := s.g
	g.mu.Lock()
	defer g.mu.Unlock()
	passes := s.seq.Get("passes").Int()
	g.passes++
	g.passTokens += n
	g.readbacks += passes - s.passes
	s.passes = passes
	g.kvBytes, g.scratchBytes = s.seq.Get("kvBytes").Int(), s.seq.Get("scratchBytes").Int()
	return nil
}

// fail counts a failure of the resident step, which ends it for the
// model, and returns it as a stepError.
func (g *gpuDevice) fail(err error) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.failures++
	g.lastErr = stepError{err}
	if g.stepErr == nil {
		g.stepErr = err
	}
	return stepError{err}
}

// close frees the sequence's GPU memory.
func (s *gpuSequence) close() { s.seq.Call("destroy") }
