package loader

import (
	"fmt"
	"math"

	"github.com/ipfs-accelerate/accel/inference/gguf"
	"github.com/ipfs-accelerate/accel/inference/llama"
	"github.com/ipfs-accelerate/accel/inference/quant"
)

// format is a parsed Tensor.Format: a quant.Format the kernels run, a GGML
// type kept as stored, or both (f32, f16, bf16, q8_0 and q4_0 are the same
// bytes either way).
type format struct {
	name   string
	quant  quant.Format
	runs   bool      // quant is set: the kernels run these bytes as stored
	ggml   gguf.Type // the GGML type with this layout
	inGGUF bool      // ggml is set: a GGUF file can hold these bytes
}

// parseFormat reads a Tensor.Format, which must be spelled canonically
// (as quant.Format.String or gguf.Type.String write it).
func parseFormat(s string) (format, error) {
	if q, err := quant.ParseFormat(s); err == nil && q.String() == s {
		return quantFormat(q), nil
	}
	if t, err := gguf.ParseType(s); err == nil && t.String() == s {
		return ggmlFormat(t)
	}
	return format{}, fmt.Errorf("unknown tensor format %q (want a quant format such as f32, q8_0 or int4g64a, or a GGML type such as q6_K)", s)
}

// quantFormat is the format of tensors stored as q.
func quantFormat(q quant.Format) format {
	f := format{name: q.String(), quant: q, runs: true}
	f.ggml, f.inGGUF = llama.NativeGGMLType(q)
	return f
}

// ggmlFormat is the format of a GGML tensor kept as stored: named as quant
// names it when the kernels run it, else by its GGML name. Types that
// neither run nor convert to float32 are refused.
func ggmlFormat(t gguf.Type) (format, error) {
	if q, ok := llama.NativeFormat(t); ok {
		return quantFormat(q), nil
	}
	if !llama.SupportsGGML(t) {
		return format{}, fmt.Errorf("GGML type %s is not supported", t)
	}
	return format{name: t.String(), ggml: t, inGGUF: true}, nil
}

// maxElements bounds the number of values of one tensor.
const maxElements = 1 << 44

// size is the number of bytes a tensor of this shape (outermost first)
// takes in f: its rows back to back.
func (f format) size(shape []int) (int64, error) {
	if len(shape) == 0 || len(shape) > gguf.MaxDims {
		return 0, fmt.Errorf("shape %v must have 1 to %d dimensions", shape, gguf.MaxDims)
	}
	rows := int64(1)
	for _, d := range shape {
		if d <= 0 || d > maxElements || rows > maxElements/int64(d) {
			return 0, fmt.Errorf("shape %v is out of range", shape)
		}
		rows *= int64(d)
	}
	cols := shape[len(shape)-1]
	rows /= int64(cols)
	var rowBytes int64
	if f.inGGUF {
		n, err := f.ggml.RowBytes(uint64(cols))
		if err != nil {
			return 0, err
		}
		rowBytes = int64(n)
	} else {
		rowBytes = int64(f.quant.RowBytes(cols))
	}
	if rowBytes <= 0 || rows > math.MaxInt64/rowBytes {
		return 0, fmt.Errorf("shape %v in %s overflows", shape, f.name)
	}
	return rows * rowBytes, nil
}

// rowsCols views a shape (outermost first) as a matrix.
func rowsCols(shape []int) (rows, cols int) {
	rows = 1
	for _, d := range shape[:len(shape)-1] {
		rows *= d
	}
	return rows, shape[len(shape)-1]
}

// matrix wraps data, stored in f, as a quant.Matrix the kernels run,
// decoding GGML types they do not run to float32.
func (f format) matrix(shape []int, data []byte) (*quant.Matrix, error) {
	t, err := f.tensor("", shape, data)
	if err != nil {
		return nil, err
	}
	rows, cols := rowsCols(shape)
	return quant.NewMatrix(rows, cols, t.Format, t.Data)
}

// tensor is the engine's view of a tensor stored in f.
func (f format) tensor(name string, shape []int, data []byte) (llama.Tensor, error) {
	if f.runs {
		return llama.Tensor{Name: name, Shape: shape, Format: f.quant, Data: data}, nil
	}
	return llama.GGMLTensor(name, shape, f.ggml, data)
}

// convert returns data, a tensor of this shape stored in from, stored in to.
func convert(data []byte, from format, shape []int, to quant.Format) ([]byte, error) {
	m, err := from.matrix(shape, data)
	if err != nil {
		return nil, err
	}
	if m.Format == to {
		return m.Data, nil
	}
	w := m.Dequantize()
	if to == quant.FormatF32 {
		return quant.Float32Bytes(w), nil
	}
	q, err := quant.QuantizeWith(w, m.Rows, m.Cols, to, quant.Options{})
	if err != nil {
		return nil, err
	}
	return q.Data, nil
}
