//go:build js && wasm

package main

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"syscall/js"
	"unsafe"

	"github.com/ipfs-accelerate/accel/inference/llama"
	"github.com/ipfs-accelerate/accel/inference/quant"
)

// gpuDevice is the WebGPU backend (webgpu.js in the worker) as a
// quant.Device: a placed matrix is uploaded as it is stored (its rows'
// bytes), and the products of the matrices a MatMulAll names run in one
// compute pass with one readback. A product that fails runs on the CPU
// kernels instead, and is counted. A layer whose matrices it holds and
// whose step passed its check runs whole on the GPU (see gpuSequence).
type gpuDevice struct {
	backend js.Value // webgpu.js's Backend

	mu      sync.Mutex
	ids     map[*quant.Matrix]int
	refused map[*quant.Matrix]bool // matrices the GPU could not take: they stay on the CPU
	// uploading holds the matrices being uploaded: true, or false once
	// released meanwhile (their layer unloaded), so the upload is undone.
	uploading map[*quant.Matrix]bool
	checks    map[quant.Format]formatCheck
	bytes     int64 // stored size of the matrices placed and vectors uploaded
	calls     int
	failures  int
	lastErr   error

	vectors      map[int]int64          // ids of the norms uploaded → their size
	stepChecks   map[string]formatCheck // the resident steps checked, by component ("layer.N", "head")
	resident     map[int]residentLayer  // layers whose step passed its check
	headNorm     int                    // the final norm's id once the head's step passed its check (0: not)
	stepErr      error                  // a resident step failed: none runs since
	passes       int                    // resident steps run (Accelerator.Run calls)
	passTokens   int                    // positions they ran
	readbacks    int                    // GPU→CPU copies: one a pass and one a product call
	kvBytes      int                    // the KV cache of the last sequence, after its last pass
	scratchBytes int                    // its activations and scratch space
}

// formatCheck is how one format's products compared with the CPU
// kernels' (see check).
type formatCheck struct {
	rel float64
	err error
}

func newGPUDevice(backend js.Value) *gpuDevice {
	return &gpuDevice{
		backend: backend, ids: map[*quant.Matrix]int{}, refused: map[*quant.Matrix]bool{},
		uploading: map[*quant.Matrix]bool{}, checks: map[quant.Format]formatCheck{},
		vectors: map[int]int64{}, stepChecks: map[string]formatCheck{}, resident: map[int]residentLayer{},
	}
}

// maxCheckError is the largest relative difference from the CPU kernels
// the check accepts: the GPU reads the same 8-bit activations and sums the
// same integers, so only the order of the f32 operations differs.
const maxCheckError = 1e-4

// check compares the device's products in format f with the CPU kernels'
// on a random matrix and batch, and returns the largest difference
// relative to the largest value; it fails when the device is off by more
// than maxCheckError.
func (g *gpuDevice) check(f quant.Format) (float64, error) {
	rng := rand.New(rand.NewPCG(1, 2))
	rows, cols, n := 70, 200, 3 // ragged: a partial block of 32 and, for Int, a partial group
	if f.Kind == quant.Q8_0 || f.Kind == quant.Q4_0 {
		cols = 224
	}
	w, x := make([]float32, rows*cols), make([]float32, n*cols)
	for i := range w {
		w[i] = float32(rng.NormFloat64())
	}
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	m, err := quant.Quantize(w, rows, cols, f)
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
	if err := g.matmul([][]float32{got}, []*quant.Matrix{m}, quant.NewBatch(x, n, cols)); err != nil {
		return 0, err
	}
	var diff, scale float64
	for i := range want {
		diff = max(diff, math.Abs(float64(got[i]-want[i])))
		scale = max(scale, math.Abs(float64(want[i])))
	}
	rel := diff / scale
	if !(rel <= maxCheckError) {
		return rel, fmt.Errorf("webgpu: %s products differ from the CPU kernels' by %.2g (relative), over %.0g", f, rel, maxCheckError)
	}
	return rel, nil
}

