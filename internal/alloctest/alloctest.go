// Package alloctest checks that a decoder's memory follows the bytes a
// peer sent it rather than what the peer announced: Reader counts the
// bytes delivered, and Allocated measures the heap bytes a call allocates.
package alloctest

import (
	"io"
	"runtime"
)

// Reader delivers R's bytes and counts them.
type Reader struct {
	R io.Reader
	N int // bytes delivered so far
}

func (r *Reader) Read(p []byte) (int, error) {
	n, err := r.R.Read(p)
	r.N += n
	return n, err
}

// Allocated returns the heap bytes allocated while f ran (the growth of
// runtime.MemStats.TotalAlloc). It runs f on one processor, as
// testing.AllocsPerRun does, after letting the goroutines ready to run
// (the test framework's) go first, so that only f's allocations count as
// long as f does not block.
func Allocated(f func()) uint64 {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	runtime.Gosched()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}
