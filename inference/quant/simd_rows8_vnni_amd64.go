package quant

// q8_0I8X4VNNI and q4_0I8X4VNNI are q8_0I8X4AVX2 and q4_0I8X4AVX2 with
// AVX-512 VNNI: the same arguments and bits.
//
//go:noescape
func q8_0I8X4VNNI(il *byte, codes *[4]uintptr, quads *uint32, blocks int, out *[32]float32)

//go:noescape
func q4_0I8X4VNNI(il *byte, codes *[4]uintptr, quads *uint32, blocks int, out *[32]float32)

// q8_0R8X4VNNI and q4_0R8X4VNNI are q8_0R8X4AVX2 and q4_0R8X4AVX2 with
// AVX-512 VNNI: the same arguments and bits.
//
//go:noescape
func q8_0R8X4VNNI(rows *byte, rb int, codes *[4]uintptr, quads *uint32, blocks int, out *[32]float32)

//go:noescape
func q4_0R8X4VNNI(rows *byte, rb int, codes *[4]uintptr, quads *uint32, blocks int, out *[32]float32)

// q4KI8X4VNNI and q6KI8X4VNNI are q4KI8X4AVX2 and q6KI8X4AVX2 with
// AVX-512 VNNI: the same arguments and bits.
//
//go:noescape
func q4KI8X4VNNI(il *byte, codes *[4]uintptr, quads *uint32, blocks int, out *[32]float32)

//go:noescape
func q6KI8X4VNNI(il *byte, codes *[4]uintptr, quads *uint32, blocks int, out *[32]float32)

// q4_0P8VNNI and q4_0P8X4VNNI are q4_0P8AVX2 and q4_0P8X4AVX2 with
// AVX-512 VNNI: the same arguments and bits.
//
//go:noescape
func q4_0P8VNNI(group *byte, q *int8, scale *float32, sum *int32, blocks int, out *[8]float32)

//go:noescape
func q4_0P8X4VNNI(group *byte, codes *[4]uintptr, quads *uint32, blocks int, out *[32]float32)

// q4KP8VNNI and q6KP8VNNI are q4KP8AVX2 and q6KP8AVX2 with AVX-512 VNNI:
// the same arguments and bits.
//
//go:noescape
func q4KP8VNNI(group *byte, q *int8, scale *float32, sum *int16, blocks int, out *[8]float32)

//go:noescape
func q6KP8VNNI(group *byte, q *int8, scale *float32, sum *int16, blocks int, out *[8]float32)

// addRows8VNNI installs the eight-row kernels that use VNNI in k, an
// AVX-512 set built from the AVX2 one.
func addRows8VNNI(k *kernelSet) {
	q8 := *q8_0Rows8
	q8.x4, q8.x4Rows = q8_0I8X4VNNI, q8_0R8X4VNNI
	k.q8_0Tile = q8.mulTile
	q4 := *q4_0Rows8
	q4.x4, q4.x4Rows = q4_0I8X4VNNI, q4_0R8X4VNNI
	k.q4_0Tile = q4.mulTile
	k.q4_0Packed = packedQ4_0Kernels(q4_0P8VNNI, q4_0P8X4VNNI).mulTile
	q4K := *q4KRows8
	q4K.x4 = q4KI8X4VNNI
	k.q4KTile = q4K.mulTile
	q4KPacked := *packedKRows8(q4KRows8, q4KPackedInterleave8AVX2, q4KP8VNNI)
	q4KPacked.x4 = q4KI8X4VNNI
	k.q4KPacked = q4KPacked.mulTile
	q6KPacked := *packedKRows8(q6KRows8, q6KPackedInterleave8AVX2, q6KP8VNNI)
	q6KPacked.x4 = q6KI8X4VNNI
	k.q6KPacked = q6KPacked.mulTile
	q6K := *q6KRows8
	q6K.x4 = q6KI8X4VNNI
	k.q6KTile = q6K.mulTile
}
