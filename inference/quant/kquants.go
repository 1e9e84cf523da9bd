package quant

import (
	"encoding/binary"
	"fmt"
)

// Dequantizers for GGML block formats that accel imports but does not run
// natively: Q4_1, Q5_0, Q5_1 (blocks of 32) and the K-quants Q2_K … Q6_K
// (super-blocks of 256). Each follows llama.cpp's reference
// dequantize_row_* (ggml-quants.c) and block layouts (ggml-common.h) exactly,
// including the order of float32 operations; explicit float32 conversions keep
// the compiler from fusing a multiply and an add, so results are bit-identical
// to the C reference built without FMA contraction.
//
// Each function takes dst sized to the element count (a multiple of the block
// size) and src holding exactly len(dst)/blockSize blocks.

// Block sizes in bytes.
const (
	q4_1Bytes = 2 + 2 + 16            // d, m, qs[16]
	q5_0Bytes = 2 + 4 + 16            // d, qh[4], qs[16]
	q5_1Bytes = 2 + 2 + 4 + 16        // d, m, qh[4], qs[16]
	q2KBytes  = 16 + 64 + 2 + 2       // scales[16], qs[64], d, dmin
	q3KBytes  = 32 + 64 + 12 + 2      // hmask[32], qs[64], scales[12], d
	q4KBytes  = 2 + 2 + 12 + 128      // d, dmin, scales[12], qs[128]
	q5KBytes  = 2 + 2 + 12 + 32 + 128 // d, dmin, scales[12], qh[32], qs[128]
	q6KBytes  = 128 + 64 + 16 + 2     // ql[128], qh[64], scales[16] (int8), d
)

// kqBlocks checks dst and src sizes and returns the number of blocks.
func kqBlocks(name string, dst []float32, src []byte, qk, blockBytes int) (int, error) {
	if len(dst)%qk != 0 {
		return 0, fmt.Errorf("quant: %s: %d elements is not a multiple of the block size %d", name, len(dst), qk)
	}
	nb := len(dst) / qk
	if len(src) != nb*blockBytes {
		return 0, fmt.Errorf("quant: %s: %d elements need %d bytes (%d blocks of %d), got %d",
			name, len(dst), nb*blockBytes, nb, blockBytes, len(src))
	}
	return nb, nil
}

func f16At(b []byte, off int) float32 { return F16ToF32(binary.LittleEndian.Uint16(b[off:])) }

// DequantizeQ4_1 decodes GGML Q4_1: per 32 values a float16 scale d, a float16
// min m and 16 bytes of 4-bit codes (byte j: value j low nibble, value j+16
// high nibble); w = code·d + m.
func DequantizeQ4_1(dst []float32, src []byte) error {
	nb, err := kqBlocks("q4_1", dst, src, 32, q4_1Bytes)
	if err != nil {
		return err
	}
	for i := range nb {
		x := src[i*q4_1Bytes : (i+1)*q4_1Bytes]
		y := dst[i*32 : (i+1)*32]
		d, m := f16At(x, 0), f16At(x, 2)
		qs := x[4:20]
		for j := range 16 {
			y[j] = float32(float32(qs[j]&0x0F)*d) + m
			y[j+16] = float32(float32(qs[j]>>4)*d) + m
		}
	}
	return nil
}

// DequantizeQ5_0 decodes GGML Q5_0: per 32 values a float16 scale d, a
// little-endian uint32 qh of fifth bits (bit j for value j) and 16 bytes of low
// nibbles as in Q4_0; w = (code − 16)·d.
func DequantizeQ5_0(dst []float32, src []byte) error {
	nb, err := kqBlocks("q5_0", dst, src, 32, q5_0Bytes)
	if err != nil {
		return err
	}
	for i := range nb {
		x := src[i*q5_0Bytes : (i+1)*q5_0Bytes]
		y := dst[i*32 : (i+1)*32]
		d := f16At(x, 0)
		qh := binary.LittleEndian.Uint32(x[2:])
		qs := x[6:22]
		for j := range 16 {
			xh0 := uint8(qh>>j<<4) & 0x10
			xh1 := uint8(qh>>(j+12)) & 0x10
			x0 := int32(qs[j]&0x0F|xh0) - 16
			x1 := int32(qs[j]>>4|xh1) - 16
			y[j] = float32(x0) * d
			y[j+16] = float32(x1) * d
		}
	}
	return nil
}

