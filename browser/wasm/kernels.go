//go:build js && wasm

package main

import (
	"fmt"
	"strings"
	"syscall/js"

	"github.com/ipfs-accelerate/accel/browser/kern"
	"github.com/ipfs-accelerate/accel/inference/llama"
	"github.com/ipfs-accelerate/accel/inference/quant"
	"github.com/ipfs-accelerate/accel/loader"
)

// kernelLevels reads loadModel's kernels option: the SIMD kernel levels to
// try, best first — 'auto' (default): every level the runtime has;
// 'relaxed' or 'simd128': that one; 'go': none (quant's Go kernels, for
// tests and comparisons).
func kernelLevels(option js.Value) ([]string, error) {
	want := "auto"
	switch {
	case option.Type() == js.TypeString:
		want = option.String()
	case !option.IsUndefined() && !option.IsNull():
		return nil, fmt.Errorf("loadModel: options.kernels must be a string")
	}
	switch want {
	case "auto":
		return kern.Levels(), nil
	case "relaxed", "simd128":
		return []string{want}, nil
	case "go":
		return nil, nil
	}
	return nil, fmt.Errorf("loadModel: options.kernels is %q, not 'auto', 'relaxed', 'simd128' or 'go'", want)
}

// openKernels opens the first of levels that passes its self-test, and
// returns it with its name (nil and 'go', quant's Go kernels, when none is
// asked for or none passes), which it records as backend's kernels; a
// level that failed is named in backend's kernelsError. The kernels also
// compute the rest of a step's vector work: attention over the KV cache,
// softmax, SwiGLU (quant.VectorDevice).
func openKernels(levels []string, backend map[string]any) (*kern.Device, string) {
	var errs []string
	for _, level := range levels {
		d, err := kern.Open(level)
		if err == nil {
			quant.SetVectorDevice(d)
			backend["kernels"] = level
			return d, level
		}
		errs = append(errs, err.Error())
	}
	backend["kernels"] = "go"
	if len(errs) > 0 {
		backend["kernelsError"] = strings.Join(errs, "; ")
	}
	return nil, "go"
}

// kernelSetup is what a load runs its matrix products on: the kernels'
// device (nil for Go's), their level's name, and the threads' arena (nil
// for Go's memory).
type kernelSetup struct {
	device *kern.Device
	name   string
	arena  *kern.Arena
}

// placeKernels places on d (when not nil) every local matrix of model that
// is on no device yet and has a kernel: those WebGPU does not hold.
func placeKernels(d *kern.Device, model *llama.Model) {
	if d == nil {
		return
	}
	for _, nm := range model.Matrices() {
		if nm.Matrix.Device() == nil {
			d.Place(nm.Matrix)
		}
	}
}

// openThreads starts the kernels of level on threads threads
// (kern.OpenArena) where it can: SIMD kernels (level is not 'go') and no
// WebGPU backend (which uploads the weights from Go memory). One thread
// runs there too, where the page has shared memory: the weights then stay
// out of the Go heap, whose collector keeps a margin over all it holds.
// It returns the arena, whose threads may still be starting (see ready),
// or nil for the kernels on Go's memory, which it records as backend's
// threads (with why not more in threadsError, when more were asked for).
func openThreads(level string, threads int, gpu *gpuDevice, backend map[string]any) *kern.Arena {
	backend["threads"] = 1
	if level == "go" || threads < 1 || gpu != nil {
		return nil
	}
	a, err := kern.OpenArena(level, threads)
	if err != nil {
		if threads > 1 {
			backend["threadsError"] = err.Error()
		}
		return nil
	}
	return a
}

// ready waits until s computes (its arena's threads, where it has one,
// started and passed their self-test: kern.Arena.Ready) and records the
// threads that run as backend's threads, with why not more in
// threadsError.
func (s *kernelSetup) ready(backend map[string]any) error {
	if s.arena == nil {
		return nil
	}
	if err := s.arena.Ready(); err != nil {
		return err
	}
	backend["threads"] = s.arena.Threads()
	if err := s.arena.ThreadsError(); err != nil {
		backend["threadsError"] = err.Error()
	}
	return nil
}

// inArena reports whether component c's file goes to the threads' arena:
// a component of weights (not the tokenizer) whose every matrix has a
// kernel. The others stay in Go memory, on the kernels of one thread or
// Go's.
func inArena(c loader.Component) bool {
	if c.Name == loader.ComponentTokenizer {
		return false
	}
	for _, t := range c.Tensors {
		f, err := quant.ParseFormat(t.Format)
		if len(t.Shape) == 2 && (err != nil || f.String() != t.Format || !kern.Supports(f)) {
			return false
		}
	}
	return true
}
