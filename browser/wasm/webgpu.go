//go:build js && wasm

package main

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"syscall/js"
	"unsafe"

	"github.com/ipfs-accelerate/accel/inference/llama"
	"github.com/ipfs-accelerate/accel/inference/quant"
)

// gpuDevice is the WebGPU backend (webgpu.js in the worker) as a
// quant.Device: a placed matrix is uploaded as f32 values, and the
// products of the matrices a MatMulAll names run in one compute pass. A
// product that fails runs on the CPU kernels instead, and is counted.
type gpuDevice struct {
	backend js.Value // webgpu.js's Backend

	mu      sync.Mutex
	ids     map[*quant.Matrix]int
	refused map[*quant.Matrix]bool // matrices the GPU could not take: they stay on the CPU
	// uploading holds the matrices being uploaded: true, or false once
	// released meanwhile (their layer unloaded), so the upload is undone.
	uploading map[*quant.Matrix]bool
	bytes     int64 // uploaded
	calls     int
	failures  int
	lastErr   error
}

func newGPUDevice(backend js.Value) *gpuDevice {
	return &gpuDevice{backend: backend, ids: map[*quant.Matrix]int{}, refused: map[*quant.Matrix]bool{}, uploading: map[*quant.Matrix]bool{}}
}

// maxCheckError is the largest relative difference from the CPU kernels
// the check accepts: f32 sums in another order differ by a few ulps.
const maxCheckError = 1e-4

// check compares the device with the CPU kernels on a random matrix and
// batch, and returns the largest difference relative to the largest
// value; it fails when the device is off by more than maxCheckError.
func (g *gpuDevice) check() (float64, error) {
	rng := rand.New(rand.NewPCG(1, 2))
	const rows, cols, n = 70, 200, 3
	w, x := make([]float32, rows*cols), make([]float32, n*cols)
	for i := range w {
		w[i] = float32(rng.NormFloat64())
	}
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	m, err := quant.Quantize(w, rows, cols, quant.FormatF32)
	if err != nil {
		return 0, err
	}
	want := make([]float32, n*rows)
	m.MatMul(want, quant.NewBatch(x, n, cols))
	if err := g.place(m); err != nil {
		return 0, err
	}
	defer g.release(m)
	got := make([]float32, n*rows)
	if err := g.MatMul([][]float32{got}, []*quant.Matrix{m}, quant.NewBatch(x, n, cols)); err != nil {
		return 0, err
	}
	var diff, scale float64
	for i := range want {
		diff = max(diff, math.Abs(float64(got[i]-want[i])))
		scale = max(scale, math.Abs(float64(want[i])))
	}
	rel := diff / scale
	if !(rel <= maxCheckError) {
		return rel, fmt.Errorf("webgpu: products differ from the CPU kernels' by %.2g (relative), over %.0g", rel, maxCheckError)
	}
	return rel, nil
}

// placeModel places every local matrix of model not placed or refused
// yet. A matrix the GPU refuses (over its limits, out of memory) stays on
// the CPU; the error names the first.
func (g *gpuDevice) placeModel(model *llama.Model) error {
	var first error
	for _, nm := range model.Matrices() {
		g.mu.Lock()
		done := nm.Matrix.Device() == g || g.refused[nm.Matrix]
		g.mu.Unlock()
		if done {
			continue
		}
		if err := g.place(nm.Matrix); err != nil {
			g.mu.Lock()
			g.refused[nm.Matrix] = true
			g.mu.Unlock()
			if first == nil {
				first = fmt.Errorf("webgpu: %s stays on the CPU: %w", nm.Name, err)
			}
		}
	}
	return first
}

// place uploads m and places it on the device, unless m is released while
// it uploads: then its GPU copy is freed and it stays on the CPU.
func (g *gpuDevice) place(m *quant.Matrix) error {
	values := m.Dequantize()
	g.mu.Lock()
	g.uploading[m] = true
	g.mu.Unlock()
	id, err := await(g.backend.Call("upload", float32sToJS(values), m.Rows, m.Cols))
	g.mu.Lock()
	wanted := g.uploading[m]
	delete(g.uploading, m)
	if err == nil && wanted {
		g.ids[m] = id.Int()
		g.bytes += int64(len(values)) * 4
	}
	g.mu.Unlock()
	switch {
	case err != nil:
		return err
	case !wanted:
		g.backend.Call("release", id)
	default:
		m.Place(g)
	}
	return nil
}

