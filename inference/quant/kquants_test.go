package quant

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// The packers below follow llama.cpp's quantize_row_*_ref bit packing, a code
// path independent of the dequantizers: blocks are built from logical codes,
// scales and mins, and the expected weights come from the per-element formula
// of each format.

func kqPutF16(b []byte, v float32) { binary.LittleEndian.PutUint16(b, F32ToF16(v)) }

// kqF16r rounds v to the nearest float16, as stored.
func kqF16r(v float32) float32 { return F16ToF32(F32ToF16(v)) }

func kqCheckClose(t *testing.T, name string, got []float32, want []float64) {
	t.Helper()
	for i := range want {
		if diff := math.Abs(float64(got[i]) - want[i]); diff > 1e-5*math.Max(1, math.Abs(want[i])) {
			t.Fatalf("%s: element %d = %g, want %g", name, i, got[i], want[i])
		}
	}
}

// --- Q4_1 / Q5_0 / Q5_1 -----------------------------------------------------

func kqPackQ4_1(d, m float32, L []uint8) []byte {
	b := make([]byte, 20)
	kqPutF16(b, d)
	kqPutF16(b[2:], m)
	for j := range 16 {
		b[4+j] = L[j] | L[j+16]<<4
	}
	return b
}

func kqPackQ5(d, m float32, L []uint8, withMin bool) []byte {
	off := 2
	b := make([]byte, 22)
	kqPutF16(b, d)
	if withMin {
		b = make([]byte, 24)
		kqPutF16(b, d)
		kqPutF16(b[2:], m)
		off = 4
	}
	var qh uint32
	for j := range 16 {
		b[off+4+j] = L[j]&0x0F | (L[j+16]&0x0F)<<4
		qh |= uint32(L[j]&0x10) >> 4 << j
		qh |= uint32(L[j+16]&0x10) >> 4 << (j + 16)
	}
	binary.LittleEndian.PutUint32(b[off:], qh)
	return b
}

func TestDequantizeQ4_1Q5(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const nb = 3
	var s41, s50, s51 []byte
	var w41, w50, w51 []float64
	for range nb {
		d, m := kqF16r(r.Float32()-0.5), kqF16r(r.Float32()*4-2)
		L4, L5 := make([]uint8, 32), make([]uint8, 32)
		for j := range 32 {
			L4[j], L5[j] = uint8(r.IntN(16)), uint8(r.IntN(32))
		}
		s41 = append(s41, kqPackQ4_1(d, m, L4)...)
		s50 = append(s50, kqPackQ5(d, 0, L5, false)...)
		s51 = append(s51, kqPackQ5(d, m, L5, true)...)
		for j := range 32 {
			w41 = append(w41, float64(L4[j])*float64(d)+float64(m))
			w50 = append(w50, float64(int(L5[j])-16)*float64(d))
			w51 = append(w51, float64(L5[j])*float64(d)+float64(m))
		}
	}
	got := make([]float32, 32*nb)
	if err := DequantizeQ4_1(got, s41); err != nil {
		t.Fatal(err)
	}
	kqCheckClose(t, "q4_1", got, w41)
	if err := DequantizeQ5_0(got, s50); err != nil {
		t.Fatal(err)
	}
	kqCheckClose(t, "q5_0", got, w50)
	if err := DequantizeQ5_1(got, s51); err != nil {
		t.Fatal(err)
	}
	kqCheckClose(t, "q5_1", got, w51)
}

