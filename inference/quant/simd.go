package quant

import (
	"os"
	"strings"
)

// kernelSet is one implementation of the dot-product kernels. Platforms with
// SIMD kernels register theirs at init; the generic Go kernels are the
// reference they are tested against.
type kernelSet struct {
	name string
	f32  func(a, b []float32) float32
	// f32Row is an F32 matrix row's product with a vector, as the f32Tile
	// kernel computes it; nil means f32.
	f32Row func(a, b []float32) float32
	f16    func(a []uint16, b []float32) float32
	bf16   func(a []uint16, b []float32) float32
	axpy   func(dst []float32, a float32, x []float32) // nil: addScaledGeneric
	q8_0   func(row []byte, q []int8, scale []float32) float32
	q4_0   func(row []byte, q []int8, scale []float32, sum []int32) float32

	// K-quant dot kernels over activations in blocks of 256 (Batch.qkVector);
	// nil means the generic one.
	q4K, q5K, q6K func(row []byte, q []int8, scale []float32, sum []int16) float32

	// q8quant quantizes one activation vector to 8-bit blocks of 32 (see
	// quantizeQ8Row).
	q8quant func(q []int8, scale []float32, sum []int32, x []float32)
	// q8kquant quantizes one activation vector to 8-bit blocks of 256 (see
	// quantizeQ8KRow); nil means the generic one.
	q8kquant func(q []int8, scale []float32, sum []int16, x []float32)

	// Optional tile kernels for Matrix.MatMul (see tileMultiplier): several
	// rows and vectors per call, so weights and activations loaded into
	// registers are reused. nil means one dot product per row and vector.
	q8_0Tile func(dst []float32, ld int, tile []byte, r0, n int, x *Batch)
	q4_0Tile func(dst []float32, ld int, tile []byte, r0, n int, x *Batch)
	// q4_0Packed, q4KPacked, q6KPacked and f16Packed are q4_0Tile,
	// q4KTile, q6KTile and f16Tile for whole packed groups (see Pack); nil
	// means matrices of the format are not packed.
	q4_0Packed, q4KPacked, q6KPacked, f16Packed groupKernel
	// quadBatch lays out a batch for q8_0Tile and q4_0Tile (see
	// batchPreparer); nil means they need none.
	quadBatch func(x *Batch)
	// kQuadBatch and k6QuadBatch lay out a batch for q4KTile and q6KTile;
	// nil means they need none.
	kQuadBatch, k6QuadBatch func(x *Batch)
	f32Tile                 func(dst []float32, ld int, tile []byte, r0, n int, x *Batch)
	f16Tile                 func(dst []float32, ld int, tile []byte, r0, n int, x *Batch)
	q4KTile                 func(dst []float32, ld int, tile []byte, r0, n int, x *Batch)
	q5KTile                 func(dst []float32, ld int, tile []byte, r0, n int, x *Batch)
	q6KTile                 func(dst []float32, ld int, tile []byte, r0, n int, x *Batch)

	// softmax and swiglu are Softmax and SwiGLU (vector.go) on this
	// level, within a few ulps of SoftmaxGo and SwiGLUGo; nil means those.
	softmax func(x []float32, n, width int)
	swiglu  func(gate, up []float32)
	// dotRows and addRows are DotRows and AddRows on this level, bit for
	// bit Dot and AddScaled row by row; nil means those.
	dotRows func(dst []float32, ld int, x []float32, n int, r Rows)
	addRows func(dst, a []float32, lda, n int, r Rows)

	// Int format dot kernels (int_dot.go's signature); nil means the generic
	// one.
	int2Dot, int3Dot, int4Dot, int8Dot func(row []byte, group int, asym bool, q []int8, xs []float32, xsum []int32) float32
	// intTile is the Int formats' tile kernel (as q4_0Tile); it reports false
	// for a bit width it does not take. nil means one dot product per row and
	// vector.
	intTile func(c *intCodec, dst []float32, ld int, tile []byte, r0, n int, x *Batch) bool
}

var genericKernels = &kernelSet{
	name: "generic",
	f32:  dotF32Generic,
	f16:  dotF16Generic,
	bf16: dotBF16Generic,
	q8_0: dotQ8_0Generic,
	q4_0: dotQ4_0Generic,

	int2Dot: dotInt2Generic,
	int3Dot: dotInt3Generic,
	int4Dot: dotInt4Generic,
	int8Dot: dotInt8Generic,

	q8quant: quantizeQ8RowGeneric,
}