// DequantizeQ5_1 decodes GGML Q5_1: like Q5_0 with a float16 min m after d and
// unsigned codes; w = code·d + m.
func DequantizeQ5_1(dst []float32, src []byte) error {
	nb, err := kqBlocks("q5_1", dst, src, 32, q5_1Bytes)
	if err != nil {
		return err
	}
	for i := range nb {
		x := src[i*q5_1Bytes : (i+1)*q5_1Bytes]
		y := dst[i*32 : (i+1)*32]
		d, m := f16At(x, 0), f16At(x, 2)
		qh := binary.LittleEndian.Uint32(x[4:])
		qs := x[8:24]
		for j := range 16 {
			xh0 := uint8(qh>>j<<4) & 0x10
			xh1 := uint8(qh>>(j+12)) & 0x10
			x0 := qs[j]&0x0F | xh0
			x1 := qs[j]>>4 | xh1
			y[j] = float32(float32(x0)*d) + m
			y[j+16] = float32(float32(x1)*d) + m
		}
	}
	return nil
}

// DequantizeQ2K decodes GGML Q2_K: 16 sub-blocks of 16 values, each with a
// 4-bit scale (low nibble) and 4-bit min (high nibble) in scales[16], 2-bit
// codes in qs[64], then float16 d and dmin; w = d·sc·code − dmin·m.
func DequantizeQ2K(dst []float32, src []byte) error {
	nb, err := kqBlocks("q2_K", dst, src, 256, q2KBytes)
	if err != nil {
		return err
	}
	for i := range nb {
		x := src[i*q2KBytes : (i+1)*q2KBytes]
		y := dst[i*256 : (i+1)*256]
		scales, qs := x[0:16], x[16:80]
		d, dmin := f16At(x, 80), f16At(x, 82)
		is, k := 0, 0
		for n := 0; n < 256; n += 128 {
			q := qs[n/4 : n/4+32]
			for shift := uint(0); shift < 8; shift += 2 {
				for half := 0; half < 2; half++ {
					sc := scales[is]
					is++
					dl, ml := d*float32(sc&0xF), dmin*float32(sc>>4)
					for l := range 16 {
						y[k] = float32(dl*float32((q[l+16*half]>>shift)&3)) - ml
						k++
					}
				}
			}
		}
	}
	return nil
}

// DequantizeQ3K decodes GGML Q3_K: 16 sub-blocks of 16 values with 6-bit
// signed scales (stored +32) packed in scales[12], 2-bit low codes in qs[64],
// high bits in hmask[32] (a clear bit subtracts 4), then float16 d;
// w = d·(sc−32)·(code − 4·!hbit).
func DequantizeQ3K(dst []float32, src []byte) error {
	nb, err := kqBlocks("q3_K", dst, src, 256, q3KBytes)
	if err != nil {
		return err
	}
	var sc [16]int8
	for i := range nb {
		x := src[i*q3KBytes : (i+1)*q3KBytes]
		y := dst[i*256 : (i+1)*256]
		hm, qs, packed := x[0:32], x[32:96], x[96:108]
		dAll := f16At(x, 108)
		q3KScales(&sc, packed)
		is, k := 0, 0
		m := uint8(1)
		for n := 0; n < 256; n += 128 {
			q := qs[n/4 : n/4+32]
			for shift := uint(0); shift < 8; shift += 2 {
				for half := 0; half < 2; half++ {
					dl := dAll * float32(sc[is]-32)
					is++
					for l := range 16 {
						code := int8((q[l+16*half] >> shift) & 3)
						if hm[l+16*half]&m == 0 {
							code -= 4
						}
						y[k] = dl * float32(code)
						k++
					}
				}
				m <<= 1
			}
		}
	}
	return nil
}

// q3KScales unpacks Q3_K's 16 6-bit scales: scale j has its low 4 bits in
// packed[j] (low nibble, j < 8) or packed[j−8] (high nibble, j ≥ 8) and its top
// 2 bits in packed[8 + j%4] at bit 2·(j/4).
func q3KScales(sc *[16]int8, packed []byte) {
	for j := range 16 {
		var lo uint8
		if j < 8 {
			lo = packed[j] & 0xF
		} else {
			lo = packed[j-8] >> 4
		}
		hi := (packed[8+j%4] >> (2 * (j / 4))) & 3
		sc[j] = int8(lo | hi<<4)
	}
}

// scaleMinK4 is get_scale_min_k4: the j-th (0..7) 6-bit scale and min of
// Q4_K/Q5_K, packed in 12 bytes.
func scaleMinK4(j int, q []byte) (sc, m uint8) {
	if j < 4 {
		return q[j] & 63, q[j+4] & 63
	}
	return q[j+4]&0xF | (q[j-4]>>6)<<4, q[j+4]>>4 | (q[j]>>6)<<4
}

