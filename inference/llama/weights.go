package llama

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/ipfs-accelerate/accel/inference/quant"
)

// Block is one transformer block. Field tags name the checkpoint tensors
// (GGUF names, without the "blk.N." prefix and ".weight" suffix) and give
// their shapes, outermost first, in widths of Config: vocab, dim, hidden
// (HiddenDim), qdim (QDim) and kvdim (KVDim). Tensors lists them.
type Block struct {
	AttnNorm []float32     `gguf:"attn_norm" shape:"dim"`
	Q        *quant.Matrix `gguf:"attn_q" shape:"qdim,dim"`
	K        *quant.Matrix `gguf:"attn_k" shape:"kvdim,dim"`
	V        *quant.Matrix `gguf:"attn_v" shape:"kvdim,dim"`
	O        *quant.Matrix `gguf:"attn_output" shape:"dim,qdim"`
	FFNNorm  []float32     `gguf:"ffn_norm" shape:"dim"`
	Gate     *quant.Matrix `gguf:"ffn_gate" shape:"hidden,dim"`
	Up       *quant.Matrix `gguf:"ffn_up" shape:"hidden,dim"`
	Down     *quant.Matrix `gguf:"ffn_down" shape:"dim,hidden"`
}

// Weights are a model's parameters, tagged as Block's are: the fields
// before Blocks are the embedding, those after it the head.
type Weights struct {
	Embed  *quant.Matrix `gguf:"token_embd" shape:"vocab,dim"`
	Blocks []Block
	Norm   []float32     `gguf:"output_norm" shape:"dim"`
	Output *quant.Matrix `gguf:"output,optional" shape:"vocab,dim"` // nil when tied to Embed
}

// Tensor is one stored tensor handed to the loader: Shape is outermost
// first ([rows, cols] for a matrix) and Data is in Format's row layout.
// A matrix may come built instead (Matrix, with no Data): one held on a
// device, say (quant.NewHeldMatrix).
type Tensor struct {
	Name   string
	Shape  []int
	Format quant.Format
	Data   []byte
	Matrix *quant.Matrix
}

// TensorSource yields a checkpoint's tensors by GGUF name. ok is false when
// the tensor is absent.
type TensorSource func(name string) (t Tensor, ok bool, err error)

// Precision chooses the storage format of each weight matrix; Keep leaves
// the checkpoint's formats as they are.
type Precision interface {
	FormatFor(name string, shape []int) quant.Format
}

// eachField calls fn with the spec under c and the address (a *[]float32
// or a **quant.Matrix) of every tagged field of w outside the blocks, in
// checkpoint order.
func (w *Weights) eachField(c Config, fn func(t TensorSpec, field any) error) error {
	return eachTagged(c, reflect.ValueOf(w).Elem(), "", weightFields, fn)
}

// eachField is Weights.eachField for the fields of block i.
func (b *Block) eachField(c Config, i int, fn func(t TensorSpec, field any) error) error {
	return eachTagged(c, reflect.ValueOf(b).Elem(), blockPrefix(i), blockFields, fn)
}

// eachTagged calls fn for fields of the struct v, naming their tensors
// with prefix.
func eachTagged(c Config, v reflect.Value, prefix string, fields []field, fn func(t TensorSpec, field any) error) error {
	for _, f := range fields {
		if err := fn(f.spec(c, prefix), v.Field(f.index).Addr().Interface()); err != nil {
			return err
		}
	}
	return nil
}

// setField stores t in field (a *[]float32 or a **quant.Matrix) once it has
// the shape spec gives, converting a matrix to the format opts.Precision
// asks for and packing it for the kernels (quant.Pack).
func setField(field any, spec TensorSpec, t Tensor, opts Options) (err error) {
	if err := checkShape(spec, t); err != nil {
		return err
	}
	switch field := field.(type) {
	case *[]float32:
		*field, err = vector(t)
	case **quant.Matrix:
		*field, err = matrix(t, opts)
		if err == nil && spec.Name != embedName {
			// The embedding's rows are read one token at a time.
			*field = quant.Pack(*field)
		}
	}
	return err
}

// embedName is the token embedding's tensor name.
const embedName = "token_embd.weight"

// checkShape checks that t has the shape the hyperparameters give it.
func checkShape(spec TensorSpec, t Tensor) error {
	switch {
	case slices.Equal(t.Shape, spec.Shape):
		return nil
	case len(t.Shape) == 1 && len(spec.Shape) == 1:
		return fmt.Errorf("llama: tensor %s has %d values, the hyperparameters need %d", spec.Name, t.Shape[0], spec.Shape[0])
	}
	return fmt.Errorf("llama: tensor %s is %s, the hyperparameters need %s", spec.Name, shapeText(t.Shape), shapeText(spec.Shape))
}

// shapeText writes a shape as "rows×cols".
func shapeText(shape []int) string {
	dims := make([]string, len(shape))
	for i, d := range shape {
		dims[i] = strconv.Itoa(d)
	}
	return strings.Join(dims, "×")
}

// vector reads a tensor of one dimension.
func vector(t Tensor) ([]float32, error) {
	m, err := quant.NewMatrix(1, t.Shape[0], t.Format, t.Data)
	if err != nil {
		return nil, fmt.Errorf("llama: tensor %q: %w", t.Name, err)
	}
	if t.Format == quant.FormatF32 {
		// A copy: the vector does not keep the bytes around it (the other
		// tensors of a component read whole) from being freed once their
		// matrices are packed.
		return slices.Clone(quant.Float32s(t.Data)), nil
	}
	return m.Dequantize(), nil
}

// matrix reads a tensor of two dimensions, converting it as opts say.
func matrix(t Tensor, opts Options) (m *quant.Matrix, err error) {
	if m = t.Matrix; m == nil {
		m, err = quant.NewMatrix(t.Shape[0], t.Shape[1], t.Format, t.Data)
	} else if m.Rows != t.Shape[0] || m.Cols != t.Shape[1] || m.Format != t.Format {
		err = fmt.Errorf("a %d×%d %s matrix for a %s tensor", m.Rows, m.Cols, m.Format, t.Format)
	}
	if err != nil {
		return nil, fmt.Errorf("llama: tensor %q: %w", t.Name, err)
	}
	if opts.Precision == nil {
		return m, nil
	}
	f := opts.Precision.FormatFor(t.Name, t.Shape)
	if f == m.Format {
		return m, nil
	}
	q, err := quant.QuantizeWith(m.Dequantize(), m.Rows, m.Cols, f, opts.Quantize)
	if err != nil {
		return nil, fmt.Errorf("llama: tensor %q to %s: %w", t.Name, f, err)
	}
	return q, nil
}
