package quant

import (
	"math"
	"sync"
)

// q8Block is the number of activations that share one 8-bit scale.
const q8Block = 32

// Batch is N activation vectors of Cols values each, the right-hand side of a
// matrix product. Formats with integer weights read the vectors quantized to
// 8 bits in blocks of 32 (like GGML's Q8_0), computed once per Batch on first
// use; the last block of a vector is zero-padded. The K-quant formats read
// them quantized in blocks of 256 (GGML's Q8_K), also computed on first use.
type Batch struct {
	N, Cols int
	F32     []float32 // N×Cols, row-major

	quantized bool
	q8        []int8    // N×paddedCols
	q8Scale   []float32 // N×blocks: value = q8 × scale
	q8Sum     []int32   // N×blocks: sum of the block's q8 values

	quantizedK bool
	qk         []int8    // N×Cols (Cols a multiple of 256)
	qkScale    []float32 // N×Cols/256: value = qk × scale
	qkSum      []int16   // N×Cols/16: sums of 16 consecutive qk

	// quads is what the AVX2 Q8_0 and Q4_0 tiles read of each four vectors
	// (Batch.scaleQuads), built by the first tile that needs it (tiles run
	// in parallel, hence the lock).
	quadsMu    sync.Mutex
	quadsReady bool
	quads      []uint32
	// kquads and k6quads are the same for the AVX2 Q4_K and Q6_K tiles
	// (Batch.kQuads, Batch.k6Quads).
	kQuadsReady, k6QuadsReady bool
	kquads, k6quads           []uint32
}

// NewBatch wraps n vectors of cols values held in x (len n×cols).
func NewBatch(x []float32, n, cols int) *Batch {
	b := &Batch{}
	b.Reset(x, n, cols)
	return b
}

// Reset makes b wrap new vectors, reusing its buffers.
func (b *Batch) Reset(x []float32, n, cols int) {
	if len(x) != n*cols {
		panic("quant: batch length does not match n×cols")
	}
	b.N, b.Cols, b.F32, b.quantized, b.quantizedK = n, cols, x[:n*cols], false, false
	b.quadsReady, b.kQuadsReady, b.k6QuadsReady = false, false, false
}

// Vector returns vector t.
func (b *Batch) Vector(t int) []float32 { return b.F32[t*b.Cols : (t+1)*b.Cols] }

func (b *Batch) blocks() int { return (b.Cols + q8Block - 1) / q8Block }

// quantize fills the 8-bit copy if it is not current.
func (b *Batch) quantize() {
	if b.quantized {
		return
	}
	nb := b.blocks()
	b.q8 = grow(b.q8, b.N*nb*q8Block)
	b.q8Scale = grow(b.q8Scale, b.N*nb)
	b.q8Sum = grow(b.q8Sum, b.N*nb)
	parallelFor(b.N, 4, func(lo, hi int) {
		for t := lo; t < hi; t++ {
			q, scale, sum := b.q8Vector(t)
			quantizeQ8Row(q, scale, sum, b.Vector(t))
		}
	})
	b.quantized = true
}

// quantizeQ8Block rounds x to q×scale with q in [-127, 127]; q beyond len(x)
// is zero. It returns the scale and the sum of q.
func quantizeQ8Block(q []int8, x []float32) (scale float32, sum int32) {
	var amax float32
	for _, v := range x {
		amax = max(amax, abs32(v))
	}
	clear(q)
	if amax == 0 {
		return 0, 0
	}
	scale = amax / 127
	inv := 1 / scale
	for i, v := range x {
		r := int32(math.RoundToEven(float64(v * inv)))
		q[i] = int8(r)
		sum += r
	}
	return scale, sum
}

// qkBlock is the number of activations that share one scale in the
// K-quants' 8-bit form.
const qkBlock = 256

// quantizeK fills the K-quants' 8-bit copy if it is not current; Cols must
// be a multiple of 256.
func (b *Batch) quantizeK() {
	if b.quantizedK {
		return
	}
	b.qk = grow(b.qk, b.N*b.Cols)
	b.qkScale = grow(b.qkScale, b.N*b.Cols/qkBlock)
	b.qkSum = grow(b.qkSum, b.N*b.Cols/16)
	parallelFor(b.N, 4, func(lo, hi int) {
		for t := lo; t < hi; t++ {
			q, scale, sum := b.qkVector(t)
			quantizeQ8KRow(q, scale, sum, b.Vector(t))
		}
	})
	b.quantizedK = true
}

// qkVector returns vector t's 8-bit blocks of 256, their scales and their
// sums per 16.
func (b *Batch) qkVector(t int) (q []int8, scale []float32, sum []int16) {
	nb := b.Cols / qkBlock
	return b.qk[t*b.Cols : (t+1)*b.Cols], b.qkScale[t*nb : (t+1)*nb], b.qkSum[t*nb*16 : (t+1)*nb*16]
}

// quantizeQ8KRow quantizes vector x (a whole number of blocks of 256) as
// quantizeQ8KRowGeneric; the SIMD versions give the same bits for finite x.
var quantizeQ8KRow = quantizeQ8KRowGeneric

// quantizeQ8KRowGeneric is GGML's quantize_row_q8_K_ref: per block of 256, the
// value of largest magnitude maps to ∓127, q = round-half-even(x·(−127/max))
// (at most 127), scale = 1/(−127/max) (0 for a block of zeros), and the sums
// of each 16 codes.
func quantizeQ8KRowGeneric(q []int8, scale []float32, sum []int16, x []float32) {
	for i := range len(x) / qkBlock {
		xb, qb := x[i*qkBlock:(i+1)*qkBlock], q[i*qkBlock:(i+1)*qkBlock]
		var amax, vmax float32
		for _, v := range xb {
			if a := abs32(v); a > amax {
				amax, vmax = a, v
			}
		}
		if amax == 0 {
			scale[i] = 0
			clear(qb)
			clear(sum[i*16 : (i+1)*16])
			continue
		}
		iscale := -127 / vmax
		for j, v := range xb {
			qb[j] = int8(min(127, int32(math.RoundToEven(float64(iscale*v)))))
		}
		for j := range 16 {
			var s int16
			for _, c := range qb[16*j : 16*j+16] {
				s += int16(c)
			}
			sum[i*16+j] = s
		}
		scale[i] = 1 / iscale
	}
}

// Q8 returns the vectors quantized to 8 bits in blocks of 32, as the kernels
// of the integer formats read them: the codes (⌈Cols/32⌉×32 per vector, zero
// past Cols), and each block's scale and sum of codes (⌈Cols/32⌉ per
// vector). A Device that computes those formats' products as the CPU
// kernels do reads them.
func (b *Batch) Q8() (q []int8, scale []float32, sum []int32) {
	b.quantize()
	return b.q8, b.q8Scale, b.q8Sum
}

// q8 returns vector t's 8-bit blocks, their scales and sums.
func (b *Batch) q8Vector(t int) (q []int8, scale []float32, sum []int32) {
	nb := b.blocks()
	return b.q8[t*nb*q8Block : (t+1)*nb*q8Block], b.q8Scale[t*nb : (t+1)*nb], b.q8Sum[t*nb : (t+1)*nb]
}

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

func abs32(x float32) float32 { return math.Float32frombits(math.Float32bits(x) &^ (1 << 31)) }