func TestDequantizeSmallHand(t *testing.T) {
	y := make([]float32, 32)

	// Q4_1: d = 0.5, m = −1; element 20 is the high nibble of qs[4].
	b := make([]byte, 20)
	kqPutF16(b, 0.5)
	kqPutF16(b[2:], -1)
	b[4+4] = 13 << 4
	if err := DequantizeQ4_1(y, b); err != nil {
		t.Fatal(err)
	}
	if y[20] != 5.5 || y[4] != -1 {
		t.Errorf("q4_1: y[20] = %g (want 5.5), y[4] = %g (want -1)", y[20], y[4])
	}

	// Q5_0: d = 0.25; element 17 = high nibble of qs[1] (3) + qh bit 17 → 19;
	// element 2 has code 0 → −16·d.
	b = make([]byte, 22)
	kqPutF16(b, 0.25)
	binary.LittleEndian.PutUint32(b[2:], 1<<17)
	b[6+1] = 3 << 4
	if err := DequantizeQ5_0(y, b); err != nil {
		t.Fatal(err)
	}
	if y[17] != 0.75 || y[2] != -4 || y[1] != -4 {
		t.Errorf("q5_0: y[17] = %g (want 0.75), y[2] = %g, y[1] = %g (want -4)", y[17], y[2], y[1])
	}

	// Q5_1: d = 2, m = −3; element 5 = low nibble 7 + qh bit 5 → 23 → 43.
	b = make([]byte, 24)
	kqPutF16(b, 2)
	kqPutF16(b[2:], -3)
	binary.LittleEndian.PutUint32(b[4:], 1<<5)
	b[8+5] = 7
	if err := DequantizeQ5_1(y, b); err != nil {
		t.Fatal(err)
	}
	if y[5] != 43 || y[21] != -3 {
		t.Errorf("q5_1: y[5] = %g (want 43), y[21] = %g (want -3)", y[5], y[21])
	}
}

// --- K-quants ---------------------------------------------------------------

// kqPackQ2K: Ls, Lm are 4-bit scales and mins of the 16 sub-blocks, L 2-bit codes.
func kqPackQ2K(d, dmin float32, Ls, Lm, L []uint8) []byte {
	b := make([]byte, 84)
	for j := range 16 {
		b[j] = Ls[j] | Lm[j]<<4
	}
	qs := b[16:80]
	for j := 0; j < 256; j += 128 {
		for l := range 32 {
			qs[j/4+l] = L[j+l] | L[j+l+32]<<2 | L[j+l+64]<<4 | L[j+l+96]<<6
		}
	}
	kqPutF16(b[80:], d)
	kqPutF16(b[82:], dmin)
	return b
}

// kqPackQ3K: Ls are 6-bit stored scales (value+32), L 3-bit codes (value+4).
func kqPackQ3K(d float32, Ls []uint8, Lin []uint8) []byte {
	b := make([]byte, 110)
	L := append([]uint8(nil), Lin...)
	hmask, qs, scales := b[0:32], b[32:96], b[96:108]
	for j := range 16 {
		l := Ls[j]
		if j < 8 {
			scales[j] = l & 0xF
		} else {
			scales[j-8] |= (l & 0xF) << 4
		}
		l >>= 4
		scales[j%4+8] |= l << (2 * (j / 4))
	}
	m, hm := 0, uint8(1)
	for j := range 256 {
		if L[j] > 3 {
			hmask[m] |= hm
			L[j] -= 4
		}
		if m++; m == 32 {
			m, hm = 0, hm<<1
		}
	}
	for j := 0; j < 256; j += 128 {
		for l := range 32 {
			qs[j/4+l] = L[j+l] | L[j+l+32]<<2 | L[j+l+64]<<4 | L[j+l+96]<<6
		}
	}
	kqPutF16(b[108:], d)
	return b
}

// kqPackScalesK4 packs eight 6-bit scales and mins as quantize_row_q4_K_ref.
func kqPackScalesK4(dst []byte, ls, lm []uint8) {
	for j := range 8 {
		if j < 4 {
			dst[j] = ls[j]
			dst[j+4] = lm[j]
		} else {
			dst[j+4] = ls[j]&0xF | (lm[j]&0xF)<<4
			dst[j-4] |= (ls[j] >> 4) << 6
			dst[j] |= (lm[j] >> 4) << 6
		}
	}
}

