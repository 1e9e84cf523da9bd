package quant

import (
	"runtime"
	"sync"
	"sync/atomic"
)

var threads atomic.Int32

func init() { threads.Store(int32(runtime.GOMAXPROCS(0))) }

// SetThreads sets how many goroutines the kernels split work across (at
// least 1). The default is GOMAXPROCS.
func SetThreads(n int) { threads.Store(int32(max(n, 1))) }

// Threads reports the kernels' thread count.
func Threads() int { return int(threads.Load()) }

// parallelFor calls fn on disjoint ranges covering [0, n), each at least
// grain long (but the last), on up to Threads goroutines, and waits.
func parallelFor(n, grain int, fn func(lo, hi int)) {
	parts := min(Threads(), max(n/max(grain, 1), 1))
	if parts <= 1 {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	for p := range parts {
		lo, hi := n*p/parts, n*(p+1)/parts
		if p == parts-1 {
			fn(lo, hi)
			break
		}
		wg.Go(func() { fn(lo, hi) })
	}
	wg.Wait()
}

// ParallelFor is parallelFor for other packages (attention heads, batches).
func ParallelFor(n, grain int, fn func(lo, hi int)) { parallelFor(n, grain, fn) }
