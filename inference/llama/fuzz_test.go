package llama

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ipfs-accelerate/accel/inference/gguf"
)

// rewriteGGUF copies a GGUF file, replacing (or, with a nil value, dropping)
// metadata keys and dropping the named tensors.
func rewriteGGUF(t testing.TB, src *gguf.File, kv map[string]any, dropTensors ...string) []byte {
	t.Helper()
	w := gguf.NewWriter()
	for _, e := range src.KV {
		if e.Key == gguf.KeyAlignment {
			continue
		}
		v, ok := kv[e.Key]
		switch {
		case !ok:
			v = e.Value
		case v == nil:
			continue
		}
		if err := w.AddKV(e.Key, v); err != nil {
			t.Fatal(err)
		}
	}
	for _, ti := range src.Tensors {
		if strings.Contains(strings.Join(dropTensors, ","), ti.Name) {
			continue
		}
		data, err := src.TensorData(ti)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.AddTensor(ti.Name, ti.Dims, ti.Type, data); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func storiesGGUF(t testing.TB) *gguf.File {
	g, err := gguf.Open(filepath.Join(models, "stories260K-f32.gguf"))
	if err != nil {
		t.Skipf("test model not present: %v", err)
	}
	t.Cleanup(func() { g.Close() })
	return g
}

// TestGGUFBadModels loads well-formed GGUF files whose metadata or tensors
// do not make a working model: each must give an error naming the problem.
func TestGGUFBadModels(t *testing.T) {
	g := storiesGGUF(t)
	cases := []struct {
		want string
		kv   map[string]any
		drop []string
	}{
		{`architecture "gpt9"`, map[string]any{"general.architecture": "gpt9"}, nil},
		{"lacks llama.block_count", map[string]any{"llama.block_count": nil}, nil},
		{`no tensor "blk.5.attn_norm.weight"`, map[string]any{"llama.block_count": uint32(6)}, nil},
		{"do not share", map[string]any{"llama.attention.head_count_kv": uint32(3)}, nil},
		{"token_embd.weight is 512×64, the hyperparameters need 512×32", map[string]any{"llama.embedding_length": uint32(32), "llama.rope.dimension_count": uint32(4)}, nil},
		{"head size 4 / rope dims 8", map[string]any{"llama.embedding_length": uint32(32)}, nil},
		{"out of range", map[string]any{"llama.feed_forward_length": uint64(1 << 40)}, nil},
		{`no tensor "blk.2.ffn_up.weight"`, nil, []string{"blk.2.ffn_up.weight"}},
		{"no vocabulary", map[string]any{"tokenizer.ggml.tokens": nil}, nil},
		{`tokenizer model "wordpiece"`, map[string]any{"tokenizer.ggml.model": "wordpiece"}, nil},
		{"must be positive", map[string]any{"llama.attention.layer_norm_rms_epsilon": float32(-1)}, nil},
	}
	for _, c := range cases {
		f, err := gguf.Decode(rewriteGGUF(t, g, c.kv, c.drop...))
		if err != nil {
			t.Fatalf("%s: rewritten file does not parse: %v", c.want, err)
		}
		_, err = FromGGUF(f, Options{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v, want one containing %q", err, c.want)
		}
	}
}

// FuzzFromGGUF loads arbitrary bytes as a model and, when that succeeds,
// runs it: neither may panic.
func FuzzFromGGUF(f *testing.F) {
	if data, err := os.ReadFile(filepath.Join(models, "stories260K-f32.gguf")); err == nil {
		f.Add(data)
		g, err := gguf.Decode(data)
		if err == nil {
			f.Add(rewriteGGUF(f, g, map[string]any{"llama.attention.head_count": uint32(16)}))
			f.Add(rewriteGGUF(f, g, map[string]any{"llama.rope.dimension_count": uint32(7)}))
			f.Add(rewriteGGUF(f, g, map[string]any{"llama.attention.key_length": uint32(4)}))
		}
	}
	f.Add([]byte("GGUF"))
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := gguf.Decode(data)
		if err != nil {
			return
		}
		m, err := FromGGUF(g, Options{})
		if err != nil {
			return
		}
		s := m.NewSession(SessionOptions{Context: 8})
		if _, err := s.Forward([]int{m.Tokenizer.BOS(), 0}); err != nil && m.Tokenizer.BOS() >= 0 {
			t.Fatalf("a model that loads fails to run: %v", err)
		}
	})
}
