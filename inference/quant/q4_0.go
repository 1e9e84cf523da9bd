package quant

import (
	"encoding/binary"
	"fmt"
	"math"
)

// GGML Q4_0: blocks of 32 weights, each a float16 scale d then 16 bytes;
// byte j holds code j in its low nibble and code j+16 in its high nibble, and
// w = d × (code − 8).
const q4_0BlockBytes = 2 + 16

type q4_0Codec struct{}

func (q4_0Codec) rowBytes(cols int) int    { return cols / 32 * q4_0BlockBytes }
func (q4_0Codec) activations() activations { return actQ8 }
func (q4_0Codec) checkCols(cols int) error {
	if cols%32 != 0 {
		return fmt.Errorf("quant: q4_0 needs a row length that is a multiple of 32, not %d", cols)
	}
	return nil
}

// quantizeRow follows GGML's reference: the value of largest magnitude maps
// to code 0 (−8), so d = max/−8.
func (q4_0Codec) quantizeRow(dst []byte, src []float32) {
	for b := range len(src) / 32 {
		x := src[b*32 : (b+1)*32]
		blk := dst[b*q4_0BlockBytes : (b+1)*q4_0BlockBytes]
		var amax, vmax float32
		for _, v := range x {
			if abs32(v) > amax {
				amax, vmax = abs32(v), v
			}
		}
		d := vmax / -8
		binary.LittleEndian.PutUint16(blk, F32ToF16(d))
		inv := float32(0)
		if d != 0 {
			inv = 1 / d
		}
		code := func(v float32) byte {
			return byte(min(15, int(math.Floor(float64(v*inv+8.5)))))
		}
		for j := range 16 {
			blk[2+j] = code(x[j]) | code(x[j+16])<<4
		}
	}
}

func (q4_0Codec) dequantizeRow(dst []float32, src []byte) {
	for b := range len(dst) / 32 {
		blk := src[b*q4_0BlockBytes:]
		d := F16ToF32(binary.LittleEndian.Uint16(blk))
		for j := range 16 {
			dst[b*32+j] = d * float32(int(blk[2+j]&0xf)-8)
			dst[b*32+j+16] = d * float32(int(blk[2+j]>>4)-8)
		}
	}
}

func (q4_0Codec) dot(row []byte, x *Batch, t int) float32 {
	q, scale, sum := x.q8Vector(t)
	return dotQ4_0(row, q, scale, sum)
}

// dotQ4_0Generic uses Σ(code−8)·x = Σcode·x − 8·Σx with the block sums of x.
func dotQ4_0Generic(row []byte, q []int8, scale []float32, sum []int32) float32 {
	var total float32
	for b := range len(row) / q4_0BlockBytes {
		blk := row[b*q4_0BlockBytes : (b+1)*q4_0BlockBytes]
		xq := q[b*32 : (b+1)*32]
		var s int32
		for j := range 16 {
			s += int32(blk[2+j]&0xf)*int32(xq[j]) + int32(blk[2+j]>>4)*int32(xq[j+16])
		}
		total += F16ToF32(binary.LittleEndian.Uint16(blk)) * scale[b] * float32(s-8*sum[b])
	}
	return total
}
