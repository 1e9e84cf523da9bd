package quant

import "math"

// Quantizers of the K-quants, ports of llama.cpp's quantize_row_q4_K_ref,
// quantize_row_q5_K_ref and quantize_row_q6_K_ref (ggml-quants.c), which
// llama-quantize runs when it is given no importance matrix: the same
// searches in the same float32 arithmetic, so the stored codes and scales
// are llama.cpp's (a compiler that fuses multiply-adds there can move a
// value across a rounding boundary now and then).

// groupMaxEps is GGML's GROUP_MAX_EPS: a group whose largest magnitude is
// below it is stored as zeros.
const groupMaxEps = 1e-15

// nearestInt is GGML's nearest_int: round half to even.
func nearestInt(x float32) int32 { return int32(math.RoundToEven(float64(x))) }

// makeQKX2Quants is make_qkx2_quants: codes L in [0, nmax] and a scale and
// (negated) min for x, searching nstep+1 scales around the range's for the
// least weighted squared error.
func makeQKX2Quants(nmax int, x, weights []float32, L, laux []uint8, rmin, rdelta float32, nstep int) (scale, negMin float32) {
	n := len(x)
	lo, hi := x[0], x[0]
	sumW := weights[0]
	sumX := sumW * x[0]
	for i := 1; i < n; i++ {
		lo = min(lo, x[i])
		hi = max(hi, x[i])
		w := weights[i]
		sumW += w
		sumX += w * x[i]
	}
	lo = min(lo, 0)
	if hi == lo {
		clear(L[:n])
		return 0, -lo
	}
	iscale := float32(nmax) / (hi - lo)
	scale = 1 / iscale
	var bestErr float32
	for i := range n {
		l := max(0, min(int32(nmax), nearestInt(iscale*(x[i]-lo))))
		L[i] = uint8(l)
		diff := scale*float32(l) + lo - x[i]
		bestErr += weights[i] * float32(diff*diff)
	}
	for is := 0; is <= nstep; is++ {
		iscale = (rmin + rdelta*float32(is) + float32(nmax)) / (hi - lo)
		var sumL, sumL2, sumXL float32
		for i := range n {
			l := max(0, min(int32(nmax), nearestInt(iscale*(x[i]-lo))))
			laux[i] = uint8(l)
			w := weights[i]
			fl := float32(l)
			sumL += w * fl
			sumL2 += w * fl * fl
			sumXL += w * fl * x[i]
		}
		D := sumW*sumL2 - sumL*sumL
		if D <= 0 {
			continue
		}
		thisScale := (sumW*sumXL - sumX*sumL) / D
		thisMin := (sumL2*sumX - sumL*sumXL) / D
		if thisMin > 0 {
			thisMin = 0
			thisScale = sumXL / sumL2
		}
		var cur float32
		for i := range n {
			diff := thisScale*float32(laux[i]) + thisMin - x[i]
			cur += weights[i] * float32(diff*diff)
		}
		if cur < bestErr {
			copy(L[:n], laux[:n])
			bestErr, scale, lo = cur, thisScale, thisMin
		}
	}
	return scale, -lo
}

// makeQXQuants is make_qx_quants with rmse_type 1 and no weights: signed
// codes L+nmax in [0, 2·nmax) and the scale, searched over 19 candidate
// scales for the least x²-weighted squared error.
func makeQXQuants(nmax int, x []float32, L []int8) float32 {
	var vmax, amax float32
	for _, v := range x {
		if a := abs32(v); a > amax {
			amax, vmax = a, v
		}
	}
	if amax < groupMaxEps {
		clear(L[:len(x)])
		return 0
	}
	fmax := float32(nmax)
	code := func(iscale, v float32) int32 { return max(-int32(nmax), min(int32(nmax)-1, nearestInt(iscale*v))) }
	iscale := -fmax / vmax
	var sumLX, sumL2 float32
	for i, v := range x {
		l := code(iscale, v)
		L[i] = int8(l + int32(nmax))
		w := v * v
		fl := float32(l)
		sumLX += w * v * fl
		sumL2 += w * fl * fl
	}
	scale := float32(0)
	if sumL2 != 0 {
		scale = sumLX / sumL2
	}
	best := scale * sumLX
	for is := -9; is <= 9; is++ {
		if is == 0 {
			continue
		}
		iscale = -(fmax + 0.1*float32(is)) / vmax
		sumLX, sumL2 = 0, 0
		for _, v := range x {
			fl := float32(code(iscale, v))
			w := v * v
			sumLX += w * v * fl
			sumL2 += w * fl * fl
		}
		if sumL2 > 0 && sumLX*sumLX > best*sumL2 {
			for i, v := range x {
				L[i] = int8(code(iscale, v) + int32(nmax))
			}
			scale = sumLX / sumL2
			best = scale * sumLX
		}
	}
	return scale
}

