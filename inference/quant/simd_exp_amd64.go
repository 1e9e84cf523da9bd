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

// softmaxAVX2 is Softmax with expRowAVX2's e^x.
func softmaxAVX2(x []float32, n, width int) { softmaxWith(x, n, width, expRowAVX2) }

// swiGLUAVX2 is SwiGLU with expRowAVX2's e^x.
func swiGLUAVX2(gate, up []float32) {
	up = up[:len(gate)]
	var e [256]float32
	for i := 0; i < len(gate); i += len(e) {
		g := gate[i:min(i+len(e), len(gate))]
		es := e[:len(g)]
		for k, v := range g {
			es[k] = -v
		}
		expRowAVX2(es)
		for k, v := range g {
			g[k] = v / (1 + es[k]) * up[i+k]
		}
	}
}
