package membw

import (
	"fmt"
	"math"
	"testing"
	"unsafe"
)

func TestReadBandwidthSmall(t *testing.T) {
	for _, threads := range []int{1, 2, 3} {
		bw := ReadBandwidth(threads, 1<<20, 2)
		if !(bw > 0) || math.IsInf(bw, 0) || math.IsNaN(bw) {
			t.Fatalf("ReadBandwidth(%d, 1 MiB, 2) = %v, want a positive finite rate", threads, bw)
		}
	}
}

func TestReadSumMatchesGo(t *testing.T) {
	buf := alignedBuffer(64 << 10)
	for i := range buf {
		buf[i] = uint64(i)*0x9e3779b97f4a7c15 + 7
	}
	p := unsafe.Pointer(&buf[0])
	for _, n := range []int{0, 4096, 8192, 64 << 10} {
		if got, want := readSum(p, n), readSumGo(p, n); got != want {
			t.Errorf("readSum (%s) of %d bytes = %#x, want %#x", Kernel(), n, got, want)
		}
	}
}

// BenchmarkReadBandwidth reports main-memory read bandwidth (256 MiB buffer)
// at 1 and 2 threads as GB/s.
func BenchmarkReadBandwidth(b *testing.B) {
	for _, threads := range []int{1, 2} {
		b.Run(fmt.Sprintf("threads=%d", threads), func(b *testing.B) {
			var bw float64
			for range b.N {
				bw = ReadBandwidth(threads, 0, 3)
			}
			b.ReportMetric(bw/1e9, "GB/s")
			b.ReportMetric(0, "ns/op")
		})
	}
}
