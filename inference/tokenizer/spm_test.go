package tokenizer

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
)

// ggufVocab is what a test needs from a GGUF file's tokenizer metadata.
type ggufVocab struct {
	model          string
	tokens         []string
	scores         []float32
	types          []int32
	bos, eos, unk  int
	addSpacePrefix bool
}

// readGGUFVocab is a minimal GGUF v2/v3 metadata reader for tests (the real
// parser lives elsewhere): it walks the key/value section and keeps the
// tokenizer.ggml.* values.
func readGGUFVocab(path string) (*ggufVocab, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := bufio.NewReader(f)
	le := binary.LittleEndian
	var err2 error
	u32 := func() uint32 {
		var b [4]byte
		if _, err := io.ReadFull(r, b[:]); err != nil && err2 == nil {
			err2 = err
		}
		return le.Uint32(b[:])
	}
	u64 := func() uint64 {
		var b [8]byte
		if _, err := io.ReadFull(r, b[:]); err != nil && err2 == nil {
			err2 = err
		}
		return le.Uint64(b[:])
	}
	str := func() string {
		n := u64()
		if n > 1<<20 {
			err2 = errors.New("string too long")
			return ""
		}
		b := make([]byte, n)
		if _, err := io.ReadFull(r, b); err != nil && err2 == nil {
			err2 = err
		}
		return string(b)
	}
	sizes := map[uint32]int{0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
	var value func(typ uint32) any
	value = func(typ uint32) any {
		switch typ {
		case 4:
			return u32()
		case 5:
			return int32(u32())
		case 6:
			return math.Float32frombits(u32())
		case 7:
			b, _ := r.ReadByte()
			return b != 0
		case 8:
			return str()
		case 9:
			et, n := u32(), u64()
			if n > 1<<24 {
				err2 = errors.New("array too long")
				return nil
			}
			a := make([]any, 0, n)
			for i := uint64(0); i < n && err2 == nil; i++ {
				a = append(a, value(et))
			}
			return a
		}
		if sz, ok := sizes[typ]; ok {
			r.Discard(sz)
			return nil
		}
		err2 = fmt.Errorf("unknown GGUF type %d", typ)
		return nil
	}
	if magic := u32(); magic != 0x46554747 {
		return nil, fmt.Errorf("not GGUF")
	}
	u32() // version
	u64() // tensor count
	nkv := u64()
	v := &ggufVocab{bos: -1, eos: -1, unk: -1, addSpacePrefix: true}
	for i := uint64(0); i < nkv && err2 == nil; i++ {
		key := str()
		val := value(u32())
		switch key {
		case "tokenizer.ggml.model":
			v.model = val.(string)
		case "tokenizer.ggml.tokens":
			for _, x := range val.([]any) {
				v.tokens = append(v.tokens, x.(string))
			}
		case "tokenizer.ggml.scores":
			for _, x := range val.([]any) {
				v.scores = append(v.scores, x.(float32))
			}
		case "tokenizer.ggml.token_type":
			for _, x := range val.([]any) {
				v.types = append(v.types, x.(int32))
			}
		case "tokenizer.ggml.bos_token_id":
			v.bos = int(val.(uint32))
		case "tokenizer.ggml.eos_token_id":
			v.eos = int(val.(uint32))
		case "tokenizer.ggml.unknown_token_id":
			v.unk = int(val.(uint32))
		case "tokenizer.ggml.add_space_prefix":
			v.addSpacePrefix = val.(bool)
		}
	}
	return v, err2
}

func loadGGUFSPM(t *testing.T) (*Tokenizer, *ggufVocab) {
	t.Helper()
	if _, err := os.Stat(ggufPath); err != nil {
		t.Skipf("model file absent: %v", err)
	}
	v, err := readGGUFVocab(ggufPath)
	if err != nil {
		t.Fatal(err)
	}
	if v.model != "llama" {
		t.Fatalf("tokenizer.ggml.model = %q", v.model)
	}
	tk, err := NewSentencePiece(v.tokens, v.scores, v.types, v.bos, v.eos, v.unk, v.addSpacePrefix)
	if err != nil {
		t.Fatal(err)
	}
	return tk, v
}

// The stories260K GGUF (llama.cpp convert-llama2c-to-ggml from tok512.bin)
// stores '▁' for spaces, "<s>"/"</s>" as control tokens 1/2, "<unk>" as
// unknown 0, "<0x00>".."<0xFF>" as byte tokens 3..258, the rest normal, with
// tok512.bin's scores; it has no add_space_prefix key.
func TestSentencePieceGGUFVocab(t *testing.T) {
	tk, v := loadGGUFSPM(t)
	if len(v.tokens) != 512 || v.bos != 1 || v.eos != 2 || v.unk != 0 || !v.addSpacePrefix {
		t.Fatalf("vocab %d bos %d eos %d unk %d addSpacePrefix %v", len(v.tokens), v.bos, v.eos, v.unk, v.addSpacePrefix)
	}
	if v.tokens[1] != "<s>" || v.types[1] != TypeControl || v.types[0] != TypeUnknown ||
		v.tokens[3] != "<0x00>" || v.types[3] != TypeByte || v.types[258] != TypeByte ||
		v.tokens[403] != "▁Once" || v.types[403] != TypeNormal || v.tokens[410] != "▁" {
		t.Fatalf("unexpected vocabulary layout: %q %d %d %q %d %q %q", v.tokens[1], v.types[1], v.types[0], v.tokens[3], v.types[3], v.tokens[403], v.tokens[410])
	}
	if tk.Model() != "llama" || tk.BOS() != 1 || tk.EOS() != 2 || tk.VocabSize() != 512 || tk.Piece(403) != "▁Once" {
		t.Error("accessors disagree with the vocabulary")
	}
}

// The GGUF vocabulary must tokenize as tok512.bin does under llama2.c.
func TestSentencePieceMatchesLlama2C(t *testing.T) {
	spm, _ := loadGGUFSPM(t)
	l2c := loadTok512(t)
	for _, c := range tok512Cases {
		if got := spm.Encode(c.text, true, false); !slices.Equal(got, c.ids) {
			t.Errorf("SentencePiece Encode(%q) = %v, want %v", c.text, got, c.ids)
		}
	}
	for _, s := range []string{
		"Once upon a time, there was a little girl named Lily.",
		"She loved to play outside in the park. One day, she saw a big, red ball.",
		"  spaces   everywhere  ", "newlines\n\nand\ttabs", "ünïcödé ✓ 日本語",
	} {
		want := l2c.Encode(s, true, true)
		got := spm.Encode(s, true, true)
		if !slices.Equal(got, want) {
			t.Errorf("Encode(%q): SentencePiece %v, llama2.c %v", s, got, want)
		}
		if d := spm.DecodeAll(got); d != s {
			t.Errorf("DecodeAll(Encode(%q)) = %q", s, d)
		}
		for i := 1; i < len(got); i++ {
			if a, b := spm.Decode(got[i-1], got[i]), l2c.Decode(got[i-1], got[i]); a != b {
				t.Errorf("Decode(%d, %d): SentencePiece %q, llama2.c %q", got[i-1], got[i], a, b)
			}
		}
	}
	if got := spm.Decode(1, 403); got != "Once" {
		t.Errorf("Decode(BOS, ▁Once) = %q", got)
	}
	if got := spm.Decode(-1, 0); got != "▅" {
		t.Errorf("Decode(unk) = %q", got)
	}
	if !spm.IsEOG(2) || spm.IsEOG(1) {
		t.Error("IsEOG: want EOS only")
	}
	// special token texts: "<s>" is parsed as BOS by Encode, not by EncodeOrdinary
	// ("▁a" = 261, "▁b" = 268: the fragment after a special token gets the
	// space prefix again)
	if got := spm.Encode("a<s>b", false, false); !slices.Equal(got, []int{261, 1, 268}) {
		t.Errorf("Encode with <s> = %v", got)
	}
	if got := spm.EncodeOrdinary("<s>", false, false); slices.Contains(got, 1) {
		t.Errorf("EncodeOrdinary(<s>) = %v contains BOS", got)
	}
}

func TestSentencePieceSynthetic(t *testing.T) {
	tokens := []string{"<unk>", "<s>", "</s>", "<0x41>", "<0xC3>", "<0xA9>", "▁", "a", "b", "▁a", "ab", "▁ab", "<tool>"}
	scores := []float32{0, 0, 0, 0, 0, 0, -1, -2, -2, -3, -1, -0.5, 0}
	types := []int32{2, 3, 3, 6, 6, 6, 1, 1, 1, 1, 1, 1, 4}
	tk, err := NewSentencePiece(tokens, scores, types, 1, 2, 0, true)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		text string
		want []int
	}{
		// "▁ab": ab (-1) beats ▁a (-3), then ▁+ab = ▁ab (-0.5)
		{"ab", []int{11}},
		// A is byte 0x41; é has byte tokens; z has none → unk
		{"A", []int{6, 3}},
		{"é", []int{6, 4, 5}},
		{"z", []int{6, 0}},
		// a user-defined token is matched whole, and the text after it gets
		// the space prefix again (as llama.cpp does after any special token)
		{"a<tool>b", []int{9, 12, 6, 8}},
	}
	for _, c := range cases {
		if got := tk.Encode(c.text, false, false); !slices.Equal(got, c.want) {
			t.Errorf("Encode(%q) = %v, want %v", c.text, got, c.want)
		}
	}
	if got := tk.DecodeAll([]int{1, 11, 12, 3, 4, 5, 2}); got != "ab<tool>Aé" {
		t.Errorf("DecodeAll = %q", got)
	}
	noPrefix, _ := NewSentencePiece(tokens, scores, types, 1, 2, 0, false)
	if got := noPrefix.Encode("ab", false, false); !slices.Equal(got, []int{10}) {
		t.Errorf("no space prefix: %v", got)
	}
	if got := noPrefix.Decode(1, 9); got != " a" {
		t.Errorf("no space prefix keeps the space after BOS: %q", got)
	}
	// nil types and scores are derived
	derived, err := NewSentencePiece(tokens, nil, nil, 1, 2, 0, true)
	if err != nil {
		t.Fatal(err)
	}
	if derived.Type(3) != TypeByte || derived.Type(1) != TypeControl || derived.Type(0) != TypeUnknown || derived.Type(7) != TypeNormal {
		t.Error("derived types wrong")
	}
	// a vocabulary with plain spaces instead of '▁'
	plain := make([]string, len(tokens))
	for i, p := range tokens {
		plain[i] = strings.ReplaceAll(p, "▁", " ")
	}
	ps, err := NewSentencePiece(plain, scores, types, 1, 2, 0, true)
	if err != nil {
		t.Fatal(err)
	}
	if got := ps.Encode("ab", true, false); !slices.Equal(got, []int{1, 11}) || ps.DecodeAll(got) != "ab" {
		t.Errorf("plain-space vocabulary: %v %q", got, ps.DecodeAll(got))
	}
	for _, bad := range []func() error{
		func() error { _, err := NewSentencePiece(nil, nil, nil, -1, -1, -1, true); return err },
		func() error { _, err := NewSentencePiece(tokens, scores[:3], nil, 1, 2, 0, true); return err },
		func() error { _, err := NewSentencePiece(tokens, scores, types[:3], 1, 2, 0, true); return err },
		func() error { _, err := NewSentencePiece(tokens, scores, types, 99, 2, 0, true); return err },
	} {
		if err := bad(); err == nil || !strings.HasPrefix(err.Error(), "tokenizer: ") {
			t.Errorf("bad input: %v", err)
		}
	}
}
