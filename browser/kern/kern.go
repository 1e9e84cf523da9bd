//go:build js && wasm

// Package kern runs the browser runtime's matrix products on WebAssembly
// SIMD kernels (browser/kernels: relaxed SIMD, else SIMD128) instead of
// quant's Go kernels, which Go's wasm port compiles to scalar code. The
// results are bit for bit those of the Go kernels: Open and OpenArena
// check it before a level is used.
//
// On one thread (Device), the kernels are a second module instantiated on
// the Go runtime's own memory (browser/js/kernels.js does it, around the
// runtime's instantiation): a product is one call through a wasm import,
// with the job, weights, activations and results read and written in
// place. On several (Arena), they run on a shared memory that holds the
// weights, in the runtime's thread and in kernel workers; a product copies
// the vectors in and the results out.
//
// Formats: F32, F16, BF16, Q8_0, Q4_0 and Int with 4 or 8 bits (any group
// size, symmetric or asymmetric). Int with 2 or 3 bits stays on the Go
// kernels.
package kern

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"structs"
	"sync"
	"syscall/js"
	"time"
	"unsafe"

	"github.com/ipfs-accelerate/accel/inference/quant"
)

// matmul runs job on the kernels of the level in the shim's table slot
// level (see levelNames); it returns 0, or 1 for a matrix kind the
// kernels lack.
//
//go:wasmimport accelkern matmul
func matmul(job *job, level int32) int32

// job is the kernels' job descriptor (kernels.wat): n vectors of cols
// values at x times the nmat matrices described at mats. q8, q8s, q8sum
// (the vectors quantized to 8 bits, as quant.Batch), gx (asymmetric Int
// sums), work and tail are scratch. Addresses are offsets in the Go
// memory.
type job struct {
	_                                 structs.HostLayout
	n, cols                           uint32
	x, q8, q8s, q8sum, gx, work, tail uint32
	nmat, mats                        uint32
}

// matDesc describes one matrix of a job: its format (kind is quant.Kind),
// shape, rows at w, and its products at y (y[t·rows + r]).
type matDesc struct {
	_                       structs.HostLayout
	kind, bits, group, asym uint32
	rows, rowBytes, w, y    uint32
}

// levelNames are the kernel levels, best first; a level's index is its
// slot in the shim's table (kernels.js's LEVELS, in the same order).
var levelNames = []string{"relaxed", "simd128"}

// Levels lists the kernel levels kernels.js attached to this runtime, best
// first: those the engine validates ("relaxed", "simd128"). None where
// kernels.js did not run.
func Levels() []string {
	k := js.Global().Get("AccelKernels")
	if k.Type() != js.TypeObject {
		return nil
	}
	v := k.Call("levels")
	var levels []string
	for i := range v.Length() {
		if l := v.Index(i).String(); slices.Contains(levelNames, l) {
			levels = append(levels, l)
		}
	}
	return levels
}

// Supports reports whether the kernels compute products of matrices in
// format f.
func Supports(f quant.Format) bool {
	switch f.Kind {
	case quant.F32, quant.F16, quant.BF16, quant.Q8_0, quant.Q4_0:
		return true
	case quant.Int:
		return f.Bits == 4 || f.Bits == 8
	}
	return false
}

// Device is one kernel level as a quant.Device.
type Device struct {
	level string
	slot  int32
	meter

	mu    sync.Mutex // one product at a time: the job and scratch are shared
	job   job
	mats  []matDesc
	q8    []int8
	q8s   []float32
	q8sum []int32
	gx    []float32
	work  []int32 // 512 bytes a block of 32 columns
	tail  [32]float32
}

// Open returns the device of kernel level (one of Levels) once it passed
// its self-test: products of every format, and the vector functions
// (quant.VectorDevice), compared bit for bit with quant's Go code.
func Open(level string) (*Device, error) {
	if !slices.Contains(Levels(), level) {
		return nil, fmt.Errorf("kern: no %s kernels in this runtime (it has %v)", level, Levels())
	}
	d := &Device{level: level, slot: int32(slices.Index(levelNames, level))}
	if err := selfTest(d); err != nil {
		return nil, err
	}
	if err := vectorTest(d); err != nil {
		return nil, err
	}
	return d, nil
}

// String is the level's name.
func (d *Device) String() string { return d.level }

// hold places m on d, which computes products in Go memory, and returns
// it with a function that takes it off.
func (d *Device) hold(m *quant.Matrix) (*quant.Matrix, func(), error) {
	m.Place(d)
	return m, func() { m.Place(nil) }, nil
}

// Place has d compute m's products, and reports whether it does: not for
// formats the kernels lack (Supports).
func (d *Device) Place(m *quant.Matrix) bool {
	if !Supports(m.Format) {
		return false
	}
	m.Place(d)
	return true
}

// MatMul implements quant.Device: the products of ms with x, as
// quant.MatMulAll computes them.
func (d *Device) MatMul(dsts [][]float32, ms []*quant.Matrix, x *quant.Batch) error {
	if x.N == 0 || len(ms) == 0 {
		return nil
	}
	for _, m := range ms {
		if !Supports(m.Format) {
			return fmt.Errorf("kern: no kernel for %s matrices", m.Format)
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.mats = d.mats[:0]
	for i, m := range ms {
		d.mats = append(d.mats, describe(m, addr(&m.Data[0]), dsts[i]))
	}
	rc := d.run(x.F32, x.N, x.Cols)
	runtime.KeepAlive(dsts)
	runtime.KeepAlive(ms)
	return jobError(rc)
}

// run runs the job of the matrices in d.mats times the n vectors of cols
// values in x (none for kinds that read no vectors), and returns the
// kernels' code; d.mu is held.
func (d *Device) run(x []float32, n, cols int) int32 {
	defer d.record(time.Now())
	nb := (cols + 31) / 32
	d.q8 = grow(d.q8, max(n*nb*32, 1))
	d.q8s = grow(d.q8s, max(n*nb, 1))
	d.q8sum = grow(d.q8sum, max(n*nb, 1))
	d.gx = grow(d.gx, max(n*nb, 1))
	d.work = grow(d.work, max(128*nb, 1))
	// Every address is of a heap value (Go's heap does not move) or of d.
	d.job = job{
		n: uint32(n), cols: uint32(cols), x: addr(&x[0]),
		q8: addr(&d.q8[0]), q8s: addr(&d.q8s[0]), q8sum: addr(&d.q8sum[0]), gx: addr(&d.gx[0]), work: addr(&d.work[0]), tail: addr(&d.tail[0]),
		nmat: uint32(len(d.mats)), mats: addr(&d.mats[0]),
	}
	rc := matmul(&d.job, d.slot)
	runtime.KeepAlive(x)
	return rc
}

// describe is m's matDesc, its rows at w and its products into y.
func describe(m *quant.Matrix, w uint32, y []float32) matDesc {
	f := m.Format
	asym := uint32(0)
	if f.Asym {
		asym = 1
	}
	return matDesc{
		kind: uint32(f.Kind), bits: uint32(f.Bits), group: uint32(f.Group), asym: asym,
		rows: uint32(m.Rows), rowBytes: uint32(m.RowBytes()), w: w, y: addr(&y[0]),
	}
}

// jobError is the error of a job's return code (kernels.wat, kernels.js).
func jobError(rc int32) error {
	switch rc {
	case 0:
		return nil
	case 2:
		return errors.New("kern: the arena cannot grow to hold the activations")
	}
	return errors.New("kern: the kernels refused the job")
}

// addr is p's address in the wasm memory.
func addr[T any](p *T) uint32 { return uint32(uintptr(unsafe.Pointer(p))) }

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}
