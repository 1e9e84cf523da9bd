package loader

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/ipfs-accelerate/accel/inference/llama"
	"github.com/ipfs-accelerate/accel/inference/mmap"
	"github.com/ipfs-accelerate/accel/inference/quant"
	"github.com/ipfs-accelerate/accel/inference/safetensors"
	"github.com/ipfs-accelerate/accel/inference/tokenizer"
)

// A Hugging Face model directory holds config.json, tokenizer.json (with,
// optionally, tokenizer_config.json) and its weights in safetensors files.
// It imports as the GGUF that llama.cpp's convert_hf_to_gguf.py writes
// would: tensors renamed to GGUF's names and the query and key rows put
// back in GGUF's rotary order, in their stored dtype (F32, F16 or BF16).

// hfConfig is the part of a Llama config.json the importer reads.
type hfConfig struct {
	Architectures     []string        `json:"architectures"`
	ModelType         string          `json:"model_type"`
	HiddenSize        int             `json:"hidden_size"`
	IntermediateSize  int             `json:"intermediate_size"`
	Layers            int             `json:"num_hidden_layers"`
	Heads             int             `json:"num_attention_heads"`
	KVHeads           int             `json:"num_key_value_heads"`
	HeadDim           int             `json:"head_dim"`
	NormEps           *float64        `json:"rms_norm_eps"`
	RopeTheta         *float64        `json:"rope_theta"`
	Context           int             `json:"max_position_embeddings"`
	VocabSize         int             `json:"vocab_size"`
	TieWordEmbeddings bool            `json:"tie_word_embeddings"`
	HiddenAct         string          `json:"hidden_act"`
	RopeScaling       json.RawMessage `json:"rope_scaling"`
	AttentionBias     bool            `json:"attention_bias"`
	MLPBias           bool            `json:"mlp_bias"`
	BOS               json.RawMessage `json:"bos_token_id"`
	EOS               json.RawMessage `json:"eos_token_id"`
}

// engineConfig checks that c describes a model the engine runs and returns
// its configuration, with Hugging Face's defaults for absent keys
// (rms_norm_eps 1e-6, rope_theta 10000, as many KV heads as heads). The
// vocabulary size is left to the embedding.
func (c hfConfig) engineConfig() (llama.Config, error) {
	if c.ModelType != "llama" {
		return llama.Config{}, fmt.Errorf("model_type %q (architectures %v) is not supported (want \"llama\")", c.ModelType, c.Architectures)
	}
	switch {
	case c.HiddenAct != "" && c.HiddenAct != "silu":
		return llama.Config{}, fmt.Errorf("hidden_act %q is not supported (want \"silu\")", c.HiddenAct)
	case len(c.RopeScaling) > 0 && string(c.RopeScaling) != "null":
		return llama.Config{}, fmt.Errorf("rope_scaling %s is not supported", c.RopeScaling)
	case c.AttentionBias || c.MLPBias:
		return llama.Config{}, fmt.Errorf("attention_bias and mlp_bias are not supported")
	case c.Heads <= 0:
		return llama.Config{}, fmt.Errorf("num_attention_heads %d must be positive", c.Heads)
	}
	e := llama.Config{
		Dim: c.HiddenSize, HiddenDim: c.IntermediateSize, Layers: c.Layers, Heads: c.Heads, KVHeads: c.KVHeads,
		SeqLen: c.Context, HeadDim: c.HeadDim, RopeTheta: 10000, NormEps: 1e-6, TiedOutput: c.TieWordEmbeddings,
	}
	if e.KVHeads == 0 {
		e.KVHeads = e.Heads
	}
	if e.HeadDim == 0 {
		e.HeadDim = e.Dim / e.Heads
	}
	e.RopeDim = e.HeadDim
	if c.RopeTheta != nil {
		e.RopeTheta = float32(*c.RopeTheta)
	}
	if c.NormEps != nil {
		e.NormEps = float32(*c.NormEps)
	}
	return e, nil
}

// maxJSON bounds the JSON files of a model directory (a large vocabulary's
// tokenizer.json is some tens of MiB).
const maxJSON = 64 << 20

