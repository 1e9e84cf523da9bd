package loader

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/ipfs-accelerate/accel/inference/llama"
	"github.com/ipfs-accelerate/accel/inference/llama2c"
	"github.com/ipfs-accelerate/accel/inference/quant"
	"github.com/ipfs-accelerate/accel/inference/safetensors"
	"github.com/ipfs-accelerate/accel/inference/tokenizer"
	"github.com/ipfs-accelerate/accel/loader/dagstore"
)

// hfNames are the Hugging Face names of stories260K's GGUF tensor names
// (per layer after "blk.N.", which becomes "model.layers.N.").
var hfNames = map[string]string{
	"token_embd.weight":  "model.embed_tokens.weight",
	"output_norm.weight": "model.norm.weight",
	"attn_norm.weight":   "input_layernorm.weight",
	"attn_q.weight":      "self_attn.q_proj.weight",
	"attn_k.weight":      "self_attn.k_proj.weight",
	"attn_v.weight":      "self_attn.v_proj.weight",
	"attn_output.weight": "self_attn.o_proj.weight",
	"ffn_norm.weight":    "post_attention_layernorm.weight",
	"ffn_gate.weight":    "mlp.gate_proj.weight",
	"ffn_up.weight":      "mlp.up_proj.weight",
	"ffn_down.weight":    "mlp.down_proj.weight",
}

