package loader

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/ipfs-accelerate/accel/inference/gguf"
	"github.com/ipfs-accelerate/accel/inference/llama"
	"github.com/ipfs-accelerate/accel/inference/llama2c"
	"github.com/ipfs-accelerate/accel/inference/tokenizer"
)

// The tokenizer component is a GGUF file with the model's metadata and no
// tensors: a client holding only it can build the tokenizer and the
// configuration, and WriteGGUF adds the tensors back to it.

// metaKV is one metadata pair, in the form gguf.Writer.AddKV takes.
type metaKV struct {
	key string
	v   any
}

// tokenizerFile writes the tokenizer component: a GGUF file with meta and
// no tensors. general.alignment is left out (the writer sets its own): it
// describes a file's layout, not the model.
func tokenizerFile(meta []metaKV) ([]byte, error) {
	w := gguf.NewWriter()
	for _, kv := range meta {
		if kv.key == gguf.KeyAlignment {
			continue
		}
		if err := w.AddKV(kv.key, kv.v); err != nil {
			return nil, fmt.Errorf("metadata %s: %w", kv.key, err)
		}
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// hyperparameters reads a Llama GGUF file's shape from its metadata, as the
// engine does. Vocab and TiedOutput come from the tensors and are left zero.
func hyperparameters(g *gguf.File) (Hyperparameters, error) {
	c, err := llama.ConfigFromGGUF(g)
	if err != nil {
		return Hyperparameters{}, err
	}
	h := hyperparametersOf(c)
	h.Vocab, h.TiedOutput = 0, false
	return h, nil
}

// hyperparametersOf is the manifest's record of an engine configuration.
func hyperparametersOf(c llama.Config) Hyperparameters {
	return Hyperparameters{
		Dim: c.Dim, HiddenDim: c.HiddenDim, Layers: c.Layers, Heads: c.Heads, KVHeads: c.KVHeads,
		HeadDim: c.HeadDim, RopeDim: c.RopeDim, Vocab: c.Vocab, Context: c.SeqLen,
		RopeTheta: float64(c.RopeTheta), NormEps: float64(c.NormEps), TiedOutput: c.TiedOutput,
	}
}

// config is the engine configuration the manifest records.
func (h Hyperparameters) config() llama.Config {
	return llama.Config{
		Dim: h.Dim, HiddenDim: h.HiddenDim, Layers: h.Layers, Heads: h.Heads, KVHeads: h.KVHeads,
		Vocab: h.Vocab, SeqLen: h.Context, HeadDim: h.HeadDim, RopeTheta: float32(h.RopeTheta),
		NormEps: float32(h.NormEps), RopeDim: h.RopeDim, TiedOutput: h.TiedOutput,
	}
}

// llama2cMetadata is the GGUF metadata llama.cpp's convert-llama2c-to-ggml
// writes for a llama2.c checkpoint and its tokenizer.bin, in its order: the
// SentencePiece vocabulary (spaces as '▁', "<0xXX>" byte tokens typed 6,
// <unk>/<s>/</s> typed 2/3/3, scores kept), then the hyperparameters. The
// context length is the checkpoint's seq_len (the converter writes its own
// -c default of 128 instead).
func llama2cMetadata(c llama2c.Config, tokPath string) ([]metaKV, error) {
	tok, err := tokenizer.LoadLlama2C(tokPath, c.Vocab)
	if err != nil {
		return nil, err
	}
	const unk = 0 // llama2.c's vocabularies start <unk>, <s>, </s>
	tokens := make([]string, c.Vocab)
	scores := make([]float32, c.Vocab)
	types := make([]int32, c.Vocab)
	for id := range c.Vocab {
		text, typ := tok.Piece(id), tokenizer.TypeNormal
		switch {
		case id == unk:
			text, typ = "<unk>", tokenizer.TypeUnknown
		case id == tok.BOS():
			text, typ = "<s>", tokenizer.TypeControl
		case id == tok.EOS():
			text, typ = "</s>", tokenizer.TypeControl
		case text == "":
			typ = tokenizer.TypeControl
		case isByteToken(text):
			typ = tokenizer.TypeByte
		}
		tokens[id], scores[id], types[id] = strings.ReplaceAll(text, " ", "▁"), tok.Score(id), typ
	}
	u32 := func(v int) uint32 { return uint32(v) }
	return []metaKV{
		{"tokenizer.ggml.tokens", tokens},
		{"tokenizer.ggml.scores", scores},
		{"tokenizer.ggml.token_type", types},
		{"tokenizer.ggml.model", "llama"},
		{"general.architecture", "llama"},
		{"general.name", "llama"},
		{"tokenizer.ggml.unknown_token_id", uint32(unk)},
		{"tokenizer.ggml.bos_token_id", u32(tok.BOS())},
		{"tokenizer.ggml.eos_token_id", u32(tok.EOS())},
		{"tokenizer.ggml.seperator_token_id", ^uint32(0)}, // sic: llama.cpp's key
		{"tokenizer.ggml.padding_token_id", ^uint32(0)},
		{"llama.context_length", u32(c.SeqLen)},
		{"llama.embedding_length", u32(c.Dim)},
		{"llama.feed_forward_length", u32(c.HiddenDim)},
		{"llama.attention.head_count", u32(c.Heads)},
		{"llama.attention.head_count_kv", u32(c.KVHeads)},
		{"llama.block_count", u32(c.Layers)},
		{"llama.rope.dimension_count", u32(c.Dim / c.Heads)},
		{"llama.attention.layer_norm_rms_epsilon", float32(1e-5)},
	}, nil
}

// isByteToken is convert-llama2c-to-ggml's test sscanf(text, "<0x%02hhX>")
// == 1: "<0x" followed by a hex digit.
func isByteToken(s string) bool {
	rest, ok := strings.CutPrefix(s, "<0x")
	if !ok || rest == "" {
		return false
	}
	c := rest[0]
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}
