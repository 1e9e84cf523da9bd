package llama

import (
	"fmt"

	"github.com/ipfs-accelerate/accel/inference/gguf"
	"github.com/ipfs-accelerate/accel/inference/quant"
	"github.com/ipfs-accelerate/accel/inference/tokenizer"
)

// nativeTypes are the GGML types the kernels run as stored.
var nativeTypes = map[gguf.Type]quant.Format{
	gguf.F32: quant.FormatF32, gguf.F16: quant.FormatF16, gguf.BF16: quant.FormatBF16,
	gguf.Q8_0: quant.FormatQ8_0, gguf.Q4_0: quant.FormatQ4_0,
	gguf.Q4_K: quant.FormatQ4K, gguf.Q5_K: quant.FormatQ5K, gguf.Q6_K: quant.FormatQ6K,
}

// dequantizers convert the other supported GGML types to float32 on load.
var dequantizers = map[gguf.Type]func(dst []float32, src []byte) error{
	gguf.Q4_1: quant.DequantizeQ4_1, gguf.Q5_0: quant.DequantizeQ5_0, gguf.Q5_1: quant.DequantizeQ5_1,
	gguf.Q2_K: quant.DequantizeQ2K, gguf.Q3_K: quant.DequantizeQ3K,
}

// FromGGUF builds a model from a GGUF file of architecture "llama"; its
// tensors stay in (and alias) the file's memory where their type is native
// and opts ask for no conversion.
func FromGGUF(g *gguf.File, opts Options) (*Model, error) {
	c, err := ConfigFromGGUF(g)
	if err != nil {
		return nil, err
	}
	tok, err := TokenizerFromGGUF(g)
	if err != nil {
		return nil, err
	}
	return New(c, tok, func(name string) (Tensor, bool, error) { return ggufTensor(g, name) }, opts)
}

// ConfigFromGGUF reads the hyperparameters of a "llama" GGUF file's
// metadata, with llama.cpp's defaults for absent keys. The vocabulary size
// is the token embedding's row count when the file holds it, else
// llama.vocab_size or the vocabulary's length.
func ConfigFromGGUF(g *gguf.File) (Config, error) {
	arch := g.Architecture()
	if arch != "llama" {
		return Config{}, fmt.Errorf("llama: GGUF architecture %q is not supported (want \"llama\")", arch)
	}
	var c Config
	ints := []struct {
		key      string
		dst      *int
		required bool
	}{
		{"embedding_length", &c.Dim, true}, {"feed_forward_length", &c.HiddenDim, true},
		{"block_count", &c.Layers, true}, {"attention.head_count", &c.Heads, true},
		{"attention.head_count_kv", &c.KVHeads, false}, {"context_length", &c.SeqLen, true},
		{"attention.key_length", &c.HeadDim, false}, {"rope.dimension_count", &c.RopeDim, false},
	}
	for _, f := range ints {
		v, ok := g.Uint(arch + "." + f.key)
		if !ok && f.required {
			return c, fmt.Errorf("llama: GGUF metadata lacks %s.%s", arch, f.key)
		}
		if v > 1<<24 {
			return c, fmt.Errorf("llama: GGUF metadata %s.%s = %d is out of range", arch, f.key, v)
		}
		*f.dst = int(v)
	}
	if c.KVHeads == 0 {
		c.KVHeads = c.Heads
	}
	if c.HeadDim == 0 && c.Heads > 0 {
		c.HeadDim = c.Dim / c.Heads
	}
	if c.RopeDim == 0 {
		c.RopeDim = c.HeadDim
	}
	c.RopeTheta, c.NormEps = 10000, 1e-5
	if v, ok := g.Float(arch + ".rope.freq_base"); ok {
		c.RopeTheta = float32(v)
	}
	if v, ok := g.Float(arch + ".attention.layer_norm_rms_epsilon"); ok {
		c.NormEps = float32(v)
	}
	if tokens, ok := g.Strings("tokenizer.ggml.tokens"); ok {
		c.Vocab = len(tokens)
	}
	if v, ok := g.Uint(arch + ".vocab_size"); ok && v <= 1<<24 {
		c.Vocab = int(v)
	}
	if emb, ok := g.Tensor("token_embd.weight"); ok && len(emb.Dims) == 2 && emb.Dims[1] <= 1<<24 {
		c.Vocab = int(emb.Dims[1])
	}
	return c, nil
}