// quantizeScalesMinsK fits each sub-block of 32 of a Q4_K/Q5_K super-block
// (codes up to nmax) and stores d, dmin and the packed 6-bit scales and mins
// in blk; it returns the codes in L, refitted to the stored scales.
func quantizeScalesMinsK(blk []byte, x []float32, L *[qkBlock]uint8, nmax int, rmin float32, nstep int) {
	var scales, mins [8]float32
	var weights [32]float32
	var laux [32]uint8
	var maxScale, maxMin float32
	for j := range 8 {
		xj := x[32*j : 32*j+32]
		var sumX2 float32
		for _, v := range xj {
			sumX2 += v * v
		}
		avX := float32(math.Sqrt(float64(sumX2 / 32)))
		for l, v := range xj {
			weights[l] = avX + abs32(v)
		}
		scales[j], mins[j] = makeQKX2Quants(nmax, xj, weights[:], L[32*j:32*j+32], laux[:], rmin, 0.1, nstep)
		maxScale = max(maxScale, scales[j])
		maxMin = max(maxMin, mins[j])
	}
	var invScale, invMin float32
	if maxScale > 0 {
		invScale = 63 / maxScale
	}
	if maxMin > 0 {
		invMin = 63 / maxMin
	}
	packed := blk[4:16]
	clear(packed)
	for j := range 8 {
		ls := uint8(min(63, nearestInt(invScale*scales[j])))
		lm := uint8(min(63, nearestInt(invMin*mins[j])))
		if j < 4 {
			packed[j], packed[j+4] = ls, lm
		} else {
			packed[j+4] = ls&0xf | (lm&0xf)<<4
			packed[j-4] |= (ls >> 4) << 6
			packed[j] |= (lm >> 4) << 6
		}
	}
	putF16(blk, 0, maxScale/63)
	putF16(blk, 2, maxMin/63)
	d0, dmin0 := f16At(blk, 0), f16At(blk, 2)
	for j := range 8 {
		sc, m := scaleMinK4(j, packed)
		d := d0 * float32(sc)
		if d == 0 {
			continue
		}
		dm := dmin0 * float32(m)
		for i, v := range x[32*j : 32*j+32] {
			L[32*j+i] = uint8(max(0, min(int32(nmax), nearestInt((v+dm)/d))))
		}
	}
}

func quantizeRowQ4K(dst []byte, src []float32) {
	var L [qkBlock]uint8
	for i := range len(src) / qkBlock {
		blk := dst[i*q4KBytes : (i+1)*q4KBytes]
		quantizeScalesMinsK(blk, src[i*qkBlock:(i+1)*qkBlock], &L, 15, -1, 20)
		qs := blk[16:144]
		for j := 0; j < qkBlock; j += 64 {
			for l := range 32 {
				qs[j/2+l] = L[j+l] | L[j+l+32]<<4
			}
		}
	}
}

// packQ5KCodes writes a Q5_K super-block's 256 5-bit codes L: their high
// bits to qh (32 bytes), their low nibbles to qs (128 bytes), in GGML's
// order.
func packQ5KCodes(qh, qs []byte, L []uint8) {
	clear(qh)
	m1, m2 := uint8(1), uint8(2)
	for n := 0; n < qkBlock; n += 64 {
		for j := range 32 {
			l1, l2 := L[n+j], L[n+j+32]
			if l1 > 15 {
				l1 -= 16
				qh[j] |= m1
			}
			if l2 > 15 {
				l2 -= 16
				qh[j] |= m2
			}
			qs[n/2+j] = l1 | l2<<4
		}
		m1 <<= 2
		m2 <<= 2
	}
}

func quantizeRowQ5K(dst []byte, src []float32) {
	var L [qkBlock]uint8
	for i := range len(src) / qkBlock {
		blk := dst[i*q5KBytes : (i+1)*q5KBytes]
		quantizeScalesMinsK(blk, src[i*qkBlock:(i+1)*qkBlock], &L, 31, -0.5, 15)
		packQ5KCodes(blk[16:48], blk[48:176], L[:])
	}
}

func quantizeRowQ6K(dst []byte, src []float32) {
	var L [qkBlock]int8
	var scales [16]float32
	for i := range len(src) / qkBlock {
		blk := dst[i*q6KBytes : (i+1)*q6KBytes]
		x := src[i*qkBlock : (i+1)*qkBlock]
		var maxScale, maxAbsScale float32
		for ib := range 16 {
			s := makeQXQuants(32, x[16*ib:16*ib+16], L[16*ib:16*ib+16])
			scales[ib] = s
			if abs32(s) > maxAbsScale {
				maxAbsScale, maxScale = abs32(s), s
			}
		}
		clear(blk)
		if maxAbsScale < groupMaxEps {
			continue
		}
		iscale := -128 / maxScale
		putF16(blk, 208, 1/iscale)
		sc := blk[192:208]
		for ib := range 16 {
			sc[ib] = byte(int8(min(127, nearestInt(iscale*scales[ib]))))
		}
		d0 := f16At(blk, 208)
		for j := range 16 {
			d := d0 * float32(int8(sc[j]))
			if d == 0 {
				continue
			}
			for ii, v := range x[16*j : 16*j+16] {
				L[16*j+ii] = int8(max(-32, min(31, nearestInt(v/d))) + 32)
			}
		}
		ql, qh := blk[0:128], blk[128:192]
		for j := 0; j < qkBlock; j += 128 {
			for l := range 32 {
				q1, q2, q3, q4 := uint8(L[j+l]), uint8(L[j+l+32]), uint8(L[j+l+64]), uint8(L[j+l+96])
				ql[j/2+l] = q1&0xf | (q3&0xf)<<4
				ql[j/2+l+32] = q2&0xf | (q4&0xf)<<4
				qh[j/4+l] = q1>>4 | (q2>>4)<<2 | (q3>>4)<<4 | (q4>>4)<<6
			}
		}
	}
}
