package quant

// Int: this project's group-wise integer format (Format{Kind: Int, Bits, Group, Asym}).
//
// Values. A row of cols weights is cut into groups of G = Format.Group
// consecutive weights; the last group is ragged (cols mod G weights) when G
// does not divide cols, and has its own scale fitted to just its weights.
// Each weight is a signed integer code q in [−2^(b−1), 2^(b−1)−1] and
//
//	w = d·q        symmetric  (Asym false)
//	w = d·q + m    asymmetric (Asym true)
//
// with d (and m) the group's float16 scale (and offset). With u = q + 2^(b−1)
// the unsigned code, asymmetric is the usual w = d·u + min, min = m − 2^(b−1)·d.
//
// Row layout (little-endian), with groups = ⌈cols/G⌉ and chunks = ⌈cols/32⌉:
//
//	offset 0               d[groups]   float16 scales, group g at bytes 2g, 2g+1
//	offset 2·groups        m[groups]   float16 offsets, asymmetric rows only
//	offset (2 or 4)·groups chunk[chunks] of CB bytes each: the codes of
//	                       weights 32k … 32k+31 (chunk k belongs to group
//	                       ⌊32k/G⌋; groups hold G/32 chunks, the last fewer)
//
// so RowBytes = 2·groups·(1 + Asym) + CB·chunks. A chunk holds 32 codes; when
// cols is not a multiple of 32 the last chunk's codes past cols are stored as
// all-zero bits (kernels need not mask them: the activations there are zero).
// Chunk layouts, CB bytes, code i of the chunk = weight 32k+i:
//
//	int8  CB=32  byte i = q_i as int8 (two's complement; no offset)
//	int4  CB=16  byte j = u_j | u_(j+16)<<4, j < 16 (GGML Q4_0's nibble order)
//	int2  CB=8   byte j = u_j | u_(j+8)<<2 | u_(j+16)<<4 | u_(j+24)<<6, j < 8:
//	             (byte j >> 2s) & 3 = u_(8s+j), so shifting the 8 bytes by
//	             0, 2, 4, 6 and masking with 3 yields codes 0–7, 8–15, 16–23, 24–31
//	int3  CB=12  bytes 0–7: the low two bits of u_i in int2's layout;
//	             bytes 8–11: a little-endian uint32 h with bit i = bit 2 of u_i;
//	             u_i = low2_i | ((h >> i) & 1) << 2
//
// where u = q + 2^(b−1) ∈ [0, 2^b−1] (offset binary) for b < 8.
//
// Quantization. Round-to-nearest (RTN, Options.RTN) picks d = x/−2^(b−1)
// for the group's value x of largest magnitude (as GGML's Q4_0: x maps to the
// end code exactly), d = max|x|/127 at 8 bits, and d, m spanning [min, max]
// exactly for asymmetric groups (d rounded up, m down, so no weight is
// clamped). By default, formats of 4 bits or fewer instead search each
// group's parameters: a grid of candidate scales, each followed by the
// least-squares refit of d (and m) to the codes it gives, then alternating
// re-rounding and refitting; the result (or RTN's, whichever has less squared
// error after float16 rounding) is stored. Codes are always the nearest level
// to each weight given the stored d and m.

import (
	"encoding/binary"
	"math"
)

// intCodec implements Int for one (bits, group, asym) and quantizer choice.
type intCodec struct {
	bits, group int
	asym        bool
	search      bool // search scales (else RTN)
	chunkBytes  int
}

// intCodecs holds every Int codec so codecFor does not allocate:
// [bits 2,3,4,8][group/32 − 1][asym][rtn].
var intCodecs [4][8][2][2]intCodec

func init() {
	for bi, bits := range [...]int{2, 3, 4, 8} {
		for gi := range 8 {
			for a := range 2 {
				for r := range 2 {
					intCodecs[bi][gi][a][r] = intCodec{
						bits: bits, group: 32 * (gi + 1), asym: a == 1,
						search: r == 0 && bits <= 4, chunkBytes: intChunkBytes(bits),
					}
				}
			}
		}
	}
}

func intChunkBytes(bits int) int {
	if bits == 3 {
		return 12
	}
	return 4 * bits
}

