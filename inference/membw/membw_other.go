//go:build !amd64

package membw

import "unsafe"

// readSum reads n bytes (a multiple of 4096) at p.
func readSum(p unsafe.Pointer, n int) uint64 { return readSumGo(p, n) }

// Kernel names the read loop in use.
func Kernel() string { return "go" }
