package tokenizer

import (
	"bytes"
	"fmt"
	"os"
	"testing"
)

// syntheticLlama2C is a llama2.c vocabulary with the layout run.c assumes
// (<unk>, <s>, </s>, 256 byte tokens, then text pieces), for when tok512.bin
// is absent.
func syntheticLlama2C(t testing.TB) *Tokenizer {
	pieces := []string{"<unk>", "\n<s>\n", "\n</s>\n"}
	for b := 0; b < 256; b++ {
		pieces = append(pieces, fmt.Sprintf("<0x%02X>", b))
	}
	pieces = append(pieces, " ", "a", "b", "é", " a", "ab", " ab", "  ")
	scores := make([]float32, len(pieces))
	for i := 259; i < len(pieces); i++ {
		scores[i] = float32(-i)
	}
	tk, err := ReadLlama2C(bytes.NewReader(llama2cFile(8, pieces, scores)), len(pieces))
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func FuzzReadLlama2C(f *testing.F) {
	if data, err := os.ReadFile(tok512Path); err == nil {
		f.Add(data, 512)
		for _, n := range []int{0, 3, 4, 7, 100, 1035, len(data) / 2, len(data) - 1} {
			f.Add(data[:n], 512)
		}
		f.Add(data, 513)
		f.Add(data, 100)
	}
	f.Add(llama2cFile(3, []string{"<unk>", "<s>", "</s>", "ab", "a", "b"}, []float32{0, 0, 0, 5, 1, 1}), 6)
	f.Add([]byte("\xff\xff\xff\x7f\x00\x00\x00\x00\xff\xff\xff\x7fgarbage"), 3)
	f.Add([]byte("garbage garbage garbage garbage"), 4)
	f.Fuzz(func(t *testing.T, data []byte, vocab int) {
		tk, err := ReadLlama2C(bytes.NewReader(data), vocab)
		if err != nil {
			if tk != nil {
				t.Fatal("tokenizer returned with an error")
			}
			return
		}
		if tk.VocabSize() != vocab {
			t.Fatalf("VocabSize %d, want %d", tk.VocabSize(), vocab)
		}
		for _, s := range []string{"", "Once upon a time", "héllo ☃ 你好\n\n", "\xff\x80"} {
			ids := tk.Encode(s, true, true)
			for _, id := range ids {
				if id < 0 || id >= vocab {
					t.Fatalf("Encode(%q) gave id %d outside the vocabulary", s, id)
				}
			}
			_ = tk.DecodeAll(ids)
		}
		for id := -1; id <= vocab; id++ {
			_ = tk.Decode(1, id)
			_ = tk.Piece(id)
			_ = tk.IsEOG(id)
		}
	})
}

func FuzzEncodeDecode(f *testing.F) {
	for _, s := range []string{
		"Once upon a time", "héllo ☃ 你好", "a  b\n\n c", "", " ", "  x", "\x00\xff\xc3",
		"I'm don't 'S 1234567", "<|eot_id|><tool> the", "\r\n\t\u00a0\u3000x", "😀👍🏽",
	} {
		f.Add(s)
	}
	var llama []*Tokenizer
	if _, err := os.Stat(tok512Path); err == nil {
		llama = append(llama, loadTok512(f))
	}
	llama = append(llama, syntheticLlama2C(f))
	v := newTestBPE()
	var bpe []*Tokenizer
	for _, pre := range []string{"gpt2", "llama3", "qwen2", "smollm"} {
		bpe = append(bpe, v.build(f, pre))
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, tk := range llama {
			ids := tk.Encode(s, true, false)
			if got := tk.DecodeAll(ids); got != s {
				t.Fatalf("llama2.c: DecodeAll(Encode(%q)) = %q (%v)", s, got, ids)
			}
		}
		for _, tk := range bpe {
			ids := tk.EncodeOrdinary(s, true, true)
			if got := tk.DecodeAll(ids); got != s {
				t.Fatalf("bpe %s: DecodeAll(EncodeOrdinary(%q)) = %q (%v)", tk.Pre(), s, got, ids)
			}
			_ = tk.DecodeAll(tk.Encode(s, true, true))
		}
	})
}