// checked checks format f once (see check) and returns its error.
func (g *gpuDevice) checked(f quant.Format) error {
	g.mu.Lock()
	c, done := g.checks[f]
	g.mu.Unlock()
	if !done {
		c.rel, c.err = g.check(f)
		g.mu.Lock()
		g.checks[f] = c
		g.mu.Unlock()
	}
	return c.err
}

// placeModel places every local matrix of model not placed or refused
// yet, once its format passed its check, then checks the resident steps
// of the head and the layers it has not checked yet (see runChecks). A
// matrix the GPU refuses (a format off the CPU kernels, over its limits,
// out of memory) stays on the CPU; the error names the first refusal.
func (g *gpuDevice) placeModel(model *llama.Model) error {
	checks := g.pendingChecks(model) // before the matrices move
	var first error
	for _, nm := range model.Matrices() {
		g.mu.Lock()
		done := nm.Matrix.Device() == g || g.refused[nm.Matrix]
		g.mu.Unlock()
		if done {
			continue
		}
		err := g.checked(nm.Matrix.Format)
		if err == nil {
			err = g.place(nm.Matrix)
		}
		if err != nil {
			g.mu.Lock()
			g.refused[nm.Matrix] = true
			g.mu.Unlock()
			if first == nil {
				first = fmt.Errorf("webgpu: %s stays on the CPU: %w", nm.Name, err)
			}
		}
	}
	if err := g.runChecks(model, checks); first == nil {
		first = err
	}
	return first
}

// kernel names webgpu.js's kernel for format f.
func kernel(f quant.Format) string {
	if f.Kind == quant.Int {
		return fmt.Sprintf("int%d", f.Bits)
	}
	return f.String()
}

// place uploads m's stored rows and places it on the device, unless m is
// released while it uploads: then its GPU copy is freed and it stays on
// the CPU.
func (g *gpuDevice) place(m *quant.Matrix) error {
	data := js.Global().Get("Uint8Array").New(len(m.Data))
	js.CopyBytesToJS(data, m.Data)
	shape := map[string]any{
		"rows": m.Rows, "cols": m.Cols, "rowBytes": m.RowBytes(),
		"kernel": kernel(m.Format), "group": m.Format.Group, "asym": m.Format.Asym,
	}
	g.mu.Lock()
	g.uploading[m] = true
	g.mu.Unlock()
	id, err := await(g.backend.Call("upload", data, shape))
	g.mu.Lock()
	wanted := g.uploading[m]
	delete(g.uploading, m)
	if err == nil && wanted {
		g.ids[m] = id.Int()
		g.bytes += int64(len(m.Data))
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
		g.bytes -= int64(len(m.Data))
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
	g.readbacks++
	if err != nil {
		g.failures++
		g.lastErr = err
	}
	return err
}

func (g *gpuDevice) matmul(dsts [][]float32, ms []*quant.Matrix, x *quant.Batch) error {
	ids := make([]any, len(ms))
	quantized := false
	g.mu.Lock()
	for i, m := range ms {
		id, ok := g.ids[m]
		if !ok {
			g.mu.Unlock()
			return errors.New("webgpu: a matrix is placed but not uploaded")
		}
		ids[i] = id
		quantized = quantized || m.Format.Kind == quant.Q8_0 || m.Format.Kind == quant.Q4_0 || m.Format.Kind == quant.Int
	}
	g.mu.Unlock()
	out, err := await(g.backend.Call("matmul", js.ValueOf(ids), activations(x, quantized), x.N))
	if err != nil {
		return err
	}
	off := 0
	for i, m := range ms {
		end := off + x.N*m.Rows
		if err := float32sFromJS(dsts[i][:x.N*m.Rows], out.Call("subarray", off, end)); err != nil {
			return err
		}
		off = end
	}
	return nil
}

// activations is what webgpu.js's kernels read of x: its f32 values and,
// when quantized, the 8-bit blocks the integer formats read
// (quant.Batch.Q8): the codes, the scales, then the sums.
func activations(x *quant.Batch, quantized bool) js.Value {
	b := quant.Float32Bytes(x.F32[:x.N*x.Cols])
	if quantized {
		q, scale, sum := x.Q8()
		b = append(b[:len(b):len(b)], unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(q))), len(q))...)
		b = append(b, quant.Float32Bytes(scale)...)
		b = append(b, unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(sum))), 4*len(sum))...)
	}
	u8 := js.Global().Get("Uint8Array").New(len(b))
	js.CopyBytesToJS(u8, b)
	return u8
}