// openSafetensors opens the Hugging Face model directory dir. Its files
// are opened as the model file is: regular files only, checked on the open
// handle, JSON files no larger than maxJSON.
func openSafetensors(dir string) (*checkpoint, error) {
	var c hfConfig
	config := filepath.Join(dir, "config.json")
	if err := readJSON(config, &c); err != nil {
		return nil, err
	}
	conf, err := c.engineConfig()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", config, err)
	}
	meta, err := hfMetadata(dir, c, conf)
	if err != nil {
		return nil, err
	}
	st, err := safetensors.OpenDir(dir)
	if err != nil {
		return nil, err
	}
	tensors, err := hfTensors(st.Tensors, conf)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	emb, ok := tensors["token_embd.weight"]
	if !ok {
		st.Close()
		return nil, fmt.Errorf("%s: the checkpoint has no model.embed_tokens.weight", dir)
	}
	if len(emb.shape) != 2 || c.VocabSize != 0 && emb.shape[0] != c.VocabSize {
		st.Close()
		return nil, fmt.Errorf("%s: the token embedding has shape %v, config.json gives vocab_size %d", dir, emb.shape, c.VocabSize)
	}
	conf.Vocab = emb.shape[0]
	return &checkpoint{hp: hyperparametersOf(conf), meta: meta, tensors: tensors, close: st.Close}, nil
}

