package quant

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
	k.q5K = kDotAVX2(q5KBytes, dotQ5KAVX2)
	k.q6K = kDotAVX2(q6KBytes, dotQ6KAVX2)
}