func newIntCodec(f Format) codec { return intCodecFor(f, false) }

func intCodecFor(f Format, rtn bool) *intCodec {
	bi := 3 // 8 bits
	switch f.Bits {
	case 2, 3, 4:
		bi = f.Bits - 2
	}
	a, r := 0, 0
	if f.Asym {
		a = 1
	}
	if rtn {
		r = 1
	}
	return &intCodecs[bi][f.Group/32-1][a][r]
}

func (c *intCodec) groups(cols int) int { return (cols + c.group - 1) / c.group }

// header is the size of the scale (and offset) arrays.
func (c *intCodec) header(groups int) int {
	if c.asym {
		return 4 * groups
	}
	return 2 * groups
}

func (c *intCodec) rowBytes(cols int) int {
	return c.header(c.groups(cols)) + c.chunkBytes*((cols+31)/32)
}

func (c *intCodec) checkCols(int) error      { return nil }
func (c *intCodec) activations() activations { return actQ8 }

func (c *intCodec) dot(row []byte, x *Batch, t int) float32 {
	q, xs, xsum := x.q8Vector(t)
	switch c.bits {
	case 2:
		return dotInt2(row, c.group, c.asym, q, xs, xsum)
	case 3:
		return dotInt3(row, c.group, c.asym, q, xs, xsum)
	case 4:
		return dotInt4(row, c.group, c.asym, q, xs, xsum)
	}
	return dotInt8(row, c.group, c.asym, q, xs, xsum)
}

func (c *intCodec) quantizeRow(dst []byte, src []float32) {
	cols := len(src)
	ng := c.groups(cols)
	clear(dst)
	codes := dst[c.header(ng):]
	var q [256]int8
	for g := range ng {
		x := src[g*c.group : min((g+1)*c.group, cols)]
		p := c.fit(x, q[:len(x)])
		binary.LittleEndian.PutUint16(dst[2*g:], p.dh)
		if c.asym {
			binary.LittleEndian.PutUint16(dst[2*(ng+g):], p.mh)
		}
		for k := 0; k*32 < len(x); k++ {
			chunk := codes[(g*c.group/32+k)*c.chunkBytes:][:c.chunkBytes]
			packChunk(chunk, q[k*32:min((k+1)*32, len(x))], c.bits)
		}
	}
}

func (c *intCodec) dequantizeRow(dst []float32, src []byte) {
	cols := len(dst)
	ng := c.groups(cols)
	codes := src[c.header(ng):]
	var q [32]int8
	for g := range ng {
		d := F16ToF32(binary.LittleEndian.Uint16(src[2*g:]))
		var m float32
		if c.asym {
			m = F16ToF32(binary.LittleEndian.Uint16(src[2*(ng+g):]))
		}
		for i := g * c.group; i < min((g+1)*c.group, cols); i += 32 {
			unpackChunk(&q, codes[i/32*c.chunkBytes:][:c.chunkBytes], c.bits)
			for j := range min(32, cols-i) {
				dst[i+j] = d*float32(q[j]) + m
			}
		}
	}
}

// packChunk stores up to 32 signed codes q in one chunk (already zeroed).
func packChunk(dst []byte, q []int8, bits int) {
	off := int8(1) << (bits - 1) // unused at 8 bits
	switch bits {
	case 8:
		for i, v := range q {
			dst[i] = byte(v)
		}
	case 4:
		for i, v := range q {
			dst[i%16] |= byte(v+off) << (4 * (i / 16))
		}
	case 3:
		var h uint32
		for i, v := range q {
			u := byte(v + off)
			dst[i%8] |= (u & 3) << (2 * (i / 8))
			h |= uint32(u>>2) << i
		}
		binary.LittleEndian.PutUint32(dst[8:], h)
	case 2:
		for i, v := range q {
			dst[i%8] |= byte(v+off) << (2 * (i / 8))
		}
	}
}

