package quant

import (
	"encoding/binary"
	"unsafe"
)

// float32s views little-endian float32 storage without copying.
func float32s(b []byte) []float32 {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), len(b)/4)
}

// uint16s views little-endian 16-bit storage without copying.
func uint16s(b []byte) []uint16 {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Slice((*uint16)(unsafe.Pointer(&b[0])), len(b)/2)
}

// Float32s views little-endian float32 storage (a GGUF F32 tensor, say) as
// []float32 without copying.
func Float32s(b []byte) []float32 { return float32s(b) }

// f32Codec stores rows as float32.
type f32Codec struct{}

func (f32Codec) rowBytes(cols int) int                   { return 4 * cols }
func (f32Codec) checkCols(int) error                     { return nil }
func (f32Codec) activations() activations                { return actF32 }
func (f32Codec) quantizeRow(dst []byte, src []float32)   { copy(float32s(dst), src) }
func (f32Codec) dequantizeRow(dst []float32, src []byte) { copy(dst, float32s(src)) }
func (f32Codec) dot(row []byte, x *Batch, t int) float32 {
	return dotF32Row(float32s(row), x.Vector(t))
}

// f16Codec stores rows as IEEE half precision.
type f16Codec struct{}

func (f16Codec) rowBytes(cols int) int    { return 2 * cols }
func (f16Codec) checkCols(int) error      { return nil }
func (f16Codec) activations() activations { return actF32 }
func (f16Codec) quantizeRow(dst []byte, src []float32) {
	for i, v := range src {
		binary.LittleEndian.PutUint16(dst[2*i:], F32ToF16(v))
	}
}
func (f16Codec) dequantizeRow(dst []float32, src []byte) {
	for i, h := range uint16s(src) {
		dst[i] = F16ToF32(h)
	}
}
func (f16Codec) dot(row []byte, x *Batch, t int) float32 { return dotF16(uint16s(row), x.Vector(t)) }

// bf16Codec stores rows as bfloat16.
type bf16Codec struct{}

func (bf16Codec) rowBytes(cols int) int    { return 2 * cols }
func (bf16Codec) checkCols(int) error      { return nil }
func (bf16Codec) activations() activations { return actF32 }
func (bf16Codec) quantizeRow(dst []byte, src []float32) {
	for i, v := range src {
		binary.LittleEndian.PutUint16(dst[2*i:], F32ToBF16(v))
	}
}
func (bf16Codec) dequantizeRow(dst []float32, src []byte) {
	for i, h := range uint16s(src) {
		dst[i] = BF16ToF32(h)
	}
}
func (bf16Codec) dot(row []byte, x *Batch, t int) float32 {
	return dotBF16(uint16s(row), x.Vector(t))
}

// Dot is the float32 dot product of a and b (len(b) ≥ len(a)), using the
// same kernel as the F32 matrices.
func Dot(a, b []float32) float32 { return dotF32(a, b) }

func dotF32Generic(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

func dotF16Generic(a []uint16, b []float32) float32 {
	b = b[:len(a)]
	var s float32
	for i, h := range a {
		s += F16ToF32(h) * b[i]
	}
	return s
}

func dotBF16Generic(a []uint16, b []float32) float32 {
	b = b[:len(a)]
	var s float32
	for i, h := range a {
		s += BF16ToF32(h) * b[i]
	}
	return s
}

// Float32Bytes views float32 values as their little-endian bytes without
// copying.
func Float32Bytes(f []float32) []byte {
	if len(f) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&f[0])), 4*len(f))
}

// AddScaled adds a·x to dst (len(x) ≥ len(dst)).
func AddScaled(dst []float32, a float32, x []float32) { addScaled(dst, a, x) }

var addScaled = addScaledGeneric

func addScaledGeneric(dst []float32, a float32, x []float32) {
	x = x[:len(dst)]
	for i := range dst {
		dst[i] += a * x[i]
	}
}
