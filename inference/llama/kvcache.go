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

// key returns elements [lo, hi) of the key at pos, converted into buf when
// the cache is float16.
func (c *KVCache) key(layer, pos, lo, hi int, buf []float32) []float32 {
	if !c.F16 {
		return c.k32[layer][c.offset(pos)+lo : c.offset(pos)+hi]
	}
	return f16Slice(c.k16[layer][c.offset(pos)+lo:c.offset(pos)+hi], buf)
}

// value is key for values.
func (c *KVCache) value(layer, pos, lo, hi int, buf []float32) []float32 {
	if !c.F16 {
		return c.v32[layer][c.offset(pos)+lo : c.offset(pos)+hi]
	}
	return f16Slice(c.v16[layer][c.offset(pos)+lo:c.offset(pos)+hi], buf)
}

func f16Slice(src []uint16, buf []float32) []float32 {
	buf = buf[:len(src)]
	for i, h := range src {
		buf[i] = quant.F16ToF32(h)
	}
	return buf
}