// unpackChunk reads a chunk's 32 signed codes.
func unpackChunk(q *[32]int8, src []byte, bits int) {
	off := int8(1) << (bits - 1)
	switch bits {
	case 8:
		for i := range q {
			q[i] = int8(src[i])
		}
	case 4:
		for j := range 16 {
			q[j] = int8(src[j]&15) - off
			q[j+16] = int8(src[j]>>4) - off
		}
	case 3:
		h := binary.LittleEndian.Uint32(src[8:])
		for i := range q {
			q[i] = int8(src[i%8]>>(2*(i/8))&3|byte(h>>i&1)<<2) - off
		}
	case 2:
		for i := range q {
			q[i] = int8(src[i%8]>>(2*(i/8))&3) - off
		}
	}
}

// groupParams are a group's stored scale and offset (float16 bits) and the
// squared error of the codes they give.
type groupParams struct {
	dh, mh uint16
	err    float64
}

// fit chooses a group's parameters and writes its codes into q.
func (c *intCodec) fit(x []float32, q []int8) groupParams {
	var p groupParams
	if c.asym {
		p = c.rtnAsym(x)
	} else {
		p = c.rtnSym(x)
	}
	p.err = c.codes(x, p, nil)
	if c.search {
		var s groupParams
		if c.asym {
			s = c.searchAsym(x)
		} else {
			s = c.searchSym(x)
		}
		if s.err = c.codes(x, s, nil); s.err < p.err {
			p = s
		}
	}
	c.codes(x, p, q)
	return p
}

// qRange is the signed code range.
func (c *intCodec) qRange() (qmin, qmax int) {
	o := 1 << (c.bits - 1)
	return -o, o - 1
}

// codes writes (if q is not nil) the nearest codes to x under p and returns
// their squared error as the dequantizer computes the weights.
func (c *intCodec) codes(x []float32, p groupParams, q []int8) float64 {
	d, m := F16ToF32(p.dh), float32(0)
	if c.asym {
		m = F16ToF32(p.mh)
	}
	qmin, qmax := c.qRange()
	var inv float64
	if d != 0 {
		inv = 1 / float64(d)
	}
	var e float64
	for i, v := range x {
		l := max(qmin, min(qmax, int(math.RoundToEven((float64(v)-float64(m))*inv))))
		r := float64(v - (d*float32(l) + m))
		e += r * r
		if q != nil {
			q[i] = int8(l)
		}
	}
	return e
}

// rtnSym: the value of largest magnitude maps to the end code −2^(b−1)
// (at 8 bits, ±max|x| to ±127).
func (c *intCodec) rtnSym(x []float32) groupParams {
	var amax, vmax float32
	for _, v := range x {
		if abs32(v) > amax {
			amax, vmax = abs32(v), v
		}
	}
	if c.bits == 8 {
		return groupParams{dh: F32ToF16(amax / 127)}
	}
	return groupParams{dh: F32ToF16(vmax / -float32(int(1)<<(c.bits-1)))}
}

// rtnAsym spans [min, max] with the code range: d is rounded up and m down
// to float16 so both ends stay representable.
func (c *intCodec) rtnAsym(x []float32) groupParams {
	lo, hi := minMax(x)
	if lo == hi {
		return groupParams{mh: F32ToF16(lo)}
	}
	qmin, qmax := c.qRange()
	dh := f16Up((hi - lo) / float32(qmax-qmin))
	var mh uint16
	for range 32 {
		d := F16ToF32(dh)
		mh = f16Down(lo - float32(qmin)*d)
		m := F16ToF32(mh)
		if d*float32(qmax)+m >= hi && d*float32(qmin)+m <= lo {
			break
		}
		dh = f16NextUp(dh)
	}
	return groupParams{dh: dh, mh: mh}
}