func kqPackQ4K(d, dmin float32, ls, lm, L []uint8) []byte {
	b := make([]byte, 144)
	kqPutF16(b, d)
	kqPutF16(b[2:], dmin)
	kqPackScalesK4(b[4:16], ls, lm)
	q := b[16:]
	for j := 0; j < 256; j += 64 {
		for l := range 32 {
			q[l] = L[j+l] | L[j+l+32]<<4
		}
		q = q[32:]
	}
	return b
}

func kqPackQ5K(d, dmin float32, ls, lm, L []uint8) []byte {
	b := make([]byte, 176)
	kqPutF16(b, d)
	kqPutF16(b[2:], dmin)
	kqPackScalesK4(b[4:16], ls, lm)
	packQ5KCodes(b[16:48], b[48:], L)
	return b
}

// kqPackQ6K: L are 6-bit codes (value+32), sc the 16 int8 scales.
func kqPackQ6K(d float32, sc []int8, L []uint8) []byte {
	b := make([]byte, 210)
	ql, qh := b[0:128], b[128:192]
	for j := 0; j < 256; j += 128 {
		for l := range 32 {
			q1, q2, q3, q4 := L[j+l]&0xF, L[j+l+32]&0xF, L[j+l+64]&0xF, L[j+l+96]&0xF
			ql[l] = q1 | q3<<4
			ql[l+32] = q2 | q4<<4
			qh[l] = L[j+l]>>4 | (L[j+l+32]>>4)<<2 | (L[j+l+64]>>4)<<4 | (L[j+l+96]>>4)<<6
		}
		ql, qh = ql[64:], qh[32:]
	}
	for i, s := range sc {
		b[192+i] = uint8(s)
	}
	kqPutF16(b[208:], d)
	return b
}

func kqRandCodes(r *rand.Rand, n, max int) []uint8 {
	out := make([]uint8, n)
	for i := range out {
		out[i] = uint8(r.IntN(max))
	}
	return out
}

func TestDequantizeKQuants(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	const nb = 3
	type kqCase struct {
		fn   func([]float32, []byte) error
		src  []byte
		want []float64
	}
	cases := map[string]*kqCase{
		"q2_K": {fn: DequantizeQ2K}, "q3_K": {fn: DequantizeQ3K}, "q4_K": {fn: DequantizeQ4K},
		"q5_K": {fn: DequantizeQ5K}, "q6_K": {fn: DequantizeQ6K},
	}
	for range nb {
		d, dmin := kqF16r(r.Float32()*0.1), kqF16r(r.Float32()*0.1)
		fd, fm := float64(d), float64(dmin)

		// Q2_K
		ls, lm, L := kqRandCodes(r, 16, 16), kqRandCodes(r, 16, 16), kqRandCodes(r, 256, 4)
		c := cases["q2_K"]
		c.src = append(c.src, kqPackQ2K(d, dmin, ls, lm, L)...)
		for e := range 256 {
			c.want = append(c.want, fd*float64(ls[e/16])*float64(L[e])-fm*float64(lm[e/16]))
		}

		// Q3_K: stored scale s ∈ [0,64) means s−32; stored code q ∈ [0,8) means q−4.
		ls, L = kqRandCodes(r, 16, 64), kqRandCodes(r, 256, 8)
		c = cases["q3_K"]
		c.src = append(c.src, kqPackQ3K(d, ls, L)...)
		for e := range 256 {
			c.want = append(c.want, fd*float64(int(ls[e/16])-32)*float64(int(L[e])-4))
		}

		// Q4_K and Q5_K: eight sub-blocks of 32 with 6-bit scales and mins.
		ls, lm = kqRandCodes(r, 8, 64), kqRandCodes(r, 8, 64)
		L4, L5 := kqRandCodes(r, 256, 16), kqRandCodes(r, 256, 32)
		cases["q4_K"].src = append(cases["q4_K"].src, kqPackQ4K(d, dmin, ls, lm, L4)...)
		cases["q5_K"].src = append(cases["q5_K"].src, kqPackQ5K(d, dmin, ls, lm, L5)...)
		for e := range 256 {
			s, m := float64(ls[e/32]), float64(lm[e/32])
			cases["q4_K"].want = append(cases["q4_K"].want, fd*s*float64(L4[e])-fm*m)
			cases["q5_K"].want = append(cases["q5_K"].want, fd*s*float64(L5[e])-fm*m)
		}

		// Q6_K: signed 8-bit scales, including the extremes.
		sc := make([]int8, 16)
		for i := range sc {
			sc[i] = int8(r.IntN(256) - 128)
		}
		sc[0], sc[15] = -128, 127
		L = kqRandCodes(r, 256, 64)
		c = cases["q6_K"]
		c.src = append(c.src, kqPackQ6K(d, sc, L)...)
		for e := range 256 {
			c.want = append(c.want, fd*float64(sc[e/16])*float64(int(L[e])-32))
		}
	}
	for name, c := range cases {
		got := make([]float32, 256*nb)
		if err := c.fn(got, c.src); err != nil {
			t.Fatal(err)
		}
		kqCheckClose(t, name, got, c.want)
	}
}

