package quant

// packing is how a format's rows are packed in groups of eight, for
// kernels that read a group as one stream with each row in its own lane.
type packing struct {
	// pack writes eight rows (rb bytes each, back to back) into group;
	// unpack writes row i of group into row.
	pack   func(group, rows []byte, rb int)
	unpack func(row, group []byte, i int)
	// kernel is a kernel set's product of whole groups (nil: none).
	kernel func(k *kernelSet) groupKernel
	// cols is what the rows' length must be a multiple of.
	cols int
}

// groupKernel multiplies whole packed groups, rows r0 to r0+n of a matrix,
// as a tile kernel multiplies rows as stored.
type groupKernel = func(dst []float32, ld int, groups []byte, r0, n int, x *Batch)

// packings are the formats that are packed where the kernels take them.
var packings = map[Format]packing{
	FormatQ4_0: {packQ4_0Group, unpackQ4_0Row, func(k *kernelSet) groupKernel { return k.q4_0Packed }, 32},
	FormatQ4K:  {packQ4KGroup, unpackQ4KRow, func(k *kernelSet) groupKernel { return k.q4KPacked }, qkBlock},
	FormatQ6K:  {packQ6KGroup, unpackQ6KRow, func(k *kernelSet) groupKernel { return k.q6KPacked }, qkBlock},
	FormatF16:  {packF16Group, unpackF16Row, func(k *kernelSet) groupKernel { return k.f16Packed }, 8},
}

// Pack returns m with its rows packed for the active kernels where they
// multiply packed rows of m's format faster (Q4_0, Q4_K, Q6_K and F16
// rows of a multiple of eight on amd64): a new matrix whose first Rows&^7
// rows are in groups of eight (see packQ4_0Group, packQ4KGroup,
// packQ6KGroup, packF16Group), the rest as stored, in a copy of Data. Otherwise it returns m. A packed matrix gives the
// products m gives, on every kernel level; Row and DequantizeRow unpack
// its rows; it cannot be placed on a device.
func Pack(m *Matrix) *Matrix {
	pk, ok := packings[m.Format]
	if !ok || pk.kernel(active) == nil || m.Cols%pk.cols != 0 || m.held || m.device != nil || m.packed > 0 || m.Rows < 8 {
		return m
	}
	rb := m.RowBytes()
	p := &Matrix{Rows: m.Rows, Cols: m.Cols, Format: m.Format, Data: make([]byte, len(m.Data)), codec: m.codec, packed: m.Rows &^ 7}
	parallelFor(p.packed/8, 16, func(lo, hi int) {
		for g := lo; g < hi; g++ {
			pk.pack(p.Data[8*g*rb:8*(g+1)*rb], m.Data[8*g*rb:8*(g+1)*rb], rb)
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
	packings[m.Format].unpack(row, m.Data[g*rb:(g+8)*rb], i-g)
	return row
}

// mulPacked is mulRows for a packed matrix: whole groups through the
// active kernels' packed kernel, rows of a group the range cuts through
// an unpacked copy of them, and the rows past the packed ones as stored.
func (m *Matrix) mulPacked(dst []float32, r0, r1, tile int, x *Batch) {
	rb, unpack := m.RowBytes(), packings[m.Format].unpack
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
				unpack(rows[(i-a)*rb:(i-a+1)*rb], m.Data[g*rb:(g+8)*rb], i-g)
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
	rb, pk := m.RowBytes(), packings[m.Format]
	if k := pk.kernel(active); k != nil {
		k(dst, m.Rows, m.Data[a*rb:b*rb], a, b-a, x)
		return
	}
	rows := make([]byte, 8*rb)
	for g := a; g < b; g += 8 {
		for i := range 8 {
			pk.unpack(rows[i*rb:(i+1)*rb], m.Data[g*rb:(g+8)*rb], i)
		}
		m.mulStoredRows(dst, rows, g, 8, x)
	}
}
