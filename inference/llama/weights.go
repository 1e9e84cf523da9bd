package llama

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/ipfs-accelerate/accel/inference/quant"
)

// Block is one transformer block. Field tags name the checkpoint tensors
// (GGUF names, without the "blk.N." prefix and ".weight" suffix).
type Block struct {
	AttnNorm []float32     `gguf:"attn_norm"`
	Q        *quant.Matrix `gguf:"attn_q"`
	K        *quant.Matrix `gguf:"attn_k"`
	V        *quant.Matrix `gguf:"attn_v"`
	O        *quant.Matrix `gguf:"attn_output"`
	FFNNorm  []float32     `gguf:"ffn_norm"`
	Gate     *quant.Matrix `gguf:"ffn_gate"`
	Up       *quant.Matrix `gguf:"ffn_up"`
	Down     *quant.Matrix `gguf:"ffn_down"`
}

// Weights are a model's parameters.
type Weights struct {
	Embed  *quant.Matrix `gguf:"token_embd"`
	Blocks []Block
	Norm   []float32     `gguf:"output_norm"`
	Output *quant.Matrix `gguf:"output,optional"` // nil when tied to Embed
}

// Tensor is one stored tensor handed to the loader: Shape is outermost
// first ([rows, cols] for a matrix) and Data is in Format's row layout.
type Tensor struct {
	Name   string
	Shape  []int
	Format quant.Format
	Data   []byte
}

// TensorSource yields a checkpoint's tensors by GGUF name. ok is false when
// the tensor is absent.
type TensorSource func(name string) (t Tensor, ok bool, err error)

// Precision chooses the storage format of each weight matrix; Keep leaves
// the checkpoint's formats as they are.
type Precision interface {
	FormatFor(name string, shape []int) quant.Format
}

// eachField calls fn with the tensor name and address (a *[]float32 or a
// **quant.Matrix) of every tagged field of w outside the blocks, in
// checkpoint order.
func (w *Weights) eachField(fn func(name string, optional bool, field any) error) error {
	return eachTagged(reflect.ValueOf(w).Elem(), "", fn)
}

// eachField is Weights.eachField for the fields of block i.
func (b *Block) eachField(i int, fn func(name string, optional bool, field any) error) error {
	return eachTagged(reflect.ValueOf(b).Elem(), fmt.Sprintf("blk.%d.", i), fn)
}

// eachTagged calls fn for every tagged field of the struct v, naming its
// tensor with prefix.
func eachTagged(v reflect.Value, prefix string, fn func(name string, optional bool, field any) error) error {
	for i := range v.NumField() {
		tag, ok := v.Type().Field(i).Tag.Lookup("gguf")
		if !ok {
			continue
		}
		base, opts, _ := strings.Cut(tag, ",")
		if err := fn(prefix+base+".weight", opts == "optional", v.Field(i).Addr().Interface()); err != nil {
			return err
		}
	}
	return nil
}

// fill sets every tagged field of w outside the blocks from src.
func (w *Weights) fill(src TensorSource, opts Options) error {
	return w.eachField(func(name string, optional bool, field any) error {
		t, found, err := src(name)
		switch {
		case err != nil:
			return err
		case !found && optional:
			return nil
		case !found:
			return fmt.Errorf("llama: checkpoint has no tensor %q", name)
		}
		return setField(field, t, opts)
	})
}

// setField stores t in field (a *[]float32 or a **quant.Matrix), converting
// a matrix to the format opts.Precision asks for.
func setField(field any, t Tensor, opts Options) (err error) {
	switch field := field.(type) {
	case *[]float32:
		*field, err = vector(t)
	case **quant.Matrix:
		*field, err = matrix(t, opts)
	}
	return err
}

func vector(t Tensor) ([]float32, error) {
	if len(t.Shape) != 1 {
		return nil, fmt.Errorf("llama: tensor %q has shape %v, want a vector", t.Name, t.Shape)
	}
	m, err := quant.NewMatrix(1, t.Shape[0], t.Format, t.Data)
	if err != nil {
		return nil, fmt.Errorf("llama: tensor %q: %w", t.Name, err)
	}
	if t.Format == quant.FormatF32 {
		return quant.Float32s(t.Data), nil
	}
	return m.Dequantize(), nil
}

func matrix(t Tensor, opts Options) (*quant.Matrix, error) {
	if len(t.Shape) != 2 {
		return nil, fmt.Errorf("llama: tensor %q has shape %v, want a matrix", t.Name, t.Shape)
	}
	m, err := quant.NewMatrix(t.Shape[0], t.Shape[1], t.Format, t.Data)
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