// Specific positions with hand-computed bytes and results, exercising the
// high bits of the 6-bit packed scales and the sign handling.
func TestDequantizeKQuantsHand(t *testing.T) {
	y := make([]float32, 256)

	// Q2_K: d = 0.5, dmin = 1. Element 100 is sub-block 6 and sits in qs[4]
	// at bits 6–7 (first 128-chunk, 4th shift, first half, l = 4).
	b := make([]byte, 84)
	b[6] = 3 | 2<<4 // scale 3, min 2
	b[16+4] = 2 << 6
	kqPutF16(b[80:], 0.5)
	kqPutF16(b[82:], 1)
	if err := DequantizeQ2K(y, b); err != nil {
		t.Fatal(err)
	}
	if y[100] != 1 || y[101] != -2 || y[0] != 0 {
		t.Errorf("q2_K: y[100] = %g (want 0.5·3·2 − 2 = 1), y[101] = %g (want -2), y[0] = %g", y[100], y[101], y[0])
	}

	// Q3_K: d = 0.5. Element 200 is sub-block 12, second 128-chunk: low bits in
	// qs[32+8] bits 4–5, high bit in hmask[8] bit 6. Scale 12 stored 27 (−5):
	// low nibble 11 in the high nibble of scales[4], top bits 01 in scales[8]
	// bits 6–7.
	b = make([]byte, 110)
	b[32+32+8] = 3 << 4
	b[96+4] = 11 << 4
	b[96+8] = 1 << 6
	kqPutF16(b[108:], 0.5)
	if err := DequantizeQ3K(y, b); err != nil {
		t.Fatal(err)
	}
	// hmask bit clear: code 3 − 4 = −1 → 0.5·(−5)·(−1) = 2.5. Element 201 has
	// code 0 − 4: 0.5·(−5)·(−4) = 10. Element 0: scale 0 stored 0 (−32), code −4 → 64.
	if y[200] != 2.5 || y[201] != 10 || y[0] != 64 {
		t.Errorf("q3_K: y[200] = %g (want 2.5), y[201] = %g (want 10), y[0] = %g (want 64)", y[200], y[201], y[0])
	}
	b[8] = 1 << 6 // hmask bit set: code 3 → 0.5·(−5)·3 = −7.5
	if err := DequantizeQ3K(y, b); err != nil {
		t.Fatal(err)
	}
	if y[200] != -7.5 {
		t.Errorf("q3_K with high bit: y[200] = %g, want -7.5", y[200])
	}

	// Q4_K: d = 0.5, dmin = 0.25. Sub-block 5 has scale 37 (0b100101) and
	// min 50 (0b110010): low nibbles in scales[9], top bits in scales[1]
	// (scale) and scales[5] (min). Element 163 = third 64-group, high nibble
	// of qs[64+3]: code 9 → 0.5·37·9 − 0.25·50 = 154.
	b = make([]byte, 144)
	kqPutF16(b, 0.5)
	kqPutF16(b[2:], 0.25)
	sc := b[4:16]
	sc[9] = 5 | 2<<4
	sc[1] = 2 << 6
	sc[5] = 3 << 6
	sc[0] = 7 // sub-block 0 scale 7, min 0
	b[16+64+3] = 9 << 4
	b[16+0] = 15
	if err := DequantizeQ4K(y, b); err != nil {
		t.Fatal(err)
	}
	if y[163] != 154 || y[160] != -12.5 || y[0] != 52.5 {
		t.Errorf("q4_K: y[163] = %g (want 154), y[160] = %g (want -12.5), y[0] = %g (want 52.5)", y[163], y[160], y[0])
	}

	// Q5_K: same scales; element 163 also gets its fifth bit (qh[3] bit 5,
	// u2 of group 2): code 25 → 0.5·37·25 − 12.5 = 450.
	b5 := make([]byte, 176)
	copy(b5[:16], b[:16])
	b5[4+8] = 6 // sub-block 4: scale 6, min 0
	b5[48+64+3] = 9 << 4
	b5[16+3] = 1 << 5
	if err := DequantizeQ5K(y, b5); err != nil {
		t.Fatal(err)
	}
	if y[163] != 450 || y[131] != 0 {
		t.Errorf("q5_K: y[163] = %g (want 450), y[131] = %g (want 0)", y[163], y[131])
	}
	b5[16+3] = 1 << 4 // the low-nibble bit of group 2 instead: element 131 (sub-block 4)
	if err := DequantizeQ5K(y, b5); err != nil {
		t.Fatal(err)
	}
	// Sub-block 4: scale = scales[8]&15 | (scales[0]>>6)<<4 = 6, min 0; code 16 → 48.
	if y[163] != 154 || y[131] != 48 {
		t.Errorf("q5_K: y[163] = %g (want 154), y[131] = %g (want 48)", y[163], y[131])
	}

	// Q6_K: d = 0.5. Element 200: second half, quarter 2, l = 8 → low bits in
	// the high nibble of ql[64+8], high bits in qh[32+8] bits 4–5, scale
	// index 8+0+4 = 12. Code 45 (13 after −32), scale −3 → −19.5.
	b = make([]byte, 210)
	b[64+8] = 13 << 4
	b[128+32+8] = 2 << 4
	b[192+12] = 0xFD // int8 −3
	kqPutF16(b[208:], 0.5)
	if err := DequantizeQ6K(y, b); err != nil {
		t.Fatal(err)
	}
	// Element 201 has code 0 (−32) with the same scale: 0.5·(−3)·(−32) = 48.
	if y[200] != -19.5 || y[201] != 48 || y[0] != 0 {
		t.Errorf("q6_K: y[200] = %g (want -19.5), y[201] = %g (want 48), y[0] = %g", y[200], y[201], y[0])
	}
}

