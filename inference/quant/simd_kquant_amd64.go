package quant

import (
	"runtime"
	"unsafe"
)

// The K-quant kernels read nsb super-blocks of a row and of the activations
// (256 codes, a scale and 16 sums each). They need AVX2, FMA and F16C, so
// they serve the AVX-512 kernel set too.
//
//go:noescape
func dotQ4KAVX2(row *byte, q *int8, scale *float32, sum *int16, nsb int) float32

//go:noescape
func dotQ5KAVX2(row *byte, q *int8, scale *float32, sum *int16, nsb int) float32

//go:noescape
func dotQ6KAVX2(row *byte, q *int8, scale *float32, sum *int16, nsb int) float32

// q5KX4AVX2 multiplies one Q5_K row of nsb super-blocks by four vectors
// whose codes, scales and sums start at acts[3v], acts[3v+1], acts[3v+2]:
// out[v] has the bits dotQ5KAVX2 gives. acc is its scratch.
//
//go:noescape
func q5KX4AVX2(row *byte, acts *[12]uintptr, nsb int, acc *[64]float32, out *[4]float32)

// kX4Kernel is the signature of the one-row four-vector kernels.
type kX4Kernel func(row *byte, acts *[12]uintptr, nsb int, acc *[64]float32, out *[4]float32)

// kTileAVX2 returns Matrix.MatMul's kernel for a K-quant format: vectors
// four at a time through kernel, each row's codes unpacked once for the
// four, the rest one at a time through the codec's dot product (which
// gives the same bits).
func kTileAVX2(c codec, blockBytes int, kernel kX4Kernel) func(dst []float32, ld int, tile []byte, r0, n int, x *Batch) {
	return func(dst []float32, ld int, tile []byte, r0, n int, x *Batch) {
		rb := len(tile) / n
		nsb := rb / blockBytes
		t := 0
		if nsb > 0 {
			var (
				acts [12]uintptr
				acc  [64]float32
				out  [4]float32
			)
			for ; t+4 <= x.N; t += 4 {
				for v := range 4 {
					q, scale, sum := x.qkVector(t + v)
					_, _, _ = q[nsb*qkBlock-1], scale[nsb-1], sum[nsb*16-1]
					acts[3*v] = uintptr(unsafe.Pointer(&q[0]))
					acts[3*v+1] = uintptr(unsafe.Pointer(&scale[0]))
					acts[3*v+2] = uintptr(unsafe.Pointer(&sum[0]))
				}
				for i := range n {
					kernel(&tile[i*rb], &acts, nsb, &acc, &out)
					for v, s := range out {
						dst[(t+v)*ld+r0+i] = s
					}
				}
			}
			runtime.KeepAlive(x) // acts points into its buffers
		}
		for ; t < x.N; t++ {
			out := dst[t*ld+r0 : t*ld+r0+n]
			for i := range out {
				out[i] = c.dot(tile[i*rb:(i+1)*rb], x, t)
			}
		}
	}
}

// kDotAVX2 wraps a K-quant kernel with the bounds checks it leaves to Go.
func kDotAVX2(blockBytes int, kernel func(row *byte, q *int8, scale *float32, sum *int16, nsb int) float32) func(row []byte, q []int8, scale []float32, sum []int16) float32 {
	return func(row []byte, q []int8, scale []float32, sum []int16) float32 {
		nsb := len(row) / blockBytes
		if nsb == 0 {
			return 0
		}
		_, _, _ = q[nsb*qkBlock-1], scale[nsb-1], sum[nsb*16-1]
		return kernel(&row[0], &q[0], &scale[0], &sum[0], nsb)
	}
}

// addKQuantAVX2 installs the K-quant kernels in k.
func addKQuantAVX2(k *kernelSet) {
	k.q4K = kDotAVX2(q4KBytes, dotQ4KAVX2)
	k.q4KTile = q4KRows8.mulTile
	k.q4KPacked = q4KPackedRows8.mulTile
	k.q6KPacked = q6KPackedRows8.mulTile
	k.kQuadBatch, k.k6QuadBatch = prepareKQuads, prepareK6Quads
	k.q5KTile = kTileAVX2(q5KCodec{}, q5KBytes, q5KX4AVX2)
	k.q6KTile = q6KRows8.mulTile
	k.q5K = kDotAVX2(q5KBytes, dotQ5KAVX2)
	k.q6K = kDotAVX2(q6KBytes, dotQ6KAVX2)
}
