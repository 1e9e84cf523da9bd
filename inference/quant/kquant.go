package quant

import (
	"encoding/binary"
	"fmt"
)

// GGML's K-quants Q4_K, Q5_K and Q6_K, run in their stored layout (see
// kquants.go for the block layouts). Their dot products read the activations
// quantized in blocks of 256 (Batch.quantizeK, GGML's Q8_K), as llama.cpp's
// ggml_vec_dot_q*_K_q8_K do: whole super-blocks in integers, one float
// multiply-add per super-block.

type (
	q4KCodec struct{}
	q5KCodec struct{}
	q6KCodec struct{}
)

func checkColsK(name string, cols int) error {
	if cols%qkBlock != 0 {
		return fmt.Errorf("quant: %s needs a row length that is a multiple of 256, not %d", name, cols)
	}
	return nil
}

func (q4KCodec) rowBytes(cols int) int             { return cols / qkBlock * q4KBytes }
func (q4KCodec) checkCols(cols int) error          { return checkColsK("q4_K", cols) }
func (q4KCodec) activations() activations          { return actQ8K }
func (q4KCodec) quantizeRow(d []byte, s []float32) { quantizeRowQ4K(d, s) }
func (q4KCodec) dequantizeRow(dst []float32, src []byte) {
	_ = DequantizeQ4K(dst, src[:len(dst)/qkBlock*q4KBytes])
}
func (q4KCodec) dot(row []byte, x *Batch, t int) float32 {
	q, scale, sum := x.qkVector(t)
	return dotQ4K(row, q, scale, sum)
}

func (q5KCodec) rowBytes(cols int) int             { return cols / qkBlock * q5KBytes }
func (q5KCodec) checkCols(cols int) error          { return checkColsK("q5_K", cols) }
func (q5KCodec) activations() activations          { return actQ8K }
func (q5KCodec) quantizeRow(d []byte, s []float32) { quantizeRowQ5K(d, s) }
func (q5KCodec) dequantizeRow(dst []float32, src []byte) {
	_ = DequantizeQ5K(dst, src[:len(dst)/qkBlock*q5KBytes])
}
func (q5KCodec) dot(row []byte, x *Batch, t int) float32 {
	q, scale, sum := x.qkVector(t)
	return dotQ5K(row, q, scale, sum)
}

func (q6KCodec) rowBytes(cols int) int             { return cols / qkBlock * q6KBytes }
func (q6KCodec) checkCols(cols int) error          { return checkColsK("q6_K", cols) }
func (q6KCodec) activations() activations          { return actQ8K }
func (q6KCodec) quantizeRow(d []byte, s []float32) { quantizeRowQ6K(d, s) }
func (q6KCodec) dequantizeRow(dst []float32, src []byte) {
	_ = DequantizeQ6K(dst, src[:len(dst)/qkBlock*q6KBytes])
}
func (q6KCodec) dot(row []byte, x *Batch, t int) float32 {
	q, scale, sum := x.qkVector(t)
	return dotQ6K(row, q, scale, sum)
}

// kScalesMins unpacks the eight 6-bit scales and mins of a Q4_K or Q5_K
// super-block (get_scale_min_k4 for j = 0…7).
func kScalesMins(packed []byte) (sc, m [8]int32) {
	for j := range 8 {
		s, mm := scaleMinK4(j, packed)
		sc[j], m[j] = int32(s), int32(mm)
	}
	return sc, m
}

// dotQ4KGeneric is Σ d·sc·(code·x) − dmin·m·Σx per sub-block of 32, the
// codes' products and the activations' sums in integers per super-block.
func dotQ4KGeneric(row []byte, q []int8, scale []float32, sum []int16) float32 {
	var total float32
	for i := range len(row) / q4KBytes {
		blk := row[i*q4KBytes : (i+1)*q4KBytes]
		xq, bs := q[i*qkBlock:(i+1)*qkBlock], sum[i*16:(i+1)*16]
		sc, m := kScalesMins(blk[4:16])
		var sumi, summ int32
		for j := range 4 {
			qs := blk[16+32*j : 48+32*j]
			var lo, hi int32
			for l, c := range qs {
				lo += int32(c&0xf) * int32(xq[64*j+l])
				hi += int32(c>>4) * int32(xq[64*j+32+l])
			}
			sumi += sc[2*j]*lo + sc[2*j+1]*hi
		}
		for j := range 8 {
			summ += m[j] * (int32(bs[2*j]) + int32(bs[2*j+1]))
		}
		total += scale[i] * (f16At(blk, 0)*float32(sumi) - f16At(blk, 2)*float32(summ))
	}
	return total
}

// dotQ5KGeneric is dotQ4KGeneric with the fifth bit of each code from qh.
func dotQ5KGeneric(row []byte, q []int8, scale []float32, sum []int16) float32 {
	var total float32
	for i := range len(row) / q5KBytes {
		blk := row[i*q5KBytes : (i+1)*q5KBytes]
		xq, bs := q[i*qkBlock:(i+1)*qkBlock], sum[i*16:(i+1)*16]
		sc, m := kScalesMins(blk[4:16])
		qh := blk[16:48]
		var sumi, summ int32
		for j := range 4 {
			qs := blk[48+32*j : 80+32*j]
			var lo, hi int32
			for l, c := range qs {
				h := qh[l] >> (2 * j)
				lo += int32(c&0xf|(h&1)<<4) * int32(xq[64*j+l])
				hi += int32(c>>4|(h&2)<<3) * int32(xq[64*j+32+l])
			}
			sumi += sc[2*j]*lo + sc[2*j+1]*hi
		}
		for j := range 8 {
			summ += m[j] * (int32(bs[2*j]) + int32(bs[2*j+1]))
		}
		total += scale[i] * (f16At(blk, 0)*float32(sumi) - f16At(blk, 2)*float32(summ))
	}
	return total
}

// dotQ6KGeneric is Σ d·sc·(code−32)·x per sub-block of 16: the unsigned
// codes' products less 32·Σx, in integers per super-block.
func dotQ6KGeneric(row []byte, q []int8, scale []float32, sum []int16) float32 {
	var total float32
	for i := range len(row) / q6KBytes {
		blk := row[i*q6KBytes : (i+1)*q6KBytes]
		xq, bs := q[i*qkBlock:(i+1)*qkBlock], sum[i*16:(i+1)*16]
		var sumi int32
		for n := range 2 {
			ql, qh := blk[64*n:64*n+64], blk[128+32*n:160+32*n]
			sc := blk[192+8*n : 200+8*n]
			xn := xq[128*n : 128*n+128]
			var s [8]int32 // sub-blocks of 16: quarter k, half of 32 is
			for l := range 32 {
				is := l / 16
				s[is] += int32(ql[l]&0xf|(qh[l]&3)<<4) * int32(xn[l])
				s[is+2] += int32(ql[l+32]&0xf|(qh[l]>>2&3)<<4) * int32(xn[l+32])
				s[is+4] += int32(ql[l]>>4|(qh[l]>>4&3)<<4) * int32(xn[l+64])
				s[is+6] += int32(ql[l+32]>>4|(qh[l]>>6&3)<<4) * int32(xn[l+96])
			}
			for k := range 8 {
				sumi += int32(int8(sc[k])) * (s[k] - 32*int32(bs[8*n+k]))
			}
		}
		total += scale[i] * f16At(blk, 208) * float32(sumi)
	}
	return total
}

// putF16 stores x as float16 at b[off:].
func putF16(b []byte, off int, x float32) { binary.LittleEndian.PutUint16(b[off:], F32ToF16(x)) }