func TestDequantizeSizeErrors(t *testing.T) {
	for _, c := range []struct {
		name  string
		fn    func([]float32, []byte) error
		qk, n int
	}{
		{"q4_1", DequantizeQ4_1, 32, 20}, {"q5_0", DequantizeQ5_0, 32, 22}, {"q5_1", DequantizeQ5_1, 32, 24},
		{"q2_K", DequantizeQ2K, 256, 84}, {"q3_K", DequantizeQ3K, 256, 110}, {"q4_K", DequantizeQ4K, 256, 144},
		{"q5_K", DequantizeQ5K, 256, 176}, {"q6_K", DequantizeQ6K, 256, 210},
	} {
		if err := c.fn(make([]float32, 2*c.qk), make([]byte, 2*c.n)); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
		if err := c.fn(nil, nil); err != nil {
			t.Errorf("%s empty: %v", c.name, err)
		}
		for _, bad := range []struct{ elems, bytes int }{
			{c.qk + 1, c.n}, {c.qk, c.n - 1}, {c.qk, c.n + 1}, {2 * c.qk, c.n}, {0, c.n},
		} {
			err := c.fn(make([]float32, bad.elems), make([]byte, bad.bytes))
			if err == nil || !strings.Contains(err.Error(), c.name) {
				t.Errorf("%s(%d elems, %d bytes): %v", c.name, bad.elems, bad.bytes, err)
			}
		}
	}
}