// DequantizeQ4K decodes GGML Q4_K: float16 d and dmin, eight 6-bit scale/min
// pairs packed in scales[12], then 4-bit codes in qs[128] (each 32 bytes hold
// 64 values: low nibbles first, then high nibbles); w = d·sc·code − dmin·m.
func DequantizeQ4K(dst []float32, src []byte) error {
	nb, err := kqBlocks("q4_K", dst, src, 256, q4KBytes)
	if err != nil {
		return err
	}
	for i := range nb {
		x := src[i*q4KBytes : (i+1)*q4KBytes]
		y := dst[i*256 : (i+1)*256]
		d, dmin := f16At(x, 0), f16At(x, 2)
		scales, qs := x[4:16], x[16:144]
		for j := range 4 {
			sc, m := scaleMinK4(2*j, scales)
			d1, m1 := d*float32(sc), dmin*float32(m)
			sc, m = scaleMinK4(2*j+1, scales)
			d2, m2 := d*float32(sc), dmin*float32(m)
			q := qs[32*j : 32*j+32]
			yy := y[64*j : 64*j+64]
			for l := range 32 {
				yy[l] = float32(d1*float32(q[l]&0xF)) - m1
				yy[l+32] = float32(d2*float32(q[l]>>4)) - m2
			}
		}
	}
	return nil
}

// DequantizeQ5K decodes GGML Q5_K: as Q4_K with a fifth bit per value in
// qh[32] (bit 2j for the low-nibble values of group j, bit 2j+1 for the high
// ones); w = d·sc·code − dmin·m.
func DequantizeQ5K(dst []float32, src []byte) error {
	nb, err := kqBlocks("q5_K", dst, src, 256, q5KBytes)
	if err != nil {
		return err
	}
	for i := range nb {
		x := src[i*q5KBytes : (i+1)*q5KBytes]
		y := dst[i*256 : (i+1)*256]
		d, dmin := f16At(x, 0), f16At(x, 2)
		scales, qh, qs := x[4:16], x[16:48], x[48:176]
		for j := range 4 {
			sc, m := scaleMinK4(2*j, scales)
			d1, m1 := d*float32(sc), dmin*float32(m)
			sc, m = scaleMinK4(2*j+1, scales)
			d2, m2 := d*float32(sc), dmin*float32(m)
			u1, u2 := uint8(1)<<(2*j), uint8(2)<<(2*j)
			ql := qs[32*j : 32*j+32]
			yy := y[64*j : 64*j+64]
			for l := range 32 {
				c1, c2 := ql[l]&0xF, ql[l]>>4
				if qh[l]&u1 != 0 {
					c1 += 16
				}
				if qh[l]&u2 != 0 {
					c2 += 16
				}
				yy[l] = float32(d1*float32(c1)) - m1
				yy[l+32] = float32(d2*float32(c2)) - m2
			}
		}
	}
	return nil
}

// DequantizeQ6K decodes GGML Q6_K: 6-bit codes split into low 4 bits ql[128]
// and high 2 bits qh[64], 16 int8 scales (one per 16 values), then float16 d;
// w = d·sc·(code − 32).
func DequantizeQ6K(dst []float32, src []byte) error {
	nb, err := kqBlocks("q6_K", dst, src, 256, q6KBytes)
	if err != nil {
		return err
	}
	for i := range nb {
		x := src[i*q6KBytes : (i+1)*q6KBytes]
		d := f16At(x, 208)
		for n := range 2 {
			y := dst[i*256+128*n : i*256+128*n+128]
			ql := x[64*n : 64*n+64]
			qh := x[128+32*n : 128+32*n+32]
			sc := x[192+8*n : 192+8*n+8]
			for l := range 32 {
				is := l / 16
				q1 := int8(ql[l]&0xF|(qh[l]>>0&3)<<4) - 32
				q2 := int8(ql[l+32]&0xF|(qh[l]>>2&3)<<4) - 32
				q3 := int8(ql[l]>>4|(qh[l]>>4&3)<<4) - 32
				q4 := int8(ql[l+32]>>4|(qh[l]>>6&3)<<4) - 32
				y[l] = d * float32(int8(sc[is])) * float32(q1)
				y[l+32] = d * float32(int8(sc[is+2])) * float32(q2)
				y[l+64] = d * float32(int8(sc[is+4])) * float32(q3)
				y[l+96] = d * float32(int8(sc[is+6])) * float32(q4)
			}
		}
	}
	return nil
}
