package llama

import "github.com/ipfs-accelerate/accel/inference/quant"

// KVCache holds the rotated keys and the values of past positions for each
// layer its session runs, in float32 or float16. It grows as positions
// arrive, up to Capacity positions; with a sliding window it then keeps
// only the last Capacity positions, in a ring.
type KVCache struct {
	Capacity, KVDim int
	Window          bool // positions beyond Capacity overwrite the oldest
	F16             bool

	held     []bool      // the layers it stores
	k32, v32 [][]float32 // [layer][slot×KVDim]
	k16, v16 [][]uint16
}

// newKVCache makes a cache for the layers held marks.
func newKVCache(held []bool, capacity, kvDim int, window, f16 bool) *KVCache {
	c := &KVCache{Capacity: capacity, KVDim: kvDim, Window: window, F16: f16, held: held}
	if f16 {
		c.k16, c.v16 = make([][]uint16, len(held)), make([][]uint16, len(held))
	} else {
		c.k32, c.v32 = make([][]float32, len(held)), make([][]float32, len(held))
	}
	return c
}

// Bytes is the memory the cache holds now.
func (c *KVCache) Bytes() int {
	n := 0
	for l := range c.k32 {
		n += 4 * (cap(c.k32[l]) + cap(c.v32[l]))
	}
	for l := range c.k16 {
		n += 2 * (cap(c.k16[l]) + cap(c.v16[l]))
	}
	return n
}

func (c *KVCache) offset(pos int) int { return pos % c.Capacity * c.KVDim }

// reserve makes room for positions below end in every held layer,
// doubling the allocation as needed so that growth costs amortised O(1)
// per position.
func (c *KVCache) reserve(end int) {
	need, limit := min(end, c.Capacity)*c.KVDim, c.Capacity*c.KVDim
	for l, held := range c.held {
		if !held {
			continue
		}
		if c.F16 {
			c.k16[l], c.v16[l] = growTo(c.k16[l], need, limit), growTo(c.v16[l], need, limit)
		} else {
			c.k32[l], c.v32[l] = growTo(c.k32[l], need, limit), growTo(c.v32[l], need, limit)
		}
	}
}

func growTo[T any](s []T, n, limit int) []T {
	if n <= len(s) {
		return s
	}
	if n > cap(s) {
		grown := make([]T, len(s), min(max(n, 2*cap(s)), limit))
		copy(grown, s)
		s = grown
	}
	return s[:n]
}

// put stores the key and value of position pos.
func (c *KVCache) put(layer, pos int, k, v []float32) {
	o := c.offset(pos)
	if !c.F16 {
		copy(c.k32[layer][o:o+c.KVDim], k)
		copy(c.v32[layer][o:o+c.KVDim], v)
		return
	}
	for i := range c.KVDim {
		c.k16[layer][o+i] = quant.F32ToF16(k[i])
		c.v16[layer][o+i] = quant.F32ToF16(v[i])
	}
}

// rows returns elements [lo, hi) of the keys (the values when values is
// set) of the n positions from first, in order, as runs of rows: one, or
// two where the ring wraps. A float16 cache's are converted into buf
// (n·(hi−lo) values).
func (c *KVCache) rows(layer, first, n, lo, hi int, values bool, buf []float32) (runs [2]quant.Rows, count int) {
	w := hi - lo
	if c.F16 {
		src := c.k16[layer]
		if values {
			src = c.v16[layer]
		}
		for j := range n {
			o := c.offset(first + j)
			f16Slice(src[o+lo:o+hi], buf[j*w:])
		}
		runs[0] = quant.Rows{Data: buf[:n*w], Width: w, Stride: w, Count: n}
		return runs, 1
	}
	src := c.k32[layer]
	if values {
		src = c.v32[layer]
	}
	slot := first % c.Capacity
	head := min(n, c.Capacity-slot)
	runs[0] = quant.Rows{Data: src[slot*c.KVDim+lo:], Width: w, Stride: c.KVDim, Count: head}
	if head == n {
		return runs, 1
	}
	runs[1] = quant.Rows{Data: src[lo:], Width: w, Stride: c.KVDim, Count: n - head}
	return runs, 2
}

func f16Slice(src []uint16, buf []float32) []float32 {
	buf = buf[:len(src)]
	for i, h := range src {
		buf[i] = quant.F16ToF32(h)
	}
	return buf
}
