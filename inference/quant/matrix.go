package quant

import (
	"fmt"
	"slices"
)

// Matrix is a Rows×Cols weight matrix in one Format. Row i occupies
// Data[i×RowBytes : (i+1)×RowBytes], or in a packed matrix (see Pack) its
// group of eight rows does. Data may be memory-mapped and is never written
// by the kernels. A matrix held on a device (NewHeldMatrix) has no
// Data: its rows are in the device's memory.
type Matrix struct {
	Rows, Cols int
	Format     Format
	Data       []byte

	codec  codec
	device Device // computes the products when set
	held   bool   // the rows are on device, for good
	packed int    // the rows before this one are packed (see Pack)
}

// NewMatrix wraps stored rows; it checks that data holds exactly rows×cols
// weights in format f.
func NewMatrix(rows, cols int, f Format, data []byte) (*Matrix, error) {
	c, err := shapeCodec(rows, cols, f)
	if err != nil {
		return nil, err
	}
	want := rows * c.rowBytes(cols)
	if want/rows != c.rowBytes(cols) || len(data) != want {
		return nil, fmt.Errorf("quant: %d×%d %s matrix needs %d bytes, got %d", rows, cols, f, want, len(data))
	}
	return &Matrix{Rows: rows, Cols: cols, Format: f, Data: data, codec: c}, nil
}

// NewHeldMatrix returns a rows×cols matrix in format f whose rows are held
// by device d, not in Go memory: Data is nil and d computes every product
// (a failure there panics, there being no rows for the CPU kernels). Row
// and the dequantizing methods read rows through d, which must implement
// RowReader for them.
func NewHeldMatrix(rows, cols int, f Format, d Device) (*Matrix, error) {
	c, err := shapeCodec(rows, cols, f)
	if err != nil {
		return nil, err
	}
	return &Matrix{Rows: rows, Cols: cols, Format: f, codec: c, device: d, held: true}, nil
}

// shapeCodec checks that f is valid and a rows×cols matrix can be stored
// in it, and returns its codec.
func shapeCodec(rows, cols int, f Format) (codec, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	if rows <= 0 || cols <= 0 {
		return nil, fmt.Errorf("quant: invalid matrix shape %d×%d", rows, cols)
	}
	c := codecFor(f)
	if err := c.checkCols(cols); err != nil {
		return nil, err
	}
	return c, nil
}

// RowReader is implemented by devices that hold matrices' rows
// (NewHeldMatrix): ReadRow copies row i of m into dst (RowBytes long).
type RowReader interface {
	ReadRow(m *Matrix, i int, dst []byte)
}

// Options tune how Int matrices are quantized.
type Options struct {
	// RTN stores plain round-to-nearest scales instead of searching for the
	// scales with least squared error (the default for 2, 3 and 4 bits).
	RTN bool
}

// Quantize stores the row-major rows×cols values w in format f.
func Quantize(w []float32, rows, cols int, f Format) (*Matrix, error) {
	return QuantizeWith(w, rows, cols, f, Options{})
}

// QuantizeWith is Quantize with options; formats other than Int ignore them.
func QuantizeWith(w []float32, rows, cols int, f Format, opt Options) (*Matrix, error) {
	if len(w) != rows*cols {
		return nil, fmt.Errorf("quant: %d values for a %d×%d matrix", len(w), rows, cols)
	}
	if err := f.Validate(); err != nil {
		return nil, err
	}
	c := codecFor(f)
	if f.Kind == Int && opt.RTN {
		c = intCodecFor(f, true)
	}
	if err := c.checkCols(cols); err != nil {
		return nil, err
	}
	rb := c.rowBytes(cols)
	m, err := NewMatrix(rows, cols, f, make([]byte, rows*rb))
	if err != nil {
		return nil, err
	}
	parallelFor(rows, 16, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			c.quantizeRow(m.Data[r*rb:(r+1)*rb], w[r*cols:(r+1)*cols])
		}
	})
	return m, nil
}

// RowBytes is the stored size of one row.
func (m *Matrix) RowBytes() int { return m.codec.rowBytes(m.Cols) }

// Size is the stored size of the matrix, Rows×RowBytes.
func (m *Matrix) Size() int { return m.Rows * m.RowBytes() }

// Row returns the stored bytes of row i: a slice of Data, or for a held
// matrix a copy read from its device, for a packed one an unpacked copy.
func (m *Matrix) Row(i int) []byte {
	rb := m.RowBytes()
	if m.held {
		r, ok := m.device.(RowReader)
		if !ok {
			panic("quant: the device holding the matrix cannot read its rows")
		}
		row := make([]byte, rb)
		r.ReadRow(m, i, row)
		return row
	}
	if i < m.packed {
		return m.packedRow(i)
	}
	return m.Data[i*rb : (i+1)*rb]
}

// DequantizeRow writes row i as float32 values into dst (len Cols).
func (m *Matrix) DequantizeRow(dst []float32, i int) { m.codec.dequantizeRow(dst[:m.Cols], m.Row(i)) }