// quantizeQ8Row quantizes vector x into ⌈len(x)/32⌉ blocks: codes q (32 per
// block, zero past len(x)), scales and sums of codes, block by block exactly
// as quantizeQ8Block. The SIMD versions give the same bits for finite x.
var quantizeQ8Row = quantizeQ8RowGeneric

func quantizeQ8RowGeneric(q []int8, scale []float32, sum []int32, x []float32) {
	for i := range (len(x) + q8Block - 1) / q8Block {
		blk := x[i*q8Block : min((i+1)*q8Block, len(x))]
		scale[i], sum[i] = quantizeQ8Block(q[i*q8Block:(i+1)*q8Block], blk)
	}
}

var (
	// simdSets are the platform's SIMD kernel sets, best first.
	simdSets []*kernelSet
	// active is the kernel set in use.
	active = genericKernels
)

// SIMDEnv is the environment variable read at start-up to pick the kernels:
// "off" (or "0", "generic") forces the generic Go kernels, a level name
// ("avx512", "avx2") picks that level if the CPU has it; unset or "on" uses
// the best the CPU offers.
const SIMDEnv = "ACCEL_SIMD"

// registerSIMD is called by a platform's init with the kernel sets the CPU
// supports, best first, and applies SIMDEnv.
func registerSIMD(sets ...*kernelSet) {
	simdSets = sets
	switch env := strings.ToLower(strings.TrimSpace(os.Getenv(SIMDEnv))); env {
	case "off", "0", "false", "no", "generic":
		use(genericKernels)
	case "", "on", "1", "true", "yes":
		SetSIMD(true)
	default:
		if !selectSIMD(env) {
			SetSIMD(true)
		}
	}
}

// SetSIMD switches the matrix kernels between the best SIMD kernels the CPU
// supports (on) and the portable Go kernels (off), and reports whether SIMD
// kernels were in use before. Where the platform has no SIMD kernels it does
// nothing and reports false. It must not be called while matrix products
// run; tests use it to check the SIMD kernels against the Go ones on the
// same machine.
func SetSIMD(on bool) (was bool) {
	was = active != genericKernels
	if on && len(simdSets) > 0 {
		use(simdSets[0])
	} else {
		use(genericKernels)
	}
	return was
}

// SIMD names the kernels in use: "generic", or a SIMD level such as
// "avx512" or "avx2".
func SIMD() string { return active.name }

// SIMDLevels lists the SIMD kernel levels this CPU supports, best first.
func SIMDLevels() []string {
	var names []string
	for _, k := range simdSets {
		names = append(names, k.name)
	}
	return names
}

// selectSIMD switches to the named kernel set and reports whether it exists.
func selectSIMD(name string) bool {
	if name == genericKernels.name {
		use(genericKernels)
		return true
	}
	for _, k := range simdSets {
		if k.name == name {
			use(k)
			return true
		}
	}
	return false
}

func use(k *kernelSet) {
	active = k
	dotF32, dotF16, dotBF16, dotQ8_0, dotQ4_0 = k.f32, k.f16, k.bf16, k.q8_0, k.q4_0
	dotF32Row = k.f32Row
	if dotF32Row == nil {
		dotF32Row = k.f32
	}
	addScaled = addScaledGeneric
	if k.axpy != nil {
		addScaled = k.axpy
	}
	quantizeQ8Row = quantizeQ8RowGeneric
	if k.q8quant != nil {
		quantizeQ8Row = k.q8quant
	}
	quantizeQ8KRow = quantizeQ8KRowGeneric
	if k.q8kquant != nil {
		quantizeQ8KRow = k.q8kquant
	}
	dotQ4K, dotQ5K, dotQ6K = dotQ4KGeneric, dotQ5KGeneric, dotQ6KGeneric
	if k.q4K != nil {
		dotQ4K = k.q4K
	}
	if k.q5K != nil {
		dotQ5K = k.q5K
	}
	if k.q6K != nil {
		dotQ6K = k.q6K
	}
	dotInt2, dotInt3, dotInt4, dotInt8 = dotInt2Generic, dotInt3Generic, dotInt4Generic, dotInt8Generic
	if k.int2Dot != nil {
		dotInt2 = k.int2Dot
	}
	if k.int3Dot != nil {
		dotInt3 = k.int3Dot
	}
	if k.int4Dot != nil {
		dotInt4 = k.int4Dot
	}
	if k.int8Dot != nil {
		dotInt8 = k.int8Dot
	}
}

