package membw

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

//go:noescape
func readSumAVX512(p unsafe.Pointer, n int) uint64

//go:noescape
func readSumAVX2(p unsafe.Pointer, n int) uint64

var kernel = "go"

func init() {
	switch {
	case cpu.X86.HasAVX512F:
		kernel = "avx512"
	case cpu.X86.HasAVX2:
		kernel = "avx2"
	}
}

// Kernel names the read loop in use: "avx512", "avx2" or "go".
func Kernel() string { return kernel }

// readSum reads n bytes (a multiple of 4096) at p.
func readSum(p unsafe.Pointer, n int) uint64 {
	switch kernel {
	case "avx512":
		return readSumAVX512(p, n)
	case "avx2":
		return readSumAVX2(p, n)
	}
	return readSumGo(p, n)
}
