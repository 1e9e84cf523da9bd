package quant

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

var threads atomic.Int32

func init() { threads.Store(int32(runtime.GOMAXPROCS(0))) }

// SetThreads sets how many goroutines the kernels split work across (at
// least 1). The default is GOMAXPROCS.
func SetThreads(n int) { threads.Store(int32(max(n, 1))) }

// Threads reports the kernels' thread count.
func Threads() int { return int(threads.Load()) }

// spinFor is how long an idle worker keeps polling for the next job before
// it parks. Decode issues its matrix products microseconds apart, while
// waking a parked thread costs 100–500 µs on a virtual machine: about as
// long as a whole product.
const spinFor = 200 * time.Microsecond

// workers runs parallel jobs on long-lived goroutines, one job at a time.
var workers pool

type pool struct {
	mu   sync.Mutex // held by the goroutine whose job runs
	all  []*worker
	curr atomic.Pointer[job]
}

// job is one parallelFor call: parts claimed one by one by the caller and
// the workers.
type job struct {
	fn       func(lo, hi int)
	n, parts int
	next     atomic.Int32 // next part to claim
	left     atomic.Int32 // parts not finished
}

type worker struct {
	parked atomic.Bool
	wake   chan struct{}
}

// run does parts of j until none is left to claim.
func (j *job) run() {
	for {
		p := int(j.next.Add(1)) - 1
		if p >= j.parts {
			return
		}
		j.fn(j.n*p/j.parts, j.n*(p+1)/j.parts)
		j.left.Add(-1)
	}
}

// loop runs every job published after the worker starts.
func (w *worker) loop(p *pool, seen *job) {
	for {
		j := w.await(p, seen)
		seen = j
		j.run()
	}
}

// await returns the next job after seen: polling for spinFor, then parked
// until parallelFor wakes it.
func (w *worker) await(p *pool, seen *job) *job {
	deadline := time.Now().Add(spinFor)
	for spins := 1; ; spins++ {
		if j := p.curr.Load(); j != seen {
			return j
		}
		// The clock is read every 32 polls: on some virtual machines
		// reading it costs more than a poll.
		if spins%32 != 0 || time.Now().Before(deadline) {
			runtime.Gosched()
			continue
		}
		w.parked.Store(true)
		if j := p.curr.Load(); j != seen { // published while parking
			w.parked.Store(false)
			return j
		}
		<-w.wake
		w.parked.Store(false)
		deadline, spins = time.Now().Add(spinFor), 0
	}
}

// parallelFor calls fn on disjoint ranges covering [0, n), each at least
// grain long (but the last), on up to Threads goroutines, and waits. While
// another goroutine's job runs (or fn itself calls parallelFor) it runs fn
// on the calling goroutine alone.
func parallelFor(n, grain int, fn func(lo, hi int)) {
	parts := min(Threads(), max(n/max(grain, 1), 1))
	if parts <= 1 || !workers.mu.TryLock() {
		fn(0, n)
		return
	}
	defer workers.mu.Unlock()
	for len(workers.all) < parts-1 {
		w := &worker{wake: make(chan struct{}, 1)}
		workers.all = append(workers.all, w)
		go w.loop(&workers, workers.curr.Load())
	}
	j := &job{fn: fn, n: n, parts: parts}
	j.left.Store(int32(parts))
	workers.curr.Store(j)
	for _, w := range workers.all[:parts-1] {
		if w.parked.Load() {
			select {
			case w.wake <- struct{}{}:
			default:
			}
		}
	}
	j.run()
	for j.left.Load() > 0 {
		runtime.Gosched()
	}
}

// ParallelFor is parallelFor for other packages (attention heads, batches).
func ParallelFor(n, grain int, fn func(lo, hi int)) { parallelFor(n, grain, fn) }
