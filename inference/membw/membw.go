// Package membw measures the machine's memory read bandwidth: the rate at
// which a few threads can stream a buffer larger than the last-level cache
// into registers. Kernels that stream weights (quantized matrix-vector
// products) report their speed as a fraction of it.
package membw

import (
	"math"
	"runtime"
	"sync/atomic"
	"time"
	"unsafe"
)

// DefaultBytes is the buffer ReadBandwidth reads when asked for 0 bytes: well
// beyond the last-level cache of current CPUs.
const DefaultBytes = 256 << 20

// chunk is the granularity of the readers: every thread's share is a whole
// number of chunks (the SIMD loops read 512 bytes per iteration).
const chunk = 4096

// ReadBandwidth allocates a buffer of about bytes bytes (DefaultBytes when
// bytes ≤ 0), writes it once so its pages are resident, then has threads
// goroutines (at least 1) each sum-read their contiguous share of it with the
// widest loads the CPU offers. It returns the best of rounds (at least 1)
// passes, in bytes per second. Use a buffer several times the last-level
// cache to measure main memory; a small one measures the caches.
//
// The readers are started and spin until all of them run before the clock
// starts, so the time to wake idle cores (hundreds of microseconds in some
// virtual machines) is not counted; the calling goroutine reads the first
// share itself.
func ReadBandwidth(threads int, bytes int, rounds int) float64 {
	threads = max(threads, 1)
	rounds = max(rounds, 1)
	if bytes <= 0 {
		bytes = DefaultBytes
	}
	// Each thread reads whole chunks; round the buffer up to that.
	per := (bytes/threads + chunk - 1) / chunk * chunk
	total := per * threads
	buf := alignedBuffer(total)
	for i := range buf {
		buf[i] = uint64(i) * 0x9e3779b97f4a7c15
	}
	part := func(t int) unsafe.Pointer { return unsafe.Pointer(&buf[t*per/8]) }

	// Busy waits yield when the readers outnumber the processors.
	spinWait := func() {}
	if threads > runtime.GOMAXPROCS(0) {
		spinWait = runtime.Gosched
	}
	best := math.Inf(1)
	results := make([]uint64, threads) // kept so the reads have a use
	for range rounds {
		var ready, done atomic.Int32
		var start atomic.Bool
		for t := 1; t < threads; t++ {
			go func() {
				ready.Add(1)
				for !start.Load() {
					spinWait()
				}
				results[t] = readSum(part(t), per)
				done.Add(1)
			}()
		}
		for ready.Load() < int32(threads-1) {
			spinWait()
		}
		t0 := time.Now()
		start.Store(true)
		results[0] = readSum(part(0), per)
		for done.Load() < int32(threads-1) {
			spinWait()
		}
		best = min(best, time.Since(t0).Seconds())
	}
	runtime.KeepAlive(buf)
	if best <= 0 {
		best = 1e-9
	}
	return float64(total) / best
}

// alignedBuffer returns n bytes (a multiple of 8) starting on a 64-byte
// boundary, as uint64 words.
func alignedBuffer(n int) []uint64 {
	raw := make([]uint64, n/8+8)
	off := 0
	for uintptr(unsafe.Pointer(&raw[off]))%64 != 0 {
		off++
	}
	return raw[off : off+n/8]
}

// readSumGo sums n bytes (a multiple of 64) of 64-bit words at p with eight
// independent accumulators.
func readSumGo(p unsafe.Pointer, n int) uint64 {
	w := unsafe.Slice((*uint64)(p), n/8)
	var s0, s1, s2, s3, s4, s5, s6, s7 uint64
	for i := 0; i+8 <= len(w); i += 8 {
		v := w[i : i+8 : i+8]
		s0 += v[0]
		s1 += v[1]
		s2 += v[2]
		s3 += v[3]
		s4 += v[4]
		s5 += v[5]
		s6 += v[6]
		s7 += v[7]
	}
	return s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7
}