// readJSON decodes the JSON file at path into v.
func readJSON(path string, v any) error {
	data, err := mmap.ReadFile(path, maxJSON)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// hfMetadata is the GGUF metadata of the model in dir, in the order
// convert_hf_to_gguf.py writes it: the hyperparameters of conf, then the
// vocabulary of tokenizer.json (see tokenizer.ParseHF), with BOS and EOS
// from tokenizer_config.json or else config.json.
func hfMetadata(dir string, c hfConfig, conf llama.Config) ([]metaKV, error) {
	tokJSON, err := mmap.ReadFile(filepath.Join(dir, "tokenizer.json"), maxJSON)
	if err != nil {
		return nil, fmt.Errorf("%w (only tokenizer.json vocabularies are supported)", err)
	}
	cfgJSON, err := mmap.ReadFile(filepath.Join(dir, "tokenizer_config.json"), maxJSON)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	v, err := tokenizer.ParseHF(tokJSON, cfgJSON)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	if v.BOS < 0 {
		v.BOS = firstID(c.BOS, len(v.Tokens))
	}
	if v.EOS < 0 {
		v.EOS = firstID(c.EOS, len(v.Tokens))
	}
	u32 := func(v int) uint32 { return uint32(v) }
	meta := []metaKV{
		{"general.architecture", "llama"},
		{"general.name", filepath.Base(dir)},
		{"llama.block_count", u32(conf.Layers)},
		{"llama.context_length", u32(conf.SeqLen)},
		{"llama.embedding_length", u32(conf.Dim)},
		{"llama.feed_forward_length", u32(conf.HiddenDim)},
		{"llama.attention.head_count", u32(conf.Heads)},
		{"llama.attention.head_count_kv", u32(conf.KVHeads)},
		{"llama.rope.freq_base", conf.RopeTheta},
		{"llama.attention.layer_norm_rms_epsilon", conf.NormEps},
	}
	if conf.HeadDim != conf.Dim/conf.Heads {
		meta = append(meta, metaKV{"llama.attention.key_length", u32(conf.HeadDim)}, metaKV{"llama.attention.value_length", u32(conf.HeadDim)})
	}
	if c.VocabSize > 0 {
		meta = append(meta, metaKV{"llama.vocab_size", u32(c.VocabSize)})
	}
	meta = append(meta,
		metaKV{"llama.rope.dimension_count", u32(conf.RopeDim)},
		metaKV{"tokenizer.ggml.model", v.Model})
	if v.Model == "gpt2" {
		meta = append(meta, metaKV{"tokenizer.ggml.pre", v.Pre})
	}
	meta = append(meta, metaKV{"tokenizer.ggml.tokens", v.Tokens})
	if v.Model == "llama" {
		meta = append(meta, metaKV{"tokenizer.ggml.scores", v.Scores})
	}
	meta = append(meta, metaKV{"tokenizer.ggml.token_type", v.Types})
	if v.Model == "gpt2" {
		meta = append(meta, metaKV{"tokenizer.ggml.merges", v.Merges})
	}
	for _, id := range []struct {
		key string
		id  int
	}{{"bos_token_id", v.BOS}, {"eos_token_id", v.EOS}, {"unknown_token_id", v.UNK}} {
		if id.id >= 0 {
			meta = append(meta, metaKV{"tokenizer.ggml." + id.key, u32(id.id)})
		}
	}
	if v.Model == "llama" {
		meta = append(meta, metaKV{"tokenizer.ggml.add_space_prefix", v.AddSpacePrefix})
	}
	return meta, nil
}

// firstID reads a config.json token id: a number, or a list whose first
// number counts (Llama 3.1 lists several EOS ids). It is -1 when absent or
// not below n.
func firstID(raw json.RawMessage, n int) int {
	var id int
	if json.Unmarshal(raw, &id) != nil {
		var ids []int
		if json.Unmarshal(raw, &ids) != nil || len(ids) == 0 {
			return -1
		}
		id = ids[0]
	}
	if id < 0 || id >= n {
		return -1
	}
	return id
}

// hfLayerNames are the GGUF names of a layer's tensors, by their Hugging
// Face names after "model.layers.N.".
var hfLayerNames = map[string]string{
	"input_layernorm.weight":          "attn_norm.weight",
	"self_attn.q_proj.weight":         "attn_q.weight",
	"self_attn.k_proj.weight":         "attn_k.weight",
	"self_attn.v_proj.weight":         "attn_v.weight",
	"self_attn.o_proj.weight":         "attn_output.weight",
	"post_attention_layernorm.weight": "ffn_norm.weight",
	"mlp.gate_proj.weight":            "ffn_gate.weight",
	"mlp.up_proj.weight":              "ffn_up.weight",
	"mlp.down_proj.weight":            "ffn_down.weight",
}

// ggufName is the GGUF name of a Hugging Face Llama tensor, "" for one the
// model does not use (rotary_emb.inv_freq, which the engine computes), or
// an error for an unknown one.
func ggufName(name string, layers int) (string, error) {
	switch name {
	case "model.embed_tokens.weight":
		return "token_embd.weight", nil
	case "model.norm.weight":
		return "output_norm.weight", nil
	case "lm_head.weight":
		return "output.weight", nil
	}
	if strings.HasSuffix(name, ".rotary_emb.inv_freq") {
		return "", nil
	}
	rest, ok := strings.CutPrefix(name, "model.layers.")
	num, suffix, _ := strings.Cut(rest, ".")
	layer, err := strconv.Atoi(num)
	gguf, known := hfLayerNames[suffix]
	if !ok || err != nil || strconv.Itoa(layer) != num || !known {
		return "", fmt.Errorf("tensor %s is not part of a Llama model", name)
	}
	if layer >= layers {
		return "", fmt.Errorf("tensor %s is beyond the %d layers of config.json", name, layers)
	}
	return fmt.Sprintf("blk.%d.%s", layer, gguf), nil
}

// hfTensors renames a Hugging Face checkpoint's tensors to GGUF's and puts
// the query and key rows in GGUF's rotary order (copying them; the other
// tensors alias the files). With tied embeddings an lm_head is dropped, as
// transformers ignores it; untied, it must be there.
func hfTensors(in map[string]safetensors.Tensor, conf llama.Config) (map[string]srcTensor, error) {
	formats := map[safetensors.DType]quant.Format{
		safetensors.F32: quant.FormatF32, safetensors.F16: quant.FormatF16, safetensors.BF16: quant.FormatBF16,
	}
	out := map[string]srcTensor{}
	for name, t := range in {
		g, err := ggufName(name, conf.Layers)
		if err != nil {
			return nil, err
		}
		if g == "" || g == "output.weight" && conf.TiedOutput {
			continue
		}
		st := srcTensor{shape: t.Shape, format: quantFormat(formats[t.DType]), data: t.Data}
		switch {
		case strings.HasSuffix(g, ".attn_q.weight"):
			st.data, err = ropeInterleave(t.Data, t.Shape, conf.Heads)
		case strings.HasSuffix(g, ".attn_k.weight"):
			st.data, err = ropeInterleave(t.Data, t.Shape, conf.KVHeads)
		}
		if err != nil {
			return nil, fmt.Errorf("tensor %s: %w", name, err)
		}
		out[g] = st
	}
	if _, ok := out["output.weight"]; !ok && !conf.TiedOutput {
		return nil, errors.New("config.json unties the output from the embedding (tie_word_embeddings false) but there is no lm_head.weight")
	}
	return out, nil
}

// ropeInterleave undoes the row order Hugging Face's conversion gives a
// query or key projection of heads heads: within each head it stores the
// first elements of the rotated pairs, then the second ones (for
// rotate_half); GGUF, like Meta's checkpoints, interleaves each pair. Row
// h·d + 2i + j of the result is row h·d + j·d/2 + i of data, as in
// convert_hf_to_gguf.py's permute.
func ropeInterleave(data []byte, shape []int, heads int) ([]byte, error) {
	if len(shape) != 2 || shape[0]%(2*heads) != 0 {
		return nil, fmt.Errorf("shape %v does not split into %d heads of rotated pairs", shape, heads)
	}
	d := shape[0] / heads
	rowBytes := len(data) / shape[0]
	out := make([]byte, len(data))
	for h := range heads {
		for i := range d / 2 {
			for j := range 2 {
				dst, src := h*d+2*i+j, h*d+j*d/2+i
				copy(out[dst*rowBytes:(dst+1)*rowBytes], data[src*rowBytes:(src+1)*rowBytes])
			}
		}
	}
	return out, nil
}
