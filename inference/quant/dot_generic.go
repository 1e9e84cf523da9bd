package quant

// Kernels without SIMD; platforms with SIMD kernels replace these at init.
var (
	dotF32 = dotF32Generic
	// dotF32Row is an F32 matrix row's product (see kernelSet.f32Row).
	dotF32Row = dotF32Generic
	dotF16    = dotF16Generic
	dotBF16   = dotBF16Generic
	dotQ8_0   = dotQ8_0Generic
	dotQ4_0   = dotQ4_0Generic
	dotQ4K    = dotQ4KGeneric
	dotQ5K    = dotQ5KGeneric
	dotQ6K    = dotQ6KGeneric
)
