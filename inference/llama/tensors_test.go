package llama

import (
	"reflect"
	"strings"
	"testing"

	"github.com/ipfs-accelerate/accel/inference/quant"
)

// gqa is a grouped-query configuration whose heads are wider than Dim/Heads.
var gqa = Config{Dim: 64, HiddenDim: 96, Layers: 2, Heads: 8, KVHeads: 2, Vocab: 300, SeqLen: 16,
	HeadDim: 16, RopeDim: 16, RopeTheta: 10000, NormEps: 1e-5}

func TestTensorTable(t *testing.T) {
	want := []TensorSpec{
		{Name: "blk.1.attn_norm.weight", Shape: []int{64}},
		{Name: "blk.1.attn_q.weight", Shape: []int{128, 64}},
		{Name: "blk.1.attn_k.weight", Shape: []int{32, 64}},
		{Name: "blk.1.attn_v.weight", Shape: []int{32, 64}},
		{Name: "blk.1.attn_output.weight", Shape: []int{64, 128}},
		{Name: "blk.1.ffn_norm.weight", Shape: []int{64}},
		{Name: "blk.1.ffn_gate.weight", Shape: []int{96, 64}},
		{Name: "blk.1.ffn_up.weight", Shape: []int{96, 64}},
		{Name: "blk.1.ffn_down.weight", Shape: []int{64, 96}},
	}
	if got := BlockTensors(gqa, 1); !reflect.DeepEqual(got, want) {
		t.Errorf("BlockTensors = %+v, want %+v", got, want)
	}
	embed := []TensorSpec{{Name: "token_embd.weight", Shape: []int{300, 64}}}
	if got := EmbedTensors(gqa); !reflect.DeepEqual(got, embed) {
		t.Errorf("EmbedTensors = %+v, want %+v", got, embed)
	}
	head := []TensorSpec{{Name: "output_norm.weight", Shape: []int{64}}, {Name: "output.weight", Shape: []int{300, 64}, Optional: true}}
	if got := HeadTensors(gqa); !reflect.DeepEqual(got, head) {
		t.Errorf("HeadTensors = %+v, want %+v", got, head)
	}
	tied := gqa
	tied.TiedOutput = true
	if got := HeadTensors(tied); !reflect.DeepEqual(got, head[:1]) {
		t.Errorf("HeadTensors when tied = %+v, want %+v", got, head[:1])
	}
	all := Tensors(gqa)
	if len(all) != 1+9*gqa.Layers+2 || all[0].Name != "token_embd.weight" || all[1].Name != "blk.0.attn_norm.weight" || all[len(all)-1].Name != "output.weight" {
		t.Errorf("Tensors lists %d tensors from %s to %s", len(all), all[0].Name, all[len(all)-1].Name)
	}
}

// tableSource yields a zero F32 tensor for every tensor of Tensors(c),
// with reshape changing the shapes it likes.
func tableSource(c Config, reshape func(name string, shape []int) []int) TensorSource {
	byName := map[string]Tensor{}
	for _, s := range Tensors(c) {
		shape := reshape(s.Name, s.Shape)
		n := 1
		for _, d := range shape {
			n *= d
		}
		byName[s.Name] = Tensor{Name: s.Name, Shape: shape, Format: quant.FormatF32, Data: make([]byte, 4*n)}
	}
	return func(name string) (Tensor, bool, error) {
		t, ok := byName[name]
		return t, ok, nil
	}
}

// TestTableMatchesWeights loads a model from exactly the tensors the table
// lists: each fills one field, in the listed shape, and a tensor of another
// shape is refused by name.
func TestTableMatchesWeights(t *testing.T) {
	same := func(_ string, shape []int) []int { return shape }
	m, err := New(gqa, nil, tableSource(gqa, same), Options{})
	if err != nil {
		t.Fatal(err)
	}
	loaded := map[string][]int{}
	m.eachWeight(func(spec TensorSpec, field any) error {
		switch f := field.(type) {
		case *[]float32:
			loaded[spec.Name] = []int{len(*f)}
		case **quant.Matrix:
			loaded[spec.Name] = []int{(*f).Rows, (*f).Cols}
		}
		return nil
	})
	table := map[string][]int{}
	for _, s := range Tensors(gqa) {
		table[s.Name] = s.Shape
	}
	if !reflect.DeepEqual(loaded, table) {
		t.Errorf("the model holds %v, the table lists %v", loaded, table)
	}

	for _, c := range []struct {
		name  string
		shape []int
		want  string
	}{
		{"blk.1.attn_output.weight", []int{128, 64}, "tensor blk.1.attn_output.weight is 128×64, the hyperparameters need 64×128"},
		{"output_norm.weight", []int{32}, "tensor output_norm.weight has 32 values, the hyperparameters need 64"},
		{"token_embd.weight", []int{300 * 64}, "tensor token_embd.weight is 19200, the hyperparameters need 300×64"},
	} {
		reshape := func(name string, shape []int) []int {
			if name == c.name {
				return c.shape
			}
			return shape
		}
		_, err = New(gqa, nil, tableSource(gqa, reshape), Options{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s of shape %v: %v, want an error with %q", c.name, c.shape, err, c.want)
		}
	}
}
