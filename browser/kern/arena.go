//go:build js && wasm

package kern

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"syscall/js"
	"time"

	"github.com/ipfs-accelerate/accel/inference/quant"
)

// threaded runs job on the threads of kernels.js's Pool number pool: a
// trampoline copies the vectors into the pool's arena and the products
// back; the job's weights are arena addresses. It returns a code for
// jobError.
//
//go:wasmimport accelkern threaded
func threaded(job *job, pool int32) int32

// startTimeout bounds how long Ready waits for the kernel workers.
const startTimeout = 20 * time.Second

// Arena is a kernel level run on threads: kernels.js's Pool, a shared
// memory (the arena) that T threads compute in — the runtime's own and
// T−1 kernel workers, each taking whole 4-row runs, so the products are
// those of one thread, bit for bit. The weights it multiplies are held in
// the arena (Region.Matrix): they are not in Go memory.
type Arena struct {
	level   string
	threads int
	pool    js.Value
	id      int32
	meter

	mu   sync.Mutex // one product at a time: the job is shared
	job  job
	mats []matDesc
	held map[*quant.Matrix]uint32 // the matrices in the arena: their rows' address

	ready      func() error // Ready, once
	threadsErr error        // why fewer threads than asked for run
}

// OpenArena starts kernels.js's Pool of threads threads on kernel level
// (one of Levels) and returns it at once: its regions can be allocated
// and written while the threads start, and its products wait for Ready.
// It fails where threads cannot run: a page that is not cross-origin
// isolated (no shared memory), no kernel workers.
func OpenArena(level string, threads int) (*Arena, error) {
	k := js.Global().Get("AccelKernels")
	if k.Type() != js.TypeObject || k.Get("threads").Type() != js.TypeFunction {
		return nil, errors.New("kern: no kernels in this runtime")
	}
	pool := k.Call("threads", level, threads)
	if pool.Get("state").String() == "failed" {
		return nil, fmt.Errorf("kern: no threads: %s", pool.Get("error").String())
	}
	a := &Arena{level: level, threads: threads, pool: pool, id: int32(pool.Get("id").Int()),
		held: map[*quant.Matrix]uint32{}}
	a.ready = sync.OnceValue(a.start)
	return a, nil
}

// Ready waits until a computes: its threads run and passed the self-test,
// products of every format compared bit for bit with quant's Go kernels.
// Where the kernel workers do not start within startTimeout, or their
// products differ, a runs on the runtime's thread alone (ThreadsError
// says why); Ready fails only when those products differ too.
func (a *Arena) Ready() error { return a.ready() }

// start is Ready's work, done once.
func (a *Arena) start() error {
	err := a.awaitThreads()
	if err == nil {
		err = selfTest(starting{a})
	}
	if err == nil || a.threads == 1 {
		return err
	}
	a.threadsErr = err
	a.pool.Call("alone")
	a.threads = 1
	return selfTest(starting{a})
}

// awaitThreads waits until the pool's workers run, at most startTimeout.
func (a *Arena) awaitThreads() error {
	// The workers start once this thread yields to the event loop (as
	// browsers start nested workers): poll, sleeping.
	for deadline := time.Now().Add(startTimeout); a.pool.Get("state").String() == "starting"; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			return fmt.Errorf("kern: the kernel workers did not start within %s", startTimeout)
		}
	}
	if s := a.pool.Get("state").String(); s != "ready" {
		return fmt.Errorf("kern: no threads: %s", a.pool.Get("error").String())
	}
	return nil
}

// starting is an arena as its self-test runs it: its products do not wait
// for Ready.
type starting struct{ *Arena }

func (s starting) MatMul(dsts [][]float32, ms []*quant.Matrix, x *quant.Batch) error {
	return s.matmul(dsts, ms, x)
}

// ThreadsError says why fewer threads than asked for compute a's
// products, once Ready returned (nil: none).
func (a *Arena) ThreadsError() error { return a.threadsErr }

// Threads is how many threads compute the products, once Ready returned.
func (a *Arena) Threads() int { return a.threads }

// String names the level and the threads.
func (a *Arena) String() string { return fmt.Sprintf("%s (%d threads)", a.level, a.threads) }

// Bytes is the arena's size.
func (a *Arena) Bytes() int64 { return int64(a.pool.Call("size").Float()) }

// Close stops the threads, once Ready returned; a does nothing after.
func (a *Arena) Close() {
	a.Ready()
	a.pool.Call("close")
}

// Region is size bytes of the arena from addr: a component file's. It
// implements loader.External.
type Region struct {
	a    *Arena
	addr uint32
	size int64
}

// Alloc returns a new region of size bytes, growing the arena if need be.
func (a *Arena) Alloc(size int64) (*Region, error) {
	addr := uint32(0)
	if size <= 1<<32-1<<16 {
		addr = uint32(a.pool.Call("alloc", size).Int())
	}
	if addr == 0 {
		return nil, fmt.Errorf("kern: the arena cannot grow by %d bytes", size)
	}
	return &Region{a: a, addr: addr, size: size}, nil
}