// TokenizerFromGGUF builds the tokenizer of a GGUF file's vocabulary
// (tokenizer.ggml.model "llama" or "gpt2").
func TokenizerFromGGUF(g *gguf.File) (*tokenizer.Tokenizer, error) {
	model, _ := g.String("tokenizer.ggml.model")
	tokens, ok := g.Strings("tokenizer.ggml.tokens")
	if !ok {
		return nil, fmt.Errorf("llama: GGUF file has no vocabulary (tokenizer.ggml.tokens)")
	}
	types, _ := g.Int32s("tokenizer.ggml.token_type")
	id := func(key string) int {
		if v, ok := g.Uint("tokenizer.ggml." + key); ok && v < uint64(len(tokens)) {
			return int(v)
		}
		return -1
	}
	bos, eos := id("bos_token_id"), id("eos_token_id")
	var tok *tokenizer.Tokenizer
	var err error
	switch model {
	case "llama":
		scores, _ := g.Float32s("tokenizer.ggml.scores")
		prefix, ok := g.Bool("tokenizer.ggml.add_space_prefix")
		tok, err = tokenizer.NewSentencePiece(tokens, scores, types, bos, eos, id("unknown_token_id"), prefix || !ok)
	case "gpt2":
		merges, _ := g.Strings("tokenizer.ggml.merges")
		pre, _ := g.String("tokenizer.ggml.pre")
		tok, err = tokenizer.NewBPE(tokens, types, merges, bos, eos, pre)
	default:
		return nil, fmt.Errorf("llama: GGUF tokenizer model %q is not supported (want \"llama\" or \"gpt2\")", model)
	}
	if err != nil {
		return nil, err
	}
	for _, key := range []string{"eot_token_id", "eom_token_id"} {
		if v := id(key); v >= 0 {
			tok.AddEOG(v)
		}
	}
	return tok, nil
}

// ggufTensor returns a file's tensor with its shape outermost first.
func ggufTensor(g *gguf.File, name string) (Tensor, bool, error) {
	info, ok := g.Tensor(name)
	if !ok {
		return Tensor{}, false, nil
	}
	data, err := g.TensorData(info)
	if err != nil {
		return Tensor{}, true, err
	}
	shape := make([]int, len(info.Dims))
	for i, d := range info.Dims {
		shape[len(shape)-1-i] = int(d)
	}
	t, err := GGMLTensor(name, shape, info.Type, data)
	return t, true, err
}

// GGMLTensor is a tensor stored in a GGML type: data itself where the
// kernels run the type (F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K), else
// its values decoded to float32 (Q4_1, Q5_0, Q5_1, Q2_K, Q3_K).
func GGMLTensor(name string, shape []int, typ gguf.Type, data []byte) (Tensor, error) {
	t := Tensor{Name: name, Shape: shape, Data: data}
	if f, ok := nativeTypes[typ]; ok {
		t.Format = f
		return t, nil
	}
	deq, ok := dequantizers[typ]
	if !ok {
		return Tensor{}, fmt.Errorf("llama: tensor %q has GGML type %s, which is not supported", name, typ)
	}
	n := 1
	for _, d := range shape {
		n *= d
	}
	f32 := make([]float32, n)
	if err := deq(f32, data); err != nil {
		return Tensor{}, fmt.Errorf("llama: tensor %q: %w", name, err)
	}
	t.Format, t.Data = quant.FormatF32, quant.Float32Bytes(f32)
	return t, nil
}

// NativeFormat is the format the kernels run a GGML type's bytes as, if
// they run it without conversion.
func NativeFormat(t gguf.Type) (quant.Format, bool) {
	f, ok := nativeTypes[t]
	return f, ok
}

// NativeGGMLType is the GGML type whose layout is f, if there is one.
func NativeGGMLType(f quant.Format) (gguf.Type, bool) {
	for t, nf := range nativeTypes {
		if nf == f {
			return t, true
		}
	}
	return 0, false
}

// SupportsGGML reports whether GGMLTensor takes tensors of type t.
func SupportsGGML(t gguf.Type) bool {
	_, native := nativeTypes[t]
	_, decoded := dequantizers[t]
	return native || decoded
}
