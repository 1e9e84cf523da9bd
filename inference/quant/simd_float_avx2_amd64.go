package quant

// The AVX2 register tiles of F32 and F16 rows (simd_float_avx2_amd64.s):
// four rows rb bytes apart by three vectors (out[4v+r] = row r · b[v]),
// four rows by one vector, and one row by one, over n&^7 elements, every
// product with the same bits whichever kernel computes it.

//go:noescape
func f32T4x3AVX2(a *float32, rb int, b *[3]*float32, n int, out *[12]float32)

//go:noescape
func f16T4x3AVX2(a *uint16, rb int, b *[3]*float32, n int, out *[12]float32)

//go:noescape
func f32R4AVX2(a *float32, rb int, b *float32, n int, out *[4]float32)

//go:noescape
func f16R4AVX2(a *uint16, rb int, b *float32, n int, out *[4]float32)

//go:noescape
func f32R1AVX2(a *float32, b *float32, n int) float32

//go:noescape
func f16R1AVX2(a *uint16, b *float32, n int) float32

// f32RowAVX2 and f16RowAVX2 are one row's product with a vector as the
// tiles compute it: f32R1AVX2 (f16R1AVX2) over the first len(a)&^7
// elements, the rest in Go.
func f32RowAVX2(a, b []float32) float32 { return floatRow(a, b, f32R1AVX2, dotF32Generic) }

func f16RowAVX2(a []uint16, b []float32) float32 { return floatRow(a, b, f16R1AVX2, dotF16Generic) }

// f16TileAVX2 is the F16 tile kernel over rows as stored.
var f16TileAVX2 = floatTileAVX2(uint16s, f16T4x3AVX2, f16R4AVX2, f16RowAVX2, dotF16Generic)

// f16P8AVX2 multiplies a packed F16 group (see packF16Group) by one vector
// over n&^7 elements: out[i] = row i · b, as the tiles compute it.
//
//go:noescape
func f16P8AVX2(group *uint16, b *float32, n int, out *[8]float32)

// f16P4x3AVX2 multiplies four rows of a packed F16 group (half: the group,
// or 64 bytes past it for rows 4-7) by three vectors over n&^7 elements:
// dst[v·ld + r] = row r · b[v], as the tiles compute it.
//
//go:noescape
func f16P4x3AVX2(half *uint16, b *[3]*float32, n int, dst *float32, ld int)

// f16PackedAVX2 is the F16 tile kernel for whole packed groups (Pack packs
// rows whose length is a multiple of eight).
func f16PackedAVX2(dst []float32, ld int, groups []byte, r0, n int, x *Batch) {
	f16PackedFrom(dst, ld, groups, r0, n, x, 0)
}

// f16PackedFrom multiplies whole packed F16 groups by the vectors of x from
// t on: three at a time straight from the groups, the rest one at a time.
func f16PackedFrom(dst []float32, ld int, groups []byte, r0, n int, x *Batch, t int) {
	rb := len(groups) / n
	var b [3]*float32
	for ; t+3 <= x.N; t += 3 {
		for v := range b {
			b[v] = &x.Vector(t + v)[0]
		}
		_ = dst[(t+2)*ld+r0+n-1]
		for g := 0; g < n; g += 8 {
			for h := range 2 {
				f16P4x3AVX2(&uint16s(groups[g*rb+64*h:])[0], &b, x.Cols, &dst[t*ld+r0+g+4*h], ld)
			}
		}
	}
	var out8 [8]float32
	for ; t < x.N; t++ {
		v := x.Vector(t)
		for g := 0; g < n; g += 8 {
			f16P8AVX2(&uint16s(groups[g*rb:])[0], &v[0], x.Cols, &out8)
			copy(dst[t*ld+r0+g:][:8], out8[:])
		}
	}
}

// floatRow is a's product with b through the kernel r1 over the first
// len(a)&^7 elements, the rest through tail.
func floatRow[E float32 | uint16](a []E, b []float32, r1 func(a *E, b *float32, n int) float32, tail func(a []E, b []float32) float32) float32 {
	b = b[:len(a)]
	m := len(a) &^ 7
	var s float32
	if m > 0 {
		s = r1(&a[0], &b[0], m)
	}
	if m < len(a) {
		s += tail(a[m:], b[m:])
	}
	return s
}

// floatTileAVX2 is Matrix.MatMul's kernel for F32 or F16 rows: tiles of
// four rows by three vectors through t43, the vectors left over through
// r4 four rows at a time, the rows left over one at a time through one;
// the elements past the last 8 go through tail. Every path computes each
// product the same way, so a product does not depend on the batch.
func floatTileAVX2[E float32 | uint16](view func([]byte) []E, t43 func(a *E, rb int, b *[3]*float32, n int, out *[12]float32), r4 func(a *E, rb int, b *float32, n int, out *[4]float32), one func(a []E, b []float32) float32, tail func(a []E, b []float32) float32) func(dst []float32, ld int, tile []byte, r0, n int, x *Batch) {
	return func(dst []float32, ld int, tile []byte, r0, n int, x *Batch) {
		rb := len(tile) / n
		cols := x.Cols
		m := cols &^ 7
		row := func(i int) []E { return view(tile[i*rb : (i+1)*rb])[:cols] }
		// finish adds row i's tail product with xt to s.
		finish := func(s float32, i int, xt []float32) float32 {
			if m < cols {
				s += tail(row(i)[m:], xt[m:])
			}
			return s
		}
		t, quads := 0, 0
		if m > 0 {
			quads = n / 4 * 4
		}
		var (
			b     [3]*float32
			out12 [12]float32
			out4  [4]float32
		)
		var xs [3][]float32
		for ; t+3 <= x.N && quads > 0; t += 3 {
			for v := range 3 {
				xs[v] = x.Vector(t + v)
				b[v] = &xs[v][0]
			}
			for i := 0; i < quads; i += 4 {
				t43(&row(i)[0], rb, &b, m, &out12)
				for v, xv := range xs {
					out := dst[(t+v)*ld+r0+i : (t+v)*ld+r0+i+4]
					copy(out, out12[4*v:4*v+4])
					if m < cols {
						for r := range out {
							out[r] = finish(out[r], i+r, xv)
						}
					}
				}
			}
			for i := quads; i < n; i++ {
				for v, xv := range xs {
					dst[(t+v)*ld+r0+i] = one(row(i), xv)
				}
			}
		}
		for ; t < x.N; t++ {
			xt := x.Vector(t)
			for i := 0; i < quads; i += 4 {
				r4(&row(i)[0], rb, &xt[0], m, &out4)
				out := dst[t*ld+r0+i : t*ld+r0+i+4]
				copy(out, out4[:])
				if m < cols {
					for r := range out {
						out[r] = finish(out[r], i+r, xt)
					}
				}
			}
			for i := quads; i < n; i++ {
				dst[t*ld+r0+i] = one(row(i), xt)
			}
		}
	}
}