// Free frees r, and forgets the matrices in it: none may be used again.
func (r *Region) Free() {
	a := r.a
	a.mu.Lock()
	defer a.mu.Unlock()
	for m, w := range a.held {
		if w >= r.addr && int64(w-r.addr) < r.size {
			delete(a.held, m)
		}
	}
	a.pool.Call("dealloc", r.addr)
}

// check checks that [off, off+n) lies in r.
func (r *Region) check(off, n int64) error {
	if off < 0 || n < 0 || off > r.size || n > r.size-off {
		return fmt.Errorf("kern: bytes [%d, +%d) are outside the %d-byte region", off, n, r.size)
	}
	return nil
}

// view is a Uint8Array of r's n bytes from off.
func (r *Region) view(off int64, n int) js.Value {
	return r.a.pool.Call("bytes", r.addr+uint32(off), n)
}

// Write copies p to r's bytes from off.
func (r *Region) Write(off int64, p []byte) error {
	if err := r.check(off, int64(len(p))); err != nil {
		return err
	}
	js.CopyBytesToJS(r.view(off, len(p)), p)
	return nil
}

// WriteJS copies the n bytes of v, a Uint8Array, to r's bytes from off:
// bytes that never pass through Go memory.
func (r *Region) WriteJS(off int64, v js.Value, n int) error {
	if err := r.check(off, int64(n)); err != nil {
		return err
	}
	r.a.pool.Call("write", r.addr+uint32(off), v)
	return nil
}

// Bytes is a Uint8Array of r's bytes in the arena's shared memory, valid
// while r is: a JS loader writes a component's file there.
func (r *Region) Bytes() js.Value {
	return r.view(0, int(r.size))
}

// ReadAt copies r's bytes from off into p (io.ReaderAt).
func (r *Region) ReadAt(p []byte, off int64) (int, error) {
	if err := r.check(off, int64(len(p))); err != nil {
		return 0, err
	}
	if len(p) > 0 {
		js.CopyBytesToGo(p, r.view(off, len(p)))
	}
	return len(p), nil
}

var _ io.ReaderAt = (*Region)(nil)

// Matrix returns the rows×cols matrix in format f whose rows are r's bytes
// from off, held in the arena: a computes its products (quant.NewHeldMatrix).
func (r *Region) Matrix(off int64, rows, cols int, f quant.Format) (*quant.Matrix, error) {
	if !Supports(f) {
		return nil, fmt.Errorf("kern: no kernel for %s matrices", f)
	}
	m, err := quant.NewHeldMatrix(rows, cols, f, r.a)
	if err != nil {
		return nil, err
	}
	if err := r.check(off, int64(m.Size())); err != nil {
		return nil, err
	}
	r.a.mu.Lock()
	defer r.a.mu.Unlock()
	r.a.held[m] = r.addr + uint32(off)
	return m, nil
}

// ReadRow implements quant.RowReader for the matrices in the arena.
func (a *Arena) ReadRow(m *quant.Matrix, i int, dst []byte) {
	a.mu.Lock()
	w, ok := a.held[m]
	a.mu.Unlock()
	if !ok {
		panic("kern: the matrix is not in the arena")
	}
	js.CopyBytesToGo(dst[:m.RowBytes()], a.pool.Call("bytes", w+uint32(i*m.RowBytes()), m.RowBytes()))
}

// MatMul implements quant.Device for the matrices in the arena, once
// Ready.
func (a *Arena) MatMul(dsts [][]float32, ms []*quant.Matrix, x *quant.Batch) error {
	if err := a.Ready(); err != nil {
		return err
	}
	return a.matmul(dsts, ms, x)
}

// matmul is MatMul without waiting for Ready.
func (a *Arena) matmul(dsts [][]float32, ms []*quant.Matrix, x *quant.Batch) error {
	if x.N == 0 || len(ms) == 0 {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	defer a.record(time.Now())
	a.mats = a.mats[:0]
	for i, m := range ms {
		w, ok := a.held[m]
		if !ok {
			return errors.New("kern: a matrix is not in the arena")
		}
		a.mats = append(a.mats, describe(m, w, dsts[i]))
	}
	// The trampoline reads x and writes the products before it returns.
	a.job = job{n: uint32(x.N), cols: uint32(x.Cols), x: addr(&x.F32[0]), nmat: uint32(len(a.mats)), mats: addr(&a.mats[0])}
	rc := threaded(&a.job, a.id)
	runtime.KeepAlive(dsts)
	runtime.KeepAlive(x)
	return jobError(rc)
}

// hold returns a copy of m held in a new region, and a function that
// frees it.
func (a *Arena) hold(m *quant.Matrix) (*quant.Matrix, func(), error) {
	r, err := a.Alloc(int64(len(m.Data)))
	if err != nil {
		return nil, nil, err
	}
	h, err := r.Matrix(0, m.Rows, m.Cols, m.Format)
	if err == nil {
		err = r.Write(0, m.Data)
	}
	if err != nil {
		r.Free()
		return nil, nil, err
	}
	return h, r.Free, nil
}