// searchSym tries scales that map the value of largest magnitude to ±t for t
// on a grid around the end codes, refits each by least squares, polishes the
// best by alternating rounding and refitting, and returns it (err unset).
func (c *intCodec) searchSym(x []float32) groupParams {
	var amax, vmax float32
	for _, v := range x {
		if abs32(v) > amax {
			amax, vmax = abs32(v), v
		}
	}
	if amax == 0 {
		return groupParams{}
	}
	qmin, qmax := c.qRange()
	o := float64(-qmin)
	bestD, bestE := 0.0, math.Inf(1)
	try := func(iscale float64) float64 {
		var sxl, sll float64
		for _, v := range x {
			l := float64(max(qmin, min(qmax, int(math.RoundToEven(float64(v)*iscale)))))
			sxl += float64(v) * l
			sll += l * l
		}
		if sll == 0 {
			return 0
		}
		d := sxl / sll
		// Σ(x − d·l)² = Σx² − (Σxl)²/Σl²; Σx² is common to all candidates.
		if e := -sxl * d; e < bestE {
			bestD, bestE = d, e
		}
		return d
	}
	const steps = 8
	for s := range steps + 1 {
		// t runs over [o−1, o+0.6] (vmax towards the negative end code −o) and
		// [o−2, o−0.4] (towards the positive end o−1).
		f := float64(s) / steps
		try(-(o - 1 + 1.6*f) / float64(vmax))
		if o > 2 || f > 0.3 {
			try((o - 2 + 1.6*f) / float64(vmax))
		}
	}
	for range 4 {
		prev := bestE
		if bestD == 0 {
			break
		}
		try(1 / bestD)
		if bestE >= prev {
			break
		}
	}
	return groupParams{dh: F32ToF16(float32(bestD))}
}

// searchAsym tries code ranges spanning [min, max] shrunk or stretched around
// the ends, fits d and m to each candidate's codes by least squares (as
// llama.cpp's make_qkx2_quants), polishes the best by alternating rounding
// and refitting, and returns it (err unset).
func (c *intCodec) searchAsym(x []float32) groupParams {
	lo, hi := minMax(x)
	if lo == hi {
		return groupParams{mh: F32ToF16(lo)}
	}
	qmin, qmax := c.qRange()
	nmax := float64(qmax - qmin)
	n := float64(len(x))
	var sx, sxx float64
	for _, v := range x {
		sx += float64(v)
		sxx += float64(v) * float64(v)
	}
	bestD, bestM, bestE := 0.0, 0.0, math.Inf(1)
	// try rounds u = (x − min0)·iscale into [0, nmax] and fits x ≈ d·u + min.
	try := func(iscale, min0 float64) {
		var su, suu, sxu float64
		for _, v := range x {
			u := max(0, min(nmax, math.RoundToEven((float64(v)-min0)*iscale)))
			su += u
			suu += u * u
			sxu += float64(v) * u
		}
		det := n*suu - su*su
		if det <= 0 {
			return
		}
		d := (n*sxu - su*sx) / det
		m := (sx - d*su) / n
		if d <= 0 {
			return
		}
		e := sxx - 2*d*sxu - 2*m*sx + d*d*suu + 2*d*m*su + n*m*m
		if e < bestE {
			bestD, bestM, bestE = d, m, e
		}
	}
	const steps = 10
	span := float64(hi) - float64(lo)
	for s := range steps + 1 {
		// stretch nmax by −1 … +1 code in steps of 0.2 (llama.cpp's make_qkx2_quants
		// uses −1 … +1 in steps of 0.1; the finer grid gains < 0.3% here)
		try((nmax-1+2*float64(s)/steps)/span, float64(lo))
	}
	if math.IsInf(bestE, 1) {
		return c.rtnAsym(x)
	}
	for range 4 {
		prev := bestE
		try(1/bestD, bestM)
		if bestE >= prev {
			break
		}
	}
	// w = d·u + min = d·q + (min + 2^(b−1)·d)
	return groupParams{dh: F32ToF16(float32(bestD)), mh: F32ToF16(float32(bestM - float64(qmin)*bestD))}
}

// f16NextUp is the next float16 above h (h not NaN or +Inf).
func f16NextUp(h uint16) uint16 {
	switch {
	case h == 0x8000:
		return 1
	case h&0x8000 != 0:
		return h - 1
	}
	return h + 1
}

// f16Up rounds x up to a float16.
func f16Up(x float32) uint16 {
	h := F32ToF16(x)
	if F16ToF32(h) < x {
		h = f16NextUp(h)
	}
	return h
}

// f16Down rounds x down to a float16.
func f16Down(x float32) uint16 { return f16Up(-x) ^ 0x8000 }

// minMax returns the smallest and largest of x (not empty).
func minMax(x []float32) (lo, hi float32) {
	lo, hi = x[0], x[0]
	for _, v := range x {
		lo, hi = min(lo, v), max(hi, v)
	}
	return lo, hi
}