// hfModel writes stories260K.bin and tok512.bin as a Hugging Face model
// directory, the way transformers' conversion scripts would: q_proj and
// k_proj rows permuted for rotate_half, the vocabulary as a byte-fallback
// BPE tokenizer.json with merges built by LlamaConverter. dtypes stores
// the named (GGUF-named) tensors as F16 or BF16 instead of F32.
func hfModel(t *testing.T, dtypes map[string]safetensors.DType) string {
	t.Helper()
	src := llama2cSource(t)
	ck, err := llama2c.Open(src.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	c := ck.Config
	dir := t.TempDir()
	writeJSON(t, filepath.Join(dir, "config.json"), map[string]any{
		"architectures": []string{"LlamaForCausalLM"}, "model_type": "llama", "hidden_act": "silu",
		"hidden_size": c.Dim, "intermediate_size": c.HiddenDim, "num_hidden_layers": c.Layers,
		"num_attention_heads": c.Heads, "num_key_value_heads": c.KVHeads, "max_position_embeddings": c.SeqLen,
		"vocab_size": c.Vocab, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "rope_scaling": nil,
		"tie_word_embeddings": c.Shared, "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "float32",
	})
	var tensors []safetensors.Tensor
	for _, x := range ck.Tensors {
		name := x.Name
		var layer, base string
		if _, err := fmt.Sscanf(x.Name, "blk.%s", &layer); err == nil {
			layer, base, _ = strings.Cut(layer, ".")
		} else {
			base = x.Name
		}
		hf := hfNames[base]
		if layer != "" {
			hf = "model.layers." + layer + "." + hf
		}
		data := x.Data
		switch base {
		case "attn_q.weight":
			data = rotateHalfOrder(data, x.Shape, c.Heads)
		case "attn_k.weight":
			data = rotateHalfOrder(data, x.Shape, c.KVHeads)
		}
		dtype := safetensors.F32
		if d, ok := dtypes[name]; ok {
			dtype, data = d, narrow(data, d)
		}
		tensors = append(tensors, safetensors.Tensor{Name: hf, DType: dtype, Shape: x.Shape, Data: data})
	}
	var buf bytes.Buffer
	if err := safetensors.Write(&buf, tensors, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, safetensors.SingleFile), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	writeTokenizerJSON(t, dir, src.Tokenizer, c.Vocab)
	return dir
}

// rotateHalfOrder is the permutation transformers' convert_llama_weights_to_hf
// applies to Meta's (and llama2.c's) q and k rows: row h·d + j·d/2 + i of
// the result is row h·d + 2i + j of data.
func rotateHalfOrder(data []byte, shape []int, heads int) []byte {
	d, rowBytes := shape[0]/heads, len(data)/shape[0]
	out := make([]byte, 0, len(data))
	for h := range heads {
		for j := range 2 {
			for i := range d / 2 {
				src := h*d + 2*i + j
				out = append(out, data[src*rowBytes:(src+1)*rowBytes]...)
			}
		}
	}
	return out
}

// narrow rounds little-endian float32s to dtype (F16 or BF16).
func narrow(data []byte, dtype safetensors.DType) []byte {
	var out []byte
	for _, f := range quant.Float32s(data) {
		h := quant.F32ToF16(f)
		if dtype == safetensors.BF16 {
			h = quant.F32ToBF16(f)
		}
		out = binary.LittleEndian.AppendUint16(out, h)
	}
	return out
}

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeTokenizerJSON writes tokenizer.json and tokenizer_config.json for
// the llama2.c vocabulary at tokPath as transformers' LlamaConverter does:
// spaces as '▁', <unk>/<s>/</s> special added tokens, and merges from
// SentencePieceExtractor (every split of a piece into two pieces, ordered
// by the ids of the halves within a piece and by the piece's score across
// pieces, highest first, stably).
func writeTokenizerJSON(t *testing.T, dir, tokPath string, n int) {
	t.Helper()
	tok, err := tokenizer.LoadLlama2C(tokPath, n)
	if err != nil {
		t.Fatal(err)
	}
	pieces := make([]string, n)
	vocab := map[string]int{}
	for id := range n {
		pieces[id] = strings.ReplaceAll(tok.Piece(id), " ", "▁")
		if id < 3 {
			pieces[id] = []string{"<unk>", "<s>", "</s>"}[id]
		}
		if _, dup := vocab[pieces[id]]; dup {
			t.Fatalf("piece %q appears twice", pieces[id])
		}
		vocab[pieces[id]] = id
	}
	type merge struct {
		l, r  string
		score float32
	}
	var merges []merge
	for id, p := range pieces {
		var local []merge
		for i := range p { // at each character boundary
			_, okL := vocab[p[:i]]
			_, okR := vocab[p[i:]]
			if i > 0 && okL && okR {
				local = append(local, merge{p[:i], p[i:], tok.Score(id)})
			}
		}
		slices.SortFunc(local, func(a, b merge) int {
			if vocab[a.l] != vocab[b.l] {
				return vocab[a.l] - vocab[b.l]
			}
			return vocab[a.r] - vocab[b.r]
		})
		merges = append(merges, local...)
	}
	slices.SortStableFunc(merges, func(a, b merge) int {
		switch {
		case a.score > b.score:
			return -1
		case a.score < b.score:
			return 1
		}
		return 0
	})
	var mergeList [][2]string
	for _, m := range merges {
		mergeList = append(mergeList, [2]string{m.l, m.r})
	}
	added := []map[string]any{}
	for id, s := range []string{"<unk>", "<s>", "</s>"} {
		added = append(added, map[string]any{"id": id, "content": s, "special": true, "normalized": false})
	}
	writeJSON(t, filepath.Join(dir, "tokenizer.json"), map[string]any{
		"version": "1.0", "added_tokens": added,
		"normalizer": map[string]any{"type": "Sequence", "normalizers": []any{
			map[string]any{"type": "Prepend", "prepend": "▁"},
			map[string]any{"type": "Replace", "pattern": map[string]string{"String": " "}, "content": "▁"},
		}},
		"pre_tokenizer": nil,
		"decoder": map[string]any{"type": "Sequence", "decoders": []any{
			map[string]any{"type": "Replace", "pattern": map[string]string{"String": "▁"}, "content": " "},
			map[string]any{"type": "ByteFallback"}, map[string]any{"type": "Fuse"},
			map[string]any{"type": "Strip", "content": " ", "start": 1, "stop": 0},
		}},
		"model": map[string]any{"type": "BPE", "unk_token": "<unk>", "fuse_unk": true, "byte_fallback": true,
			"ignore_merges": false, "vocab": vocab, "merges": mergeList},
	})
	writeJSON(t, filepath.Join(dir, "tokenizer_config.json"), map[string]any{
		"bos_token": map[string]any{"content": "<s>", "__type": "AddedToken"}, "eos_token": "</s>", "unk_token": "<unk>",
		"add_bos_token": true, "add_eos_token": false, "tokenizer_class": "LlamaTokenizer",
	})
}

// The Hugging Face directory made from stories260K imports to the same
// weights as stories260K.bin (every weight component has the same CID),
// and its model generates the reference text.
func TestSafetensorsImport(t *testing.T) {
	dir := hfModel(t, nil)
	bs := newStore()
	root, m := importInto(t, bs, Source{Path: dir}, ImportOptions{})
	_, ref := importInto(t, newStore(), llama2cSource(t), ImportOptions{})
	if m.Hyperparameters != ref.Hyperparameters {
		t.Errorf("hyperparameters %+v, from the .bin %+v", m.Hyperparameters, ref.Hyperparameters)
	}
	if len(m.Components) != len(ref.Components) {
		t.Fatalf("%d components, from the .bin %d", len(m.Components), len(ref.Components))
	}
	for i, c := range m.Components {
		r := ref.Components[i]
		if c.Name != r.Name || c.Name != ComponentTokenizer && !c.CID.Equals(r.CID) {
			t.Errorf("component %s (%s), from the .bin %s (%s)", c.Name, c.CID, r.Name, r.CID)
		}
	}
	model, err := Open(context.Background(), root, bs)
	if err != nil {
		t.Fatal(err)
	}
	lm, err := model.LlamaModel(context.Background(), llama.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := greedy(t, lm); !strings.HasPrefix(got, referencePrefix) {
		t.Errorf("generates %q, want the reference %q…", got, referencePrefix)
	}

	// The vocabulary is tok512's, typed as llama.cpp's llama2.c converter
	// types it, and encodes ordinary text as llama2.c does (which knows no
	// special tokens).
	src := llama2cSource(t)
	direct, err := tokenizer.LoadLlama2C(src.Tokenizer, 512)
	if err != nil {
		t.Fatal(err)
	}
	tok := lm.Tokenizer
	meta, err := llama2cMetadata(llama2c.Config{Vocab: 512, Dim: 64, Heads: 8}, src.Tokenizer)
	if err != nil {
		t.Fatal(err)
	}
	tokens, types := meta[0].v.([]string), meta[2].v.([]int32)
	for id := range tokens {
		if tok.Piece(id) != tokens[id] || tok.Type(id) != types[id] {
			t.Errorf("token %d is %q typed %d, the converter's %q typed %d", id, tok.Piece(id), tok.Type(id), tokens[id], types[id])
		}
	}
	texts := []string{"Once upon a time", referencePrefix, "  two  spaces, tabs\tand\nnewlines", "naïve café 日本 🙂", "<s> a </s>", ""}
	for _, text := range texts {
		got, want := tok.EncodeOrdinary(text, true, false), direct.Encode(text, true, false)
		if !slices.Equal(got, want) {
			t.Errorf("encodes %q as %v, llama2.c as %v", text, got, want)
		}
		if utf8.ValidString(text) && tok.DecodeAll(got) != direct.DecodeAll(want) {
			t.Errorf("decodes %q as %q, llama2.c as %q", text, tok.DecodeAll(got), direct.DecodeAll(want))
		}
	}
}

// F16 and BF16 tensors are imported as stored.
func TestSafetensorsHalfPrecision(t *testing.T) {
	dir := hfModel(t, map[string]safetensors.DType{"blk.0.attn_q.weight": safetensors.BF16, "blk.1.ffn_down.weight": safetensors.F16})
	m, _ := openModel(t, Source{Path: dir}, ImportOptions{})
	want := map[string]string{"blk.0.attn_q.weight": "bf16", "blk.1.ffn_down.weight": "f16", "blk.0.attn_k.weight": "f32"}
	for _, c := range m.Manifest.Components {
		for _, x := range c.Tensors {
			if f, ok := want[x.Name]; ok && x.Format != f {
				t.Errorf("tensor %s stored as %s, want %s", x.Name, x.Format, f)
			}
		}
	}
	lm, err := m.LlamaModel(context.Background(), llama.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := greedy(t, lm); !strings.HasPrefix(got, "Once upon a time, there was a little girl") {
		t.Errorf("generates %q", got)
	}
}

// Model directories the engine cannot run are refused with the reason.
func TestSafetensorsErrors(t *testing.T) {
	editConfig := func(key string, v any) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			var c map[string]any
			if err := json.Unmarshal(mustRead(t, filepath.Join(dir, "config.json")), &c); err != nil {
				t.Fatal(err)
			}
			c[key] = v
			writeJSON(t, filepath.Join(dir, "config.json"), c)
		}
	}
	for _, c := range []struct {
		name string
		edit func(t *testing.T, dir string)
		tok  string
		want string
	}{
		{"tokenizer file", nil, "tok512.bin", "carries its own vocabulary"},
		{"architecture", editConfig("model_type", "mistral"), "", `model_type "mistral"`},
		{"rope scaling", editConfig("rope_scaling", map[string]any{"rope_type": "llama3", "factor": 8}), "", "rope_scaling"},
		{"untied", editConfig("tie_word_embeddings", false), "", "no lm_head.weight"},
		{"layers", editConfig("num_hidden_layers", 4), "", "beyond the 4 layers"},
		{"vocab", editConfig("vocab_size", 500), "", "vocab_size 500"},
		{"no tokenizer", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, "tokenizer.json")) }, "", "tokenizer.json"},
		{"no weights", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, safetensors.SingleFile)) }, "", "has neither"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := hfModel(t, nil)
			if c.edit != nil {
				c.edit(t, dir)
			}
			_, _, err := Import(context.Background(), Source{Path: dir, Tokenizer: c.tok}, ImportOptions{}, dagstore.New(newStore()))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one containing %q", err, c.want)
			}
		})
	}
}