// Dequantize returns the whole matrix as row-major float32 values.
func (m *Matrix) Dequantize() []float32 {
	out := make([]float32, m.Rows*m.Cols)
	parallelFor(m.Rows, 16, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			m.DequantizeRow(out[r*m.Cols:(r+1)*m.Cols], r)
		}
	})
	return out
}

// MatVec computes dst = W·x for one vector (len(x) = Cols, len(dst) = Rows).
func (m *Matrix) MatVec(dst, x []float32) {
	m.MatMul(dst, NewBatch(x, 1, len(x)))
}

// rowTile is how many rows a matmul keeps hot in cache while it walks the
// batch's vectors.
const rowTile = 16

// MatMul computes dst[t×Rows + r] = W[r]·x[t] for every vector t of x:
// the product of x (N×Cols) with Wᵀ. Weights are read once per call, a tile
// of rows at a time, however large N is.
func (m *Matrix) MatMul(dst []float32, x *Batch) {
	MatMulAll([][]float32{dst}, []*Matrix{m}, x)
}

// MatMulAll is MatMul of several matrices with the same input (a layer's
// query, key and value projections, say) as one parallel job: the threads
// share out the rows of all of them, so small matrices do not leave threads
// idle and the job is handed out once.
func MatMulAll(dsts [][]float32, ms []*Matrix, x *Batch) {
	for i, m := range ms {
		if x.Cols != m.Cols || len(dsts[i]) < x.N*m.Rows {
			panic(fmt.Sprintf("quant: %d×%d matrix times %d×%d batch into %d values", m.Rows, m.Cols, x.N, x.Cols, len(dsts[i])))
		}
	}
	if onDevice(dsts, ms, x) {
		return
	}
	total := 0
	for _, m := range ms {
		switch m.codec.activations() {
		case actQ8:
			x.quantize()
		case actQ8K:
			x.quantizeK()
		}
		if p, ok := m.codec.(batchPreparer); ok {
			p.prepareBatch(x)
		}
		total += m.Rows
	}
	tile := rowTile
	if x.N < 8 && !slices.ContainsFunc(ms, func(m *Matrix) bool { return laysOut(m, x.N) }) {
		// Each weight row is read once for the few vectors, in registers:
		// each thread streams one run of rows, so per-tile set-up is paid
		// once per thread. Whole groups of eight, for packed matrices.
		tile = ((total+Threads()-1)/Threads() + 7) &^ 7
	}
	parallelFor((total+tile-1)/tile, 1, func(lo, hi int) {
		// Rows [lo×tile, hi×tile) of the matrices stacked in order.
		r0, r1 := lo*tile, min(hi*tile, total)
		for i, m := range ms {
			if a, b := max(r0, 0), min(r1, m.Rows); a < b {
				m.mulRows(dsts[i], a, b, tile, x)
			}
			r0, r1 = r0-m.Rows, r1-m.Rows
		}
	})
}

// mulRows computes rows [r0, r1) of the product into dst, tile rows at a
// time.
func (m *Matrix) mulRows(dst []float32, r0, r1, tile int, x *Batch) {
	if m.packed > 0 {
		m.mulPacked(dst, r0, r1, tile, x)
		return
	}
	m.mulStored(dst, r0, r1, tile, x)
}

// mulStored is mulRows for rows as stored.
func (m *Matrix) mulStored(dst []float32, r0, r1, tile int, x *Batch) {
	rb := m.RowBytes()
	for t0 := r0; t0 < r1; t0 += tile {
		t1 := min(t0+tile, r1)
		m.mulStoredRows(dst, m.Data[t0*rb:t1*rb], t0, t1-t0, x)
	}
}

// mulStoredRows computes the product of the n stored rows in rows, rows
// r0 to r0+n of m.
func (m *Matrix) mulStoredRows(dst []float32, rows []byte, r0, n int, x *Batch) {
	if mt, ok := m.codec.(tileMultiplier); ok {
		mt.mulTile(dst, m.Rows, rows, r0, n, x)
		return
	}
	rb := m.RowBytes()
	for t := range x.N {
		out := dst[t*m.Rows:]
		for i := range n {
			out[r0+i] = m.codec.dot(rows[i*rb:(i+1)*rb], x, t)
		}
	}
}

// tileLayer is implemented by codecs whose tile kernels lay a tile's rows
// out before multiplying them by some batches: MatMulAll keeps those tiles
// small, so that the lay-out stays in cache.
type tileLayer interface {
	laysOut(n int) bool // for a batch of n vectors
}

// laysOut reports whether m's tile kernel lays its rows out for n vectors.
func laysOut(m *Matrix, n int) bool {
	l, ok := m.codec.(tileLayer)
	return ok && l.laysOut(n)
}

// batchPreparer is implemented by codecs whose kernels read the batch laid
// out once more: MatMulAll lays it out before the threads share out the
// rows, so that all of them build it.
type batchPreparer interface {
	prepareBatch(x *Batch)
}

// tileMultiplier is implemented by codecs with a kernel that multiplies
// several rows at once: it sets dst[t×ld + r0 + i] for rows i < n of tile
// (stored back to back) and every vector t of x.
type tileMultiplier interface {
	mulTile(dst []float32, ld int, tile []byte, r0, n int, x *Batch)
}