// stats reports the device's use: {bytes, weightBytes, kvBytes,
// scratchBytes, calls, steps, stepTokens, readbacks, residentLayers,
// failures, lastError}: the GPU memory holding weights, the stored size of
// those weights, the GPU memory of the last generation's KV cache and of
// its activations, the product calls and resident steps run, the
// positions those ran, the readbacks of both, the layers whose step runs
// on the GPU (the last only with the head), and the failures.
func (g *gpuDevice) stats() map[string]any {
	g.mu.Lock()
	defer g.mu.Unlock()
	last := ""
	if g.lastErr != nil {
		last = g.lastErr.Error()
	}
	resident := []any{}
	if g.stepErr == nil {
		for _, l := range slices.Sorted(maps.Keys(g.resident)) {
			resident = append(resident, l)
		}
	}
	return map[string]any{
		"bytes": g.backend.Get("bytes").Int(), "weightBytes": g.bytes,
		"kvBytes": g.kvBytes, "scratchBytes": g.scratchBytes,
		"calls": g.calls, "steps": g.passes, "stepTokens": g.passTokens, "readbacks": g.readbacks,
		"residentLayers": resident, "failures": g.failures, "lastError": last,
	}
}

// float32sFromJS copies a Float32Array of exactly len(dst) values into dst.
func float32sFromJS(dst []float32, v js.Value) error {
	if !v.InstanceOf(js.Global().Get("Float32Array")) || v.Length() != len(dst) {
		return fmt.Errorf("webgpu: expected %d float32 values", len(dst))
	}
	if len(dst) > 0 {
		u8 := js.Global().Get("Uint8Array").New(v.Get("buffer"), v.Get("byteOffset"), v.Get("byteLength"))
		js.CopyBytesToGo(quant.Float32Bytes(dst), u8)
	}
	return nil
}

// openBackend checks the WebGPU backend gpu (webgpu.js's Backend, or
// undefined for none) against the CPU kernels on f32 matrices. It returns
// the device to place the model on — nil for the WASM backend: no WebGPU
// backend given, or one that failed its check — and a description for the
// load's info: {name: 'webgpu' or 'wasm', check: the largest relative
// error of the formats checked, checks: each format's, adapter, features:
// the optional WebGPU features the kernels use, error}.
func openBackend(gpu js.Value) (*gpuDevice, map[string]any) {
	if gpu.Type() != js.TypeObject {
		return nil, map[string]any{"name": "wasm"}
	}
	g := newGPUDevice(gpu)
	if err := g.checked(quant.FormatF32); err != nil {
		gpu.Call("destroy")
		return nil, map[string]any{"name": "wasm", "check": g.checks[quant.FormatF32].rel, "error": err.Error()}
	}
	backend := map[string]any{"name": "webgpu", "adapter": gpu.Get("adapter"), "features": gpu.Get("features")}
	g.noteChecks(backend)
	return g, backend
}

// noteChecks writes the checks run so far into backend (see openBackend).
func (g *gpuDevice) noteChecks(backend map[string]any) {
	g.mu.Lock()
	defer g.mu.Unlock()
	checks := map[string]any{}
	worst := 0.0
	for f, c := range g.checks {
		checks[f.String()] = c.rel
		worst = max(worst, c.rel)
	}
	backend["check"], backend["checks"] = worst, checks
	steps := map[string]any{}
	worst = 0
	for name, c := range g.stepChecks {
		steps[name] = c.rel
		worst = max(worst, c.rel)
	}
	backend["stepCheck"], backend["stepChecks"] = worst, steps
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
	g.noteChecks(backend)
}
