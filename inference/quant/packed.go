package quant

// Pack returns m with its rows packed for the active kernels where they
// multiply packed rows of m's format faster (Q4_0 on amd64): a new matrix
// whose first Rows&^7 rows are in groups of eight interleaved block by
// block (see q4_0GroupBlockBytes), the rest as stored, in a copy of Data.
// Otherwise it returns m. A packed matrix gives the products m gives, on
// every kernel level; Row and DequantizeRow unpack its rows; it cannot be
// placed on a device.
func Pack(m *Matrix) *Matrix {
	if m.Format != FormatQ4_0 || active.q4_0Packed == nil || m.held || m.device != nil || m.packed > 0 || m.Rows < 8 {
		return m
	}
	rb := m.RowBytes()
	p := &Matrix{Rows: m.Rows, Cols: m.Cols, Format: m.Format, Data: make([]byte, len(m.Data)), codec: m.codec, packed: m.Rows &^ 7}
	parallelFor(p.packed/8, 16, func(lo, hi int) {
		for g := lo; g < hi; g++ {
			packQ4_0Group(p.Data[8*g*rb:8*(g+1)*rb], m.Data[8*g*rb:8*(g+1)*rb], rb)
		}
	})
	copy(p.Data[p.packed*rb:], m.Data[p.packed*rb:])
	return p
}

// packedRow returns a copy of row i of a packed matrix.
func (m *Matrix) packedRow(i int) []byte {
	rb := m.RowBytes()
	g := i &^ 7
	row := make([]byte, rb)
	unpackQ4_0Row(row, m.Data[g*rb:(g+8)*rb], i-g)
	return row
}

// mulPacked is mulRows for a packed matrix: whole groups through the
// active kernels' packed kernel, rows of a group the range cuts through
// an unpacked copy of them, and the rows past the packed ones as stored.
func (m *Matrix) mulPacked(dst []float32, r0, r1, tile int, x *Batch) {
	rb := m.RowBytes()
	tile = max(8, tile&^7)
	for a := r0; a < r1; {
		switch g := a &^ 7; {
		case a >= m.packed:
			m.mulStored(dst, a, r1, tile, x)
			return
		case a != g || g+8 > r1:
			b := min(g+8, r1)
			rows := make([]byte, (b-a)*rb)
			for i := a; i < b; i++ {
				unpackQ4_0Row(rows[(i-a)*rb:(i-a+1)*rb], m.Data[g*rb:(g+8)*rb], i-g)
			}
			m.mulStoredRows(dst, rows, a, b-a, x)
			a = b
		default:
			b := min(a+tile, r1&^7, m.packed)
			m.mulGroups(dst, a, b, x)
			a = b
		}
	}
}

// mulGroups computes rows [a, b) of the product, whole packed groups.
func (m *Matrix) mulGroups(dst []float32, a, b int, x *Batch) {
	rb := m.RowBytes()
	if k := active.q4_0Packed; k != nil {
		k(dst, m.Rows, m.Data[a*rb:b*rb], a, b-a, x)
		return
	}
	rows := make([]byte, 8*rb)
	for g := a; g < b; g += 8 {
		for i := range 8 {
			unpackQ4_0Row(rows[i*rb:(i+1)*rb], m.Data[g*rb:(g+8)*rb], i)
		}
		m.mulStoredRows(dst, rows, g, 8, x)
	}
}