// Golden test: 64 pseudo-random blocks per format (random bytes, finite random
// float16 scales), dequantized by a C build (gcc -O2 -ffp-contract=off) of
// llama.cpp's reference dequantize_row_* functions; the SHA-256 of the
// resulting float32 bits is recorded here. The Go output must match bit for bit.
var kqGoldenFormats = []struct {
	name       string
	fn         func([]float32, []byte) error
	qk         int
	blockBytes int
	f16At      []int // offsets of float16 fields in a block
	sha256     string
}{
	{"q4_1", DequantizeQ4_1, 32, 20, []int{0, 2}, "773bf4257a1ac37a1a61027bc7c668cbb330c8f3824a9d07f99bc46c9e1be7bb"},
	{"q5_0", DequantizeQ5_0, 32, 22, []int{0}, "d5abda4694bf0836046b22c4018318e5369c70703b3311af05fbc3445cd6255b"},
	{"q5_1", DequantizeQ5_1, 32, 24, []int{0, 2}, "f4cbb75307ce985c6af0948c9708bc7a579f60d1764db82c6bfe70361bd63cae"},
	{"q2_K", DequantizeQ2K, 256, 84, []int{80, 82}, "775d319ea466a9420e87854dc68d6521e83447c56ebea92a71fbe3137217375e"},
	{"q3_K", DequantizeQ3K, 256, 110, []int{108}, "1ebb02ba59c1a4f9a7134b1b703ecf29a5f75b338425a11de2c379fc9e7fe4cd"},
	{"q4_K", DequantizeQ4K, 256, 144, []int{0, 2}, "1875b2d167d326b507b97789c503a658a3ff62ee483d4122da45a370c66fb6d9"},
	{"q5_K", DequantizeQ5K, 256, 176, []int{0, 2}, "8d77b9f21305a6b4b0a2b4983156633a97a189e2ad294bf9a469f1b00d34bd45"},
	{"q6_K", DequantizeQ6K, 256, 210, []int{208}, "3a149538200c0cf0f99d1d2e72e809ed087356706ecbd6fee09048cf643e03e9"},
}

func kqGoldenBlocks(blockBytes int, f16At []int) []byte {
	r := rand.New(rand.NewPCG(2024, uint64(blockBytes)))
	b := make([]byte, 64*blockBytes)
	for i := range b {
		b[i] = uint8(r.Uint32())
	}
	for blk := range 64 {
		for _, off := range f16At {
			// Sign, exponent 1..29 (finite, normal), any mantissa.
			h := uint16(r.IntN(2))<<15 | uint16(1+r.IntN(29))<<10 | uint16(r.IntN(1024))
			binary.LittleEndian.PutUint16(b[blk*blockBytes+off:], h)
		}
	}
	return b
}

func TestDequantizeGolden(t *testing.T) {
	for _, c := range kqGoldenFormats {
		y := make([]float32, 64*c.qk)
		if err := c.fn(y, kqGoldenBlocks(c.blockBytes, c.f16At)); err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		var buf [4]byte
		for _, v := range y {
			binary.LittleEndian.PutUint32(buf[:], math.Float32bits(v))
			h.Write(buf[:])
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != c.sha256 {
			t.Errorf("%s: output hash %s, want %s (llama.cpp reference)", c.name, got, c.sha256)
		}
	}
}