// release frees m's GPU copy and puts it back on the CPU.
func (g *gpuDevice) release(m *quant.Matrix) {
	m.Place(nil)
	g.mu.Lock()
	if _, ok := g.uploading[m]; ok {
		g.uploading[m] = false
	}
	id, ok := g.ids[m]
	delete(g.ids, m)
	if ok {
		g.bytes -= int64(m.Rows) * int64(m.Cols) * 4
	}
	g.mu.Unlock()
	if ok {
		g.backend.Call("release", id)
	}
}

// MatMul implements quant.Device.
func (g *gpuDevice) MatMul(dsts [][]float32, ms []*quant.Matrix, x *quant.Batch) error {
	err := g.matmul(dsts, ms, x)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls++
	if err != nil {
		g.failures++
		g.lastErr = err
	}
	return err
}

func (g *gpuDevice) matmul(dsts [][]float32, ms []*quant.Matrix, x *quant.Batch) error {
	ids := make([]any, len(ms))
	g.mu.Lock()
	for i, m := range ms {
		id, ok := g.ids[m]
		if !ok {
			g.mu.Unlock()
			return errors.New("webgpu: a matrix is placed but not uploaded")
		}
		ids[i] = id
	}
	g.mu.Unlock()
	out, err := await(g.backend.Call("matmul", js.ValueOf(ids), float32sToJS(x.F32[:x.N*x.Cols]), x.N))
	if err != nil {
		return err
	}
	for i, m := range ms {
		if err := float32sFromJS(dsts[i][:x.N*m.Rows], out.Index(i)); err != nil {
			return err
		}
	}
	return nil
}

// stats reports the device's use: {bytes, calls, failures, lastError}.
func (g *gpuDevice) stats() map[string]any {
	g.mu.Lock()
	defer g.mu.Unlock()
	last := ""
	if g.lastErr != nil {
		last = g.lastErr.Error()
	}
	return map[string]any{"bytes": g.bytes, "calls": g.calls, "failures": g.failures, "lastError": last}
}

// float32sToJS copies f into a new Float32Array.
func float32sToJS(f []float32) js.Value {
	u8 := js.Global().Get("Uint8Array").New(len(f) * 4)
	if len(f) > 0 {
		js.CopyBytesToJS(u8, unsafe.Slice((*byte)(unsafe.Pointer(&f[0])), len(f)*4))
	}
	return js.Global().Get("Float32Array").New(u8.Get("buffer"))
}

// float32sFromJS copies a Float32Array of exactly len(dst) values into dst.
func float32sFromJS(dst []float32, v js.Value) error {
	if !v.InstanceOf(js.Global().Get("Float32Array")) || v.Length() != len(dst) {
		return fmt.Errorf("webgpu: expected %d float32 values", len(dst))
	}
	if len(dst) > 0 {
		u8 := js.Global().Get("Uint8Array").New(v.Get("buffer"), v.Get("byteOffset"), v.Get("byteLength"))
		js.CopyBytesToGo(unsafe.Slice((*byte)(unsafe.Pointer(&dst[0])), len(dst)*4), u8)
	}
	return nil
}

// openBackend checks the WebGPU backend gpu (webgpu.js's Backend, or
// undefined for none) against the CPU kernels. It returns the device to
// place the model on — nil for the WASM backend: no WebGPU backend given,
// or one that failed its check — and a description for the load's info:
// {name: 'webgpu' or 'wasm', check: the check's relative error, error}.
func openBackend(gpu js.Value) (*gpuDevice, map[string]any) {
	if gpu.Type() != js.TypeObject {
		return nil, map[string]any{"name": "wasm"}
	}
	g := newGPUDevice(gpu)
	rel, err := g.check()
	if err != nil {
		gpu.Call("destroy")
		return nil, map[string]any{"name": "wasm", "check": rel, "error": err.Error()}
	}
	g.calls = 0 // count the model's products only
	return g, map[string]any{"name": "webgpu", "check": rel, "adapter": gpu.Get("adapter")}
}

// placeOrNote places model's local matrices on g (when not nil); on a
// failure the matrices not placed stay on the CPU and backend says why.
func (g *gpuDevice) placeOrNote(model *llama.Model, backend map[string]any) {
	if g == nil {
		return
	}
	if err := g.placeModel(model); err != nil {
		backend["error"] = err.Error()
	}
}
