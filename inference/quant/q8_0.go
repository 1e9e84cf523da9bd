package quant

import (
	"encoding/binary"
	"fmt"
	"math"
)

// GGML Q8_0: blocks of 32 weights, each a float16 scale d then 32 int8 codes;
// w = d × q.
const q8_0BlockBytes = 2 + 32

type q8_0Codec struct{}

func (q8_0Codec) rowBytes(cols int) int    { return cols / 32 * q8_0BlockBytes }
func (q8_0Codec) activations() activations { return actQ8 }
func (q8_0Codec) checkCols(cols int) error {
	if cols%32 != 0 {
		return fmt.Errorf("quant: q8_0 needs a row length that is a multiple of 32, not %d", cols)
	}
	return nil
}

func (q8_0Codec) quantizeRow(dst []byte, src []float32) {
	for b := range len(src) / 32 {
		x := src[b*32 : (b+1)*32]
		blk := dst[b*q8_0BlockBytes : (b+1)*q8_0BlockBytes]
		var amax float32
		for _, v := range x {
			amax = max(amax, abs32(v))
		}
		d := amax / 127
		binary.LittleEndian.PutUint16(blk, F32ToF16(d))
		inv := float32(0)
		if d != 0 {
			inv = 1 / d
		}
		for i, v := range x {
			blk[2+i] = byte(int8(math.RoundToEven(float64(v * inv))))
		}
	}
}

func (q8_0Codec) dequantizeRow(dst []float32, src []byte) {
	for b := range len(dst) / 32 {
		blk := src[b*q8_0BlockBytes:]
		d := F16ToF32(binary.LittleEndian.Uint16(blk))
		for i := range 32 {
			dst[b*32+i] = d * float32(int8(blk[2+i]))
		}
	}
}

func (q8_0Codec) dot(row []byte, x *Batch, t int) float32 {
	q, scale, _ := x.q8Vector(t)
	return dotQ8_0(row, q, scale)
}

func dotQ8_0Generic(row []byte, q []int8, scale []float32) float32 {
	var sum float32
	for b := range len(row) / q8_0BlockBytes {
		blk := row[b*q8_0BlockBytes : (b+1)*q8_0BlockBytes]
		xq := q[b*32 : (b+1)*32]
		var s int32
		for i := range 32 {
			s += int32(int8(blk[2+i])) * int32(xq[i])
		}
		sum += F16ToF32(binary.LittleEndian.Uint16(blk)) * scale[b] * float32(s)
	}
	return sum
}
