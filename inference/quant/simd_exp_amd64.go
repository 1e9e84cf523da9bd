package quant

// expAVX2 sets dst[i] = e^src[i] for i < n&^7, within 2 ulps (dst may be
// src).
//
//go:noescape
func expAVX2(dst, src *float32, n int)

// expRowAVX2 sets x[i] = e^x[i] through the kernel, the last len(x)%8
// elements too (through a buffer of eight), so that an element's result
// does not depend on where it is.
func expRowAVX2(x []float32) {
	m := len(x) &^ 7
	if m > 0 {
		expAVX2(&x[0], &x[0], m)
	}
	if m < len(x) {
		var tail [8]float32
		n := copy(tail[:], x[m:])
		expAVX2(&tail[0], &tail[0], 8)
		copy(x[m:], tail[:n])
	}
}

// The passes of softmaxAVX2 over n&^7 elements (simd_softmax_amd64.s):
// the maximum (n ≥ 8), the sum (four accumulators of eight lanes, added
// pairwise, then across the lanes), x[i] −= c and x[i] /= d.
//
//go:noescape
func maxAVX2(x *float32, n int) float32

//go:noescape
func sumAVX2(x *float32, n int) float32

//go:noescape
func subAVX2(x *float32, n int, c float32)

//go:noescape
func divAVX2(x *float32, n int, d float32)

// softmaxAVX2 is Softmax with expRowAVX2's e^x, each row's passes eight
// elements at a time and its sum in eight lanes (so not Go's bits, as the
// exponential is not); the elements past the last eight in Go.
func softmaxAVX2(x []float32, n, width int) {
	m8 := width &^ 7
	for t := range n {
		row := x[t*width : (t+1)*width]
		head, tail := row[:m8], row[m8:]
		m := row[0]
		if m8 > 0 {
			m = maxAVX2(&head[0], m8)
		}
		for _, v := range tail {
			m = max(m, v)
		}
		if m8 > 0 {
			subAVX2(&head[0], m8, m)
		}
		for i := range tail {
			tail[i] -= m
		}
		expRowAVX2(row)
		var sum float32
		if m8 > 0 {
			sum = sumAVX2(&head[0], m8)
		}
		for _, v := range tail {
			sum += v
		}
		if m8 > 0 {
			divAVX2(&head[0], m8, sum)
		}
		for i := range tail {
			tail[i] /= sum
		}
	}
}

// swiGLUKernelAVX2 sets gate[i] = gate[i] / (1 + e^−gate[i]) · up[i] for
// i < n&^7, e^x as expAVX2 computes it, each step rounded as Go rounds it.
//
//go:noescape
func swiGLUKernelAVX2(gate, up *float32, n int)

// swiGLUAVX2 is SwiGLU with expRowAVX2's e^x: the kernel over the first
// len(gate)&^7 elements, the rest in Go the same way.
func swiGLUAVX2(gate, up []float32) {
	up = up[:len(gate)]
	m := len(gate) &^ 7
	if m > 0 {
		swiGLUKernelAVX2(&gate[0], &up[0], m)
	}
	g := gate[m:]
	var e [8]float32
	es := e[:len(g)]
	for k, v := range g {
		es[k] = -v
	}
	expRowAVX2(es)
	for k, v := range g {
		g[k] = v / (1 + es[k]) * up[m+k]
	}
}
