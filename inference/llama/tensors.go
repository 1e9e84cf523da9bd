package llama

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/ipfs-accelerate/accel/inference/quant"
)

// TensorSpec is one tensor of a Llama checkpoint: its name and the shape
// the hyperparameters give it.
type TensorSpec struct {
	Name  string // GGUF name, e.g. "blk.0.attn_q.weight"
	Shape []int  // outermost first: [n] for a norm's weights, [rows, cols] for a matrix
	// Optional marks the classifier (output.weight): a checkpoint may leave
	// it out, and the model then reuses the token embedding (TiedOutput).
	Optional bool
}

// Tensors lists every tensor of a model with hyperparameters c in
// checkpoint order: EmbedTensors, BlockTensors of each block, HeadTensors.
func Tensors(c Config) []TensorSpec {
	out := EmbedTensors(c)
	for i := range c.Layers {
		out = append(out, BlockTensors(c, i)...)
	}
	return append(out, HeadTensors(c)...)
}

// EmbedTensors lists the tensors a model runs before its blocks: the token
// embedding.
func EmbedTensors(c Config) []TensorSpec { return specs(c, "", weightFields[:headStart]) }

// BlockTensors lists the tensors of block i.
func BlockTensors(c Config, i int) []TensorSpec { return specs(c, blockPrefix(i), blockFields) }

// HeadTensors lists the tensors a model runs after its blocks: the output
// norm and, unless c.TiedOutput, the classifier.
func HeadTensors(c Config) []TensorSpec { return specs(c, "", weightFields[headStart:]) }

// specs are the tensors of fields, named with prefix, that a model with
// hyperparameters c has: the optional classifier only when c does not tie
// it to the embedding.
func specs(c Config, prefix string, fields []field) []TensorSpec {
	var out []TensorSpec
	for _, f := range fields {
		if !f.optional || !c.TiedOutput {
			out = append(out, f.spec(c, prefix))
		}
	}
	return out
}

func blockPrefix(i int) string { return fmt.Sprintf("blk.%d.", i) }

// dimensions are the widths a shape tag may name.
var dimensions = map[string]func(Config) int{
	"vocab":  func(c Config) int { return c.Vocab },
	"dim":    func(c Config) int { return c.Dim },
	"hidden": func(c Config) int { return c.HiddenDim },
	"qdim":   Config.QDim,
	"kvdim":  Config.KVDim,
}

// field is a tagged field of Weights or Block: one tensor of the
// checkpoint. Its Go type fits its shape: a []float32 has one dimension, a
// *quant.Matrix two.
type field struct {
	index    int    // in its struct
	name     string // GGUF name without the "blk.N." prefix and ".weight" suffix
	optional bool
	shape    []func(Config) int
}

// spec is the tensor f holds in a model with hyperparameters c.
func (f field) spec(c Config, prefix string) TensorSpec {
	shape := make([]int, len(f.shape))
	for i, dim := range f.shape {
		shape[i] = dim(c)
	}
	return TensorSpec{Name: prefix + f.name + ".weight", Shape: shape, Optional: f.optional}
}

var (
	weightFields = fieldsOf(reflect.TypeFor[Weights]())
	blockFields  = fieldsOf(reflect.TypeFor[Block]())
	// headStart is where the fields declared after Weights.Blocks (the
	// head) begin in weightFields; those before it are the embedding.
	headStart = func() int {
		blocks, _ := reflect.TypeFor[Weights]().FieldByName("Blocks")
		n := 0
		for n < len(weightFields) && weightFields[n].index < blocks.Index[0] {
			n++
		}
		return n
	}()
)

// ranks are the numbers of dimensions the field types hold.
var ranks = map[reflect.Type]int{reflect.TypeFor[[]float32](): 1, reflect.TypeFor[*quant.Matrix](): 2}

// fieldsOf reads the gguf and shape tags of struct type t, in field order.
// A tag it cannot read is a programming error, so it panics.
func fieldsOf(t reflect.Type) []field {
	var out []field
	for i := range t.NumField() {
		sf := t.Field(i)
		tag, ok := sf.Tag.Lookup("gguf")
		if !ok {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		f := field{index: i, name: name, optional: opts == "optional"}
		for _, d := range strings.Split(sf.Tag.Get("shape"), ",") {
			dim, ok := dimensions[d]
			if !ok {
				panic(fmt.Sprintf("llama: field %s.%s: unknown dimension %q in its shape tag", t.Name(), sf.Name, d))
			}
			f.shape = append(f.shape, dim)
		}
		if ranks[sf.Type] != len(f.shape) {
			panic(fmt.Sprintf("llama: field %s.%s: a %s cannot hold a tensor of %d dimensions", t.Name(), sf.Name, sf.Type, len(f.shape)))
		}
		out = append(out, f)
	}
	return out
}