// mulTile multiplies a tile of Q8_0 rows with every vector of x.
func (c q8_0Codec) mulTile(dst []float32, ld int, tile []byte, r0, n int, x *Batch) {
	mulTileWith(active.q8_0Tile, 1, c, dst, ld, tile, r0, n, x)
}

// prepareBatch lays x out for the Q8_0 tile kernel, where it needs that.
func (q8_0Codec) prepareBatch(x *Batch) {
	if k := active.quadBatch; k != nil {
		k(x)
	}
}

// prepareBatch lays x out for the Q4_0 tile kernel, where it needs that.
func (q4_0Codec) prepareBatch(x *Batch) {
	if k := active.quadBatch; k != nil {
		k(x)
	}
}

// mulTile multiplies a tile of Q4_0 rows with every vector of x.
func (c q4_0Codec) mulTile(dst []float32, ld int, tile []byte, r0, n int, x *Batch) {
	mulTileWith(active.q4_0Tile, 1, c, dst, ld, tile, r0, n, x)
}

// mulTile multiplies a tile of F32 rows with every vector of x.
func (c f32Codec) mulTile(dst []float32, ld int, tile []byte, r0, n int, x *Batch) {
	mulTileWith(active.f32Tile, 1, c, dst, ld, tile, r0, n, x)
}

// mulTile multiplies a tile of F16 rows with every vector of x.
func (c f16Codec) mulTile(dst []float32, ld int, tile []byte, r0, n int, x *Batch) {
	mulTileWith(active.f16Tile, 1, c, dst, ld, tile, r0, n, x)
}

// mulTileWith multiplies a tile with kernel k where k is not nil and x
// holds at least from vectors, else one dot product per row and vector.
func mulTileWith(k func(dst []float32, ld int, tile []byte, r0, n int, x *Batch), from int, c codec, dst []float32, ld int, tile []byte, r0, n int, x *Batch) {
	if k != nil && x.N >= from {
		k(dst, ld, tile, r0, n, x)
		return
	}
	mulTileGeneric(c, dst, ld, tile, r0, n, x)
}

// mulTile multiplies a tile of Q4_K rows with every vector of x.
func (c q4KCodec) mulTile(dst []float32, ld int, tile []byte, r0, n int, x *Batch) {
	mulTileWith(active.q4KTile, 1, c, dst, ld, tile, r0, n, x)
}

// prepareBatch lays x out for the Q4_K tile kernel, where it needs that.
func (q4KCodec) prepareBatch(x *Batch) {
	if k := active.kQuadBatch; k != nil {
		k(x)
	}
}

// laysOut reports whether the Q4_K tile kernel lays rows out for n vectors.
func (q4KCodec) laysOut(n int) bool { return n >= 4 && active.q4KTile != nil }

// laysOut reports whether the Q6_K tile kernel lays rows out for n vectors.
func (q6KCodec) laysOut(n int) bool { return n >= 4 && active.q6KTile != nil }

// mulTile multiplies a tile of Q5_K rows with every vector of x.
func (c q5KCodec) mulTile(dst []float32, ld int, tile []byte, r0, n int, x *Batch) {
	mulTileWith(active.q5KTile, 4, c, dst, ld, tile, r0, n, x)
}

// mulTile multiplies a tile of Q6_K rows with every vector of x.
func (c q6KCodec) mulTile(dst []float32, ld int, tile []byte, r0, n int, x *Batch) {
	mulTileWith(active.q6KTile, 1, c, dst, ld, tile, r0, n, x)
}

// prepareBatch lays x out for the Q6_K tile kernel, where it needs that.
func (q6KCodec) prepareBatch(x *Batch) {
	if k := active.k6QuadBatch; k != nil {
		k(x)
	}
}

// mulTile multiplies a tile of Int rows with every vector of x.
func (c *intCodec) mulTile(dst []float32, ld int, tile []byte, r0, n int, x *Batch) {
	if k := active.intTile; k != nil && k(c, dst, ld, tile, r0, n, x) {
		return
	}
	mulTileGeneric(c, dst, ld, tile, r0, n, x)
}

// mulTileGeneric is one dot product per row and vector.
func mulTileGeneric(c codec, dst []float32, ld int, tile []byte, r0, n int, x *Batch) {
	rb := len(tile) / n
	for t := range x.N {
		out := dst[t*ld+r0 : t*ld+r0+n]
		for i := range out {
			out[i] = c.dot(tile[i*rb:(i+1)*rb], x, t)
		}
	}
}
